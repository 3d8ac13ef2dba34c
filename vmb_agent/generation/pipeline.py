"""``generate_music``: both bridges + overrides -> WAV, MIDI, stems, piano roll, scored video.

The steps read top to bottom (each timed into ``result.timings``):

1. check inputs (names, ranges, the video's stream and length) before anything is written;
2. analyse and blend the references (music bridge);
3. resolve the explicit conditions (overrides > description > references > style);
4. video sync: the cue's tempo map that puts every section-starting cut on a downbeat;
5. compose (a registered generator backend; ``symbolic`` by default);
6. render (a registered renderer, ``rendering/renderers.py``; the SoundFont by default), 7. master;
8. measure the result with the library's analysis (in a thread, while 9. writes every output
   atomically: all files appear together or none do).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vmb_agent.errors import InputError, OutOfRangeError
from vmb_agent.files import atomic_outputs, unique_stem
from vmb_agent.registry import Registry
from vmb_agent.types import (
    AudioTag,
    Conditions,
    CutAlignment,
    GenerationOverrides,
    GenerationResult,
    Measured,
    MusicDescription,
    ProgressCallback,
    TrackInfo,
)

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer import Composition, ReferenceMaterial
    from vmb_agent.generation.form import Grid
    from vmb_agent.rendering.renderers import Renderer
    from vmb_agent.settings import Settings

SAMPLE_RATE = 44100
END_FADE_S = 0.35
SYNC_TOLERANCE = 0.08  # the tempo may move this much (relative) to land cuts on beats
Progress = ProgressCallback


class Generator(Protocol):
    """A generation backend: explicit conditions in, a composition out — or None for one that
    leaves everything to the renderer (then no MIDI or piano roll is written, and the renderer
    works from the conditions and the words alone)."""

    name: str

    def compose(
        self, conditions: Conditions, *, seed: int, material: ReferenceMaterial | None
    ) -> Composition | None: ...


class SymbolicGenerator:
    name = "symbolic"

    def compose(
        self, conditions: Conditions, *, seed: int, material: ReferenceMaterial | None
    ) -> Composition:
        from vmb_agent.generation.composer import compose

        return compose(conditions, seed=seed, material=material)


generators: Registry[Generator] = Registry("generate")
generators.add("symbolic", SymbolicGenerator)


@dataclass
class Rendered:
    """The audio side of a generation, before it is written."""

    audio: np.ndarray  # (n, 2) float32, mastered
    loudness_lufs: float | None
    true_peak_dbtp: float
    gain_db: float
    stems: dict[str, np.ndarray] = field(default_factory=dict)


def _timer() -> Callable[[str], None]:
    marks: dict[str, float] = {}
    last = [time.perf_counter()]

    def mark(name: str) -> None:
        now = time.perf_counter()
        marks[name] = round(now - last[0], 4)
        last[0] = now

    mark.marks = marks  # type: ignore[attr-defined]
    return mark


def generate_music(
    description: MusicDescription | None,
    references: list[TrackInfo],
    overrides: GenerationOverrides,
    *,
    reference_weights: list[float] | None = None,
    seed: int | None,
    out_dir: Path,
    stems: bool,
    video_path: Path | None,
    settings: Settings,
    video_out: Path | None = None,
    overwrite: bool = False,
    audio_bitrate: str | int | None = None,
    progress: Progress | None = None,
) -> GenerationResult:
    """Generate, render, master, measure and write music conditioned on both bridges.

    ``reference_weights`` (one per reference) sets each reference's share of the blend; by
    default the ranks weigh 1, 1/2, 1/3, ... ``video_out`` names the scored video (default: beside
    the other outputs, with their unique stem); its suffix picks the container, and an existing
    file there is an error unless ``overwrite``. ``audio_bitrate`` (e.g. ``"256k"``) is the
    scored video's music bitrate (default 192k).
    """
    from vmb_agent.generation.conditions import check_overrides, resolve_conditions
    from vmb_agent.generation.cue import sync_to_picture
    from vmb_agent.generation.references import analyze_reference, blend
    from vmb_agent.rendering.master import one_blas_thread
    from vmb_agent.rendering.renderers import renderers

    report = progress or (lambda done, total=None, message=None: None)
    total_steps = 6.0
    mark = _timer()
    t0 = time.perf_counter()

    # 1. Check inputs
    check_overrides(overrides)
    if seed is None:
        seed = secrets.randbelow(2**31 - 1)
    if not 0 <= int(seed) < 2**63:
        raise OutOfRangeError(f"seed={seed} is out of range; allowed: 0 to 2**63-1.")
    seed = int(seed)
    video_info = None
    audio_kbps: int | None = None
    if video_path is not None:
        from vmb_agent.rendering.video import check_scoring

        # the declared length: a long video is refused at once, not after hours of decoding
        video_info, audio_kbps = check_scoring(
            Path(video_path), out=Path(video_out) if video_out else None, overwrite=overwrite,
            duration_s=overrides.duration_s, audio_bitrate=audio_bitrate,
        )  # fmt: skip
        if overrides.duration_s is not None:  # within tolerance: the music ends with the picture
            overrides = overrides.model_copy(update={"duration_s": None})
    generator = generators.create(settings.generate_backend, settings=settings)
    renderer = renderers.create(settings.render_backend, settings=settings)  # fails before work
    mark("check")

    # 2. Music bridge (a reference that cannot be read is left out and reported in warnings)
    report(0, total_steps, "analysing references")
    warnings: list[str] = []
    blended = None
    if references:
        features, kept_weights = [], []
        for i, track in enumerate(references):
            try:
                features.append(analyze_reference(track))
            except (InputError, OSError) as exc:
                warnings.append(reference_warning(track.id, exc))
                continue
            if reference_weights is not None:
                kept_weights.append(float(reference_weights[i]))
        if features and reference_weights is not None and sum(kept_weights) <= 0:
            warnings.append("the references left have weight 0; generated without references")
        elif features:
            blended = blend(features, kept_weights if reference_weights is not None else None)
    mark("references")

    # 3. Conditions
    conditions = resolve_conditions(
        description, blended, overrides, seed=seed,
        video_duration_s=video_info.duration_s if video_info else None,
    )  # fmt: skip

    # 4. Video sync: the cue's tempo map puts every section-starting cut on a downbeat
    conditions = sync_to_picture(conditions, explicit_tempo=overrides.tempo_bpm is not None)
    mark("conditions")

    # 5. Compose
    report(1, total_steps, f"composing {conditions.style} in {conditions.key}")
    composition = generator.compose(
        conditions, seed=seed, material=blended.material if blended else None
    )
    mark("compose")

    # 6-7. Render and master (loudness filters on one BLAS thread: see one_blas_thread)
    report(2, total_steps, "rendering")
    with one_blas_thread():
        rendered = render_composition(composition, conditions, settings, stems=stems, mark=mark,
                                      measure_loudness=False, description=description,
                                      renderer=renderer, seed=seed)  # fmt: skip

        # 8-9. Measure while the files are written: the analysis (numpy, mostly outside the
        # GIL) runs in a thread beside the writing and ffmpeg's encoding, on the other core
        report(4, total_steps, "measuring and writing files")
        with ThreadPoolExecutor(max_workers=1) as pool:
            measuring = pool.submit(_timed, measure, rendered, composition, conditions.cuts_s,
                                    style=conditions.style if settings.measure_tags else None,
                                    conditions=conditions)
            paths = write_outputs(
                out_dir, composition, conditions, rendered, video_path=video_path,
                video_duration_s=video_info.duration_s if video_info else None,
                video_out=video_out, overwrite=overwrite, audio_kbps=audio_kbps,
            )  # fmt: skip
            (measured, alignment), measure_s = measuring.result()
    warnings += result_warnings(conditions, measured, composition)
    mark("write")
    mark.marks["measure"] = round(measure_s, 4)  # type: ignore[attr-defined]
    timings = dict(mark.marks)  # type: ignore[attr-defined]
    timings["total"] = round(time.perf_counter() - t0, 4)
    report(total_steps, total_steps, "done")
    return GenerationResult(
        audio_path=paths["audio"],
        midi_path=paths.get("midi"),
        stems=paths.get("stems", []),
        piano_roll_path=paths.get("piano_roll"),
        video_path=paths.get("video"),
        duration_s=round(rendered.audio.shape[0] / SAMPLE_RATE, 4),
        requested=conditions,
        measured=measured,
        seed=seed,
        backend=generator.name,
        renderer=getattr(renderer, "name", settings.render_backend),
        cut_alignment=alignment,
        tempo_map=conditions.tempo_map,
        timings=timings,
        warnings=list(dict.fromkeys(warnings)),
    )


def _timed(function: Callable, *args: object, **kwargs: object) -> tuple[object, float]:
    start = time.perf_counter()
    return function(*args, **kwargs), time.perf_counter() - start


def render_composition(
    composition: Composition | None,
    conditions: Conditions,
    settings: Settings,
    *,
    stems: bool = False,
    mark: Callable[[str], None] | None = None,
    measure_loudness: bool = True,
    description: MusicDescription | None = None,
    renderer: Renderer | None = None,
    seed: int = 0,
) -> Rendered:
    """Render (the ``VMB_RENDER_BACKEND`` renderer; the SoundFont by default) -> exact length
    (loop tail folded back, or a short fade) -> mastering. ``measure_loudness=False``: the
    final loudness is left to :func:`measure` (None here). Without a composition the renderer
    works from the conditions alone, for ``conditions.duration_s``."""
    from vmb_agent.generation.styles import STYLES
    from vmb_agent.rendering.master import STYLE_EQ, MasterSettings, master, stem_chain
    from vmb_agent.rendering.renderers import RenderJob, renderers

    seconds = composition.duration_s if composition is not None else conditions.duration_s
    n = round(seconds * SAMPLE_RATE)

    # the mix is the sum of the renderer's parts, so the stems (the same parts, asked for
    # again) sum to it exactly; each part keeps its natural length (release tail included),
    # then is cut, padded or (a loop) folded to exactly n samples
    renderer = renderer or renderers.create(settings.render_backend, settings=settings)
    job = RenderJob(composition, conditions, description, settings, SAMPLE_RATE, n,
                    fit=lambda audio: fit_length(audio, n, loop=conditions.loop), seed=seed)

    def parts() -> Iterator[tuple[str, np.ndarray]]:
        return renderer.parts(job)

    # planar (channels, samples) memory seen as (samples, channels): pedalboard takes it
    # without another full-length copy
    raw = np.zeros((2, n), dtype=np.float32).T
    for _, part in parts():
        raw += part
    if mark:
        mark("render")
    style = STYLES[conditions.style]
    # a loop runs straight back into its start: no fade
    master_settings = MasterSettings(reverb_wet=style.reverb, room_size=style.room,
                                     eq=STYLE_EQ.get(conditions.style, ()),
                                     fade_out_s=0.0 if conditions.loop else END_FADE_S)  # fmt: skip
    audio, report = master(raw, SAMPLE_RATE, master_settings, keep_gain_curve=stems,
                           measure_loudness=measure_loudness)  # fmt: skip
    if mark:
        mark("master")
    stem_audio: dict[str, np.ndarray] = {}
    if stems:
        for name, part in parts():
            stem_audio[name] = stem_chain(part, SAMPLE_RATE, master_settings, report)
        if mark:
            mark("stems")
    return Rendered(audio, report.loudness_lufs, report.true_peak_dbtp, report.gain_db, stem_audio)


def fit_length(audio: np.ndarray, n: int, *, loop: bool) -> np.ndarray:
    """Exactly ``n`` samples: pad with silence, or cut — folding the cut tail onto the start for
    a loop so the reverb/release of the last bar rings into the first (seamless repeat)."""
    if audio.shape[0] < n:
        return np.concatenate([audio, np.zeros((n - audio.shape[0], 2), dtype=audio.dtype)])
    if not loop or audio.shape[0] == n:
        return audio[:n]
    out = audio[:n].copy()
    tail = audio[n : 2 * n]
    out[: tail.shape[0]] += tail
    return out


def measure(
    rendered: Rendered, composition: Composition | None, cuts_s: list[float] | None = None,
    *, style: str | None = None, conditions: Conditions | None = None,
) -> tuple[Measured, list[CutAlignment]]:
    """Tempo and key with the library's own analysis; loudness and true peak from mastering
    (the loudness measured here when mastering left it out); where each cut fell: the onset
    the audio has at the beat that should sound on it; with a ``style``, the audio tagger's
    tags and where that style ranks by them."""
    from vmb_agent.dsp import integrated_loudness
    from vmb_agent.generation.form import cut_alignment, cut_targets

    tempo = key = None
    onsets = None
    loudness = rendered.loudness_lufs
    if loudness is None:  # left to this thread by render_composition(measure_loudness=False)
        measured_lufs = integrated_loudness(rendered.audio, SAMPLE_RATE)
        loudness = None if measured_lufs is None else round(measured_lufs, 2)
    grid = _grid(composition, conditions)
    try:
        from vmb_agent.library import audio_features
    except ImportError:  # the library is optional for generation; measure what we can
        audio_features = None
    if audio_features is not None:
        from vmb_agent.dsp import decimate

        # the analysis works on mono at 22.05 kHz: hand it that (less memory on long pieces)
        mono = decimate(rendered.audio.mean(axis=1), 2)
        tempo, key = audio_features.measure_tempo_key(mono, SAMPLE_RATE // 2)
        if cuts_s:
            times = [target for target, _, _ in cut_targets(grid, cuts_s)]
            onsets = audio_features.onsets_near(mono, SAMPLE_RATE // 2, times)
    tags, style_rank = _style_tags(rendered.audio, style) if style else ([], None)
    measured = Measured(
        tempo_bpm=tempo,
        key=key,
        duration_s=round(rendered.audio.shape[0] / SAMPLE_RATE, 4),
        loudness_lufs=loudness,
        true_peak_dbtp=rendered.true_peak_dbtp,
        tags=tags,
        style_rank=style_rank,
    )
    return measured, cut_alignment(grid, cuts_s or [], onsets)


def _grid(composition: Composition | None, conditions: Conditions | None) -> Grid:
    """Where the bars fall: the composition's grid, else the one the conditions make (with
    the cue's tempo map when scored to picture)."""
    from vmb_agent.generation.composer.piece import conditions_grid
    from vmb_agent.generation.form import Grid

    if composition is not None:
        return composition.grid or Grid(composition.tempo_bpm, composition.beats_per_bar,
                                        composition.duration_s, False, composition.pickup_s)
    if conditions is None:
        raise ValueError("measure() needs the composition or the conditions")
    return conditions_grid(conditions)


