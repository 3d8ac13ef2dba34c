"""Renderers: a composition (with the text bridge) -> audio parts, before mastering.

The pipeline composes symbolically (tempo, key, form and cuts stay explicit), then hands the
composition to the renderer named by ``VMB_RENDER_BACKEND`` (default ``soundfont``). A renderer
yields ``(name, audio)`` parts, each ``(n, 2)`` float32 at the job's sample rate and exactly
``n_samples`` long (``job.fit`` cuts, pads or folds a loop): their sum is the mix, and the parts
are the stems. The pipeline masters, measures and writes whatever comes back, so a neural
renderer (one part, ``"mix"``) gets the same loudness, true peak and measured tempo/key as the
SoundFont. Parts are asked for a second time when stems are written (one part at a time stays
in memory): a renderer that makes the whole mix at once subclasses :class:`MixRenderer`,
which keeps it for that second request.

Plugins register more renderers through the ``vmb_agent.backends`` entry points
(``render.<name>``; see :mod:`vmb_agent.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vmb_agent.errors import BackendUnavailableError
from vmb_agent.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer import Composition
    from vmb_agent.settings import Settings
    from vmb_agent.types import Conditions, MusicDescription


@dataclass(frozen=True)
class RenderJob:
    """Everything a renderer may use: the score, the explicit conditions and the words."""

    composition: Composition | None  # None: the generator left everything to the renderer
    conditions: Conditions
    description: MusicDescription | None
    settings: Settings
    sample_rate: int
    n_samples: int
    fit: Callable[[np.ndarray], np.ndarray]  # to exactly n_samples (a loop's tail folded back)
    seed: int = 0  # the generation's seed: a sampling renderer seeds itself with it


class Renderer(Protocol):
    name: str

    def parts(self, job: RenderJob) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, (n_samples, 2) float32)`` parts in a fixed order; their sum is the mix."""
        ...


class SoundFontRenderer:
    """Each instrument rendered alone through the SoundFont (so the stems sum to the mix),
    fitted to length and set to its role's level (gain staging: fonts differ per program by
    15 dB and more)."""

    name = "soundfont"

    def __init__(self) -> None:
        self._faders: dict[str, float] = {}  # the same gain when the parts are asked again

    def parts(self, job: RenderJob) -> Iterator[tuple[str, np.ndarray]]:
        from vmb_agent.rendering.mix import staging_gain, track_roles
        from vmb_agent.rendering.synth import render_instruments

        composition = job.composition
        if composition is None:
            raise BackendUnavailableError(
                f"the soundfont renderer plays a score, and the {job.settings.generate_backend} "
                "generator made none; choose a renderer that works from the words "
                "(musicgen-melody, stable-audio; see `vmb backends`)."
            )
        roles = track_roles((part.role, part.instrument) for part in composition.parts)
        for name, part in render_instruments(composition.midi, sample_rate=job.sample_rate,
                                             soundfont=job.settings.soundfont):  # fmt: skip
            part = job.fit(part)
            if name not in self._faders:
                self._faders[name] = staging_gain(part, job.sample_rate, roles.get(name, "pad"))
            part *= np.float32(self._faders[name])
            yield name, part


class MixRenderer:
    """A renderer that makes the whole mix at once (one ``"mix"`` part), e.g. a neural model.
    Subclasses implement :meth:`render`; the mix is kept for the job, because the pipeline
    asks for the parts a second time when stems are written and sampling is not repeatable."""

    name: str

    def render(self, job: RenderJob) -> np.ndarray:
        """``(job.n_samples, 2)`` float32 at ``job.sample_rate``."""
        raise NotImplementedError

    def parts(self, job: RenderJob) -> Iterator[tuple[str, np.ndarray]]:
        kept: tuple[RenderJob, np.ndarray] | None = getattr(self, "_kept", None)
        if kept is None or kept[0] is not job:
            kept = self._kept = (job, self.render(job))
        yield "mix", kept[1].copy()  # the pipeline may process a part in place


def draft_mix(job: RenderJob) -> np.ndarray | None:
    """The composition rendered through the SoundFont and summed: the symbolic draft that a
    neural renderer is conditioned on (its chroma, or its audio as the starting point). None
    when the generator made no composition (then the words alone condition it)."""
    if job.composition is None:
        return None
    mix = np.zeros((job.n_samples, 2), dtype=np.float32)
    for _, part in SoundFontRenderer().parts(job):
        mix += part
    return mix


def _musicgen_melody(settings: Settings | None = None) -> Renderer:
    from vmb_agent.neural.musicgen import MusicGenMelodyRenderer

    return MusicGenMelodyRenderer(settings)


def _stable_audio(settings: Settings | None = None) -> Renderer:
    from vmb_agent.neural.stable_audio import StableAudioRenderer

    return StableAudioRenderer(settings)


renderers: Registry[Renderer] = Registry("render")
renderers.add("soundfont", SoundFontRenderer)
renderers.add("musicgen-melody", _musicgen_melody)  # vmb_agent/neural: VMB_MUSICGEN_MODEL
renderers.add("stable-audio", _stable_audio)  # VMB_STABLE_AUDIO_MODEL
