"""``render.stable-audio``: Stable Audio (diffusers' ``StableAudioPipeline``) re-renders the
symbolic draft, window by window.

The composition is rendered through the SoundFont first (:func:`draft_mix`); that draft, at the
VAE's sampling rate, is the initial audio of each diffusion window, so tempo, key, form and cuts
come from the score while the model supplies the sound. The prompt is the explicit conditions
(style, tempo, key, instruments, energy) followed by the description's prose.

Three facts of diffusers 0.42's ``StableAudioPipeline.__call__`` shape this module:

* the initial audio is VAE-encoded and *added* to noise scaled by the scheduler's
  ``init_noise_sigma`` = sqrt(sigma_max^2 + 1): with Stable Audio Open's sigma_max of 500 the
  draft is 1/500 of the start and has no audible effect, and there is no ``strength``
  argument. Here each call gets a copy of the scheduler with ``sigma_max`` lowered to
  :attr:`StableAudioRenderer.init_noise_level` (as stable-audio-tools' ``init_noise_level``
  does), so the sampler starts from draft + that much noise and runs its steps from there down;
* one call makes at most one window: ``transformer.sample_size`` latents x ``vae.hop_length``
  samples (1024 x 2048 at 44.1 kHz: 47.55 s for Stable Audio Open). Longer pieces are cut into
  windows that overlap by :attr:`~StableAudioRenderer.overlap_s`, each conditioned on its slice
  of the draft, joined by crossfades that keep the level (:func:`join_windows`);
* ``audio_start_in_s`` / ``audio_end_in_s`` are both the seconds conditioning (the model's
  ``seconds_start`` / ``seconds_total``) and the crop of the decoded window: each window asks
  for 0 .. its own length, so a short last window is told to end where the piece ends.

Stable Audio Open's scheduler (``CosineDPMSolverMultistepScheduler``) samples its noise with
``torchsde``: a folder that names it needs that module too (a one-line error otherwise).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmb_agent.errors import BackendUnavailableError
from vmb_agent.neural.common import (
    cached_model,
    load_failure,
    missing_modules,
    prepare,
    running,
    torch_device,
)
from vmb_agent.rendering.renderers import MixRenderer

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.rendering.renderers import RenderJob
    from vmb_agent.settings import Settings
    from vmb_agent.types import Conditions, MusicDescription

BACKEND = "stable-audio"
VARIABLE = "VMB_STABLE_AUDIO_MODEL"
#: schedulers whose noise sampler imports torchsde (diffusers' Brownian-tree sampler)
SDE_SCHEDULERS = ("CosineDPMSolverMultistepScheduler", "DPMSolverSDEScheduler")

Window = tuple[int, int]  # (start, stop) in samples at the model's rate


class StableAudioRenderer(MixRenderer):
    """One ``"mix"`` part: the draft re-rendered by Stable Audio, window by window."""

    name = BACKEND
    steps: int = 100  # diffusers' default; the tests use 2
    guidance_scale: float = 7.0  # diffusers' default classifier-free guidance
    #: the noise (sigma; Stable Audio Open's schedule spans 0.3-500, its sigma_data is 1)
    #: the draft is started from: lower keeps more of the SoundFont's sound, higher lets the
    #: model re-imagine more than the rhythm and harmony (stable-audio-tools' variations use
    #: 1.0); None: the scheduler's own sigma_max, i.e. text-to-audio, the draft all but ignored
    init_noise_level: float | None = 3.0
    overlap_s: float = 1.5  # crossfade between windows (at most a quarter of a window)
    max_window_s: float | None = None  # windows shorter than the model's (more joins)
    negative_prompt = "low quality, distorted, noise"

    def __init__(self, settings: Settings | None = None) -> None:
        # every check that needs no model runs here: missing weights fail before composing
        settings, self.folder = prepare(BACKEND, settings)
        self.device = torch_device(settings.device)
        if settings.stable_audio_steps is not None:  # else the class's (diffusers' default)
            self.steps = settings.stable_audio_steps

    def render(self, job: RenderJob) -> np.ndarray:
        """``(job.n_samples, 2)`` float32 at ``job.sample_rate``."""
        with running(BACKEND, self.folder):
            return self._render(job)

    # -- rendering ----------------------------------------------------------------------------

    def _render(self, job: RenderJob) -> np.ndarray:
        """The whole piece: draft -> model rate -> windows -> crossfaded -> job rate, n samples."""
        from vmb_agent.rendering.renderers import draft_mix

        pipe = self._pipeline()
        rate = int(pipe.vae.sampling_rate)
        mix = draft_mix(job)  # None: no composition: the words alone (text-to-audio)
        from_draft = mix is not None
        if mix is None:  # windows of silence only set the lengths; no initial audio is given
            mix = np.zeros((job.n_samples, 2), dtype=np.float32)
        draft = _resample(mix, job.sample_rate, rate)
        window = self.window_samples(pipe)
        overlap = min(round(self.overlap_s * rate), window // 4)
        prompt = fit_prompt(pipe.tokenizer, build_prompt(job.conditions, job.description))
        seed = job.seed % 2**62  # + the window's index stays below 2**63

        def render(piece: np.ndarray, index: int) -> np.ndarray:
            return self._segment(pipe, prompt, piece, seed + index, from_draft=from_draft)

        audio = render_in_windows(draft, window, overlap, render)
        return job.fit(_resample(audio, rate, job.sample_rate))

    def window_samples(self, pipe: Any) -> int:
        """Samples one call can make at the model's rate: ``sample_size`` latents x the VAE's
        hop (capped by :attr:`max_window_s`)."""
        window = int(pipe.transformer.config.sample_size) * int(pipe.vae.hop_length)
        if self.max_window_s is not None:
            window = min(window, round(self.max_window_s * pipe.vae.sampling_rate))
        return window

    def _segment(self, pipe: Any, prompt: str, piece: np.ndarray, seed: int, *,
                 from_draft: bool = True) -> np.ndarray:  # fmt: skip
        """One window: ``piece`` (its slice of the draft, (L, 2) at the model's rate) as the
        initial audio -> (L, 2) float32. ``from_draft=False``: text-to-audio of that length
        (no initial audio, the scheduler's own start noise)."""
        import torch

        rate = int(pipe.vae.sampling_rate)
        full = int(pipe.transformer.config.sample_size) * int(pipe.vae.hop_length)
        initial = np.zeros((2, full), dtype=np.float32)  # padded here: no "will be padded" log
        initial[:, : piece.shape[0]] = piece.T
        dtype = pipe.transformer.dtype
        waveforms = torch.from_numpy(initial)[None].to(pipe.device, dtype) if from_draft else None
        with warnings.catch_warnings():
            # torchsde warns when the schedule's last sigma (0) lies below the Brownian tree
            warnings.filterwarnings("ignore", module="torchsde")
            out = self._with_start_noise(pipe, from_draft)(
                prompt,
                negative_prompt=self.negative_prompt,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance_scale,
                audio_start_in_s=0.0,
                audio_end_in_s=piece.shape[0] / rate,
                initial_audio_waveforms=waveforms,
                initial_audio_sampling_rate=rate if from_draft else None,
                generator=torch.Generator("cpu").manual_seed(seed),  # same on every device
                output_type="pt",
            ).audios[0]
        return _frames(out.float().cpu().numpy(), piece.shape[0])

    def _with_start_noise(self, pipe: Any, from_draft: bool = True) -> Any:
        """``pipe`` with its own scheduler copy starting at :attr:`init_noise_level` (from a
        draft; else the scheduler's own). A new pipeline over the same modules: the cached one
        is never changed, and concurrent calls do not share the scheduler's step state."""
        scheduler = pipe.scheduler
        level = self.init_noise_level if from_draft else None
        if level is not None and hasattr(scheduler.config, "sigma_max"):
            level = min(float(level), float(scheduler.config.sigma_max))
            scheduler = type(scheduler).from_config(scheduler.config, sigma_max=level)
        fresh = type(pipe)(**{**pipe.components, "scheduler": scheduler})
        fresh.set_progress_bar_config(disable=True)
        return fresh

    def _pipeline(self) -> Any:
        """The loaded pipeline, once per (folder, device) for the process."""
        return cached_model((BACKEND, str(self.folder), self.device), self._load)

    def _load(self) -> Any:
        from diffusers import StableAudioPipeline

        try:
            pipe = StableAudioPipeline.from_pretrained(self.folder)
        except Exception as exc:  # any loading failure is one line for the user
            raise load_failure(BACKEND, self.folder, exc) from exc
        if self.device != "cuda":
            return pipe.to(self.device)
        import torch

        # half precision, as diffusers' Stable Audio example runs it; cast with .to because the
        # loading keyword for it was renamed between diffusers versions (torch_dtype -> dtype)
        return pipe.to(self.device, torch.float16)


# -- checks before any work --------------------------------------------------------------------


def check_pipeline_folder(folder: Path) -> None:
    """A one-line error unless ``folder`` is a diffusers pipeline whose scheduler can load."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise BackendUnavailableError(
            f"{BACKEND}: no diffusers pipeline at {folder} ({VARIABLE}): the folder has no "
            "model_index.json (give a Stable Audio folder saved by diffusers)."
        )
    try:
        entry = json.loads(index.read_text(encoding="utf-8")).get("scheduler")
    except (OSError, ValueError, AttributeError) as exc:
        raise BackendUnavailableError(
            f"{BACKEND}: unreadable model_index.json in {folder} ({type(exc).__name__})."
        ) from None
    scheduler = str(entry[-1]) if isinstance(entry, list) and entry else ""  # [library, class]
    if scheduler in SDE_SCHEDULERS and missing_modules(("torchsde",)):
        raise BackendUnavailableError(
            f"{BACKEND}: the model's scheduler ({scheduler}) needs torchsde "
            "(pip install torchsde)."
        )


# -- prompt ------------------------------------------------------------------------------------


def build_prompt(conditions: Conditions, description: MusicDescription | None) -> str:
    """The explicit conditions first (T5 keeps only the first 128 tokens: the facts must not
    be the part cut off), then the description's prose."""
    facts = [f"{conditions.style} music", f"{conditions.tempo_bpm:.0f} BPM", conditions.key]
    if conditions.instruments:
        facts.append(", ".join(conditions.instruments))
    facts.append(_energy_words(conditions.energy))
    prompt = ", ".join(facts) + "."
    if description is not None and description.text.strip():
        prompt += " " + " ".join(description.text.split())
    return prompt


def fit_prompt(tokenizer: Any, prompt: str) -> str:
    """The longest run of ``prompt``'s first words that the tokenizer keeps whole: the
    pipeline would cut it mid-word (and log the cut for every window)."""
    limit = int(tokenizer.model_max_length)

    def fits(words: list[str]) -> bool:
        return len(tokenizer(" ".join(words), verbose=False).input_ids) <= limit

    words = prompt.split()
    if fits(words):
        return prompt
    low, high = 0, len(words) - 1  # words[:low] fits, words[:high + 1] does not
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(words[:middle]) else (low, middle - 1)
    return " ".join(words[:low])


def _energy_words(energy: float) -> str:
    if energy < 0.35:
        return "calm, low energy"
    return "medium energy" if energy < 0.65 else "high energy, driving"


# -- windows -------------------------------------------------------------------------------------


def plan_windows(n: int, window: int, overlap: int) -> list[Window]:
    """Consecutive ``(start, stop)`` spans covering ``n`` samples, each at most ``window``
    long, each starting ``overlap`` samples before the previous one stops. The last span is
    longer than the overlap (it starts before ``n - window`` would have sufficed)."""
    if window <= 0 or not 0 <= overlap < window:
        raise ValueError(f"window {window} and overlap {overlap} do not make windows")
    starts = [0]
    while starts[-1] + window < n:
        starts.append(starts[-1] + window - overlap)
    return [(start, min(start + window, n)) for start in starts]


def render_in_windows(
    source: np.ndarray, window: int, overlap: int,
    render: Callable[[np.ndarray, int], np.ndarray],
) -> np.ndarray:  # fmt: skip
    """``render(slice, index)`` for each window of ``source`` ((n, channels)), joined back to
    exactly n samples with equal-power crossfades over the overlaps."""
    spans = plan_windows(source.shape[0], window, overlap)
    pieces = [render(source[start:stop], i) for i, (start, stop) in enumerate(spans)]
    return join_windows(pieces, spans, overlap, source.shape[0])


def join_windows(pieces: list[np.ndarray], spans: list[Window], overlap: int, n: int) -> np.ndarray:
    """The pieces laid at their spans; each overlap goes from the earlier piece to the later
    one along cos/sin, normalised for the two sides' correlation r so the level holds through
    the join: equal power for unrelated windows (r = 0), equal gain for identical ones (r = 1;
    plain equal power would bulge +3 dB where both windows re-render the same draft)."""
    out = np.zeros((n, pieces[0].shape[1]), dtype=np.float32)
    theta = (np.arange(overlap, dtype=np.float64) + 0.5) / max(overlap, 1) * (math.pi / 2)
    fade_out, fade_in = np.cos(theta)[:, None], np.sin(theta)[:, None]
    for i, (piece, (start, stop)) in enumerate(zip(pieces, spans, strict=True)):
        if i == 0 or overlap == 0:
            out[start:stop] = piece
            continue
        before, after = out[start : start + overlap], piece[:overlap]
        r = _correlation(before, after)
        norm = np.sqrt(fade_out**2 + fade_in**2 + 2.0 * r * fade_out * fade_in)
        out[start : start + overlap] = before * (fade_out / norm) + after * (fade_in / norm)
        out[start + overlap : stop] = piece[overlap:]
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-lag correlation of ``a`` and ``b`` in [0, 1] (anti-correlation counts as none: its
    normalisation would blow up where the two cancel)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    energy = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    if energy <= 0.0:
        return 0.0
    return min(1.0, max(0.0, float(np.sum(a * b)) / energy))


# -- audio helpers -------------------------------------------------------------------------------


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(n, channels) from ``rate`` to ``target`` with the analysis' one resampler."""
    if rate == target:
        return np.ascontiguousarray(audio, dtype=np.float32)
    from vmb_agent.library.audio_features import resample

    channels = [resample(np.ascontiguousarray(channel), rate, target) for channel in audio.T]
    return np.stack(channels, axis=1).astype(np.float32, copy=False)


def _frames(decoded: np.ndarray, length: int) -> np.ndarray:
    """The pipeline's (channels, samples) as (length, 2) float32: a mono VAE's channel doubled,
    the crop's rounding (int(seconds * rate)) padded by repeating the last sample."""
    audio = decoded.T[:length]
    if audio.shape[0] == 0:  # nothing decoded (a window of under one sample)
        return np.zeros((length, 2), dtype=np.float32)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    if audio.shape[0] < length:
        audio = np.pad(audio, ((0, length - audio.shape[0]), (0, 0)), mode="edge")
    return np.ascontiguousarray(audio[:, :2], dtype=np.float32)
