"""Feel and conversion: swing, seeded humanisation of timing and velocity, and the notes (in
beats) turned into a PrettyMIDI piece (in seconds) with one track per instrument."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.theory import INSTRUMENTS

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

    from vmb_agent.generation.composer.containers import Note, Part
    from vmb_agent.generation.composer.context import Context
    from vmb_agent.generation.cue import CueMap
    from vmb_agent.generation.form import Grid

#: mixer settings per role: (MIDI volume CC7, pan CC10)
ROLE_MIX = {
    "melody": (112, 60), "counter": (92, 76), "chords": (96, 46), "arp": (84, 84),
    "pad": (84, 54), "bass": (108, 64), "drums": (100, 64),
}  # fmt: skip


def swing(beat: float, ratio: float) -> float:
    """Warp a beat position so the off-beat eighth falls at ``ratio`` of the beat."""
    if abs(ratio - 0.5) < 1e-6:
        return beat
    whole = math.floor(beat + 1e-9)
    frac = beat - whole
    if frac <= 0.5:
        return whole + frac * (ratio / 0.5)
    return whole + ratio + (frac - 0.5) * ((1 - ratio) / 0.5)


def to_pretty_midi(ctx: Context) -> pretty_midi.PrettyMIDI:
    """The written notes, swung and humanised, as a PrettyMIDI piece that ends at the duration."""
    import pretty_midi

    grid = ctx.grid
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=grid.tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(grid.beats_per_bar, 4, 0.0))
    pm.key_signature_changes.append(
        pretty_midi.KeySignature(ctx.key.tonic + (12 if ctx.key.mode == "minor" else 0), 0.0)
    )
    tracks, track_of_part = _tracks(ctx.parts)
    for note in sorted(ctx.notes, key=lambda n: (n.start, n.part, n.pitch)):
        placed = _perform(ctx, note, ctx.parts[note.part])
        if placed is not None:
            track_of_part[note.part].notes.append(placed)
    for track in tracks.values():
        track.notes.sort(key=lambda n: (n.start, n.pitch))
        pm.instruments.append(track)
    if grid.cue is not None:
        write_tempo_map(pm, grid.cue)
    if pm.instruments:  # an explicit last event so the MIDI file ends exactly at the duration
        pm.instruments[0].control_changes.append(
            pretty_midi.ControlChange(64, 0, round(grid.duration_s, 5))
        )
    return pm


def write_tempo_map(pm: pretty_midi.PrettyMIDI, cue: CueMap) -> None:
    """The cue's tempo per bar and its meter changes (a pickup, a 2/4 bar before a hit; 5/8 for
    a half-beat bar) into the MIDI file, so a DAW's grid and click follow the picture."""
    import pretty_midi

    res = pm.resolution
    scales = [60.0 / (float(t) * res) for t in cue.tempo]
    ticks = [round(float(cue.start_s[0]) / scales[0])]
    for i in range(1, len(cue.start_s)):
        ticks.append(ticks[-1] + round(float(cue.start_s[i] - cue.start_s[i - 1]) / scales[i - 1]))
    pm._tick_scales = [(0, scales[0])] + [
        (tick, scale) for tick, scale, before in zip(ticks[1:], scales[1:], scales, strict=False)
        if abs(scale - before) > 1e-12
    ]  # fmt: skip
    pm._update_tick_to_time(ticks[-1] + 1)
    signatures = [pretty_midi.TimeSignature(*_meter(b, cue.beats_per_bar), 0.0)
                  for b in cue.beats[:1]]  # fmt: skip
    for i in range(1, len(cue.beats)):
        meter = _meter(float(cue.beats[i]), cue.beats_per_bar)
        last = signatures[-1]
        if (last.numerator, last.denominator) != meter:
            signatures.append(pretty_midi.TimeSignature(*meter, float(cue.start_s[i])))
    pm.time_signature_changes = signatures


def _meter(beats: float, beats_per_bar: int) -> tuple[int, int]:
    beats = min(beats, float(beats_per_bar))
    return (int(beats), 4) if beats % 1 == 0 else (round(beats * 2), 8)


def _on_hit(grid: Grid, beat: float) -> bool:
    return grid.cue is not None and round(beat, 6) in grid.cue.hit_beats


def _tracks(parts: list[Part]) -> tuple[dict[str, pretty_midi.Instrument],
                                        list[pretty_midi.Instrument]]:  # fmt: skip
    """One track per instrument (parts of one instrument share it) with its role's mix."""
    import pretty_midi

    tracks: dict[str, pretty_midi.Instrument] = {}
    track_of_part: list[pretty_midi.Instrument] = []
    for part in parts:
        if part.instrument not in tracks:
            is_drum = part.role == "drums"
            program = 0 if is_drum else INSTRUMENTS[part.instrument]
            track = pretty_midi.Instrument(program=program, is_drum=is_drum, name=part.instrument)
            volume, pan = ROLE_MIX.get(part.role, (96, 64))
            track.control_changes.append(pretty_midi.ControlChange(7, volume, 0.0))
            track.control_changes.append(pretty_midi.ControlChange(10, pan, 0.0))
            tracks[part.instrument] = track
        track_of_part.append(tracks[part.instrument])
    return tracks, track_of_part


def _perform(ctx: Context, note: Note, part: Part) -> pretty_midi.Note | None:
    """A note in seconds, swung, moved by a seeded few ms (less for bass and drums) and ±4 in
    velocity; None when what is left before the end is too short to sound."""
    import pretty_midi

    grid = ctx.grid
    ratio = ctx.material.swing if ctx.material.swing is not None else ctx.style.swing
    jitter_s = ctx.style.humanize_ms / 1000.0
    start = grid.time_at(swing(note.start, ratio))
    end = grid.time_at(swing(note.start + note.length, ratio))
    if jitter_s > 0 and not _on_hit(grid, note.start):  # hits are hit exactly
        scale = 0.35 if part.role in ("drums", "bass") else 1.0
        shift = float(np.clip(ctx.rng.normal(0.0, jitter_s * scale), -2 * jitter_s, 2 * jitter_s))
        start = max(0.0, start + shift) if start > 0 else 0.0
        end = end + shift * 0.5
    velocity = int(np.clip(note.velocity + ctx.rng.integers(-4, 5), 1, 127))
    end = min(end, grid.duration_s - 0.01)
    if end - start < 0.02:
        return None
    return pretty_midi.Note(
        velocity=velocity, pitch=note.pitch, start=round(start, 5), end=round(end, 5)
    )
