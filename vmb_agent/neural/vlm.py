"""The ``vlm`` describer: a vision-language model judges genres, moods, instruments and prose;
what VMB measures stays measured.

    VMB_VLM_MODEL=/models/SmolVLM-256M-Instruct vmb describe harbour.jpg --backend vlm

1. The ``analysis`` describer runs first: tempo from colour and motion, sections from the
   video's cuts, key, energy, valence, duration, palette, each with its evidence.
2. The model sees the picture (an image), one frame per shot (a video: the analysis's cuts give
   the shots; at most :data:`MAX_FRAMES`, spread evenly) or only words (a text), with the prompt
   ``prompts/vlm_describe.md``: the measured values, the caller's context and the JSON schema
   of :class:`VLMAnswer` (made from the pydantic model, so it cannot drift). Greedy decoding,
   at most :data:`MAX_NEW_TOKENS` new tokens.
3. The first JSON object in the reply (models add chatter and code fences) is validated; an
   unusable reply gets ONE repair turn (the error, then "answer again"); a second failure gives
   the analysis's description with a line in ``MusicDescription.warnings``.
4. Merge: the model's genres, moods, instruments and prose win. Attributes the analysis derived
   from measured features (tempo, key, energy, valence, duration), sections, cuts, features and
   palette stay; so do values the caller's own words name ("in D minor", "70 bpm"). The model's
   other fields (a metre for a picture; tempo or key for words that name none) fill the rest.
   Evidence names the model for every attribute it gave.

Any Hugging Face image-text-to-text folder loads (``AutoModelForImageTextToText`` +
``AutoProcessor``): SmolVLM / Idefics3, Qwen2-VL and Qwen2.5-VL (their processors need
torchvision), InternVL. torch and transformers are imported only when a model is used.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, ValidationError

from vmb_agent.describe.analysis import AnalysisDescriber
from vmb_agent.describe.media import MediaSource
from vmb_agent.neural.common import (
    cached_model,
    load_failure,
    prepare,
    running,
    torch_device,
)
from vmb_agent.types import (
    MAX_EVIDENCE,
    MAX_NAMES,
    MAX_TEXT_CHARS,
    Evidence,
    MusicAttributes,
    MusicDescription,
    Name,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

    from vmb_agent.settings import Settings

log = logging.getLogger("vmb.describe.vlm")

BACKEND = "vlm"
PROMPT_FILE = "vlm_describe.md"
REPAIR_MARKER = "<!-- repair -->"
MAX_FRAMES = 8  # frames of a video shown to the model: one per shot, spread evenly beyond this
MAX_NEW_TOKENS = 512  # the JSON with 40-150 words of prose fits in ~300
PICTURE_SIDE = 768  # long side of what the processor gets (it resizes to its own size)
MAX_SHOWN_REPLY = 2000  # characters of an unusable reply quoted back in the repair turn
MAX_PROBLEM = 300
#: what the model decides, always
JUDGED = ("genres", "moods", "instruments")
#: what the model may give where neither a measurement nor the caller's words fix it
SCALARS = ("tempo_bpm", "key", "time_signature", "energy", "valence", "duration_s")


class VLMAnswer(MusicAttributes):
    """What the model is asked for: the attributes plus the prose. Its JSON schema is the
    prompt's; keys it does not know are ignored, missing lists and prose are errors."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    genres: list[Name] = Field(
        min_length=1, max_length=MAX_NAMES, description="e.g. ['cinematic', 'ambient']"
    )
    moods: list[Name] = Field(
        min_length=1, max_length=MAX_NAMES, description="e.g. ['calm', 'nostalgic']"
    )
    instruments: list[Name] = Field(
        min_length=1, max_length=MAX_NAMES, description="e.g. ['piano', 'strings']"
    )
    text: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS,
        description="prose description of the music, 40-150 words",
    )  # fmt: skip


