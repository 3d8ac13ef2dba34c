"""``render.musicgen-melody``: the composition re-sung by MusicGen-Melody (local weights only).

The symbolic draft keeps the piece's harmony and melody; MusicGen-Melody turns it into audio,
conditioned on

* text: the description's prose plus the explicit conditions (style, tempo, key, metre,
  instruments, energy, mood, form) as words (:func:`prompt_text`);
* melody: the chroma of the draft (VMB's one chroma, :func:`audio_features.chroma`) taken to
  MusicGen-Melody's chroma frames and made one-hot the way its feature extractor does
  (:func:`melody_features`). As in training, where the chroma came from Demucs's "vocals" and
  "other" stems, the drum and bass parts are left out of the draft (:func:`melodic_draft`).

The model generates at most ``window_s`` (30 s, what it was trained on) at once. Longer pieces
are continued window by window: each new window is prompted with the codes of the last
``prompt_s`` of the audio so far and the chroma of its own time span, and the overlap is
crossfaded (:func:`crossfade_join`). The result is one ``"mix"`` part, resampled to the job's
rate and fitted to its exact length; the pipeline masters and measures it like any render.

torch and transformers are imported only when the renderer is created or renders.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmb_agent.errors import BackendUnavailableError, InputError
from vmb_agent.neural.common import (
    cached_model,
    load_failure,
    prepare,
    running,
    torch_device,
)
from vmb_agent.rendering.renderers import MixRenderer
from vmb_agent.theory import parse_key

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.rendering.renderers import RenderJob
    from vmb_agent.settings import Settings
    from vmb_agent.types import Conditions, MusicDescription

BACKEND = "musicgen-melody"
#: MusicGen-Melody's chroma frames (its feature extractor's defaults, used when the weights'
#: folder has no preprocessor_config.json): 32 kHz audio, one frame every 4096 samples
CHROMA_SR, CHROMA_HOP = 32000, 4096
NUM_CHROMA = 12
#: a chroma frame this far below the loudest frame is silence (a release or reverb tail)
SILENT_CHROMA = 1e-3
#: parts left out of the chroma: MusicGen-Melody was trained on Demucs's vocals + other stems
NO_MELODY_ROLES = frozenset({"drums", "bass"})

# one render at a time: the seed is set on torch's global generator, and on a CPU two
# concurrent generations only compete for the same cores
_generating = threading.Lock()


@dataclass(frozen=True)
class Loaded:
    """A loaded model with what rendering needs to know about it."""

    model: Any  # MusicgenMelodyForConditionalGeneration
    tokenizer: Any
    device: str
    chroma_hz: float  # chroma frames per second
    sampling_rate: int  # of the audio codec
    frame_rate: int  # codec frames (decoder steps) per second
    hop: int  # audio samples per codec frame
    delay: int  # the delay pattern's extra steps (codebooks per channel - 1)


class MusicGenMelodyRenderer(MixRenderer):
    """The composition rendered by MusicGen-Melody (one ``"mix"`` part)."""

    name = BACKEND
    window_s: float = 30.0  # the longest stretch generated at once (the model's training length)
    prompt_s: float = 10.0  # audio a continuation window is prompted with (and overlaps)
    crossfade_s: float = 1.0  # crossfade within that overlap
    guidance_scale: float = 3.0  # classifier-free guidance, as audiocraft and the checkpoints
    top_k: int = 250  # audiocraft's sampling default

    def __init__(self, settings: Settings | None = None) -> None:
        # everything that can fail without loading fails here: the pipeline creates the
        # renderer before composing, so a missing extra or missing weights cost nothing
        settings, self.folder = prepare(BACKEND, settings)
        self.device = torch_device(settings.device)

    def render(self, job: RenderJob) -> np.ndarray:
        """``(job.n_samples, 2)`` float32 at ``job.sample_rate``."""
        with running(BACKEND, self.folder):
            return self._render(job)

    def _render(self, job: RenderJob) -> np.ndarray:
        import torch

        from vmb_agent.library.audio_features import chroma, resample

        loaded = self.load()
        draft = melodic_draft(job)
        melody = None if draft is None else chroma(draft, job.sample_rate)  # (frames, hop_s)
        text = prompt_text(job.description, job.conditions)
        seconds = job.n_samples / job.sample_rate
        devices = [torch.device(loaded.device).index or 0] if loaded.device == "cuda" else []
        with _generating, torch.random.fork_rng(devices=devices):
            torch.manual_seed(job.seed % 2**63)  # torch takes up to 2**63 - 1
            audio = self.generate(loaded, text, melody, seconds)
        channels = [resample(channel, loaded.sampling_rate, job.sample_rate) for channel in audio]
        stereo = np.stack([channels[0], channels[-1]], axis=1).astype(np.float32)  # mono: twice
        return job.fit(stereo)

    def load(self) -> Loaded:
        """The model for these weights on this device (loaded once per process)."""
        return cached_model((BACKEND, str(self.folder), self.device), self._load)

    def _load(self) -> Loaded:
        try:
            import torch
            from transformers import AutoTokenizer, MusicgenMelodyForConditionalGeneration

            model = MusicgenMelodyForConditionalGeneration.from_pretrained(
                self.folder, dtype=torch.float32
            )
            model = model.to(self.device).eval()
            tokenizer = AutoTokenizer.from_pretrained(self.folder)
        except Exception as exc:  # any loading failure is one line
            raise load_failure(BACKEND, self.folder, exc) from exc
        if model.config.num_chroma != NUM_CHROMA:
            raise BackendUnavailableError(
                f"{BACKEND}: the weights at {self.folder} expect {model.config.num_chroma} "
                f"chroma bins; VMB's chroma has {NUM_CHROMA}."
            )
        codec, decoder = model.config.audio_encoder, model.config.decoder
        return Loaded(model, tokenizer, self.device, melody_frame_rate(self.folder),
                      int(codec.sampling_rate), int(codec.frame_rate), int(codec.hop_length),
                      decoder.num_codebooks // decoder.audio_channels - 1)  # fmt: skip

    # -- generation -------------------------------------------------------------------------

    def generate(self, loaded: Loaded, text: str, melody: tuple[np.ndarray, float] | None,
                 seconds: float) -> np.ndarray:  # fmt: skip
        """At least ``seconds`` of audio, ``(channels, samples)`` at the codec's rate: the
        first window from nothing, then each next one prompted with the last ``prompt_s``.
        ``melody`` is the draft's chroma and its hop (s); None: the words alone."""
        rate = loaded.frame_rate
        total = max(1, math.ceil(seconds * rate))  # codec frames wanted
        window = max(2, round(self.window_s * rate))
        prompt = min(max(1, round(self.prompt_s * rate)), window - 1)
        tokens = loaded.tokenizer([text], return_tensors="pt", truncation=True)
        tokens = {key: value.to(loaded.device) for key, value in tokens.items()}

        def features(start_frame: int) -> np.ndarray | None:  # the span this window covers
            if melody is None:
                return None
            return melody_features(*melody, start_frame / rate, loaded.model.config.chroma_length,
                                   loaded.chroma_hz)  # fmt: skip

        have = min(total, window)
        audio = self.window(loaded, tokens, features(0), None, have)
        while have < total:
            start = have - prompt
            codes = encode(loaded, audio[:, start * loaded.hop : have * loaded.hop])
            new = min(window - prompt, total - have)
            segment = self.window(loaded, tokens, features(start), codes, new)
            fade = round(self.crossfade_s * loaded.sampling_rate)
            audio = crossfade_join(audio, segment, start * loaded.hop, fade)
            have += new
        return audio

    def window(self, loaded: Loaded, tokens: dict[str, Any], features: np.ndarray | None,
               codes: Any | None, new: int) -> np.ndarray:  # fmt: skip
        """One generation: the prompt's frames (if any) then ``new`` frames, decoded,
        ``(channels, (prompt + new) * hop)``. No ``features``: the model's "no melody"."""
        import torch

        kwargs: dict[str, Any] = dict(
            tokens,
            # the delay pattern staggers the codebooks: `delay` more steps complete the last frame
            max_new_tokens=new + loaded.delay,
            do_sample=True,
            top_k=self.top_k,
            guidance_scale=self.guidance_scale,
        )
        if features is not None:
            kwargs["input_features"] = torch.from_numpy(features)[None].to(loaded.device)
        prompt = 0
        if codes is not None:
            kwargs["decoder_input_ids"] = codes  # (codebooks, frames), undelayed
            prompt = int(codes.shape[-1])
        with torch.inference_mode():
            out = loaded.model.generate(**kwargs)
        audio = out[0].float().cpu().numpy()
        return exact_length(audio, (prompt + new) * loaded.hop)


