"""The symbolic composer: explicit conditions -> a multi-part PrettyMIDI piece.

Pure Python + numpy, deterministic for a seed. The piece is written in beats on a constant
tempo grid by :func:`compose` (``piece.py``), in these steps:

1. arrange (``arrange.py``): which instrument plays which role (melody, counter, chords, arp,
   pad, bass, drums);
2. harmony (``timeline.py``): a chord timeline from the style's progressions (or the
   references' chords), with a cadence at every section end (half cadence into a contrast,
   V -> I elsewhere) and a final tonic chord that rings to the exact end;
3. parts: one writer per role over a shared :class:`~.context.Context`, dispatched by the
   ``WRITERS`` table: ``melody.py`` (motifs A and B that return and vary, chord tones on strong
   beats, scale steps between, cadence bars, chromatic approaches), ``counter.py`` (guide
   tones), ``comp.py`` (comping, stride at double time), ``arp.py``, ``pad.py``, ``bass.py``,
   ``drums.py`` (grooves, fills, crashes at section changes and video cuts); section energy
   decides who plays and how much; ``ending.py`` writes the final chord;
4. feel: ``dynamics.py`` (section arcs, phrase swells), then ``feel.py`` (swing and seeded
   humanised timing and velocity, conversion to seconds).

The plain data (``Motif``, ``Note``, ``Part``, ``Composition`` …) lives in ``containers.py``.
"""

from __future__ import annotations

from vmb_agent.generation.composer.arrange import arrange
from vmb_agent.generation.composer.containers import (
    ChordSlot,
    Composition,
    Motif,
    Note,
    Part,
    ReferenceMaterial,
)
from vmb_agent.generation.composer.piece import WRITERS, compose
from vmb_agent.generation.composer.timeline import chord_timeline

__all__ = [
    "WRITERS",
    "ChordSlot",
    "Composition",
    "Motif",
    "Note",
    "Part",
    "ReferenceMaterial",
    "arrange",
    "chord_timeline",
    "compose",
]
