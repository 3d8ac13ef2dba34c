"""The melody: motifs, their variation, 4-bar phrases, cadence bars, the outro and chromatic
approach tones.

A theme motif A and a contrasting motif B (one rhythm cell per bar and scale steps between
notes) return with their section letter: literal on the first return, lightly ornamented after.
A phrase is motif, motif, a contrasting bar and a cadence bar that steps into the goal; strong
beats and long notes snap to chord tones, passing notes walk the scale over the chord.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.generation import styles as st
from vmb_agent.generation.composer.containers import Motif, Note
from vmb_agent.generation.composer.context import FAST_BPM
from vmb_agent.generation.harmony import nearest_pitch

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context
    from vmb_agent.generation.form import SectionPlan
    from vmb_agent.generation.harmony import Chord

#: melody rhythm cells with a note on every beat (styles.MELODY_CELLS)
BEAT_MELODY = 3


def write_melody(ctx: Context, index: int, part: Part) -> None:
    """One tune per section letter over the sections the part plays (not the intro)."""
    density = _density(ctx)
    motif_a = ctx.material.motif or make_motif(ctx, density)
    motif_b = make_motif(ctx, density if density == BEAT_MELODY else max(0, density - 1))
    contrast_a = make_motif(ctx, density)
    # one tune per letter: a letter that returns sings the same notes over the same chords
    # (literal on its first return, lightly ornamented after that)
    motifs = {"A": motif_a, "B": motif_b, "C": make_motif(ctx, density)}
    seen: dict[str, int] = {}
    for section in ctx.plan:
        if not ctx.active(part, section) or section.role == "intro":
            continue
        material = section.material
        occurrence = seen.get(material, 0)
        seen[material] = occurrence + 1
        if material == "outro":
            _melody_outro(ctx, index, part, section, motif_a)
            continue
        base = motifs.get(material, motif_a)
        motif = base if occurrence < 2 else vary(ctx, base, 0.2)
        # the climax sings an octave up, except in sparse (ambient) lines, which float
        lift = section.role == "climax" and ctx.style.melody_density > 0
        octave = 12 if lift and _fits_octave_up(ctx, part) else 0
        _melody_section(ctx, index, part, section, motif, contrast_a, octave)


def _density(ctx: Context) -> int:
    """The melody's rhythm-cell density: the style's, the references', never too slow to feel."""
    density = ctx.style.melody_density
    if ctx.material.density is not None:
        density = int(np.clip(round(ctx.material.density * 1.6 - 0.3), 0, 2))
    if density == 0 and ctx.grid.tempo_bpm >= FAST_BPM:
        density = 1  # half notes at a fast tempo drag the felt pulse to half time
    if ctx.double_time and ctx.fast_and_drumless:
        # a tune on the half-note grid is what sets the beat when nothing else does
        density = BEAT_MELODY
    return density


def make_motif(ctx: Context, density: int) -> Motif:
    """Two bars of rhythm cells with mostly stepwise motion in one direction (seeded)."""
    rng = ctx.rng
    cells_table = st.MELODY_CELLS[density]
    cells = [cells_table[int(rng.integers(len(cells_table)))] for _ in range(2)]
    steps: list[list[int]] = []
    direction = 1 if rng.random() < 0.6 else -1
    for cell in cells:
        bar_steps = []
        for _ in cell:
            r = rng.random()
            if r < 0.12:
                step = 0
            elif r < 0.8:
                step = direction
            elif r < 0.92:
                step = 2 * direction
            else:
                step = -3 * direction  # a leap against the line, recovered by steps
            if rng.random() < 0.3:
                direction = -direction
            bar_steps.append(step)
        steps.append(bar_steps)
    return Motif(cells, steps)


def vary(ctx: Context, motif: Motif, amount: float) -> Motif:
    """Ornament a motif: split some long notes into a note and its upper/lower neighbour.
    The next note steps back by the same amount, so the line returns to the original."""
    cells, steps = [], []
    for cell, cell_steps in zip(motif.cells, motif.steps, strict=True):
        new_cell, new_steps = [], []
        carry = 0
        for (onset, length), step in zip(cell, cell_steps, strict=True):
            step -= carry
            carry = 0
            if length >= 1.0 and ctx.rng.random() < amount:
                half = length / 2
                carry = 1 if ctx.rng.random() < 0.5 else -1
                new_cell += [(onset, half), (onset + half, half)]
                new_steps += [step, carry]
            else:
                new_cell.append((onset, length))
                new_steps.append(step)
        cells.append(new_cell)
        steps.append(new_steps)
    return Motif(cells, steps)


