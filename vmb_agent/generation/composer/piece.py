"""``compose()``: the steps that turn explicit conditions into one piece, and the table of role
writers it dispatches to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.generation import styles as st
from vmb_agent.generation.composer.arp import write_arp
from vmb_agent.generation.composer.arrange import arrange, ensure_every_part_plays
from vmb_agent.generation.composer.bass import write_bass
from vmb_agent.generation.composer.comp import write_comp
from vmb_agent.generation.composer.containers import (
    ChordSlot,
    Composition,
    Part,
    ReferenceMaterial,
)
from vmb_agent.generation.composer.context import Context
from vmb_agent.generation.composer.counter import write_counter
from vmb_agent.generation.composer.drums import write_drums
from vmb_agent.generation.composer.dynamics import shape_dynamics
from vmb_agent.generation.composer.ending import write_ending
from vmb_agent.generation.composer.feel import to_pretty_midi
from vmb_agent.generation.composer.melody import add_chromatic_approaches, write_melody
from vmb_agent.generation.composer.pad import write_pad
from vmb_agent.generation.composer.timeline import (
    chord_timeline,
    progressions,
    third_progression,
)
from vmb_agent.generation.cue import CueMap
from vmb_agent.generation.form import (
    STYLE_FORMS,
    Grid,
    SectionPlan,
    beats_per_bar,
    plan_cue_sections,
    plan_sections,
)
from vmb_agent.generation.harmony import parse_chord_name
from vmb_agent.theory import Key, parse_key

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.types import Conditions

#: role -> the writer that plays it: ``writer(context, part_index, part)`` adds the part's notes
WRITERS: dict[str, Callable[[Context, int, Part], None]] = {
    "melody": write_melody,
    "counter": write_counter,
    "chords": write_comp,
    "arp": write_arp,
    "pad": write_pad,
    "bass": write_bass,
    "drums": write_drums,
}


def compose(
    conditions: Conditions,
    *,
    seed: int,
    material: ReferenceMaterial | None = None,
    tempo_grid: Grid | None = None,
) -> Composition:
    """Compose the piece the conditions describe; the same seed gives the same MIDI bytes."""
    # 1. Inputs: style, key, the groove the conditions resolved, the seeded generator
    style = st.STYLES[conditions.style]
    key = parse_key(conditions.key)
    material = _material(conditions, material or ReferenceMaterial())
    rng = np.random.default_rng(seed)
    # 2. Form: the bar grid and the section plan
    grid = tempo_grid or conditions_grid(conditions)
    plan = _plan(conditions, grid, style)
    # 3. Harmony and arrangement
    slots = _harmony(conditions, plan, grid, style, key, rng)
    parts = arrange(style, conditions.instruments)
    ensure_every_part_plays(parts, plan)
    # 4. Parts: each role's writer, then the melody's approach tones and the final chord
    ctx = Context(conditions, style, key, grid, plan, slots, parts, rng, material,
                  accents=_cut_accents(conditions, grid))  # fmt: skip
    for index, part in enumerate(parts):
        writer = WRITERS.get(part.role)
        if writer is not None:
            writer(ctx, index, part)
    add_chromatic_approaches(ctx)
    write_ending(ctx)
    # 5. Feel: dynamics, swing and humanisation, seconds
    shape_dynamics(ctx)
    pm = to_pretty_midi(ctx)
    return Composition(
        midi=pm,
        key=key,
        tempo_bpm=grid.tempo_bpm,
        beats_per_bar=grid.beats_per_bar,
        duration_s=grid.duration_s,
        sections=plan,
        chords=slots,
        parts=parts,
        melody=ctx.melody,
        accents_beats=ctx.accents,
        pickup_s=grid.pickup_s,
        grid=grid,
    )


def _material(conditions: Conditions, material: ReferenceMaterial) -> ReferenceMaterial:
    """The resolved conditions' groove wins over the raw reference material."""
    if conditions.swing is None and conditions.melody_density is None:
        return material
    return replace(
        material,
        swing=material.swing if conditions.swing is None else conditions.swing,
        density=material.density if conditions.melody_density is None
        else conditions.melody_density,
    )  # fmt: skip


def conditions_grid(conditions: Conditions) -> Grid:
    """The bars the conditions make: the cue's tempo map when scored to picture, else one tempo
    (with the pickup; a loop has none)."""
    bpb = beats_per_bar(conditions.time_signature)
    if conditions.tempo_map is not None and not conditions.loop:  # scored to picture
        cue = CueMap.from_report(conditions.tempo_map, conditions.duration_s, conditions.cuts_s)
        return Grid(cue.base_bpm, bpb, conditions.duration_s, False, cue=cue)
    pickup = 0.0 if conditions.loop else conditions.pickup_s
    return Grid(conditions.tempo_bpm, bpb, conditions.duration_s, conditions.loop, pickup)


def _plan(conditions: Conditions, grid: Grid, style: st.StyleSpec) -> list[SectionPlan]:
    """The style's form over the body bars, the described sections on the music's clock, or
    (scored to picture) a section from every hit."""
    if grid.cue is not None:
        return plan_cue_sections(grid.cue, conditions.sections, conditions.energy)
    bar_s = grid.beat_s * grid.beats_per_bar
    sections = [  # section times on the music's clock (which starts after the pickup)
        s.model_copy(update={"start_s": max(0.0, s.start_s - grid.pickup_s)})
        for s in conditions.sections
    ]
    return plan_sections(grid.n_body_bars, conditions.energy, sections, bar_s, grid.loop,
                         form=STYLE_FORMS.get(style.name, "arc"))  # fmt: skip


def _harmony(conditions: Conditions, plan: list[SectionPlan], grid: Grid, style: st.StyleSpec,
             key: Key, rng: np.random.Generator) -> list[ChordSlot]:  # fmt: skip
    """A, B and C progressions (A from the references' chords when given) on the plan."""
    prog_a, prog_b = progressions(style, key, rng)
    if conditions.chords:
        prog_a = [parse_chord_name(name) for name in conditions.chords][:8]
    prog_c = third_progression(style, key, prog_a, prog_b)
    return chord_timeline(plan, grid, style, key, prog_a, prog_b, prog_c)


def _cut_accents(conditions: Conditions, grid: Grid) -> list[float]:
    """The beats of the video cuts inside the body (they get a crash and a kick): a hit's
    downbeat, or the played beat nearest to a cut that is no hit."""
    if grid.cue is not None:
        cue = grid.cue
        beats = {float(bar * grid.beats_per_bar) for bar in cue.hit_bars}
        beats |= {cue.nearest_beat(cut) for cut in cue.accents_s}
        return sorted(b for b in beats if 0 < b < grid.final_beat)
    beat_s = grid.beat_s
    return sorted(
        {
            float(round((c - grid.pickup_s) / beat_s))
            for c in conditions.cuts_s
            if 0 < c - grid.pickup_s < grid.final_beat * beat_s
        }
    )