def encode(loaded: Loaded, audio: np.ndarray) -> Any:
    """The codec's codes of ``audio`` ``(channels, samples)`` as a decoder prompt:
    ``(codebooks, frames)``, a stereo model's left and right codebooks interleaved (its layout)."""
    import torch

    codec = loaded.model.audio_encoder
    per_channel = loaded.delay + 1
    bandwidth = max(codec.config.target_bandwidths)  # enough codebooks, then keep the first ones
    rows = []
    with torch.inference_mode():
        for channel in audio:
            wave = torch.from_numpy(np.ascontiguousarray(channel))[None, None].to(loaded.device)
            rows.append(codec.encode(wave, bandwidth=bandwidth).audio_codes[0, 0, :per_channel])
    if len(rows) == 1:
        return rows[0]
    return torch.stack(rows, dim=1).reshape(-1, rows[0].shape[-1])  # L0 R0 L1 R1 ...


def crossfade_join(head: np.ndarray, tail: np.ndarray, offset: int, fade: int) -> np.ndarray:
    """``head`` continued by ``tail``, which starts ``offset`` samples into ``head`` (both
    ``(channels, samples)``): ``offset + len(tail)`` samples. The two overlap; the switch is a
    linear crossfade of ``fade`` samples (at most the overlap) in the middle of the overlap,
    away from both renditions' edges (the codec decodes each end without what follows or
    precedes it). Linear, not equal-power: both sides render the same prompt, so they are
    correlated and equal gains keep the level."""
    overlap = max(0, head.shape[-1] - offset)
    fade = min(fade, overlap, tail.shape[-1])
    cut = offset + (overlap - fade) // 2
    ramp = np.linspace(0.0, 1.0, fade + 2, dtype=np.float32)[1:-1]
    inside = cut - offset
    mixed = head[:, cut : cut + fade] * (1 - ramp) + tail[:, inside : inside + fade] * ramp
    return np.concatenate([head[:, :cut], mixed, tail[:, inside + fade :]], axis=1)


