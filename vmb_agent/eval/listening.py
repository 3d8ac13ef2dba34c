"""Listening with numbers: form, melody and mix measures of a piece, as issue 11 defines them.

Form and melody (symbolic, on MIDI):

* **bar repetition** — the share of bars whose pitch-class content (each note weighted by how
  long it sounds inside the bar, every pitched part) has a cosine of at least 0.95 with an
  earlier bar. Human-written songs and soundtracks repeat (a chorus returns, verse 2 reuses
  verse 1's tune over the same chords): about 0.7; random notes in the key: about 0.2.
* **step share** — melody intervals of at most 2 semitones among all melody intervals (repeated
  notes excluded); folk tunes and chorales: 55-80 %.
* **chromatic share** — melody notes outside the key's diatonic scale.

Mix (audio, on the written WAV and stems):

* **loudness range** (LRA, EBU Tech 3342, :func:`vmb_agent.dsp.loudness_range`);
* **stem spread** — integrated loudness of the loudest stem minus the quietest (BS.1770);
* **DC offset** — the largest absolute per-channel mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

REPEAT_COSINE = 0.95
_MAJOR = (0, 2, 4, 5, 7, 9, 11)


def _load(midi: pretty_midi.PrettyMIDI | str | Path) -> pretty_midi.PrettyMIDI:
    import pretty_midi

    return midi if isinstance(midi, pretty_midi.PrettyMIDI) else pretty_midi.PrettyMIDI(str(midi))


def bar_profiles(midi: pretty_midi.PrettyMIDI | str | Path) -> np.ndarray:
    """``(n_bars, 12)`` duration-weighted pitch-class content of every bar (pitched parts)."""
    pm = _load(midi)
    downbeats = list(pm.get_downbeats())
    end = pm.get_end_time()
    if not downbeats or end <= downbeats[0]:
        return np.zeros((0, 12))
    edges = np.array([*downbeats, max(end, downbeats[-1] + 1e-3)])
    profiles = np.zeros((len(downbeats), 12))
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for note in inst.notes:
            first = max(0, int(np.searchsorted(edges, note.start, side="right")) - 1)
            last = min(len(downbeats) - 1, int(np.searchsorted(edges, note.end, side="left")) - 1)
            for bar in range(first, last + 1):
                overlap = min(note.end, edges[bar + 1]) - max(note.start, edges[bar])
                if overlap > 0:
                    profiles[bar, note.pitch % 12] += overlap
    return profiles


def repetition_share(midi: pretty_midi.PrettyMIDI | str | Path,
                     threshold: float = REPEAT_COSINE) -> float:  # fmt: skip
    """Share of (sounding) bars whose pitch-class content repeats an earlier bar's."""
    profiles = bar_profiles(midi)
    norms = np.linalg.norm(profiles, axis=1)
    sounding = profiles[norms > 1e-9] / norms[norms > 1e-9, None]
    if len(sounding) < 2:
        return 0.0
    similarity = sounding @ sounding.T
    repeats = sum(bool((similarity[i, :i] >= threshold).any()) for i in range(1, len(sounding)))
    return repeats / len(sounding)


def melody_line(midi: pretty_midi.PrettyMIDI | str | Path) -> list[int]:
    """The tune of a MIDI file without role labels: among pitched parts with at least 8 notes
    that are mostly monophonic, the one highest on average; its top note at each onset."""
    pm = _load(midi)
    best: tuple[float, list[int]] | None = None
    for inst in pm.instruments:
        if inst.is_drum or len(inst.notes) < 8:
            continue
        onsets: dict[float, int] = {}
        for note in inst.notes:
            t = round(note.start, 3)
            onsets[t] = max(onsets.get(t, 0), note.pitch)
        if len(onsets) < 0.8 * len(inst.notes):  # chords: an accompaniment part
            continue
        line = [onsets[t] for t in sorted(onsets)]
        height = float(np.mean(line))
        if best is None or height > best[0]:
            best = (height, line)
    return best[1] if best else []


