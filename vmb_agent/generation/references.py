"""Music-bridge conditioning: what the composer takes from reference tracks.

From a MIDI reference (pretty_midi): tempo, key/mode (the library's key finder on its
pitch-class profile), time signature, a chord progression (duration-weighted pitch-class
profile per bar matched to triad templates, bass weighted double), groove (melody onsets per
beat, swing ratio of off-beat eighths), instrumentation and an opening motif of the top line
(rhythm + scale steps) the composer quotes and varies.
From an audio reference: with a stored transcription (Basic Pitch notes, written by
``library add``), everything a MIDI reference gives, read from the notes; without one, tempo and
key (the library's analysis, stored on the track), a chord progression per bar from the
library's chroma and an energy curve (RMS in eight segments). Key finding and chroma have one owner each (``theory.estimate_key``,
``library.audio_features.chroma``); this module only calls them.
Several references blend with weights (1, 1/2, 1/3, ... by rank unless given).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vmb_agent.errors import InputError
from vmb_agent.generation.composer import Motif, ReferenceMaterial
from vmb_agent.generation.harmony import Chord, match_chord, transpose
from vmb_agent.theory import Key, estimate_key, gm_program_to_instrument, parse_key
from vmb_agent.types import TrackInfo

MAX_CHORD_BARS = 8
ENERGY_SEGMENTS = 8
#: the most melody notes a beat a reference may carry (``Conditions.melody_density``'s bound)
MAX_DENSITY = 16.0


@dataclass
class ReferenceFeatures:
    """Musical facts measured on one reference."""

    id: str
    tempo_bpm: float | None = None
    key: Key | None = None
    time_signature: str | None = None
    chords: list[Chord] = field(default_factory=list)  # one per bar, in the reference's key
    swing: float | None = None
    density: float | None = None  # top-line onsets per beat
    instruments: list[str] = field(default_factory=list)
    motif: Motif | None = None
    energy: float | None = None
    energy_curve: list[float] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)
    transcribed: bool = False  # an audio track whose melody, bass and chords come from its notes


@dataclass
class BlendedReferences:
    """The references blended into one set of suggestions (by weight)."""

    ids: list[str]
    weights: list[float]  # each reference's share of the blend (sums to 1)
    tempo_bpm: float | None
    key: Key | None
    time_signature: str | None
    chords_relative: list[tuple[int, str]]  # (root - tonic, quality) so they transpose
    chords_mode: str | None
    instruments: list[str]
    energy: float | None
    energy_curve: list[float]
    genres: list[str]
    material: ReferenceMaterial
    motif_source: str | None = None  # the reference the motif comes from
    chords_source: str | None = None  # the reference the progression comes from
    transcribed_ids: list[str] = field(default_factory=list)  # audio references read as notes

    def chords_in(self, key: Key) -> list[str]:
        """The reference progression spelled in ``key`` (only when the modes agree)."""
        if not self.chords_relative or self.chords_mode != key.mode:
            return []
        return [
            Chord((key.tonic + offset) % 12, quality).name
            for offset, quality in self.chords_relative
        ]


def analyze_reference(track: TrackInfo) -> ReferenceFeatures:
    """Measure one reference (MIDI or audio); ``InputError`` if its file cannot be read or what
    it holds cannot condition a piece (the caller then leaves it out with a warning)."""
    from pydantic import ValidationError

    from vmb_agent.errors import validation_problems

    path = Path(track.path)
    if not path.is_file():
        raise InputError(f"reference {track.id!r}: file {track.path!r} not found.")
    try:
        if track.format == "midi":
            features = _analyze_midi(track, path)
        else:
            features = _analyze_audio(track, path)
    except ValidationError as exc:  # a stored value out of range (a library indexed long ago)
        raise InputError(f"reference {track.id!r}: {validation_problems(exc)}.") from None
    if features.density is not None and not 0 <= features.density <= MAX_DENSITY:
        raise InputError(
            f"reference {track.id!r}: its melody has {features.density:.0f} notes a beat; "
            f"allowed: at most {MAX_DENSITY:g} (re-index it or remove it from the library)."
        )
    features.genres = list(track.genres)
    features.moods = list(track.moods)
    if features.energy is None and track.energy is not None:
        features.energy = float(track.energy)
    return features


# --------------------------------------------------------------------------------------------
# MIDI references
# --------------------------------------------------------------------------------------------


def _analyze_midi(track: TrackInfo, path: Path) -> ReferenceFeatures:
    import pretty_midi

    from vmb_agent.files import open_regular
    from vmb_agent.library.ingest import MAX_MIDI_BYTES, MAX_NOTES
    from vmb_agent.library.midi import scan_midi

    # The library's limits, checked again: a track indexed before them may break them, and a
    # 200,000-note file would take pretty_midi ~10 s to parse on every request.
    with open_regular(path, what=f"reference {track.id!r}", shown=track.path) as handle:
        data = handle.read(MAX_MIDI_BYTES + 1)
    try:
        too_many = (
            len(data) > MAX_MIDI_BYTES
            or scan_midi(data, stop_after_notes=MAX_NOTES).notes > MAX_NOTES
        )
    except ValueError as exc:
        raise InputError(
            f"reference {track.id!r}: cannot read MIDI {track.path!r}: {exc}"
        ) from None
    if too_many:
        raise InputError(f"reference {track.id!r}: MIDI {track.path!r} has over {MAX_NOTES} notes "
                         "or is over 16 MB; allowed: the library's limits.")  # fmt: skip
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # noqa: BLE001 - mido/pretty_midi raise many types for corrupt files
        raise InputError(
            f"reference {track.id!r}: cannot read MIDI {track.path!r}: {exc}"
        ) from None
    notes = [(n, inst) for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    if not notes:
        raise InputError(f"reference {track.id!r}: MIDI {track.path!r} has no pitched notes.")
    _, tempi = pm.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else None
    if track.tempo_bpm:
        tempo = float(track.tempo_bpm)
    time_signature = None
    if pm.time_signature_changes:
        ts = pm.time_signature_changes[0]
        time_signature = f"{ts.numerator}/{ts.denominator}"

    if track.key:
        key = parse_key(track.key)
    else:
        from vmb_agent.library.midi import pitch_class_profile

        # A flat profile has no key; C major keeps the motif's scale steps defined.
        key = estimate_key(pitch_class_profile(pm))[0] or Key(0, "major")

    beats = pm.get_beats()
    beats_per_bar = int(time_signature.split("/")[0]) if time_signature else 4
    beats_per_bar = beats_per_bar if beats_per_bar in (2, 3, 4) else 4
    chords = _midi_chords(notes, beats, beats_per_bar)
    melody = _top_line(notes)
    density, swing = _groove(melody, beats)
    motif = _motif(melody, beats, beats_per_bar, key)
    instruments = list(
        dict.fromkeys(
            gm_program_to_instrument(i.program, i.is_drum) for i in pm.instruments if i.notes
        )
    )
    velocities = np.array([n.velocity for n, _ in notes], dtype=float)
    end = pm.get_end_time()
    curve = _midi_energy_curve(notes, end)
    # loudness (velocity) and activity (notes a second over all voices; 16/s is very busy)
    activity = min(1.0, len(notes) / max(end, 1.0) / 16.0)
    energy = float(np.clip(0.5 * velocities.mean() / 127 + 0.5 * activity, 0, 1))
    return ReferenceFeatures(
        id=track.id, tempo_bpm=tempo, key=key, time_signature=time_signature, chords=chords,
        swing=swing, density=density, instruments=instruments, motif=motif, energy=energy,
        energy_curve=curve,
    )  # fmt: skip


def _midi_chords(notes: list, beats: np.ndarray, beats_per_bar: int) -> list[Chord]:
    if len(beats) < beats_per_bar + 1:
        return []
    bar_starts = beats[::beats_per_bar]
    chords: list[Chord] = []
    for i in range(min(MAX_CHORD_BARS, len(bar_starts) - 1)):
        start, end = bar_starts[i], bar_starts[i + 1]
        profile = np.zeros(12)
        lowest = None
        for note, _ in notes:
            overlap = min(end, note.end) - max(start, note.start)
            if overlap > 0:
                profile[note.pitch % 12] += overlap
                if lowest is None or note.pitch < lowest[0]:
                    lowest = (note.pitch, overlap)
        if lowest is not None:
            profile[lowest[0] % 12] += lowest[1]  # the bass note names the chord more often
        chord = match_chord(profile)
        if chord is not None:
            chords.append(chord)
    return chords


def _top_line(notes: list) -> list[tuple[float, float, int]]:
    """The highest note at each onset: (start_s, end_s, pitch), in time order."""
    by_onset: dict[float, tuple[float, float, int]] = {}
    for note, _ in notes:
        onset = round(note.start, 3)
        if onset not in by_onset or note.pitch > by_onset[onset][2]:
            by_onset[onset] = (note.start, note.end, note.pitch)
    return [by_onset[k] for k in sorted(by_onset)]


def _beat_position(t: float, beats: np.ndarray) -> float:
    """Time in seconds -> position in beats (fractional), using the MIDI's beat grid."""
    i = int(np.searchsorted(beats, t, side="right")) - 1
    i = max(0, min(i, len(beats) - 2))
    span = beats[i + 1] - beats[i]
    return i + (t - beats[i]) / span if span > 0 else float(i)


