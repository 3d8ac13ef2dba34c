"""The harmony timeline: progressions from the style, a chord slot per harmonic-rhythm step, a
cadence at every section end (half cadence into a contrast, V -> I elsewhere) and a final tonic
chord that rings to the exact end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation.composer.containers import ChordSlot
from vmb_agent.generation.harmony import Chord, progression, roman_to_chord

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from vmb_agent.generation import styles as st
    from vmb_agent.generation.form import Grid, SectionPlan
    from vmb_agent.theory import Key


def progressions(
    style: st.StyleSpec, key: Key, rng: np.random.Generator
) -> tuple[list[Chord], list[Chord]]:
    """The A and B material's progressions: two of the style's, in a seeded order."""
    table = style.major if key.mode == "major" else style.minor
    order = rng.permutation(len(table))
    first = progression(table[int(order[0])], key)
    second = progression(table[int(order[1 % len(order)])], key)
    return first, second


def third_progression(style: st.StyleSpec, key: Key, prog_a: list[Chord],
                      prog_b: list[Chord]) -> list[Chord]:  # fmt: skip
    """The C material's progression (a bridge or development): the style's first one that is
    neither A's nor B's, else B's started from its second chord."""
    table = style.major if key.mode == "major" else style.minor
    names = ([c.name for c in prog_a], [c.name for c in prog_b])
    for row in table:
        chords = progression(row, key)
        if [c.name for c in chords] not in names:
            return chords
    return prog_b[1:] + prog_b[:1]


def dominant(key: Key, sevenths: bool) -> Chord:
    return roman_to_chord("V7" if sevenths else "V", key)


def tonic(key: Key, sevenths: bool) -> Chord:
    if sevenths:
        return roman_to_chord("Imaj7" if key.mode == "major" else "i7", key)
    return roman_to_chord("I" if key.mode == "major" else "i", key)


def chord_timeline(
    plan: list[SectionPlan],
    grid: Grid,
    style: st.StyleSpec,
    key: Key,
    prog_a: list[Chord],
    prog_b: list[Chord],
    prog_c: list[Chord] | None = None,
) -> list[ChordSlot]:
    """One chord slot per harmonic-rhythm step of every section (the section's letter picks the
    progression), cadences at section ends, and the final tonic unless the piece loops."""
    sevenths = any(c.quality in ("7", "maj7", "m7", "m7b5") for c in prog_a)
    bpb = grid.beats_per_bar
    slots: list[ChordSlot] = []
    by_letter = {"B": prog_b, "C": prog_c or prog_b}
    for index, section in enumerate(plan):
        prog = by_letter.get(section.material, prog_a)
        start = section.start_bar * bpb
        end = section.end_bar * bpb
        length = style.bars_per_chord * bpb
        if section.n_bars < style.bars_per_chord * 2:  # short sections change chords every bar
            length = bpb
        count = max(1, round((end - start) / length))
        length = (end - start) / count
        chords = [prog[i % len(prog)] for i in range(count)]
        cadence = _set_cadence(chords, section, index == 0, index == len(plan) - 1, grid.loop,
                               key, sevenths)  # fmt: skip
        for i, chord in enumerate(chords):
            slots.append(
                ChordSlot(start + i * length, start + (i + 1) * length, chord, index,
                          cadence if i == count - 1 else "")
            )  # fmt: skip
    if not grid.loop:
        slots.append(
            ChordSlot(grid.final_beat, grid.total_beats, tonic(key, False), len(plan), "final")
        )
    return slots


def _set_cadence(chords: list[Chord], section: SectionPlan, first: bool, last: bool, loop: bool,
                 key: Key, sevenths: bool) -> str:  # fmt: skip
    """Set a section's opening and closing chords in place; return its cadence kind."""
    count = len(chords)
    if section.role == "intro" and not last:  # establish the key: tonic, then the dominant
        chords[:] = [tonic(key, sevenths)] * count
        if count >= 3:  # a short intro (or a pickup) stays on the tonic
            chords[-1] = dominant(key, sevenths)
        return "half"
    if first or (last and count <= 3):
        chords[0] = tonic(key, sevenths)  # open (and keep short pieces) on the tonic
    if section.role == "contrast" or (last and loop) or (last and count == 1):
        chords[-1] = dominant(key, sevenths)
        cadence = "half"
    else:
        if count >= 2:
            chords[-2] = dominant(key, sevenths)
        chords[-1] = tonic(key, sevenths) if count >= 2 else dominant(key, sevenths)
        cadence = "authentic" if count >= 2 else "half"
    if last and not loop:  # the last body chord leads into the final tonic
        if count >= 4:  # room for a pre-dominant: ... IV V | I
            chords[-2] = roman_to_chord("IV" if key.mode == "major" else "iv", key)
        elif count >= 2:
            chords[-2] = tonic(key, sevenths) if count == 2 else chords[-2]
        chords[-1] = dominant(key, sevenths)
        cadence = "half"
    return cadence