def _fits_octave_up(ctx: Context, part: Part) -> bool:
    low, high = ctx.register(part)
    return high - low >= 24


# -- phrases ---------------------------------------------------------------------------------


def _melody_section(ctx: Context, index: int, part: Part, section: SectionPlan, motif: Motif,
                    contrast: Motif, octave: int) -> None:  # fmt: skip
    """4-bar phrases: motif, motif, the contrast's first bar, a cadence bar."""
    low, high = ctx.register(part)
    if octave:
        low += 6
    centre = (low + high) / 2 - 2
    prev = None
    for bar in range(section.start_bar, section.end_bar):
        phrase_bar = (bar - section.start_bar) % 4
        bar_start = bar * ctx.bpb
        last = bar == section.end_bar - 1
        if phrase_bar == 0:
            prev = None  # every phrase restarts from the same anchor: returns sound the same
        if last or phrase_bar == 3:
            _cadence_bar(ctx, index, part, section, bar_start, prev, low, high, final=last)
            continue
        if phrase_bar == 2:
            cell, steps = contrast.cells[0], contrast.steps[0]
        else:
            cell, steps = (
                motif.cells[phrase_bar % len(motif.cells)],
                motif.steps[phrase_bar % len(motif.steps)],
            )
        prev = _motif_bar(ctx, index, part, section, (cell, steps), bar_start, prev,
                          (centre + octave, low, high))  # fmt: skip


def _motif_bar(ctx: Context, index: int, part: Part, section: SectionPlan,
               bar: tuple[list[tuple[float, float]], list[int]], bar_start: float,
               prev: int | None, place: tuple[float, int, int]) -> int | None:  # fmt: skip
    """One bar of a motif (its cell and steps) from ``prev``; returns the last pitch sung."""
    cell, steps = bar
    centre, low, high = place
    for (start, length), step in zip(ctx.bar_cells(cell, bar_start, ctx.grid.final_beat),
                                     steps, strict=False):  # fmt: skip
        slot = ctx.chord_at(start)
        if prev is None:
            anchor = [slot.chord.pitch_classes[1]] if ctx.key.mode == "minor" else slot.chord.triad
            pitch = nearest_pitch(anchor, centre, low, high)
        else:
            pitch = _step(ctx, prev, step, slot.chord, start, length, low, high)
        prev = pitch
        strong = abs((start - bar_start) % 2.0) < 1e-6 or length >= 1.5
        _melody_note(ctx, index, part, section, pitch, start, length, strong)
    return prev


def _step(ctx: Context, prev: int, step: int, chord: Chord, start: float, length: float,
          low: int, high: int) -> int:  # fmt: skip
    """The scale tone ``step`` steps from ``prev``; on a strong beat, a near chord tone."""
    scale = ctx.scale_for(chord)
    pitches = [p for p in range(low, high + 1) if p % 12 in scale]
    position = int(np.argmin([abs(p - prev) for p in pitches]))
    target_index = position + step
    if target_index < 0 or target_index >= len(pitches):
        target_index = position - step
    target_index = int(np.clip(target_index, 0, len(pitches) - 1))
    pitch = pitches[target_index]
    bar_pos = (start / ctx.bpb - math.floor(start / ctx.bpb + 1e-9)) * ctx.bpb
    strong = abs(bar_pos % 2.0) < 1e-6 or length >= 1.5
    # a held 9th or 6th sings over the chord (the pitch is already a scale tone)
    colours = {(chord.root + 2) % 12, (chord.root + 9) % 12} if length >= 1.5 else set()
    if strong and pitch % 12 not in chord.pitch_classes and pitch % 12 not in colours:
        # a strong note is a chord tone; one a step from the last note keeps the line
        # singing (folk tunes and chorales move by step 55-80 % of the time)
        near = [p for p in range(prev - 2, prev + 3)
                if p % 12 in chord.pitch_classes and low <= p <= high
                and (p != prev or step == 0)]  # fmt: skip
        if near:
            pitch = min(near, key=lambda p: (abs(p - pitch), -np.sign(p - prev) * step))
        else:
            pitch = nearest_pitch(chord.triad, pitch + 0.1 * step, low, high)
    return pitch


