"""The composer's plain data: motifs and reference material in, notes, chord slots, parts and
the finished :class:`Composition` out. Times are in beats unless a name says seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

    from vmb_agent.generation.form import Grid, SectionPlan
    from vmb_agent.generation.harmony import Chord
    from vmb_agent.theory import Key


@dataclass
class Motif:
    """A melodic idea: one rhythm cell per bar and scale steps between successive notes."""

    cells: list[list[tuple[float, float]]]
    steps: list[list[int]]


@dataclass
class ReferenceMaterial:
    """What the music bridge hands the composer beyond the explicit conditions."""

    motif: Motif | None = None
    swing: float | None = None
    density: float | None = None  # melody notes per beat in the references


@dataclass
class Note:
    part: int
    pitch: int
    start: float  # beats
    length: float  # beats
    velocity: int


@dataclass
class ChordSlot:
    start: float  # beats
    end: float
    chord: Chord
    section: int
    cadence: str = ""  # "", "half", "authentic", "final"


@dataclass
class Part:
    role: str
    instrument: str
    pattern: str
    min_energy: float
    velocity: int
    register: tuple[int, int]


@dataclass
class Composition:
    """The composed piece and the facts the checks and the result need."""

    midi: pretty_midi.PrettyMIDI
    key: Key
    tempo_bpm: float
    beats_per_bar: int
    duration_s: float
    sections: list[SectionPlan]
    chords: list[ChordSlot]
    parts: list[Part]
    melody: list[Note] = field(default_factory=list)
    accents_beats: list[float] = field(default_factory=list)
    pickup_s: float = 0.0  # time before beat 0
    grid: Grid | None = None  # the bars in time (a cue's tempo map when scored to picture)

    def beat_time(self, beat: float) -> float:
        """Seconds at a (straight, unswung) beat position."""
        if self.grid is not None:
            return self.grid.time_at(beat)
        return self.pickup_s + beat * self.beat_s

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    def chord_at(self, beat: float) -> Chord | None:
        for slot in self.chords:
            if slot.start - 1e-6 <= beat < slot.end - 1e-6:
                return slot.chord
        return self.chords[-1].chord if self.chords else None