class VLMDescriber:
    """Describe with a local vision-language model (``VMB_VLM_MODEL``) over the analysis."""

    name = BACKEND

    def __init__(self, settings: Settings | None = None) -> None:
        settings, self.folder = prepare(BACKEND, settings)
        # the evidence names the model: a hub id as given, a folder by its name
        given = str(settings.vlm_model).strip()
        self.label = self.folder.name if Path(given).expanduser().is_dir() else given
        self.device = settings.device
        self.analysis = AnalysisDescriber()

    def describe(self, source: MediaSource, context: str | None = None) -> MusicDescription:
        measured = self.analysis.describe(source, context)
        kept = kept_fields(source, measured, context)
        pictures, times = self._pictures(source, measured)
        prompt = describe_prompt(source, measured, kept, context, times)
        answer, problem = self._ask(pictures, prompt)
        origin = self._origin(source, times)
        if answer is None:
            return fall_back(measured, problem, origin)
        return merge(measured, answer, kept, origin, frames=len(pictures))

    def _pictures(
        self, source: MediaSource, measured: MusicDescription
    ) -> tuple[list[Image], list[float]]:
        """What the model sees: the image, one frame per shot of a video, nothing for words."""
        if source.kind == "image":
            return [load_picture(source)], []
        if source.kind == "video":
            times = shot_times(measured.cuts_s, measured.source.duration_s or 0.0)
            return video_frames(source, times), times
        return [], []

    def _ask(self, pictures: list[Image], prompt: str) -> tuple[VLMAnswer | None, str]:
        """The model's answer, with one repair turn if the first is unusable; else (None, why)."""
        messages = [_turn("user", prompt, pictures=len(pictures))]
        reply = self._generate(messages, pictures)
        answer, problem = parse_answer(reply)
        if answer is not None:
            return answer, ""
        messages.append(_turn("assistant", reply[:MAX_SHOWN_REPLY]))
        messages.append(_turn("user", repair_prompt(problem)))
        return parse_answer(self._generate(messages, pictures))

    def _generate(self, messages: list[dict[str, Any]], pictures: list[Image]) -> str:
        """One greedy generation: the chat template, the processor, ``generate``, the new text."""
        import torch

        model, processor = self._load()
        with running(BACKEND, self.folder), torch.inference_mode():
            text = processor.apply_chat_template(messages, add_generation_prompt=True,
                                                 tokenize=False)  # fmt: skip
            inputs = processor(text=[text], images=pictures or None, return_tensors="pt")
            inputs = inputs.to(model.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
            out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
            new_tokens = out[:, inputs["input_ids"].shape[1] :]
            return processor.batch_decode(new_tokens, skip_special_tokens=True)[0]

    def _load(self) -> tuple[Any, Any]:
        """The model and processor, loaded once per (folder, device) for the process."""
        device = torch_device(self.device)
        return cached_model(
            (BACKEND, str(self.folder), device), lambda: load_model(self.folder, device)
        )

    def _origin(self, source: MediaSource, times: list[float]) -> str:
        seen = {"image": "the image", "text": "the words"}.get(source.kind)
        if seen is None:
            seen = f"{len(times)} frames, one per shot, at " + ", ".join(f"{t:g}" for t in times)
            seen += " s"
        return f"vlm {self.label}: judged from {seen} (prompts/{PROMPT_FILE})"


def load_model(folder: Path, device: str) -> tuple[Any, Any]:
    """``AutoModelForImageTextToText`` + ``AutoProcessor`` from ``folder``, on ``device``
    (bfloat16 / float16 on CUDA, float32 on the CPU); a one-line error if they cannot load."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    dtype = torch.float32
    if device != "cpu":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        processor = AutoProcessor.from_pretrained(folder)
        model = AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 - any loading failure is one line naming the folder
        raise load_failure(BACKEND, folder, exc) from None
    return model.to(device).eval(), processor


# -- what the model sees ---------------------------------------------------------------------


def load_picture(source: MediaSource) -> Image:
    """The image, upright, RGB, at most :data:`PICTURE_SIDE` on the long side. The analysis
    has already checked it; a JPEG is decoded at reduced scale, and an image that would still
    be large decoded whole falls back to the analysis's small working copy."""
    from PIL import Image, ImageOps

    from vmb_agent.describe.image import STREAM_PIXELS, load_image
    from vmb_agent.files import open_regular

    assert source.path is not None
    opened = open_regular(source.path, what="image", shown=source.shown)
    with opened as handle, Image.open(handle) as image:
        image.draft("RGB", (PICTURE_SIDE, PICTURE_SIDE))  # JPEG only; a no-op otherwise
        if image.width * image.height > STREAM_PIXELS:
            rgb = load_image(source.path, source.shown).rgb
            return Image.fromarray((rgb * 255.0 + 0.5).astype("uint8"))
        picture = ImageOps.exif_transpose(image).convert("RGB")
    return _fit(picture)


def shot_times(cuts_s: list[float], duration_s: float) -> list[float]:
    """The middle of each shot between the measured cuts, at most :data:`MAX_FRAMES` of them
    (spread evenly over the shots when there are more)."""
    if duration_s <= 0:
        return [0.0]
    bounds = [0.0, *[c for c in cuts_s if 0.0 < c < duration_s], duration_s]
    middles = [round((a + b) / 2.0, 3) for a, b in pairwise(bounds) if b > a]
    if len(middles) <= MAX_FRAMES:
        return middles
    step = (len(middles) - 1) / (MAX_FRAMES - 1)
    return [middles[round(i * step)] for i in range(MAX_FRAMES)]


def video_frames(source: MediaSource, times: list[float]) -> list[Image]:
    """The frame shown at each of ``times`` (seconds), opened with the project's safe opener."""
    from vmb_agent.describe.media import open_media

    assert source.path is not None
    frames = []
    with open_media(source.path, kinds=("video",), shown=source.shown) as container:
        stream = container.streams.video[0]
        for t in times:
            frame = _frame_at(container, stream, t)
            if frame is not None:
                frames.append(_fit(frame.to_image()))
    return frames


def _frame_at(container: Any, stream: Any, t: float) -> Any:
    """The first frame at or after ``t``: seek to the keyframe before it, decode forward
    (the last frame when ``t`` is past the end)."""
    start = stream.start_time or 0
    container.seek(start + int(t / stream.time_base), stream=stream)
    last = None
    for frame in container.decode(stream):
        if frame.time is not None and frame.time >= t:
            return frame
        last = frame
    return last


def _fit(picture: Image) -> Image:
    picture.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return picture


# -- the prompt ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def prompt_parts() -> tuple[str, str]:
    """The describe prompt and the repair prompt, from ``prompts/vlm_describe.md``."""
    text = resources.files("vmb_agent.prompts").joinpath(PROMPT_FILE).read_text("utf-8")
    describe, _, repair = text.partition(REPAIR_MARKER)
    return describe.strip(), repair.strip()


@lru_cache(maxsize=1)
def answer_schema() -> str:
    """:class:`VLMAnswer`'s JSON schema, compact, without pydantic's titles or the class's
    docstring (written for developers, not for the model)."""
    schema = _untitled(VLMAnswer.model_json_schema())
    schema.pop("description", None)
    return json.dumps(schema, separators=(",", ":"))


def _untitled(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untitled(v) for k, v in value.items() if k != "title"}
    if isinstance(value, list):
        return [_untitled(v) for v in value]
    return value


def describe_prompt(
    source: MediaSource,
    measured: MusicDescription,
    kept: set[str],
    context: str | None,
    times: list[float],
) -> str:
    kind = {"image": "picture", "video": "video", "text": "words"}[source.kind]
    what = {
        "image": "the picture",
        "video": f"the {len(times)} pictures: frames of a video, one per shot, in order",
        "text": f'these words: "{source.text}"',
    }[source.kind]
    hint = f"The person asking adds: {context}\n" if context else ""
    return prompt_parts()[0].format(what=what, kind=kind, context=hint,
                                    measured=measured_lines(measured, kept),
                                    schema=answer_schema())  # fmt: skip


def measured_lines(measured: MusicDescription, kept: set[str]) -> str:
    """The values the model must keep to, one ``- name: value`` line each."""
    values = measured.attributes.model_dump()
    lines = [
        f"- {name}: {values[name]}" for name in SCALARS if name in kept and values[name] is not None
    ]
    if measured.sections:
        spans = ", ".join(f"{s.label} {s.start_s:g}-{s.end_s:g} s" for s in measured.sections)
        lines.append(f"- sections: {spans}")
    return "\n".join(lines) or "- (nothing)"


def repair_prompt(problem: str) -> str:
    return prompt_parts()[1].format(problem=problem)


def _turn(role: str, text: str, *, pictures: int = 0) -> dict[str, Any]:
    content: list[dict[str, str]] = [{"type": "image"} for _ in range(pictures)]
    return {"role": role, "content": [*content, {"type": "text", "text": text}]}


# -- the answer ------------------------------------------------------------------------------


def first_json_object(text: str) -> tuple[dict[str, Any] | None, str]:
    """The first JSON object in ``text``, however much chatter surrounds it (braces inside its
    strings are fine: the JSON decoder reads them), and, when there is none, why."""
    decoder = json.JSONDecoder()
    problem = "the answer holds no JSON object ('{...}')"
    start = text.find("{")
    first = True
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            if first:
                problem = f"the answer is not valid JSON ({exc.msg} at character {exc.pos})"
        else:
            return value, ""  # a value that starts with "{" is an object
        first = False
        start = text.find("{", start + 1)
    return None, problem


def parse_answer(reply: str) -> tuple[VLMAnswer | None, str]:
    """The validated answer in ``reply``, or (None, a one-line reason for the repair turn)."""
    found, problem = first_json_object(reply)
    if found is None:
        return None, problem
    try:
        return VLMAnswer.model_validate(found), ""
    except ValidationError as exc:
        wrong = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'object'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return None, f"the JSON does not follow the schema ({wrong})"[:MAX_PROBLEM]


# -- merging ---------------------------------------------------------------------------------


def kept_fields(source: MediaSource, measured: MusicDescription, context: str | None) -> set[str]:
    """The scalar attributes the model may not change: those the analysis measured (their
    evidence has measured features) and those the caller's words name outright."""
    kept = named_fields(" ".join(w for w in (source.text, context) if w))
    if source.kind != "text":
        kept |= {e.attribute for e in measured.evidence if e.features} & set(SCALARS)
    return kept


def named_fields(words: str) -> set[str]:
    """The scalar attributes ``words`` name outright ("in D minor", "70 bpm", "3/4")."""
    if not words.strip():
        return set()
    from vmb_agent.describe.text import parse_text_attributes

    hints, _ = parse_text_attributes(words)
    named = {
        "tempo_bpm": hints.tempo_bpm,
        "key": hints.key or hints.mode,
        "time_signature": hints.time_signature,
        "duration_s": hints.duration_s,
    }
    return {name for name, value in named.items() if value is not None}


def merge(
    measured: MusicDescription, answer: VLMAnswer, kept: set[str], origin: str, *, frames: int
) -> MusicDescription:
    """The analysis's description with the model's judgement laid over it (see the module)."""
    taken = [name for name in SCALARS if name in answer.model_fields_set and name not in kept]
    given = {name: getattr(answer, name) for name in (*JUDGED, *taken)}
    attributes = MusicAttributes.model_validate({**measured.attributes.model_dump(), **given})
    features = {"frames": float(frames)}
    ours = [
        Evidence(attribute=name, value=_shown(value), features=features, rule=origin)
        for name, value in (*given.items(), ("text", f"{len(answer.text.split())} words"))
    ]
    theirs = [e for e in measured.evidence if e.attribute not in given]
    return measured.model_copy(update={
        "text": answer.text,
        "attributes": attributes,
        "evidence": theirs[: MAX_EVIDENCE - len(ours)] + ours,
        "source": measured.source.model_copy(update={"backend": BACKEND}),
    })  # fmt: skip


def fall_back(measured: MusicDescription, problem: str, origin: str) -> MusicDescription:
    """The analysis's description, with a warning saying why (``origin``: the model)."""
    log.warning("vlm: unusable answer after one repair (%s); using the analysis", problem)
    line = (f"the vlm describer's answer ({origin}) was unusable after one repair ({problem}); "
            "this is the analysis describer's description")[:500]  # fmt: skip
    return measured.model_copy(update={"warnings": [*measured.warnings, line]})


def _shown(value: object) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)
