"""Chords (comping): the style's comping pattern per bar, strummed or power chords where the
style plays guitar, calmer in calm sections; at double time, stride ("boom-chick") comping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation import styles as st
from vmb_agent.generation.harmony import nearest_pitch

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context
    from vmb_agent.generation.form import SectionPlan
    from vmb_agent.generation.harmony import Chord

#: comping patterns that already sound on every beat (kept at double time)
_EVERY_BEAT_COMPS = {"quarters", "rock8"}
#: velocity accent of double-time accompaniment: it keeps the time, so it sits up in the mix
STRIDE_ACCENT = 1.25


def write_comp(ctx: Context, index: int, part: Part) -> None:
    """The comping pattern in every bar of the sections the part plays, a voice-led chord (or a
    power chord) on each of its onsets."""
    if ctx.double_time and (ctx.fast_and_drumless or part.pattern not in _EVERY_BEAT_COMPS):
        write_stride(ctx, index, part, every_beat=ctx.fast_and_drumless)
        return
    cells = st.COMP_PATTERNS.get(part.pattern, st.COMP_PATTERNS["halves"])
    if ctx.fast_and_drumless:  # nothing else marks the beat: comp on every beat
        cells = st.COMP_PATTERNS["quarters"]
    power = part.pattern in st.POWER_CHORDS
    previous: list[int] | None = None
    for section in ctx.plan:
        if not ctx.active(part, section):
            continue
        pattern = _section_pattern(ctx, cells, section)
        for bar in range(section.start_bar, section.end_bar):
            bar_start = bar * ctx.bpb
            for n, (start, length) in enumerate(
                ctx.bar_cells(pattern, bar_start, ctx.grid.final_beat)
            ):
                chord = ctx.chord_at(start).chord
                low, high = ctx.register(part)
                if power:
                    voicing = _power_chord(ctx, chord, low, high)
                else:
                    voicing = previous = ctx.voice(chord, low, high, previous, 4)
                vel = ctx.velocity(part, section, _accent(ctx, start - bar_start))
                ordered = voicing if n % 2 == 0 else list(reversed(voicing))  # down, up strokes
                _strike(ctx, index, part, ordered, start, length, vel)


def _section_pattern(ctx: Context, cells: list, section: SectionPlan) -> list:
    """Calm sections comp in half bars; others keep the pattern's events on the pulse."""
    calm = section.energy < 0.3 and not ctx.fast_and_drumless
    if calm:
        return [(0.0, ctx.bpb / 2), (ctx.bpb / 2, ctx.bpb / 2)]
    return ctx.thin(cells)


def _power_chord(ctx: Context, chord: Chord, low: int, high: int) -> list[int]:
    root = nearest_pitch([chord.root], low + 5, low, high)
    voicing = [root, root + 7, root + 12]
    if ctx.minor_chord(chord):  # distortion blurs the mode: add the b10
        voicing.append(root + 15)
    return voicing


def _accent(ctx: Context, in_bar: float) -> float:
    on_strong_beat = abs(in_bar % 2) < 1e-6
    if ctx.fast_and_drumless:
        # no snare: the comp takes the backbeat (2 and 4), as a drummer would;
        # leaning on 1 and 3 under the melody's downbeats felt half time
        on_strong_beat = abs(in_bar % 2 - 1) < 1e-6
    return 1.08 if on_strong_beat else 0.92


def _strike(ctx: Context, index: int, part: Part, ordered: list[int], start: float,
            length: float, vel: int) -> None:  # fmt: skip
    """Sound a voicing together, or spread 12 ms a string (softer each) when the part strums."""
    strum = part.pattern in st.STRUMMED
    strum_step = 0.012 / ctx.grid.beat_s
    for k, pitch in enumerate(ordered):
        offset = k * strum_step if strum else 0.0
        ctx.add(index, pitch, start + offset, length * 0.92 - offset, vel - 3 * k * strum)


def write_stride(ctx: Context, index: int, part: Part, every_beat: bool) -> None:
    """Double-time accompaniment: a low root or fifth on 1 and 3, the chord on 2 and 4
    ("boom-chick", as a stride pianist or a bluegrass guitarist keeps time), or, with no
    drums, the low note and the chord together on every beat.

    A groove built for 70-120 BPM (a syncopated strum, a boom-bap comp, one chord per bar)
    repeats every half bar or bar, and at 150-180 BPM that is what a listener (and the
    tempo analysis) takes for the beat: the music feels half time. Onsets on every beat,
    low and high alternating as a kick and a snare do, keep the requested beat the felt one.
    """
    low, high = ctx.register(part)
    bpb = ctx.bpb
    # the bass falls on the bar's strong beats: 1 and 3 in 4/4, 1 and 4 in 6/4, 1 otherwise
    booms = {0, bpb // 2} if bpb >= 4 and bpb % 2 == 0 else {0}
    previous: list[int] | None = None
    for section in ctx.plan:
        if not ctx.active(part, section):
            continue
        for bar in range(section.start_bar, section.end_bar):
            for beat in range(bpb):
                start = bar * bpb + beat
                if start >= ctx.grid.final_beat - 1e-6:
                    break
                chord = ctx.chord_at(start).chord
                length = min(1.0, ctx.grid.final_beat - start)
                boom = beat in booms
                if boom or every_beat:
                    # alternating bass: the root, then the fifth on the next strong beat
                    # (the next bar's in 2/4 and 3/4; the off beats when every beat has one)
                    fifth = not boom if every_beat else beat > 0 or (len(booms) == 1 and bar % 2)
                    tone = chord.triad[2] if fifth else chord.root
                    ctx.add(index, nearest_pitch([tone], low, low - 5, low + 7), start,
                            length * 0.9, ctx.velocity(part, section, STRIDE_ACCENT))  # fmt: skip
                if not boom or every_beat:
                    voicing = previous = ctx.voice(chord, low + 8, high, previous, 3)
                    vel = ctx.velocity(part, section, STRIDE_ACCENT - 0.1 * (not every_beat))
                    for pitch in voicing:
                        ctx.add(index, pitch, start, length * 0.6, vel)
