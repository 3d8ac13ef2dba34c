"""The counter-melody: guide tones (the third or seventh of each chord), held, moving by the
smallest step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation.harmony import nearest_pitch

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context


def write_counter(ctx: Context, index: int, part: Part) -> None:
    """Guide tones: the third (or seventh) of each chord, held, moving by the smallest step."""
    low, high = ctx.register(part)
    prev = (low + high) // 2
    for slot in ctx.slots:
        section = ctx.section_at(slot.start)
        if section is None or not ctx.active(part, section):
            continue
        tones = slot.chord.pitch_classes
        guide = [tones[1]] + ([tones[3]] if len(tones) > 3 else [tones[2]])
        pitch = nearest_pitch(guide, prev, low, high)
        prev = pitch
        ctx.add(
            index,
            pitch,
            slot.start,
            (slot.end - slot.start) * 0.97,
            ctx.velocity(part, section, 0.9),
        )