#: tags kept in ``Measured.tags``
MEASURED_TAGS = 10


def _style_tags(audio: np.ndarray, style: str) -> tuple[list[AudioTag], int | None]:
    """The tagger's top tags for ``audio`` and the rank of ``style`` by them."""
    from vmb_agent.library.tagger import merged_tags, style_check

    tags = merged_tags(audio, SAMPLE_RATE)
    top = sorted(tags.items(), key=lambda item: -item[1])[:MEASURED_TAGS]
    check = style_check(tags, style)
    return (
        [AudioTag(tag=tag, probability=round(p, 4)) for tag, p in top],
        check.rank if check is not None else None,
    )


# --------------------------------------------------------------------------------------------
# Warnings: what came out differs from what was asked (one line each, in GenerationResult)
# --------------------------------------------------------------------------------------------

TEMPO_TOLERANCE = 0.02  # the controls' own target: measured tempo within +-2 % of the request
#: readings at another metrical level: (measured / requested, how to say it, why it happens)
_TEMPO_LEVELS = (
    (2.0, "double", "the beat may be felt at double time"),
    (0.5, "half", "the beat may be felt at half time"),
    (1.5, "3/2 of", "a triplet pulse may read as the beat"),
    (2 / 3, "2/3 of", "a dotted pulse may read as the beat"),
)


