"""Arpeggios: the style's figure over a three-voice chord, on the beat in calm sections; a
figure that repeats every beat at fast tempi; stride comping at double time without drums."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation import styles as st
from vmb_agent.generation.composer.comp import write_stride
from vmb_agent.generation.composer.context import FAST_BPM

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context
    from vmb_agent.generation.form import SectionPlan


def write_arp(ctx: Context, index: int, part: Part) -> None:
    """Each figure event sounds one voice (low to high) of the current chord's voicing."""
    if ctx.double_time and ctx.fast_and_drumless:
        write_stride(ctx, index, part, every_beat=True)
        return
    cells = st.ARP_PATTERNS.get(part.pattern, st.ARP_PATTERNS["up8"])
    if ctx.fast_and_drumless or (
        ctx.grid.tempo_bpm >= FAST_BPM and min(b[0] for b in cells[1:]) >= 1.0
    ):
        # a quarter-note arpeggio under slow harmony reads as half time at fast tempi; a
        # figure that repeats every beat keeps the pulse on the beat
        cells = st.ARP_PATTERNS["rock8"]
    previous: list[int] | None = None

    def pattern_of(section: SectionPlan) -> list:  # calm sections keep to the beat
        return ctx.thin(cells, keep_onbeat_only=section.energy < 0.3)

    for section, start, (onset, length, voice) in ctx.played_cells(part, pattern_of):
        slot = ctx.chord_at(start)
        low, high = ctx.register(part)
        voicing = ctx.voice(slot.chord, low, min(high, low + 19), previous, 3)
        previous = voicing
        pitch = voicing[voice % len(voicing)] + 12 * (voice // len(voicing))
        while pitch > high:
            pitch -= 12
        accent = 1.04 if abs(onset % 1.0) < 1e-6 else 0.96
        ctx.add(index, pitch, start, min(length, ctx.grid.final_beat - start) * 0.95,
                ctx.velocity(part, section, accent))  # fmt: skip
