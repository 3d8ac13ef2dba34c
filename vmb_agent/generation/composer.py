"""The symbolic composer: explicit conditions -> a multi-part PrettyMIDI piece.

Pure Python + numpy, deterministic for a seed. The piece is written in beats on a constant
tempo grid, in these steps:

1. arrange: which instrument plays which role (melody, counter, chords, arp, pad, bass, drums);
2. harmony: a chord timeline from the style's progressions (or the references' chords), with a
   cadence at every section end (half cadence into a contrast, V -> I elsewhere) and a final
   tonic chord that rings to the exact end;
3. parts: melody from motifs (a theme motif A and a contrasting motif B that return and vary;
   chord tones on strong beats, scale steps between), counter-melody on guide tones, comping,
   arpeggios, pads with smooth voice leading, idiomatic bass lines and drum grooves with fills
   and crashes at section changes and video cuts; section energy decides who plays and how much;
4. feel: swing and humanised (seeded) timing and velocity, then conversion to seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.generation import styles as st
from vmb_agent.generation.form import STYLE_FORMS, Grid, SectionPlan, plan_sections
from vmb_agent.generation.harmony import (
    Chord,
    nearest_pitch,
    parse_chord_name,
    progression,
    roman_to_chord,
    voice_chord,
)
from vmb_agent.theory import INSTRUMENTS, Key, parse_key

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

    from vmb_agent.types import Conditions

#: mixer settings per role: (MIDI volume CC7, pan CC10)
ROLE_MIX = {
    "melody": (112, 60), "counter": (92, 76), "chords": (96, 46), "arp": (84, 84),
    "pad": (84, 54), "bass": (108, 64), "drums": (100, 64),
}  # fmt: skip
SLOW_BPM = 90.0
FAST_BPM = 110.0
#: Double time: from here on the accompaniment marks every beat itself (see _Writer.write_stride).
DOUBLE_TIME_BPM = 150.0
#: comping patterns that already sound on every beat (kept at double time)
_EVERY_BEAT_COMPS = {"quarters", "rock8"}
#: velocity accent of double-time accompaniment: it keeps the time, so it sits up in the mix
STRIDE_ACCENT = 1.25
#: melody rhythm cells with a note on every beat (styles.MELODY_CELLS)
BEAT_MELODY = 3
_ROLE_ORDER = {r: i for i, r in enumerate(("melody", "counter", "chords", "arp", "pad", "bass"))}


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

    def beat_time(self, beat: float) -> float:
        """Seconds at a (straight, unswung) beat position."""
        return self.pickup_s + beat * self.beat_s

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    def chord_at(self, beat: float) -> Chord | None:
        for slot in self.chords:
            if slot.start - 1e-6 <= beat < slot.end - 1e-6:
                return slot.chord
        return self.chords[-1].chord if self.chords else None


# --------------------------------------------------------------------------------------------
# 1. Arrangement
# --------------------------------------------------------------------------------------------


def arrange(style: st.StyleSpec, instruments: list[str]) -> list[Part]:
    """Give every instrument a role: the style's own part when the style lists it; otherwise the
    first listed instrument that can sing carries the melody and the others take the role they
    play best that is still free. A lone keyboard/guitar/harp accompanies itself."""

    def make(spec: st.PartSpec) -> Part:
        register = spec.register or st.ROLE_REGISTER.get(spec.role, (48, 84))
        return Part(
            spec.role, spec.instrument, spec.pattern, spec.min_energy, spec.velocity, register
        )

    def new_part(role: str, name: str) -> Part:
        base = next((s for s in style.parts if s.role == role), None)
        pattern = _groove_of(style) if role == "drums" else st.default_pattern(role, style)
        entry = (
            0.0
            if role in ("melody", "chords", "bass", "pad")
            else (base.min_energy if base else 0.3)
        )
        return Part(role, name, pattern, entry, base.velocity if base else 80,
                    st.ROLE_REGISTER.get(role, (48, 84)))  # fmt: skip

    wanted = list(dict.fromkeys(instruments))
    parts = [make(spec) for spec in style.parts if spec.instrument in wanted]
    placed = {p.instrument for p in parts}
    if "melody" not in {p.role for p in parts}:
        singer = next(
            (n for n in wanted
             if n not in placed and ("melody" in st.roles_for(n) or n in _SELF_ACCOMPANYING)),
            None,
        )  # fmt: skip
        if singer is not None:
            parts.append(new_part("melody", singer))
            placed.add(singer)
    for name in wanted:
        if name in placed:
            continue
        taken = {p.role for p in parts}
        roles = st.roles_for(name)
        role = next((r for r in roles if r not in taken), roles[0])
        if role == "melody" and "melody" in taken:
            role = "counter"
        parts.append(new_part(role, name))
        placed.add(name)
    pitched = [p for p in parts if p.role != "drums"]
    roles = {p.role for p in parts}
    if pitched and "melody" not in roles:
        # The instrument that plays melody best carries the tune as well.
        carrier = max(
            pitched,
            key=lambda p: ("melody" in st.roles_for(p.instrument), -_ROLE_ORDER.get(p.role, 9)),
        )
        parts.append(Part("melody", carrier.instrument, "", 0.0, carrier.velocity + 8, (60, 84)))
    roles = {p.role for p in parts}
    solo = {p.instrument for p in pitched}
    if len(solo) == 1 and next(iter(solo)) in _SELF_ACCOMPANYING:
        name = next(iter(solo))
        if not roles & {"chords", "arp", "pad"}:
            parts.append(Part("arp", name, "alberti", 0.0, 60, (48, 67)))
        if "bass" not in roles:
            parts.append(Part("bass", name, "whole", 0.0, 66, (31, 50)))
    return parts


_SELF_ACCOMPANYING = {
    "piano", "bright piano", "electric piano", "harpsichord", "acoustic guitar", "nylon guitar",
    "electric guitar", "harp", "organ", "accordion", "marimba", "vibraphone", "celesta",
}  # fmt: skip


def _groove_of(style: st.StyleSpec) -> str:
    for spec in style.parts:
        if spec.role == "drums":
            return spec.pattern
    return "pop"


# --------------------------------------------------------------------------------------------
# 2. Harmony
# --------------------------------------------------------------------------------------------


def _progressions(
    style: st.StyleSpec, key: Key, rng: np.random.Generator
) -> tuple[list[Chord], list[Chord]]:
    table = style.major if key.mode == "major" else style.minor
    order = rng.permutation(len(table))
    first = progression(table[int(order[0])], key)
    second = progression(table[int(order[1 % len(order)])], key)
    return first, second


def _third_progression(style: st.StyleSpec, key: Key, prog_a: list[Chord],
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


def _dominant(key: Key, sevenths: bool) -> Chord:
    return roman_to_chord("V7" if sevenths else "V", key)


def _tonic(key: Key, sevenths: bool) -> Chord:
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
    sevenths = any(c.quality in ("7", "maj7", "m7", "m7b5") for c in prog_a)
    bpb = grid.beats_per_bar
    slot_beats = style.bars_per_chord * bpb
    slots: list[ChordSlot] = []
    by_letter = {"B": prog_b, "C": prog_c or prog_b}
    for index, section in enumerate(plan):
        prog = by_letter.get(section.material, prog_a)
        start = section.start_bar * bpb
        end = section.end_bar * bpb
        length = slot_beats
        if section.n_bars < style.bars_per_chord * 2:  # short sections change chords every bar
            length = bpb
        count = max(1, round((end - start) / length))
        length = (end - start) / count
        chords = [prog[i % len(prog)] for i in range(count)]
        if section.role == "intro":  # establish the key: tonic, then the dominant
            chords = [_tonic(key, sevenths)] * count
        is_last = index == len(plan) - 1
        if index == 0 or (is_last and count <= 3):
            chords[0] = _tonic(key, sevenths)  # open (and keep short pieces) on the tonic
        if section.role == "contrast" or (is_last and grid.loop) or (is_last and count == 1):
            chords[-1] = _dominant(key, sevenths)
            cadence = "half"
        else:
            if count >= 2:
                chords[-2] = _dominant(key, sevenths)
            chords[-1] = _tonic(key, sevenths) if count >= 2 else _dominant(key, sevenths)
            cadence = "authentic" if count >= 2 else "half"
        if is_last and not grid.loop:  # the last body chord leads into the final tonic
            if count >= 4:  # room for a pre-dominant: ... IV V | I
                chords[-2] = roman_to_chord("IV" if key.mode == "major" else "iv", key)
            elif count >= 2:
                chords[-2] = _tonic(key, sevenths) if count == 2 else chords[-2]
            chords[-1] = _dominant(key, sevenths)
            cadence = "half"
        for i, chord in enumerate(chords):
            slots.append(
                ChordSlot(start + i * length, start + (i + 1) * length, chord, index,
                          cadence if i == count - 1 else "")
            )  # fmt: skip
    if not grid.loop:
        slots.append(
            ChordSlot(grid.final_beat, grid.total_beats, _tonic(key, False), len(plan), "final")
        )
    return slots


# --------------------------------------------------------------------------------------------
# 3. Parts
# --------------------------------------------------------------------------------------------


class _Writer:
    """Shared state for writing the parts of one piece."""

    def __init__(self, conditions: Conditions, style: st.StyleSpec, key: Key, grid: Grid,
                 plan: list[SectionPlan], slots: list[ChordSlot], parts: list[Part],
                 rng: np.random.Generator, material: ReferenceMaterial) -> None:  # fmt: skip
        self.c = conditions
        self.style = style
        self.key = key
        self.grid = grid
        self.plan = plan
        self.slots = slots
        self.parts = parts
        self.rng = rng
        self.material = material
        self.notes: list[Note] = []
        self.melody: list[Note] = []
        self.sung: list[Note] = []  # the played note of each melody note (legato length)
        self.accents: list[float] = []
        self.bpb = grid.beats_per_bar
        # valence moves registers: darker pieces sit lower
        self.register_shift = round((conditions.valence - 0.5) * 6)
        self._starts = np.array([s.start for s in slots])
        # Slow pieces keep accompaniment on the beat: off-beat eighths at 60-90 BPM make the
        # pulse read (and be measured) at double tempo.
        self.pulse = 1.0 if grid.tempo_bpm < SLOW_BPM else 0.5
        # Fast music without drums needs its accompaniment to mark every beat, or the felt
        # (and measured) tempo halves.
        self.fast_and_drumless = grid.tempo_bpm >= FAST_BPM and not any(
            p.role == "drums" for p in parts
        )
        self.double_time = grid.tempo_bpm >= DOUBLE_TIME_BPM

    def on_pulse(self, onset: float) -> bool:
        return abs(onset / self.pulse - round(onset / self.pulse)) < 1e-6

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

    # -- helpers ---------------------------------------------------------------------------

    def chord_at(self, beat: float) -> ChordSlot:
        i = int(np.searchsorted(self._starts, beat + 1e-6, side="right")) - 1
        return self.slots[max(0, min(i, len(self.slots) - 1))]

    def active(self, part: Part, section: SectionPlan) -> bool:
        return section.energy + 1e-9 >= part.min_energy

    def velocity(self, part: Part, section: SectionPlan, accent: float = 1.0) -> int:
        # velocity follows the section's energy over a wide range: with the SoundFont's velocity
        # curve, 0.2 -> 0.9 energy is about 8 dB, and the arc survives mastering
        level = 0.4 + 0.6 * section.energy
        return int(np.clip(round(part.velocity * level * accent), 20, 127))

    def add(self, part_index: int, pitch: int, start: float, length: float, velocity: int) -> None:
        if length <= 1e-3 or not 0 <= pitch <= 127:
            return
        self.notes.append(Note(part_index, int(pitch), float(start), float(length), int(velocity)))

    def bar_cells(self, cells: list[tuple[float, float]], bar_start: float, limit: float):
        """The pattern's events inside this bar (meters shorter than 4/4 keep the first beats)."""
        for onset, length in cells:
            if onset >= self.bpb - 1e-6:
                continue
            start = bar_start + onset
            if start >= limit - 1e-6:
                continue
            yield start, min(length, self.bpb - onset, limit - start)

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

    # -- harmonic parts --------------------------------------------------------------------

    def write_sustained(self, index: int, part: Part, n_voices: int = 4) -> None:
        previous: list[int] | None = None
        for slot in self.slots:
            section = self._section(slot.start)
            if section is None or not self.active(part, section):
                previous = None if section is None else previous
                continue
            low, high = self.register(part)
            voicing = self.voice(slot.chord, low, high, previous, n_voices)
            previous = voicing
            vel = self.velocity(part, section)
            for pitch in voicing:
                self.add(index, pitch, slot.start, slot.end - slot.start - 0.05, vel)

    def write_stride(self, index: int, part: Part, every_beat: bool) -> None:
        """Double-time accompaniment: a low root or fifth on 1 and 3, the chord on 2 and 4
        ("boom-chick", as a stride pianist or a bluegrass guitarist keeps time), or, with no
        drums, the low note and the chord together on every beat.

        A groove built for 70-120 BPM (a syncopated strum, a boom-bap comp, one chord per bar)
        repeats every half bar or bar, and at 150-180 BPM that is what a listener (and the
        tempo analysis) takes for the beat: the music feels half time. Onsets on every beat,
        low and high alternating as a kick and a snare do, keep the requested beat the felt one.
        """
        low, high = self.register(part)
        # the bass falls on the bar's strong beats: 1 and 3 in 4/4, 1 and 4 in 6/4, 1 otherwise
        booms = {0, self.bpb // 2} if self.bpb >= 4 and self.bpb % 2 == 0 else {0}
        previous: list[int] | None = None
        for section in self.plan:
            if not self.active(part, section):
                continue
            for bar in range(section.start_bar, section.end_bar):
                bar_start = bar * self.bpb
                for beat in range(self.bpb):
                    start = bar_start + beat
                    if start >= self.grid.final_beat - 1e-6:
                        break
                    chord = self.chord_at(start).chord
                    length = min(1.0, self.grid.final_beat - start)
                    boom = beat in booms
                    if boom or every_beat:
                        # alternating bass: the root, then the fifth on the next strong beat
                        # (the next bar's in 2/4 and 3/4; the off beats when every beat has one)
                        fifth = not boom if every_beat else beat > 0 or (len(booms) == 1 and bar % 2)
                        tone = chord.triad[2] if fifth else chord.root
                        self.add(index, nearest_pitch([tone], low, low - 5, low + 7), start,
                                 length * 0.9, self.velocity(part, section, STRIDE_ACCENT))  # fmt: skip
                    if not boom or every_beat:
                        voicing = self.voice(chord, low + 8, high, previous, 3)
                        previous = voicing
                        vel = self.velocity(part, section, STRIDE_ACCENT - 0.1 * (not every_beat))
                        for pitch in voicing:
                            self.add(index, pitch, start, length * 0.6, vel)

    def write_comp(self, index: int, part: Part) -> None:
        if self.double_time and (self.fast_and_drumless or part.pattern not in _EVERY_BEAT_COMPS):
            self.write_stride(index, part, every_beat=self.fast_and_drumless)
            return
        cells = st.COMP_PATTERNS.get(part.pattern, st.COMP_PATTERNS["halves"])
        if self.fast_and_drumless:  # nothing else marks the beat: comp on every beat
            cells = st.COMP_PATTERNS["quarters"]
        strum = part.pattern in st.STRUMMED
        power = part.pattern in st.POWER_CHORDS
        strum_step = 0.012 / self.grid.beat_s
        previous: list[int] | None = None
        for section in self.plan:
            if not self.active(part, section):
                continue
            calm = section.energy < 0.3 and not self.fast_and_drumless
            pattern = self.thin(cells) if not calm else [(0.0, self.bpb / 2), (self.bpb / 2, self.bpb / 2)]
            for bar in range(section.start_bar, section.end_bar):
                bar_start = bar * self.bpb
                for n, (start, length) in enumerate(
                    self.bar_cells(pattern, bar_start, self.grid.final_beat)
                ):
                    slot = self.chord_at(start)
                    low, high = self.register(part)
                    if power:
                        root = nearest_pitch([slot.chord.root], low + 5, low, high)
                        voicing = [root, root + 7, root + 12]
                        if self.minor_chord(slot.chord):  # distortion blurs the mode: add the b10
                            voicing.append(root + 15)
                    else:
                        voicing = self.voice(slot.chord, low, high, previous, 4)
                        previous = voicing
                    on_strong_beat = abs((start - bar_start) % 2) < 1e-6
                    if self.fast_and_drumless:
                        # no snare: the comp takes the backbeat (2 and 4), as a drummer would;
                        # leaning on 1 and 3 under the melody's downbeats felt half time
                        on_strong_beat = abs((start - bar_start) % 2 - 1) < 1e-6
                    accent = 1.08 if on_strong_beat else 0.92
                    vel = self.velocity(part, section, accent)
                    down = n % 2 == 0
                    ordered = voicing if down else list(reversed(voicing))
                    for k, pitch in enumerate(ordered):
                        offset = k * strum_step if strum else 0.0
                        self.add(
                            index,
                            pitch,
                            start + offset,
                            length * 0.92 - offset,
                            vel - 3 * k * strum,
                        )

    def write_arp(self, index: int, part: Part) -> None:
        if self.double_time and self.fast_and_drumless:
            self.write_stride(index, part, every_beat=True)
            return
        cells = st.ARP_PATTERNS.get(part.pattern, st.ARP_PATTERNS["up8"])
        if self.fast_and_drumless or (
            self.grid.tempo_bpm >= FAST_BPM and min(b[0] for b in cells[1:]) >= 1.0
        ):
            # a quarter-note arpeggio under slow harmony reads as half time at fast tempi; a
            # figure that repeats every beat keeps the pulse on the beat
            cells = st.ARP_PATTERNS["rock8"]
        previous: list[int] | None = None
        for section in self.plan:
            if not self.active(part, section):
                continue
            pattern = self.thin(cells, keep_onbeat_only=section.energy < 0.3)  # calm: on the beat
            for bar in range(section.start_bar, section.end_bar):
                bar_start = bar * self.bpb
                for onset, length, voice in pattern:
                    if onset >= self.bpb - 1e-6:
                        continue
                    start = bar_start + onset
                    if start >= self.grid.final_beat - 1e-6:
                        continue
                    slot = self.chord_at(start)
                    low, high = self.register(part)
                    voicing = self.voice(slot.chord, low, min(high, low + 19), previous, 3)
                    previous = voicing
                    pitch = voicing[voice % len(voicing)] + 12 * (voice // len(voicing))
                    while pitch > high:
                        pitch -= 12
                    accent = 1.04 if abs(onset % 1.0) < 1e-6 else 0.96
                    self.add(index, pitch, start, min(length, self.grid.final_beat - start) * 0.95,
                             self.velocity(part, section, accent))  # fmt: skip

    def write_bass(self, index: int, part: Part) -> None:
        cells = st.BASS_PATTERNS.get(part.pattern, st.BASS_PATTERNS["whole"])
        if self.fast_and_drumless and part.pattern == "whole":
            # without drums, a bass note per bar makes fast music feel (and measure) half time
            cells = st.BASS_PATTERNS["pulse4"]
        low, high = self.register(part)
        for section in self.plan:
            if not self.active(part, section):
                continue
            # calm sections hold the root for the bar, except in fast drumless music, where
            # the bass is what marks the beat (a half-time feel otherwise)
            calm = section.energy < 0.25 and not self.fast_and_drumless
            pattern = self.thin(cells) if not calm else [(0.0, float(self.bpb), "R")]
            if self.key.mode == "minor" and self.grid.tempo_bpm < SLOW_BPM:
                # long low roots ring a major third (their 5th harmonic) over a minor key:
                # keep the bass short and on the root/third
                pattern = [(o, min(length, 1.0), t) for o, length, t in pattern]
            for bar in range(section.start_bar, section.end_bar):
                bar_start = bar * self.bpb
                for onset, length, tone in pattern:
                    if onset >= self.bpb - 1e-6:
                        continue
                    start = bar_start + onset
                    if start >= self.grid.final_beat - 1e-6:
                        continue
                    length = min(length, self.bpb - onset, self.grid.final_beat - start)
                    slot = self.chord_at(start)
                    pitch = self._bass_pitch(slot, tone, start + length, low, high, part.pattern)
                    accent = 1.08 if abs(onset) < 1e-6 else 0.94
                    self.add(
                        index, pitch, start, length * 0.9, self.velocity(part, section, accent)
                    )

    def _bass_pitch(self, slot: ChordSlot, tone: str, next_beat: float, low: int, high: int,
                    pattern: str) -> int:  # fmt: skip
        chord = slot.chord
        root = nearest_pitch([chord.root], low + 7, low, high)
        if tone == "R":
            return root
        if tone == "5" and self.minor_chord(chord) and self.grid.tempo_bpm < SLOW_BPM:
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
        nxt = self.chord_at(next_beat + 1e-3).chord
        target = nearest_pitch([nxt.root], root, low, high)
        if pattern == "walking":
            return target - 1 if target - 1 >= low else target + 1
        below = [p for p in range(target - 2, target) if p % 12 in self.key.scale]
        return below[-1] if below else target - 1

    def write_drums(self, index: int, part: Part) -> None:
        groove = dict(st.GROOVES.get(part.pattern, st.GROOVES["pop"]))
        if self.double_time and part.pattern in st.DOUBLE_TIME_KICK:
            groove[st.KICK] = st.DOUBLE_TIME_KICK[part.pattern]
        fill = st.FILLS[st.GROOVE_FILL.get(part.pattern, "default")]
        steps = self.bpb * 4
        for s_index, section in enumerate(self.plan):
            if not self.active(part, section):
                continue
            thin = section.energy < part.min_energy + 0.12 and section.role != "climax"
            next_section = self.plan[s_index + 1] if s_index + 1 < len(self.plan) else None
            for bar in range(section.start_bar, section.end_bar):
                bar_start = bar * self.bpb
                last_bar = bar == section.end_bar - 1
                use_fill = last_bar and next_section is not None and section.n_bars >= 2
                pattern = dict(groove)
                if use_fill:
                    for drum, fill_steps in fill.items():
                        base = pattern.get(drum, "-" * 16)
                        pattern[drum] = base[:12] + fill_steps[12:16]
                    for drum in list(pattern):  # the fill replaces the groove's last beat
                        if drum not in fill:
                            pattern[drum] = pattern[drum][:12] + "----"
                for drum, cells in pattern.items():
                    for step in range(min(steps, len(cells))):
                        mark = cells[step]
                        if mark == "-" or (
                            thin and (mark == "." or (drum in (42, 46, 54) and step % 4))
                        ):
                            continue
                        in_fill = use_fill and step >= 12
                        if not in_fill and step % int(self.pulse * 4):
                            continue
                        start = bar_start + step / 4.0
                        if start >= self.grid.final_beat - 1e-6:
                            continue
                        vel = self.velocity(part, section, st.ACCENT_VELOCITY[mark])
                        self.add(index, drum, start, 0.25, vel)
                if bar == section.start_bar and section.energy >= 0.45 and s_index > 0:
                    self.add(index, st.CRASH, bar_start, 1.0, self.velocity(part, section, 1.05))
        for beat in self.accents:
            section = self._section(beat)
            if section is not None and self.active(part, section):
                self.add(index, st.CRASH, beat, 1.0, self.velocity(part, section, 1.0))
                self.add(index, 36, beat, 0.25, self.velocity(part, section, 1.0))

    # -- melody ----------------------------------------------------------------------------

    def make_motif(self, density: int) -> Motif:
        cells_table = st.MELODY_CELLS[density]
        cells = [cells_table[int(self.rng.integers(len(cells_table)))] for _ in range(2)]
        steps: list[list[int]] = []
        direction = 1 if self.rng.random() < 0.6 else -1
        for cell in cells:
            bar_steps = []
            for _ in cell:
                r = self.rng.random()
                if r < 0.12:
                    step = 0
                elif r < 0.8:
                    step = direction
                elif r < 0.92:
                    step = 2 * direction
                else:
                    step = -3 * direction  # a leap against the line, recovered by steps
                if self.rng.random() < 0.3:
                    direction = -direction
                bar_steps.append(step)
            steps.append(bar_steps)
        return Motif(cells, steps)

    def vary(self, motif: Motif, amount: float) -> Motif:
        """Ornament a motif: split some long notes into a note and its upper/lower neighbour.
        The next note steps back by the same amount, so the line returns to the original."""
        cells, steps = [], []
        for cell, cell_steps in zip(motif.cells, motif.steps, strict=True):
            new_cell, new_steps = [], []
            carry = 0
            for (onset, length), step in zip(cell, cell_steps, strict=True):
                step -= carry
                carry = 0
                if length >= 1.0 and self.rng.random() < amount:
                    half = length / 2
                    carry = 1 if self.rng.random() < 0.5 else -1
                    new_cell += [(onset, half), (onset + half, half)]
                    new_steps += [step, carry]
                else:
                    new_cell.append((onset, length))
                    new_steps.append(step)
            cells.append(new_cell)
            steps.append(new_steps)
        return Motif(cells, steps)

    def write_melody(self, index: int, part: Part, counter: bool = False) -> None:
        density = self.style.melody_density
        if self.material.density is not None:
            density = int(np.clip(round(self.material.density * 1.6 - 0.3), 0, 2))
        if density == 0 and self.grid.tempo_bpm >= FAST_BPM:
            density = 1  # half notes at a fast tempo drag the felt pulse to half time
        if self.double_time and self.fast_and_drumless:
            # a tune on the half-note grid is what sets the beat when nothing else does
            density = BEAT_MELODY
        motif_a = self.material.motif or self.make_motif(density)
        motif_b = self.make_motif(density if density == BEAT_MELODY else max(0, density - 1))
        contrast_a = self.make_motif(density)
        # one tune per letter: a letter that returns sings the same notes over the same chords
        # (literal on its first return, lightly ornamented after that)
        motifs = {"A": motif_a, "B": motif_b, "C": self.make_motif(density)}
        seen: dict[str, int] = {}
        for section in self.plan:
            if not self.active(part, section) or section.role == "intro":
                continue
            material = section.material
            occurrence = seen.get(material, 0)
            seen[material] = occurrence + 1
            if material == "outro":
                self._melody_outro(index, part, section, motif_a)
                continue
            base = motifs.get(material, motif_a)
            motif = base if occurrence < 2 else self.vary(base, 0.2)
            # the climax sings an octave up, except in sparse (ambient) lines, which float
            lift = section.role == "climax" and not counter and self.style.melody_density > 0
            octave = 12 if lift and self._fits_octave_up(part) else 0
            self._melody_section(index, part, section, motif, contrast_a, octave)

    def _fits_octave_up(self, part: Part) -> bool:
        low, high = self.register(part)
        return high - low >= 24

    def _melody_section(self, index: int, part: Part, section: SectionPlan, motif: Motif,
                        contrast: Motif, octave: int) -> None:  # fmt: skip
        low, high = self.register(part)
        if octave:
            low += 6
        centre = (low + high) / 2 - 2
        prev = None
        for bar in range(section.start_bar, section.end_bar):
            phrase_bar = (bar - section.start_bar) % 4
            bar_start = bar * self.bpb
            last = bar == section.end_bar - 1
            if phrase_bar == 0:
                prev = None  # every phrase restarts from the same anchor: returns sound the same
            if last or phrase_bar == 3:
                self._cadence_bar(index, part, section, bar_start, prev, low, high, final=last)
                continue
            if phrase_bar == 2:
                cell, steps = contrast.cells[0], contrast.steps[0]
            else:
                cell, steps = (
                    motif.cells[phrase_bar % len(motif.cells)],
                    motif.steps[phrase_bar % len(motif.steps)],
                )
            for (start, length), step in zip(self.bar_cells(cell, bar_start, self.grid.final_beat),
                                             steps, strict=False):  # fmt: skip
                slot = self.chord_at(start)
                if prev is None:
                    anchor = (
                        [slot.chord.pitch_classes[1]]
                        if self.key.mode == "minor"
                        else slot.chord.triad
                    )
                    pitch = nearest_pitch(anchor, centre + octave, low, high)
                else:
                    pitch = self._step(prev, step, slot.chord, start, length, low, high)
                prev = pitch
                strong = abs((start - bar_start) % 2.0) < 1e-6 or length >= 1.5
                self._melody_note(index, part, section, pitch, start, length, strong)

    def _step(self, prev: int, step: int, chord: Chord, start: float, length: float,
              low: int, high: int) -> int:  # fmt: skip
        scale = self.scale_for(chord)
        pitches = [p for p in range(low, high + 1) if p % 12 in scale]
        position = int(np.argmin([abs(p - prev) for p in pitches]))
        target_index = position + step
        if target_index < 0 or target_index >= len(pitches):
            target_index = position - step
        target_index = int(np.clip(target_index, 0, len(pitches) - 1))
        pitch = pitches[target_index]
        bar_pos = (start / self.bpb - math.floor(start / self.bpb + 1e-9)) * self.bpb
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

    def _cadence_bar(self, index: int, part: Part, section: SectionPlan, bar_start: float,
                     prev: int | None, low: int, high: int, final: bool) -> None:  # fmt: skip
        cell = st.CADENCE_CELLS[0 if self.style.melody_density > 0 else 1]
        notes = list(self.bar_cells(cell, bar_start, self.grid.final_beat))
        last_slot = self.chord_at(bar_start + self.bpb - 0.01)
        centre = prev if prev is not None else (low + high) / 2
        goal_pcs = (
            [last_slot.chord.root] if last_slot.cadence == "authentic" else last_slot.chord.triad
        )
        goal = nearest_pitch(goal_pcs, centre, low, high)
        for k, (start, length) in enumerate(notes):
            slot = self.chord_at(start)
            if k == len(notes) - 1:
                pitch = (
                    nearest_pitch(goal_pcs, goal, low, high)
                    if slot is last_slot
                    else nearest_pitch(slot.chord.triad, goal, low, high)
                )
            else:
                # approach the goal by step from above or below
                toward = goal + (2 if k % 2 == 0 else -1)
                pitch = nearest_pitch(slot.chord.triad if k == 0 else self.scale_for(slot.chord),
                                      toward, low, high)  # fmt: skip
            strong = k == 0 or length >= 1.5
            self._melody_note(
                index, part, section, pitch, start, length * (0.96 if final else 0.92), strong
            )

    def _melody_outro(self, index: int, part: Part, section: SectionPlan, motif: Motif) -> None:
        """The theme's head, augmented (twice as slow), then silence before the final chord."""
        low, high = self.register(part)
        prev = None
        bar_start = section.start_bar * self.bpb
        cell = motif.cells[0]
        for (onset, length), step in zip(cell, motif.steps[0], strict=True):
            start = bar_start + onset * 2
            if start >= min(section.end_bar * self.bpb, self.grid.final_beat) - 1e-6:
                break
            slot = self.chord_at(start)
            if prev is None:
                pitch = nearest_pitch(slot.chord.triad, (low + high) / 2 - 2, low, high)
            else:
                pitch = self._step(prev, step, slot.chord, start, length * 2, low, high)
            prev = pitch
            self._melody_note(index, part, section, pitch, start,
                              min(length * 2, self.grid.final_beat - start), True, soft=0.85)  # fmt: skip

    def _melody_note(self, index: int, part: Part, section: SectionPlan, pitch: int, start: float,
                     length: float, strong: bool, soft: float = 1.0) -> None:  # fmt: skip
        accent = (1.06 if strong else 0.94) * soft
        vel = self.velocity(part, section, accent)
        legato = (
            0.98 if part.role == "counter" or self.style.name in ("ambient", "cinematic") else 0.9
        )
        count = len(self.notes)
        self.add(index, pitch, start, length * legato, vel)
        if part.role == "melody" and len(self.notes) > count:
            self.melody.append(Note(index, pitch, start, length, vel))
            self.sung.append(self.notes[-1])

    def add_chromatic_approaches(self) -> None:
        """Jazz, film and lo-fi melodies lean into their targets chromatically: a short weak
        note right before a strong-beat chord tone becomes the tone a semitone below it (or
        above). Chosen by the note's place in its material, so a returning tune keeps them."""
        amount = self.style.chromatic
        if amount <= 0 or len(self.melody) < 3:
            return
        order = sorted(range(len(self.melody)), key=lambda i: self.melody[i].start)
        scale = set(self.key.scale)
        for before, weak, strong in zip(order, order[1:], order[2:], strict=False):
            a, b, prev = self.melody[weak], self.melody[strong], self.melody[before]
            section = self._section(a.start)
            if section is None or b.start - a.start > 1.0 + 1e-6 or a.length > 1.0 + 1e-6:
                continue
            if abs((b.start / 2.0) - round(b.start / 2.0)) > 1e-6:  # b must fall on 1 or 3
                continue
            offset = round((a.start - section.start_bar * self.bpb) * 4)
            ticket = (offset * 7919 + ord(section.material[0]) * 104729) % 1000 / 1000.0
            if ticket >= amount:
                continue
            for approach in (b.pitch - 1, b.pitch + 1):
                if approach % 12 not in scale and abs(approach - prev.pitch) <= 4:
                    a.pitch = approach
                    self.sung[weak].pitch = approach
                    break

    def write_counter(self, index: int, part: Part) -> None:
        """Guide tones: the third (or seventh) of each chord, held, moving by the smallest step."""
        low, high = self.register(part)
        prev = (low + high) // 2
        for slot in self.slots:
            section = self._section(slot.start)
            if section is None or not self.active(part, section):
                continue
            tones = slot.chord.pitch_classes
            guide = [tones[1]] + ([tones[3]] if len(tones) > 3 else [tones[2]])
            pitch = nearest_pitch(guide, prev, low, high)
            prev = pitch
            self.add(
                index,
                pitch,
                slot.start,
                (slot.end - slot.start) * 0.97,
                self.velocity(part, section, 0.9),
            )

    # -- ending ----------------------------------------------------------------------------

    def write_ending(self) -> None:
        """The final tonic chord, from the last downbeat to the end: every part lands together."""
        if self.grid.loop or self.grid.final_beat >= self.grid.total_beats - 1e-6:
            return
        start = self.grid.final_beat
        length = self.grid.total_beats - start - 0.05 / self.grid.beat_s
        chord = _tonic(self.key, False)
        energy = self.plan[-1].energy if self.plan else self.c.energy
        section = SectionPlan("outro", "ending", 0, 1, energy)
        previous_melody = self.melody[-1].pitch if self.melody else None
        for index, part in enumerate(self.parts):
            low, high = self.register(part)
            vel = self.velocity(part, section, 0.95)
            if part.role == "drums":
                if section.energy >= part.min_energy:
                    self.add(index, st.CRASH, start, 2.0, vel)
                    self.add(index, 36, start, 0.5, vel)
            elif part.role == "melody":
                target = previous_melody if previous_melody is not None else (low + high) / 2
                self.add(
                    index, nearest_pitch([self.key.tonic], target, low, high), start, length, vel
                )
                self.melody.append(
                    Note(
                        index,
                        nearest_pitch([self.key.tonic], target, low, high),
                        start,
                        length,
                        vel,
                    )
                )
            elif part.role == "bass":
                self.add(
                    index, nearest_pitch([self.key.tonic], low + 5, low, high), start, length, vel
                )
            elif part.role == "counter":
                self.add(
                    index,
                    nearest_pitch([chord.pitch_classes[1]], (low + high) / 2, low, high),
                    start,
                    length,
                    vel,
                )
            else:
                for pitch in self.voice(chord, low, high, None, 4):
                    self.add(index, pitch, start, length, vel)

    def _section(self, beat: float) -> SectionPlan | None:
        for section in self.plan:
            if section.start_bar * self.bpb - 1e-6 <= beat < section.end_bar * self.bpb - 1e-6:
                return section
        return None


# --------------------------------------------------------------------------------------------
# 4. Feel and conversion
# --------------------------------------------------------------------------------------------


def _swing(beat: float, ratio: float) -> float:
    if abs(ratio - 0.5) < 1e-6:
        return beat
    whole = math.floor(beat + 1e-9)
    frac = beat - whole
    if frac <= 0.5:
        return whole + frac * (ratio / 0.5)
    return whole + ratio + (frac - 0.5) * ((1 - ratio) / 0.5)


def _to_pretty_midi(writer: _Writer, conditions: Conditions) -> pretty_midi.PrettyMIDI:
    import pretty_midi

    grid = writer.grid
    beat_s = grid.beat_s
    swing = writer.material.swing if writer.material.swing is not None else writer.style.swing
    jitter_s = writer.style.humanize_ms / 1000.0
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=grid.tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(grid.beats_per_bar, 4, 0.0))
    pm.key_signature_changes.append(
        pretty_midi.KeySignature(writer.key.tonic + (12 if writer.key.mode == "minor" else 0), 0.0)
    )
    tracks: dict[str, pretty_midi.Instrument] = {}
    track_of_part: list[pretty_midi.Instrument] = []
    for part in writer.parts:
        if part.instrument not in tracks:
            is_drum = part.role == "drums"
            program = 0 if is_drum else INSTRUMENTS[part.instrument]
            track = pretty_midi.Instrument(program=program, is_drum=is_drum, name=part.instrument)
            volume, pan = ROLE_MIX.get(part.role, (96, 64))
            track.control_changes.append(pretty_midi.ControlChange(7, volume, 0.0))
            track.control_changes.append(pretty_midi.ControlChange(10, pan, 0.0))
            tracks[part.instrument] = track
        track_of_part.append(tracks[part.instrument])
    end_s = grid.duration_s
    rng = writer.rng
    for note in sorted(writer.notes, key=lambda n: (n.start, n.part, n.pitch)):
        part = writer.parts[note.part]
        start_b = _swing(note.start, swing)
        end_b = _swing(note.start + note.length, swing)
        start = grid.pickup_s + start_b * beat_s
        end = grid.pickup_s + end_b * beat_s
        if jitter_s > 0:
            scale = 0.35 if part.role in ("drums", "bass") else 1.0
            shift = float(np.clip(rng.normal(0.0, jitter_s * scale), -2 * jitter_s, 2 * jitter_s))
            start = max(0.0, start + shift) if start > 0 else 0.0
            end = end + shift * 0.5
        velocity = int(np.clip(note.velocity + rng.integers(-4, 5), 1, 127))
        end = min(end, end_s - 0.01)
        if end - start < 0.02:
            continue
        track_of_part[note.part].notes.append(
            pretty_midi.Note(
                velocity=velocity, pitch=note.pitch, start=round(start, 5), end=round(end, 5)
            )
        )
    for track in tracks.values():
        track.notes.sort(key=lambda n: (n.start, n.pitch))
        pm.instruments.append(track)
    if pm.instruments:  # an explicit last event so the MIDI file ends exactly at the duration
        pm.instruments[0].control_changes.append(pretty_midi.ControlChange(64, 0, round(end_s, 5)))
    return pm


def compose(
    conditions: Conditions,
    *,
    seed: int,
    material: ReferenceMaterial | None = None,
    tempo_grid: Grid | None = None,
) -> Composition:
    """Compose the piece the conditions describe; the same seed gives the same MIDI bytes."""
    style = st.STYLES[conditions.style]
    key = parse_key(conditions.key)
    material = material or ReferenceMaterial()
    # the resolved conditions' groove wins over the raw reference material
    if conditions.swing is not None or conditions.melody_density is not None:
        material = replace(
            material,
            swing=material.swing if conditions.swing is None else conditions.swing,
            density=material.density if conditions.melody_density is None
            else conditions.melody_density,
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    from vmb_agent.generation.form import beats_per_bar as _bpb

    pickup = 0.0 if conditions.loop else conditions.pickup_s
    grid = tempo_grid or Grid(conditions.tempo_bpm, _bpb(conditions.time_signature),
                              conditions.duration_s, conditions.loop, pickup)  # fmt: skip
    bar_s = grid.beat_s * grid.beats_per_bar
    sections = [  # section times on the music's clock (which starts after the pickup)
        s.model_copy(update={"start_s": max(0.0, s.start_s - grid.pickup_s)})
        for s in conditions.sections
    ]
    plan = plan_sections(grid.n_body_bars, conditions.energy, sections, bar_s, grid.loop,
                         form=STYLE_FORMS.get(style.name, "arc"))  # fmt: skip

    prog_a, prog_b = _progressions(style, key, rng)
    if conditions.chords:
        prog_a = [parse_chord_name(name) for name in conditions.chords][:8]
    prog_c = _third_progression(style, key, prog_a, prog_b)
    slots = chord_timeline(plan, grid, style, key, prog_a, prog_b, prog_c)
    parts = arrange(style, conditions.instruments)
    _ensure_every_part_plays(parts, plan)

    writer = _Writer(conditions, style, key, grid, plan, slots, parts, rng, material)
    beat_s = grid.beat_s
    writer.accents = sorted(
        {
            float(round((c - grid.pickup_s) / beat_s))
            for c in conditions.cuts_s
            if 0 < c - grid.pickup_s < grid.final_beat * beat_s
        }
    )
    for index, part in enumerate(parts):
        if part.role == "melody":
            writer.write_melody(index, part)
        elif part.role == "counter":
            writer.write_counter(index, part)
        elif part.role == "chords":
            writer.write_comp(index, part)
        elif part.role == "arp":
            writer.write_arp(index, part)
        elif part.role == "pad":
            writer.write_sustained(index, part)
        elif part.role == "bass":
            writer.write_bass(index, part)
        elif part.role == "drums":
            writer.write_drums(index, part)
    writer.add_chromatic_approaches()
    writer.write_ending()
    _shape_dynamics(writer)
    pm = _to_pretty_midi(writer, conditions)
    return Composition(
        midi=pm,
        key=key,
        tempo_bpm=grid.tempo_bpm,
        beats_per_bar=grid.beats_per_bar,
        duration_s=grid.duration_s,
        sections=plan,
        chords=slots,
        parts=parts,
        melody=writer.melody,
        accents_beats=writer.accents,
        pickup_s=grid.pickup_s,
    )


def _shape_dynamics(writer: _Writer) -> None:
    """Builds (contrast sections) crescendo from 85 % to 105 % into what follows; outros
    diminuendo to 75 %; every 4-bar phrase of the pitched parts swells toward its third bar
    and relaxes into its cadence (92 % -> 104 % -> 94 %), as players shape a phrase."""
    bpb = writer.bpb
    drums = {i for i, part in enumerate(writer.parts) if part.role == "drums"}
    for section in writer.plan:
        start, end = section.start_bar * bpb, section.end_bar * bpb
        low, high = {"contrast": (0.85, 1.05), "outro": (1.0, 0.75)}.get(section.role, (1, 1))
        phrase = 4 * bpb
        for note in writer.notes:
            if not start <= note.start < end:
                continue
            progress = (note.start - start) / max(1e-6, end - start)
            shape = low + (high - low) * progress
            if note.part not in drums and section.n_bars >= 4:
                within = ((note.start - start) % phrase) / phrase
                shape *= 0.92 + 0.12 * math.sin(math.pi * min(within / 0.75, 1.0) * 0.5) \
                    - 0.1 * max(0.0, within - 0.75)
            note.velocity = int(np.clip(round(note.velocity * shape), 1, 127))


def _ensure_every_part_plays(parts: list[Part], plan: list[SectionPlan]) -> None:
    """A requested instrument must be heard: lower its entry point to the loudest section."""
    if not plan:
        for part in parts:
            part.min_energy = 0.0
        return
    loudest = max(section.energy for section in plan)
    for part in parts:
        part.min_energy = min(part.min_energy, loudest)


def progression_names(chords: list[Chord]) -> list[str]:
    return [c.name for c in chords]


__all__ = [
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
