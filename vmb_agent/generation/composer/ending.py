"""The ending: the final tonic chord from the last downbeat to the exact end, every part
landing together (the drums with a crash and a kick)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation import styles as st
from vmb_agent.generation.composer.containers import Note
from vmb_agent.generation.composer.timeline import tonic
from vmb_agent.generation.form import SectionPlan
from vmb_agent.generation.harmony import nearest_pitch

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context


def write_ending(ctx: Context) -> None:
    """The final tonic chord, from the last downbeat to the end: every part lands together."""
    if ctx.grid.loop or ctx.grid.final_beat >= ctx.grid.total_beats - 1e-6:
        return
    start = ctx.grid.final_beat
    length = ctx.grid.total_beats - start - 0.05 / ctx.grid.beat_s
    energy = ctx.plan[-1].energy if ctx.plan else ctx.conditions.energy
    section = SectionPlan("outro", "ending", 0, 1, energy)
    previous_melody = ctx.melody[-1].pitch if ctx.melody else None
    for index, part in enumerate(ctx.parts):
        vel = ctx.velocity(part, section, 0.95)
        if part.role == "drums":
            if section.energy >= part.min_energy:
                ctx.add(index, st.CRASH, start, 2.0, vel)
                ctx.add(index, 36, start, 0.5, vel)
        elif part.role == "melody":
            pitch = _final_pitch(ctx, part, previous_melody)
            ctx.add(index, pitch, start, length, vel)
            ctx.melody.append(Note(index, pitch, start, length, vel))
        else:
            for pitch in _final_chord(ctx, part):
                ctx.add(index, pitch, start, length, vel)


def _final_pitch(ctx: Context, part: Part, previous: int | None) -> int:
    """The melody ends on the tonic nearest its last note."""
    low, high = ctx.register(part)
    target = previous if previous is not None else (low + high) / 2
    return nearest_pitch([ctx.key.tonic], target, low, high)


def _final_chord(ctx: Context, part: Part) -> list[int]:
    """What an accompanying part holds: the bass the tonic, the counter the third, the others
    the tonic triad."""
    low, high = ctx.register(part)
    chord = tonic(ctx.key, False)
    if part.role == "bass":
        return [nearest_pitch([ctx.key.tonic], low + 5, low, high)]
    if part.role == "counter":
        return [nearest_pitch([chord.pitch_classes[1]], (low + high) / 2, low, high)]
    return ctx.voice(chord, low, high, None, 4)
