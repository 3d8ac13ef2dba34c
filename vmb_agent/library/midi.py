"""MIDI analysis: exact tempo, meter, key from the notes, General MIDI instruments, note density."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.errors import InputError
from vmb_agent.files import MIDI_SUFFIXES
from vmb_agent.theory import estimate_key, gm_program_to_instrument

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi


@dataclass(frozen=True)
class MidiFeatures:
    duration_s: float
    tempo_bpm: float | None  # the tempo in force for most of the piece (quarter notes/min)
    time_signature: str | None
    key: str | None
    key_confidence: float
    instruments: list[str] = field(default_factory=list)
    note_density: float = 0.0  # note onsets per second
    mean_velocity: float = 0.0  # 0-127
    pitch_range: tuple[int, int] = (0, 0)
    title: str | None = None


def load_midi(path: str | os.PathLike[str]) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file with pretty_midi, naming the file in a one-line error if it is corrupt.

    Files whose tick values are too large for pretty_midi's tick table are read via mido and
    rebuilt note by note, so exports with huge ticks still load.
    """
    import pretty_midi

    try:
        return pretty_midi.PrettyMIDI(str(path))
    except ValueError as exc:
        if "tick" in str(exc).lower():
            return _load_via_mido(path)
        raise InputError(f"cannot read MIDI {str(path)!r}: {_first_line(exc)}.") from None
    except Exception as exc:  # noqa: BLE001 -- mido/pretty_midi raise many kinds on bad files
        raise InputError(f"cannot read MIDI {str(path)!r}: {_first_line(exc)}.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _load_via_mido(path: str | os.PathLike[str]) -> pretty_midi.PrettyMIDI:
    import mido
    import pretty_midi

    try:
        mid = mido.MidiFile(str(path))
    except Exception as exc:  # noqa: BLE001 -- corrupt files raise many kinds
        raise InputError(f"cannot read MIDI {str(path)!r}: {_first_line(exc)}.") from None
    out = pretty_midi.PrettyMIDI(resolution=480)
    instruments: dict[tuple[int, int], pretty_midi.Instrument] = {}
    programs = [0] * 16
    open_notes: dict[tuple[int, int], tuple[float, int]] = {}
    now = 0.0
    for message in mid:  # iterating a MidiFile yields messages with delta times in seconds
        now += message.time
        if message.type == "program_change":
            programs[message.channel] = message.program
        elif message.type in ("note_on", "note_off"):
            slot = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                open_notes[slot] = (now, message.velocity)
            elif slot in open_notes:
                start, velocity = open_notes.pop(slot)
                key = (message.channel, programs[message.channel])
                if key not in instruments:
                    instruments[key] = pretty_midi.Instrument(
                        program=key[1], is_drum=message.channel == 9
                    )
                if now > start:
                    instruments[key].notes.append(
                        pretty_midi.Note(velocity=velocity, pitch=message.note, start=start, end=now)
                    )
    out.instruments = list(instruments.values())
    return out


def pitch_class_profile(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Pitch-class histogram of all pitched notes (C = index 0), each note weighted by the square
    root of its duration so that long held notes do not outvote the melody; the profile VMB finds
    a MIDI file's key from (library and references): 88.0 % key+mode right on
    bench_tempo_key.py's 192 excerpts, 87.0 % with plain durations."""
    profile = np.zeros(12)
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for note in inst.notes:
            profile[note.pitch % 12] += max(note.end - note.start, 0.0) ** 0.5
    return profile


def analyze_midi(pm: pretty_midi.PrettyMIDI) -> MidiFeatures:
    """Measure a parsed MIDI file. Tempo and meter are read, key is estimated from the notes."""
    duration = float(pm.get_end_time())
    tempo_times, tempi = pm.get_tempo_changes()
    tempo: float | None = None
    if len(tempi):
        # The tempo that governs the longest stretch of the piece.
        bounds = np.append(tempo_times, max(duration, float(tempo_times[-1]) + 1e-3))
        tempo = float(tempi[int(np.argmax(np.diff(bounds)))])
    meter = None
    if pm.time_signature_changes:
        ts = pm.time_signature_changes[0]
        meter = f"{ts.numerator}/{ts.denominator}"
    profile = pitch_class_profile(pm)
    key, key_conf = estimate_key(profile)
    names: list[str] = []
    for inst in pm.instruments:
        if not inst.notes:
            continue
        name = gm_program_to_instrument(inst.program, inst.is_drum)
        if name not in names:
            names.append(name)
    notes = [n for inst in pm.instruments for n in inst.notes]
    starts = {round(n.start, 3) for n in notes}
    pitched = [n.pitch for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    return MidiFeatures(
        duration_s=round(duration, 3),
        tempo_bpm=None if tempo is None else round(tempo, 3),
        time_signature=meter,
        key=None if key is None else key.name,
        key_confidence=round(key_conf, 3),
        instruments=names,
        note_density=round(len(starts) / duration, 3) if duration > 0 else 0.0,
        mean_velocity=float(np.mean([n.velocity for n in notes])) if notes else 0.0,
        pitch_range=(min(pitched), max(pitched)) if pitched else (0, 0),
    )


def midi_title(path: str | os.PathLike[str]) -> str | None:
    """The track name stored in the first track of a MIDI file, if it has one."""
    try:
        import mido

        for message in mido.MidiFile(str(path)).tracks[0]:
            if message.type == "track_name" and message.name.strip():
                return message.name.strip()[:200]
    except Exception:  # noqa: BLE001 -- a title is optional
        return None
    return None


def is_midi(path: Path) -> bool:
    return path.suffix.lower() in MIDI_SUFFIXES
