"""The shared context every role writer works in.

One :class:`Context` per piece holds what the writers read (the conditions, style, key, tempo
grid, section plan, chord slots, parts, the seeded random generator and the reference material)
and what they write (the note list, the melody, the cut accents), with the helpers every writer
uses: the chord and section at a beat, whether a part plays in a section, velocity from section
energy, a part's register, chord voicing, the scale over a chord, and the metrical flags (pulse,
fast-and-drumless, double time) that keep the felt tempo the asked one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.generation.composer.containers import ChordSlot, Note, Part, ReferenceMaterial
from vmb_agent.generation.harmony import voice_chord

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator

    from vmb_agent.generation import styles as st
    from vmb_agent.generation.form import Grid, SectionPlan
    from vmb_agent.generation.harmony import Chord
    from vmb_agent.theory import Key
    from vmb_agent.types import Conditions

SLOW_BPM = 90.0
FAST_BPM = 110.0
#: Double time: from here on the accompaniment marks every beat itself (see comp.write_stride).
DOUBLE_TIME_BPM = 150.0


@dataclass(eq=False)
class Context:
    """What the writers of one piece share: read-only inputs, the notes written so far, helpers."""

    conditions: Conditions
    style: st.StyleSpec
    key: Key
    grid: Grid
    plan: list[SectionPlan]
    slots: list[ChordSlot]
    parts: list[Part]
    rng: np.random.Generator
    material: ReferenceMaterial
    accents: list[float] = field(default_factory=list)  # beats of video cuts (crash + kick)
    notes: list[Note] = field(default_factory=list)
    melody: list[Note] = field(default_factory=list)
    sung: list[Note] = field(default_factory=list)  # the played note of each melody note
    bpb: int = field(init=False)
    register_shift: int = field(init=False)
    pulse: float = field(init=False)
    fast_and_drumless: bool = field(init=False)
    double_time: bool = field(init=False)

    def __post_init__(self) -> None:
        self.bpb = self.grid.beats_per_bar
        # valence moves registers: darker pieces sit lower
        self.register_shift = round((self.conditions.valence - 0.5) * 6)
        self._starts = np.array([s.start for s in self.slots])
        # Slow pieces keep accompaniment on the beat: off-beat eighths at 60-90 BPM make the
        # pulse read (and be measured) at double tempo.
        self.pulse = 1.0 if self.grid.tempo_bpm < SLOW_BPM else 0.5
        # Fast music without drums needs its accompaniment to mark every beat, or the felt
        # (and measured) tempo halves.
        self.fast_and_drumless = self.grid.tempo_bpm >= FAST_BPM and not any(
            p.role == "drums" for p in self.parts
        )
        self.double_time = self.grid.tempo_bpm >= DOUBLE_TIME_BPM

    # -- where we are ----------------------------------------------------------------------

    def played_beats(self, bar: int) -> float:
        """Beats the bar plays: the meter, or fewer in a cue's 2/4 or 3/4 bar before a hit."""
        cue = self.grid.cue
        if cue is None or not 0 <= bar < len(cue.beats):
            return float(self.bpb)
        return float(cue.beats[bar] + cue.skip[bar])

    def chord_at(self, beat: float) -> ChordSlot:
        i = int(np.searchsorted(self._starts, beat + 1e-6, side="right")) - 1
        return self.slots[max(0, min(i, len(self.slots) - 1))]

    def section_at(self, beat: float) -> SectionPlan | None:
        for section in self.plan:
            if section.start_bar * self.bpb - 1e-6 <= beat < section.end_bar * self.bpb - 1e-6:
                return section
        return None

    def active(self, part: Part, section: SectionPlan) -> bool:
        return section.energy + 1e-9 >= part.min_energy

    # -- writing notes ---------------------------------------------------------------------

    def velocity(self, part: Part, section: SectionPlan, accent: float = 1.0) -> int:
        # velocity follows the section's energy over a wide range: with the SoundFont's velocity
        # curve, 0.2 -> 0.9 energy is about 8 dB, and the arc survives mastering
        level = 0.4 + 0.6 * section.energy
        return int(np.clip(round(part.velocity * level * accent), 20, 127))

    def add(self, part_index: int, pitch: int, start: float, length: float, velocity: int) -> None:
        if length <= 1e-3 or not 0 <= pitch <= 127:
            return
        self.notes.append(Note(part_index, int(pitch), float(start), float(length), int(velocity)))

    # -- rhythm ----------------------------------------------------------------------------

    def bar_cells(self, cells: list[tuple[float, float]], bar_start: float,
                  limit: float) -> Iterator[tuple[float, float]]:  # fmt: skip
        """The pattern's events inside this bar (meters shorter than 4/4 keep the first beats)."""
        for onset, length in cells:
            if onset >= self.bpb - 1e-6:
                continue
            start = bar_start + onset
            if start >= limit - 1e-6:
                continue
            yield start, min(length, self.bpb - onset, limit - start)

    def played_cells(self, part: Part, pattern_of: Callable[[SectionPlan], list]
                     ) -> Iterator[tuple[SectionPlan, float, tuple]]:  # fmt: skip
        """``(section, start, cell)`` for each cell (``(onset, length, ...)``) of the section's
        pattern in every bar of the sections ``part`` plays, up to the final chord (meters
        shorter than 4/4 keep the first beats)."""
        for section in self.plan:
            if not self.active(part, section):
                continue
            pattern = pattern_of(section)
            for bar in range(section.start_bar, section.end_bar):
                bar_start = bar * self.bpb
                for cell in pattern:
                    if cell[0] >= self.bpb - 1e-6:
                        continue
                    start = bar_start + cell[0]
                    if start >= self.grid.final_beat - 1e-6:
                        continue
                    yield section, start, cell

    def thin(self, cells: list, keep_onbeat_only: bool = False) -> list:
        """Drop events off the pulse (or off the beat) and let the kept ones ring to the next."""
        step = 1.0 if keep_onbeat_only else self.pulse
        kept = [c for c in cells if abs(c[0] / step - round(c[0] / step)) < 1e-6]
        if len(kept) == len(cells):
            return cells
        out = []
        for i, cell in enumerate(kept):
            nxt = kept[i + 1][0] if i + 1 < len(kept) else self.bpb
            out.append((cell[0], max(cell[1], min(nxt - cell[0], 2.0 * step)), *cell[2:]))
        return out

    # -- pitch -----------------------------------------------------------------------------

    def scale_for(self, chord: Chord) -> list[int]:
        """The key's scale with chord tones replacing clashing neighbours (e.g. the raised
        leading tone over V in minor)."""
        pcs = set(self.key.scale)
        for tone in chord.pitch_classes:
            if tone not in pcs:
                pcs.discard((tone - 1) % 12)
                pcs.discard((tone + 1) % 12)
                pcs.add(tone)
        return sorted(pcs)

    def minor_chord(self, chord: Chord) -> bool:
        return self.key.mode == "minor" and chord.quality in ("min", "m7")

    def voice(self, chord: Chord, low: int, high: int, previous: list[int] | None,
              n_voices: int = 4) -> list[int]:  # fmt: skip
        """Voice-led chord; in minor keys minor chords double their third so the mode is heard
        over the bass's overtones (a low root's 5th harmonic is a *major* third)."""
        double = self.minor_chord(chord)
        return voice_chord(chord, low, high, previous, n_voices, double_third=double)

    def register(self, part: Part) -> tuple[int, int]:
        low, high = part.register
        if part.role in ("melody", "counter", "arp"):
            return low + self.register_shift, high + self.register_shift
        return low, high