def _groove(
    melody: list[tuple[float, float, int]], beats: np.ndarray
) -> tuple[float | None, float | None]:
    if len(beats) < 2 or len(melody) < 4:
        return None, None
    positions = np.array([_beat_position(s, beats) for s, _, _ in melody])
    span = max(1.0, positions[-1] - positions[0])
    density = float(len(melody) / span)
    fractions = positions - np.floor(positions)
    offbeats = fractions[(fractions > 0.4) & (fractions < 0.8)]
    swing = None
    if len(offbeats) >= 4:
        swing = float(np.clip(np.median(offbeats), 0.5, 0.7))
    return density, swing


def _motif(melody: list[tuple[float, float, int]], beats: np.ndarray, beats_per_bar: int,
           key: Key) -> Motif | None:  # fmt: skip
    """The first two bars of the top line with at least three notes each, as rhythm cells and
    diatonic steps (so the composer can replay it in another key)."""
    if len(beats) < 2 * beats_per_bar + 1 or len(melody) < 6:
        return None
    scale = key.scale
    bars: dict[int, list[tuple[float, float, int]]] = {}
    for start, end, pitch in melody:
        pos = _beat_position(start, beats)
        bar = math.floor(pos / beats_per_bar + 1e-9)
        onset = round((pos - bar * beats_per_bar) * 4) / 4  # quantise to sixteenths
        length = max(0.25, round((_beat_position(end, beats) - pos) * 4) / 4)
        bars.setdefault(bar, []).append((onset, min(length, beats_per_bar - onset), pitch))
    for bar in sorted(bars):
        pair = [bars.get(bar, []), bars.get(bar + 1, [])]
        if all(len(b) >= 3 for b in pair):
            cells, steps = [], []
            previous = None
            for notes in pair:
                cell, bar_steps = [], []
                for onset, length, pitch in notes:
                    if length <= 0 or onset >= beats_per_bar:
                        continue
                    degree = _diatonic_index(pitch, scale)
                    bar_steps.append(
                        0 if previous is None else int(np.clip(degree - previous, -4, 4))
                    )
                    previous = degree
                    cell.append((float(onset), float(length)))
                cells.append(cell)
                steps.append(bar_steps)
            return Motif(cells, steps)
    return None