def exact_length(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` ``(channels, samples)`` cut or padded with silence to ``n`` samples."""
    if audio.shape[-1] >= n:
        return audio[:, :n]
    return np.pad(audio, ((0, 0), (0, n - audio.shape[-1])))


# -- conditioning ---------------------------------------------------------------------------


def melodic_draft(job: RenderJob) -> np.ndarray | None:
    """The symbolic draft in mono at the job's rate, without its drum and bass parts (the
    SoundFont render of :func:`~vmb_agent.rendering.renderers.draft_mix`, part by part); the
    whole draft when nothing else plays; None when the generator made no composition."""
    from vmb_agent.rendering.mix import track_roles
    from vmb_agent.rendering.renderers import SoundFontRenderer

    if job.composition is None:
        return None
    roles = track_roles((part.role, part.instrument) for part in job.composition.parts)
    melodic = np.zeros(job.n_samples, dtype=np.float32)
    everything = np.zeros(job.n_samples, dtype=np.float32)
    for name, part in SoundFontRenderer().parts(job):
        mono = part.mean(axis=1)
        everything += mono
        if roles.get(name) not in NO_MELODY_ROLES:
            melodic += mono
    return melodic if np.any(melodic) else everything


def melody_features(draft_chroma: np.ndarray, hop_s: float, start_s: float, frames: int,
                    chroma_hz: float) -> np.ndarray:  # fmt: skip
    """MusicGen-Melody's ``input_features`` for the span starting at ``start_s``: ``(frames,
    12)`` float32, one-hot per frame (the loudest pitch class), as its feature extractor makes
    them. ``draft_chroma`` ``(n, 12)`` has a frame every ``hop_s`` s (centred); it is read at
    the model's frame times by linear interpolation. Silence, including after the piece ends,
    is C: the extractor normalises each frame by its maximum and takes the argmax, so an
    all-zero frame reads as C in training, and it is also the model's "no melody"."""
    times = start_s + np.arange(frames) / chroma_hz
    position = times / hop_s
    low = np.floor(position).astype(int)
    weight = (position - low)[:, None]
    before, after = _frames_at(draft_chroma, low), _frames_at(draft_chroma, low + 1)
    values = (1 - weight) * before + weight * after
    loudest = float(draft_chroma.sum(axis=1).max(initial=0.0))
    pitch = values.argmax(axis=1)
    pitch[values.sum(axis=1) <= SILENT_CHROMA * loudest] = 0
    features = np.zeros((frames, NUM_CHROMA), dtype=np.float32)
    features[np.arange(frames), pitch] = 1.0
    return features


def _frames_at(frames: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``frames[index]`` with zeros (silence) for indices outside the chroma."""
    inside = (index >= 0) & (index < len(frames))
    out = np.zeros((len(index), NUM_CHROMA), dtype=np.float32)
    out[inside] = frames[index[inside]]
    return out


def melody_frame_rate(folder: Path) -> float:
    """Chroma frames per second of the weights in ``folder`` (its preprocessor_config.json, or
    MusicGen-Melody's 32000 / 4096)."""
    try:
        config = json.loads((folder / "preprocessor_config.json").read_text())
        return float(config["sampling_rate"]) / float(config["hop_length"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return CHROMA_SR / CHROMA_HOP


def prompt_text(description: MusicDescription | None, conditions: Conditions) -> str:
    """The text condition: the description's prose, then the explicit conditions in words
    (MusicGen was trained on captions plus tags such as genre, bpm, key and instruments)."""
    c = conditions
    tags = [c.style, f"{c.tempo_bpm:.0f} bpm", c.key, f"{c.time_signature} time"]
    if c.instruments:
        tags.append("instruments: " + ", ".join(c.instruments))
    tags.append(f"{_level(c.energy)} energy")
    mood = "dark, melancholic" if c.valence < 0.35 else "bright, happy" if c.valence > 0.65 else ""
    if mood:
        tags.append(mood)
    if c.swing is not None and c.swing > 0.55:
        tags.append("swing feel")
    if c.sections:
        tags.append("form: " + ", ".join(dict.fromkeys(s.label for s in c.sections)))
    if c.loop:
        tags.append("seamless loop")
    prose = consistent_prose(description.text, c) if description is not None else ""
    return " ".join(part for part in (prose, ", ".join(tags) + ".") if part)


_KEY = re.compile(r"\b([A-G][#b]?)\s+([Mm]ajor|[Mm]inor)\b(?!-)")  # not "a minor-key"
_BPM = re.compile(r"(\d+(?:\.\d+)?)\s*bpm\b", re.IGNORECASE)
_METRE = re.compile(r"\b\d{1,2}/\d{1,2}\b")
TEMPO_SLACK = 0.1  # the prose says "about 82 BPM"; picture sync moves the tempo a little


def consistent_prose(text: str, conditions: Conditions) -> str:
    """The description's sentences that do not contradict the conditions: an override or a
    reference may have changed the key, tempo or metre that the describer wrote into its
    prose, and the model should not hear both."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(s for s in sentences if s and not _contradicts(s, conditions))


def _contradicts(sentence: str, c: Conditions) -> bool:
    try:
        keys = {parse_key(f"{tonic} {mode}") for tonic, mode in _KEY.findall(sentence)}
        if keys and keys != {parse_key(c.key)}:
            return True
    except InputError:  # not a key after all: keep the sentence
        pass
    if any(abs(float(bpm) / c.tempo_bpm - 1) > TEMPO_SLACK for bpm in _BPM.findall(sentence)):
        return True
    metres = set(_METRE.findall(sentence))
    return bool(metres) and metres != {c.time_signature}


def _level(value: float) -> str:
    return "low" if value < 0.35 else "high" if value > 0.65 else "medium"
