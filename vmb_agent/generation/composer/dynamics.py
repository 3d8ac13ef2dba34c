"""Dynamics shaping: section arcs (builds crescendo, outros diminuendo) and 4-bar phrase swells
applied to the written velocities, and the accents on a cue's hits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.context import Context

#: section role -> velocity factor at its start and at its end
SECTION_ARC = {"contrast": (0.85, 1.05), "outro": (1.0, 0.75)}
#: scored to picture: the notes on a hit are accented (at least HIT_MIN_VELOCITY) and those in
#: the half beat before it held back, so the hit is heard even where a quiet section starts
HIT_ACCENT = 1.3
HIT_MIN_VELOCITY = 72
BEFORE_HIT = 0.75
CUT_ACCENT = 1.15  # a cut closer than a bar to the last hit: an accent on its nearest beat


def shape_dynamics(ctx: Context) -> None:
    """Builds (contrast sections) crescendo from 85 % to 105 % into what follows; outros
    diminuendo to 75 %; every 4-bar phrase of the pitched parts swells toward its third bar
    and relaxes into its cadence (92 % -> 104 % -> 94 %), as players shape a phrase."""
    bpb = ctx.bpb
    drums = {i for i, part in enumerate(ctx.parts) if part.role == "drums"}
    for section in ctx.plan:
        start, end = section.start_bar * bpb, section.end_bar * bpb
        low, high = SECTION_ARC.get(section.role, (1, 1))
        phrase = 4 * bpb
        for note in ctx.notes:
            if not start <= note.start < end:
                continue
            progress = (note.start - start) / max(1e-6, end - start)
            shape = low + (high - low) * progress
            if note.part not in drums and section.n_bars >= 4:
                within = ((note.start - start) % phrase) / phrase
                shape *= _phrase_swell(within)
            note.velocity = int(np.clip(round(note.velocity * shape), 1, 127))
    _accent_hits(ctx)


def _accent_hits(ctx: Context) -> None:
    cue = ctx.grid.cue
    if cue is None:
        return
    hits = cue.hit_beats
    ordered = np.array(sorted(hits))
    accents = {round(b, 6) for b in ctx.accents} - hits
    for note in ctx.notes:
        start = round(note.start, 6)
        following = int(np.searchsorted(ordered, note.start + 1e-6))  # the next hit after it
        gap = ordered[following] - note.start if following < len(ordered) else np.inf
        if start in hits:
            note.velocity = int(min(127, max(HIT_MIN_VELOCITY, round(note.velocity * HIT_ACCENT))))
        elif gap <= 0.5 + 1e-6:
            note.velocity = max(1, round(note.velocity * BEFORE_HIT))
        elif start in accents:  # a cut, no section
            note.velocity = int(min(127, round(note.velocity * CUT_ACCENT)))


def _phrase_swell(within: float) -> float:
    """The velocity factor at a point (0..1) of a 4-bar phrase."""
    return (
        0.92
        + 0.12 * math.sin(math.pi * min(within / 0.75, 1.0) * 0.5)
        - 0.1 * max(0.0, within - 0.75)
    )