def _diatonic_index(pitch: int, scale: list[int]) -> int:
    octave, pc = divmod(pitch, 12)
    nearest = min(range(len(scale)), key=lambda i: min((pc - scale[i]) % 12, (scale[i] - pc) % 12))
    return octave * 7 + nearest


def _midi_energy_curve(notes: list, end: float) -> list[float]:
    if end <= 0:
        return []
    edges = np.linspace(0, end, ENERGY_SEGMENTS + 1)
    values = np.zeros(ENERGY_SEGMENTS)
    for note, _ in notes:
        i = min(ENERGY_SEGMENTS - 1, int(np.searchsorted(edges, note.start, side="right")) - 1)
        values[i] += note.velocity / 127
    top = values.max()
    return [round(float(v / top), 3) for v in values] if top > 0 else []


# --------------------------------------------------------------------------------------------
# Audio references
# --------------------------------------------------------------------------------------------


def load_audio_mono(path: Path, sample_rate: int = 22050) -> np.ndarray:
    """Decode any audio file to mono float32 at ``sample_rate`` (the library's loader when it is
    there, else soundfile / PyAV)."""
    from scipy.signal import resample_poly

    try:
        from vmb_agent.library.audio_features import load_audio
    except ImportError:  # the library's loader is the reference; soundfile is the fallback
        import soundfile

        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
        loaded = data.mean(axis=1)
    else:
        loaded, sr = load_audio(path)
    mono = np.asarray(loaded, dtype=np.float32)
    if sr != sample_rate:
        g = math.gcd(int(sr), sample_rate)
        mono = resample_poly(mono, sample_rate // g, int(sr) // g).astype(np.float32)
    return mono


def _analyze_audio(track: TrackInfo, path: Path) -> ReferenceFeatures:
    """An audio reference: from its stored transcription exactly as a MIDI file (melody, bass,
    chords, motif, groove) when it has one with notes, else tempo, key, chroma chords and the
    energy curve measured on the audio."""
    transcribed = _transcribed(track)
    if transcribed is not None:
        return transcribed
    sample_rate = 22050
    try:
        mono = load_audio_mono(path, sample_rate)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types for corrupt files
        raise InputError(
            f"reference {track.id!r}: cannot read audio {track.path!r}: {exc}"
        ) from None
    if mono.size < sample_rate:
        raise InputError(f"reference {track.id!r}: audio {track.path!r} is shorter than 1 s.")
    mono = mono[: sample_rate * 120]  # two minutes say enough about a reference
    from vmb_agent.library.audio_features import chroma, chroma_profile

    frames, frame_s = chroma(mono, sample_rate)  # (frames, 12)
    key = parse_key(track.key) if track.key else estimate_key(chroma_profile(frames))[0]
    tempo = float(track.tempo_bpm) if track.tempo_bpm else None
    chords: list[Chord] = []
    if tempo and frames.size:
        bar_frames = max(1, round(4 * 60.0 / tempo / frame_s))
        energy_per_frame = frames.sum(axis=1)
        loud = np.flatnonzero(energy_per_frame > 0.05 * energy_per_frame.max())
        first = int(loud[0]) if loud.size else 0
        for i in range(MAX_CHORD_BARS):
            block = frames[first + i * bar_frames : first + (i + 1) * bar_frames]
            if block.shape[0] == 0:
                break
            chord = match_chord(block.sum(axis=0))
            if chord is not None:
                chords.append(chord)
    rms = np.array(
        [float(np.sqrt(np.mean(seg**2))) for seg in np.array_split(mono, ENERGY_SEGMENTS)]
    )
    curve = [round(float(v / rms.max()), 3) for v in rms] if rms.max() > 0 else []
    energy = (
        float(track.energy) if track.energy is not None else float(np.clip(rms.mean() * 5, 0, 1))
    )
    return ReferenceFeatures(
        id=track.id, tempo_bpm=tempo, key=key, time_signature=track.time_signature,
        chords=chords, instruments=list(track.instruments), energy=energy, energy_curve=curve,
    )  # fmt: skip


#: a stored transcription larger than this is not read (a 1 h piece of dense notes is ~10 MB)
MAX_TRANSCRIPTION_BYTES = 32 * 1024**2


def _transcribed(track: TrackInfo) -> ReferenceFeatures | None:
    """The track's features from its stored transcription, or None when it has none that can
    be used (not stored, unreadable, no notes): the audio analysis then stands in."""
    import json

    from vmb_agent.files import open_regular
    from vmb_agent.library.transcribe import Transcription, reference_features

    if not track.transcription_path or not track.transcription_notes:
        return None
    path = Path(track.transcription_path)
    try:
        if path.stat().st_size > MAX_TRANSCRIPTION_BYTES:
            return None
        with open_regular(path, what=f"transcription of {track.id!r}") as handle:
            transcription = Transcription.from_dict(json.loads(handle.read()))
        features = reference_features(transcription, track)
    except (OSError, ValueError, TypeError, KeyError, InputError):
        return None  # a damaged sidecar: the audio itself still conditions the piece
    features.transcribed = True
    return features


# --------------------------------------------------------------------------------------------
# Blending
# --------------------------------------------------------------------------------------------


def check_reference_weights(weights: Sequence[float], n_references: int) -> None:
    """One finite, non-negative weight per reference, not all zero."""
    values = [float(x) for x in weights]
    if (
        len(values) != n_references
        or not all(math.isfinite(x) and x >= 0 for x in values)
        or sum(values) <= 0
    ):
        raise InputError(
            f"reference weights {values} do not fit {n_references} reference(s); allowed: one "
            "non-negative number per reference, in the same order, not all zero."
        )


def blend(
    features: list[ReferenceFeatures], weights: list[float] | None = None
) -> BlendedReferences | None:
    """Blend several references: weighted tempo (octave-folded to the first), weighted key vote,
    the heaviest reference's chords and motif, weighted groove and energy, union of instruments."""
    if not features:
        return None
    if weights:
        check_reference_weights(weights, len(features))
    w = np.array(weights if weights else [1.0 / (i + 1) for i in range(len(features))], dtype=float)
    w = w / w.sum()
    order = np.argsort(-w, kind="stable")

    tempi = [(f.tempo_bpm, wi) for f, wi in zip(features, w, strict=True) if f.tempo_bpm]
    tempo = None
    if tempi:
        anchor = tempi[0][0]
        folded = []
        for t, wi in tempi:
            while t > anchor * 1.5:
                t /= 2
            while t < anchor / 1.5:
                t *= 2
            folded.append((t, wi))
        tempo = float(sum(t * wi for t, wi in folded) / sum(wi for _, wi in folded))

    votes: dict[Key, float] = {}
    for f, wi in zip(features, w, strict=True):
        if f.key is not None:
            votes[f.key] = votes.get(f.key, 0.0) + float(wi)
    key = max(votes, key=lambda k: votes[k]) if votes else None

    chords_relative: list[tuple[int, str]] = []
    chords_mode = chords_source = None
    motif = None
    motif_source = None
    for i in order:
        f = features[int(i)]
        if not chords_relative and f.chords and f.key is not None:
            chords_relative = [((c.root - f.key.tonic) % 12, c.quality) for c in _dedupe(f.chords)]
            chords_mode, chords_source = f.key.mode, f.id
        if motif is None and f.motif is not None:
            motif, motif_source = f.motif, f.id

    def weighted(values: list[tuple[float | None, float]]) -> float | None:
        pairs = [(v, wi) for v, wi in values if v is not None]
        return float(sum(v * wi for v, wi in pairs) / sum(wi for _, wi in pairs)) if pairs else None

    swing = weighted([(f.swing, wi) for f, wi in zip(features, w, strict=True)])
    density = weighted([(f.density, wi) for f, wi in zip(features, w, strict=True)])
    energy = weighted([(f.energy, wi) for f, wi in zip(features, w, strict=True)])
    curves = [(np.interp(np.linspace(0, 1, ENERGY_SEGMENTS), np.linspace(0, 1, len(f.energy_curve)),
                         f.energy_curve), wi) for f, wi in zip(features, w, strict=True) if f.energy_curve]  # fmt: skip
    curve = []
    if curves:
        total = sum(c * wi for c, wi in curves) / sum(wi for _, wi in curves)
        curve = [round(float(v), 3) for v in total]
    return BlendedReferences(
        ids=[f.id for f in features],
        weights=[round(float(x), 4) for x in w],
        tempo_bpm=tempo,
        key=key,
        time_signature=features[int(order[0])].time_signature,
        chords_relative=chords_relative,
        chords_mode=chords_mode,
        instruments=list(dict.fromkeys(i for k in order for i in features[int(k)].instruments)),
        energy=energy,
        energy_curve=curve,
        genres=list(dict.fromkeys(g for f in features for g in f.genres + f.moods)),
        material=ReferenceMaterial(
            motif=motif,
            swing=swing if swing is not None and swing > 0.56 else None,
            density=density,
        ),
        motif_source=motif_source,
        chords_source=chords_source,
        transcribed_ids=[f.id for f in features if f.transcribed],
    )


def _dedupe(chords: list[Chord]) -> list[Chord]:
    """Collapse repeated bars (C C G G -> C G) and keep at most eight chords."""
    out: list[Chord] = []
    for c in chords:
        if not out or out[-1] != c:
            out.append(c)
    return out[:MAX_CHORD_BARS]


def transpose_chords(chords: list[Chord], semitones: int) -> list[Chord]:
    return [transpose(c, semitones) for c in chords]


__all__ = [
    "BlendedReferences",
    "ReferenceFeatures",
    "analyze_reference",
    "blend",
    "load_audio_mono",
]
