"""The bass line: the style's pattern of chord tones (root, fifth, octave, third, an approach
into the next chord), held roots in calm sections, short notes in slow minor pieces."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from vmb_agent.generation import styles as st
from vmb_agent.generation.composer.context import SLOW_BPM
from vmb_agent.generation.harmony import nearest_pitch

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import ChordSlot, Part
    from vmb_agent.generation.composer.context import Context
    from vmb_agent.generation.form import SectionPlan


def write_bass(ctx: Context, index: int, part: Part) -> None:
    """The bass pattern in every bar of the sections the part plays."""
    cells = st.BASS_PATTERNS.get(part.pattern, st.BASS_PATTERNS["whole"])
    if ctx.fast_and_drumless and part.pattern == "whole":
        # without drums, a bass note per bar makes fast music feel (and measure) half time
        cells = st.BASS_PATTERNS["pulse4"]
    low, high = ctx.register(part)
    pattern_of = functools.partial(_section_pattern, ctx, cells)
    for section, start, (onset, length, tone) in ctx.played_cells(part, pattern_of):
        length = min(length, ctx.bpb - onset, ctx.grid.final_beat - start)
        slot = ctx.chord_at(start)
        pitch = bass_pitch(ctx, slot, tone, start + length, low, high, part.pattern)
        accent = 1.08 if abs(onset) < 1e-6 else 0.94
        ctx.add(index, pitch, start, length * 0.9, ctx.velocity(part, section, accent))


def _section_pattern(ctx: Context, cells: list, section: SectionPlan) -> list:
    # calm sections hold the root for the bar, except in fast drumless music, where
    # the bass is what marks the beat (a half-time feel otherwise)
    calm = section.energy < 0.25 and not ctx.fast_and_drumless
    pattern = ctx.thin(cells) if not calm else [(0.0, float(ctx.bpb), "R")]
    if ctx.key.mode == "minor" and ctx.grid.tempo_bpm < SLOW_BPM:
        # long low roots ring a major third (their 5th harmonic) over a minor key:
        # keep the bass short and on the root/third
        pattern = [(o, min(length, 1.0), t) for o, length, t in pattern]
    return pattern


def bass_pitch(ctx: Context, slot: ChordSlot, tone: str, next_beat: float, low: int, high: int,
               pattern: str) -> int:  # fmt: skip
    """The pitch of a pattern tone: R root, 5 fifth, 8 octave, 3 third, A approach."""
    chord = slot.chord
    root = nearest_pitch([chord.root], low + 7, low, high)
    if tone == "R":
        return root
    if tone == "5" and ctx.minor_chord(chord) and ctx.grid.tempo_bpm < SLOW_BPM:
        tone = "3"  # long bass notes ring a major third (5th harmonic): sound the minor one
    if tone == "5":
        fifth = root + 7
        return fifth if fifth <= high else root - 5
    if tone == "8":
        return root + 12 if root + 12 <= high + 7 else root
    if tone == "3":
        third = nearest_pitch([chord.pitch_classes[1]], root + 4, low, high + 5)
        return third
    # approach: a step into the next chord's root (chromatic from below in a walking line)
    nxt = ctx.chord_at(next_beat + 1e-3).chord
    target = nearest_pitch([nxt.root], root, low, high)
    if pattern == "walking":
        return target - 1 if target - 1 >= low else target + 1
    below = [p for p in range(target - 2, target) if p % 12 in ctx.key.scale]
    return below[-1] if below else target - 1