def _cadence_bar(ctx: Context, index: int, part: Part, section: SectionPlan, bar_start: float,
                 prev: int | None, low: int, high: int, final: bool) -> None:  # fmt: skip
    """A bar that steps into the cadence's goal: the tonic's root at an authentic cadence."""
    cell = st.CADENCE_CELLS[0 if ctx.style.melody_density > 0 else 1]
    notes = list(ctx.bar_cells(cell, bar_start, ctx.grid.final_beat))
    last_slot = ctx.chord_at(bar_start + ctx.bpb - 0.01)
    centre = prev if prev is not None else (low + high) / 2
    goal_pcs = [last_slot.chord.root] if last_slot.cadence == "authentic" else last_slot.chord.triad
    goal = nearest_pitch(goal_pcs, centre, low, high)
    for k, (start, length) in enumerate(notes):
        slot = ctx.chord_at(start)
        if k == len(notes) - 1:
            pitch = (
                nearest_pitch(goal_pcs, goal, low, high)
                if slot is last_slot
                else nearest_pitch(slot.chord.triad, goal, low, high)
            )
        else:
            # approach the goal by step from above or below
            toward = goal + (2 if k % 2 == 0 else -1)
            pitch = nearest_pitch(slot.chord.triad if k == 0 else ctx.scale_for(slot.chord),
                                  toward, low, high)  # fmt: skip
        strong = k == 0 or length >= 1.5
        _melody_note(
            ctx, index, part, section, pitch, start, length * (0.96 if final else 0.92), strong
        )


def _melody_outro(ctx: Context, index: int, part: Part, section: SectionPlan,
                  motif: Motif) -> None:  # fmt: skip
    """The theme's head, augmented (twice as slow), then silence before the final chord."""
    low, high = ctx.register(part)
    prev = None
    bar_start = section.start_bar * ctx.bpb
    cell = motif.cells[0]
    for (onset, length), step in zip(cell, motif.steps[0], strict=True):
        start = bar_start + onset * 2
        if start >= min(section.end_bar * ctx.bpb, ctx.grid.final_beat) - 1e-6:
            break
        slot = ctx.chord_at(start)
        if prev is None:
            pitch = nearest_pitch(slot.chord.triad, (low + high) / 2 - 2, low, high)
        else:
            pitch = _step(ctx, prev, step, slot.chord, start, length * 2, low, high)
        prev = pitch
        _melody_note(ctx, index, part, section, pitch, start,
                     min(length * 2, ctx.grid.final_beat - start), True, soft=0.85)  # fmt: skip


def _melody_note(ctx: Context, index: int, part: Part, section: SectionPlan, pitch: int,
                 start: float, length: float, strong: bool, soft: float = 1.0) -> None:  # fmt: skip
    """Write a sung note (slightly detached unless the style is legato) and remember it."""
    accent = (1.06 if strong else 0.94) * soft
    vel = ctx.velocity(part, section, accent)
    legato = 0.98 if part.role == "counter" or ctx.style.name in ("ambient", "cinematic") else 0.9
    count = len(ctx.notes)
    ctx.add(index, pitch, start, length * legato, vel)
    if part.role == "melody" and len(ctx.notes) > count:
        ctx.melody.append(Note(index, pitch, start, length, vel))
        ctx.sung.append(ctx.notes[-1])


# -- chromatic approaches --------------------------------------------------------------------


def add_chromatic_approaches(ctx: Context) -> None:
    """Jazz, film and lo-fi melodies lean into their targets chromatically: a short weak
    note right before a strong-beat chord tone becomes the tone a semitone below it (or
    above). Chosen by the note's place in its material, so a returning tune keeps them."""
    amount = ctx.style.chromatic
    if amount <= 0 or len(ctx.melody) < 3:
        return
    order = sorted(range(len(ctx.melody)), key=lambda i: ctx.melody[i].start)
    scale = set(ctx.key.scale)
    for before, weak, strong in zip(order, order[1:], order[2:], strict=False):
        a, b, prev = ctx.melody[weak], ctx.melody[strong], ctx.melody[before]
        section = ctx.section_at(a.start)
        if section is None or b.start - a.start > 1.0 + 1e-6 or a.length > 1.0 + 1e-6:
            continue
        if abs((b.start / 2.0) - round(b.start / 2.0)) > 1e-6:  # b must fall on 1 or 3
            continue
        offset = round((a.start - section.start_bar * ctx.bpb) * 4)
        ticket = (offset * 7919 + ord(section.material[0]) * 104729) % 1000 / 1000.0
        if ticket >= amount:
            continue
        for approach in (b.pitch - 1, b.pitch + 1):
            if approach % 12 not in scale and abs(approach - prev.pitch) <= 4:
                a.pitch = approach
                ctx.sung[weak].pitch = approach
                break