def _bpm(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def tempo_warning(requested_bpm: float, measured_bpm: float | None,
                  tempo_range: tuple[float, float] | None = None) -> str | None:  # fmt: skip
    """A line when the measured tempo misses the request by more than 2 %, naming an octave
    (double/half) or 3:2 reading: the music is right but the beat is felt at another level.
    With a tempo map (scored to picture) the request is its base tempo and any tempo within the
    map's range is right."""
    if measured_bpm is None or requested_bpm <= 0:
        return None
    low, high = tempo_range or (requested_bpm, requested_bpm)
    if low * (1 - TEMPO_TOLERANCE) <= measured_bpm <= high * (1 + TEMPO_TOLERANCE):
        return None
    ratio = measured_bpm / requested_bpm
    asked, heard = f"{_bpm(requested_bpm)} BPM", _bpm(measured_bpm)
    if tempo_range is not None:
        asked = f"{asked} (tempo map {_bpm(low)}-{_bpm(high)} BPM)"
    for factor, word, why in _TEMPO_LEVELS:
        if abs(ratio / factor - 1.0) <= TEMPO_TOLERANCE:
            return f"measured tempo {heard} BPM is {word} the requested {asked} ({why})"
    return (f"measured tempo {heard} BPM differs from the requested {asked} by "
            f"{(ratio - 1) * 100:+.1f} % (tolerance ±{TEMPO_TOLERANCE * 100:.0f} %)")  # fmt: skip


def key_warning(requested_key: str, measured_key: str | None) -> str | None:
    """A line when the measured key/mode is not the requested one, naming the relation
    (relative or parallel major/minor, a fifth away) when there is one."""
    from vmb_agent.theory import parse_key

    if not measured_key:
        return None
    try:
        asked, heard = parse_key(requested_key), parse_key(measured_key)
    except InputError:
        return None
    if asked == heard:
        return None
    line = f"measured key {heard.name} differs from the requested {asked.name}"
    if heard == asked.relative:
        return f"{line} (its relative {heard.mode}: same notes, another tonic)"
    if heard.tonic == asked.tonic:
        return f"{line} (its parallel {heard.mode}: same tonic, other mode)"
    if heard.mode == asked.mode and (heard.tonic - asked.tonic) % 12 in (5, 7):
        side = "dominant" if (heard.tonic - asked.tonic) % 12 == 7 else "subdominant"
        return f"{line} (a fifth away: the {side})"
    return line


def silent_instrument_warnings(conditions: Conditions, composition: Composition) -> list[str]:
    """A line per requested instrument that plays no note: its part is silenced by the section
    plan (it joins above the loudest section's energy) or it got no part or no notes."""
    played = {track.name for track in composition.midi.instruments if track.notes}
    parts = [p for p in getattr(composition, "parts", []) if p.instrument not in played]
    sections = getattr(composition, "sections", [])
    loudest = max((s.energy for s in sections), default=None)
    lines = []
    for name in conditions.instruments:
        if name in played:
            continue
        own = [p for p in parts if p.instrument == name]
        if not own:
            lines.append(f"instrument {name!r} was requested but the arrangement gave it no part")
        elif loudest is not None and all(p.min_energy > loudest + 1e-9 for p in own):
            joins = min(p.min_energy for p in own)
            lines.append(f"instrument {name!r} never plays: the section plan keeps it silent (it "
                         f"joins at section energy {joins:.2f}, the loudest section reaches "
                         f"{loudest:.2f})")  # fmt: skip
        else:
            lines.append(f"instrument {name!r} was requested but its part has no notes")
    return lines


def reference_warning(track_id: str, error: Exception) -> str:
    """``reference 'ID' not used: <why>`` (the error's own 'reference ...' prefix dropped)."""
    reason = " ".join(str(error).split()).rstrip(".")
    for prefix in (f"reference {track_id!r}: ", "reference "):
        if reason.startswith(prefix):
            reason = reason[len(prefix) :]
            break
    return f"reference {track_id!r} not used: {reason}"


def result_warnings(
    conditions: Conditions, measured: Measured, composition: Composition | None
) -> list[str]:
    """Measured against requested: tempo, key and the requested instruments."""
    tempo_map = conditions.tempo_map
    tempo_range = (tempo_map.min_bpm, tempo_map.max_bpm) if tempo_map else None
    lines = [tempo_warning(conditions.tempo_bpm, measured.tempo_bpm, tempo_range),
             key_warning(conditions.key, measured.key)]  # fmt: skip
    if composition is not None:  # which notes sound is known only for a score
        lines += silent_instrument_warnings(conditions, composition)
    lines.append(style_warning(conditions.style, measured))
    return [line for line in lines if line]


#: a requested style ranked below this many others by the audio tagger gets a warning
STYLE_RANK_WARNING = 3


def style_warning(style: str, measured: Measured) -> str | None:
    """One line when the audio tagger files the piece far from the requested style."""
    if measured.style_rank is None or measured.style_rank <= STYLE_RANK_WARNING:
        return None
    from vmb_agent.library.tagger import STYLE_TAGS, style_check

    check = style_check({t.tag: t.probability for t in measured.tags}, style)
    if check is None or check.leader == style:  # the leader's tag fell outside the top tags
        return None
    return (
        f"the audio tagger hears this more as {check.leader} ({check.leader_tag} "
        f"{check.leader_probability:.2f}) than {style} (ranked {measured.style_rank} of "
        f"{len(STYLE_TAGS)} styles by its tags)."
    )


def write_outputs(
    out_dir: Path,
    composition: Composition | None,
    conditions: Conditions,
    rendered: Rendered,
    *,
    video_path: Path | None = None,
    video_duration_s: float | None = None,
    video_out: Path | None = None,
    overwrite: bool = False,
    audio_kbps: int | None = None,
    bit_depth: int = 24,
) -> dict:
    """Write WAV, MIDI, piano roll, stems and the scored video; all appear together or none.
    MIDI and piano roll only when there is a composition (a score to draw).

    The scored video is ``video_out`` (its suffix picks the container; an existing file is kept
    unless ``overwrite``), else beside the rest in the input's container (MP4 if that has none).
    """
    from vmb_agent.rendering.outputs import draw_piano_roll, roll_timeline, write_midi, write_wav
    from vmb_agent.rendering.video import (
        DEFAULT_AUDIO_KBPS,
        container_for,
        default_suffix,
        start_mux,
    )

    out_dir = Path(out_dir)
    stem = unique_stem(f"vmb-{conditions.style}")
    targets: dict[str, Path] = {"audio": out_dir / f"{stem}.wav"}
    if composition is not None:
        targets |= {"midi": out_dir / f"{stem}.mid", "piano_roll": out_dir / f"{stem}.png"}
    stem_targets = {
        name: out_dir / f"{stem}.stem-{name.replace(' ', '-')}.wav" for name in rendered.stems
    }
    if video_path is not None:
        video_name = out_dir / f"{stem}{default_suffix(Path(video_path))}"
        targets["video"] = Path(video_out) if video_out else video_name
    order = [*targets.values(), *stem_targets.values()]
    with atomic_outputs(order, overwrite=overwrite) as temps:
        tmp = dict(zip([*targets, *(f"stem:{k}" for k in stem_targets)], temps, strict=True))
        # the scored video first: ffmpeg encodes the music (fed from memory, not from the WAV)
        # in a process of its own while the other files are written here
        muxing = None
        if video_path is not None:
            muxing = start_mux(
                Path(video_path), rendered.audio, SAMPLE_RATE, tmp["video"],
                video_duration_s or conditions.duration_s,
                container=container_for(targets["video"]),
                audio_kbps=audio_kbps or DEFAULT_AUDIO_KBPS,
            )  # fmt: skip
        try:
            write_wav(tmp["audio"], rendered.audio, SAMPLE_RATE, bit_depth)
            if composition is not None:
                write_midi(tmp["midi"], composition.midi)
                draw_piano_roll(tmp["piano_roll"], composition.midi, composition.duration_s,
                                timeline=roll_timeline(composition, conditions))  # fmt: skip
            for name in stem_targets:
                write_wav(tmp[f"stem:{name}"], rendered.stems[name], SAMPLE_RATE, bit_depth)
        except BaseException:
            if muxing is not None:
                muxing.cancel()
            raise
        if muxing is not None:
            muxing.wait()
    result: dict = {k: str(v) for k, v in targets.items()}
    result["stems"] = [str(p) for p in stem_targets.values()]
    return result


__all__ = [
    "Generator",
    "Rendered",
    "SymbolicGenerator",
    "fit_length",
    "generate_music",
    "generators",
    "measure",
    "reference_warning",
    "render_composition",
    "result_warnings",
    "write_outputs",
]
