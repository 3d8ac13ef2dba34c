"""The pad: each chord held for its whole slot, voice-led from the previous one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context


def write_pad(ctx: Context, index: int, part: Part, n_voices: int = 4) -> None:
    """Sustained chords, one per chord slot, in the sections the part plays."""
    previous: list[int] | None = None
    for slot in ctx.slots:
        section = ctx.section_at(slot.start)
        if section is None or not ctx.active(part, section):
            previous = None if section is None else previous
            continue
        low, high = ctx.register(part)
        voicing = ctx.voice(slot.chord, low, high, previous, n_voices)
        previous = voicing
        vel = ctx.velocity(part, section)
        for pitch in voicing:
            ctx.add(index, pitch, slot.start, slot.end - slot.start - 0.05, vel)