def interval_shares(pitches: list[int], key_tonic: int, minor: bool) -> tuple[float, float]:
    """(step share, chromatic share) of a melody: intervals of 1-2 semitones among the moving
    intervals; notes outside the key's scale (natural minor plus its raised 6th and 7th count
    as in the key: they are the minor mode's own leading tones)."""
    if len(pitches) < 2:
        return 0.0, 0.0
    moves = np.abs(np.diff(np.asarray(pitches)))
    moves = moves[moves > 0]
    steps = float(np.mean(moves <= 2)) if moves.size else 0.0
    scale = {(key_tonic + s + (3 if minor else 0)) % 12 for s in _MAJOR}  # relative major
    if minor:
        scale |= {(key_tonic + 9) % 12, (key_tonic + 11) % 12}
    chromatic = float(np.mean([p % 12 not in scale for p in pitches]))
    return steps, chromatic


def dc_offset(audio: np.ndarray) -> float:
    """The largest absolute per-channel mean of ``(n,)`` or ``(n, channels)`` audio."""
    x = audio if audio.ndim == 2 else audio[:, None]
    return float(np.max(np.abs(x.mean(axis=0, dtype=np.float64)))) if x.size else 0.0


def stem_levels(stems: dict[str, np.ndarray], rate: int) -> dict[str, float]:
    """Integrated loudness (LUFS) of every stem that sounds."""
    from vmb_agent.dsp import integrated_loudness

    levels = {}
    for name, audio in stems.items():
        value = integrated_loudness(audio, rate)
        if value is not None:
            levels[name] = round(value, 2)
    return levels


@dataclass
class FormMeasures:
    repetition: float  # bar repetition share, every pitched part (the definition)
    melody_repetition: float  # the same, the melody alone
    steps: float
    chromatic: float


def melody_midi(composition) -> pretty_midi.PrettyMIDI:
    """The composition's melody alone, on its own tempo and meter."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=composition.tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(composition.beats_per_bar, 4, 0))
    track = pretty_midi.Instrument(0)
    for note in composition.melody:
        start = composition.beat_time(note.start)
        track.notes.append(pretty_midi.Note(100, note.pitch, start,
                                            start + note.length * composition.beat_s))  # fmt: skip
    pm.instruments.append(track)
    return pm


def measure_form(style: str, seed: int, duration_s: float) -> FormMeasures:
    """Compose the piece ``VMB.generate`` makes for a style, seed and length (no description,
    no references) and measure its form and melody. Composing takes ~30 ms; the rendered
    result does not carry the composition, so this composes it again rather than render."""
    from vmb_agent.generation.composer import compose
    from vmb_agent.generation.conditions import resolve_conditions
    from vmb_agent.theory import parse_key
    from vmb_agent.types import GenerationOverrides

    overrides = GenerationOverrides(style=style, duration_s=duration_s)
    conditions = resolve_conditions(None, None, overrides, seed=seed)
    composition = compose(conditions, seed=seed)
    key = parse_key(conditions.key)
    pitches = [n.pitch for n in sorted(composition.melody, key=lambda n: n.start)]
    steps, chromatic = interval_shares(pitches, key.tonic, key.mode == "minor")
    return FormMeasures(repetition_share(composition.midi),
                        repetition_share(melody_midi(composition)), steps, chromatic)  # fmt: skip


@dataclass
class MixMeasures:
    loudness_range_lu: float | None
    stem_levels_lufs: dict[str, float]
    dc_offset: float

    @property
    def stem_spread_db(self) -> float:
        levels = list(self.stem_levels_lufs.values())
        return max(levels) - min(levels) if len(levels) > 1 else 0.0


def measure_mix(audio_path: str | Path, stem_paths: list[str] | None = None) -> MixMeasures:
    """LRA and DC of a written WAV, and the loudness of each stem file beside it."""
    import soundfile as sf

    from vmb_agent.dsp import loudness_range

    audio, rate = sf.read(str(audio_path), dtype="float32", always_2d=True)
    stems = {}
    for path in stem_paths or []:
        name = Path(path).stem.split(".stem-")[-1]
        stems[name] = sf.read(str(path), dtype="float32", always_2d=True)[0]
    return MixMeasures(loudness_range(audio, rate), stem_levels(stems, rate), dc_offset(audio))


__all__ = [
    "FormMeasures",
    "MixMeasures",
    "bar_profiles",
    "dc_offset",
    "interval_shares",
    "measure_form",
    "measure_mix",
    "melody_line",
    "melody_midi",
    "repetition_share",
    "stem_levels",
]
