"""Form: the bar grid, the section plan, and where video cuts fall (see ``cue.py`` for the
tempo map that puts them on downbeats).

Everything here is in bars and beats at one constant tempo. A piece of ``duration_s`` seconds
has ``n_body_bars`` full bars followed by a final chord that rings until the exact end (or, for
a loop, bars until the end that lead back to the start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vmb_agent.errors import unknown_name
from vmb_agent.generation.cue import CueMap
from vmb_agent.types import CutAlignment, Section

TIME_SIGNATURES = {"2/4": 2, "3/4": 3, "4/4": 4}
#: description labels -> the composer's section roles
LABEL_ROLES = {
    "intro": "intro", "opening": "intro", "introduction": "intro",
    "verse": "theme", "a": "theme", "theme": "theme", "main": "theme", "calm": "theme",
    "b": "contrast", "build": "contrast", "bridge": "contrast", "rise": "contrast",
    "development": "contrast", "tension": "contrast",
    "climax": "climax", "chorus": "climax", "peak": "climax", "drop": "climax", "hook": "climax",
    "breakdown": "breakdown", "interlude": "breakdown", "break": "breakdown",
    "outro": "outro", "ending": "outro", "coda": "outro", "resolution": "outro",
}  # fmt: skip
ROLE_MATERIAL = {
    "intro": "intro", "theme": "A", "contrast": "B", "climax": "A", "breakdown": "B",
    "outro": "outro",
}  # fmt: skip
#: section energy relative to the piece's energy, for the default plan: wide enough that
#: sections build, drop and breathe (loudness range 4-8 LU, like recorded soundtracks)
_ROLE_ENERGY = {
    "intro": -0.35, "theme": -0.12, "contrast": 0.0, "climax": 0.3, "breakdown": -0.4,
    "outro": -0.35,
}  # fmt: skip
#: The form of each style's body, cycled: (role, material letter, label). A letter is a tune
#: over its own progression; a letter that comes back brings back the same tune over the same
#: chords (the chorus returns, verse 2 sings verse 1's melody); contrast comes from the role,
#: i.e. arrangement, register and density.
FORMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "song": (("theme", "A", "verse"), ("climax", "B", "chorus"), ("theme", "A", "verse"),
             ("climax", "B", "chorus"), ("breakdown", "C", "bridge"), ("climax", "B", "chorus")),
    "head": (("theme", "A", "A"), ("theme", "A", "A"), ("contrast", "B", "B"),
             ("climax", "A", "A")),
    "drop": (("contrast", "A", "build"), ("climax", "B", "drop"), ("breakdown", "A", "breakdown"),
             ("contrast", "A", "build"), ("climax", "B", "drop")),
    "theme": (("theme", "A", "theme"), ("contrast", "C", "development"),
              ("climax", "A", "return"), ("breakdown", "B", "interlude"),
              ("climax", "A", "return")),
    "loop": (("theme", "A", "loop"), ("theme", "A", "loop"), ("climax", "B", "hook"),
             ("breakdown", "A", "loop")),
    "tune": (("theme", "A", "A"), ("theme", "A", "A"), ("climax", "B", "B"),
             ("climax", "B", "B")),
    "arc": (("theme", "A", "A"), ("contrast", "B", "B"), ("climax", "A", "A"),
            ("breakdown", "B", "B")),
}  # fmt: skip
#: how far a form's sections move from the piece's energy (x the role offsets): film, piano,
#: folk and ambient music breathe wider than a groove-driven song (recorded soundtracks measure
#: a loudness range of 3.3-21.5 LU, median 7.8)
FORM_DYNAMICS = {"theme": 2.0, "tune": 1.8, "arc": 1.3, "head": 1.9, "loop": 1.6, "song": 1.2}
#: short pieces (4-bar sections) state their tune twice, contrast, and bring it back
SHORT_FORM = (("theme", "A", "A"), ("theme", "A", "A"), ("climax", "B", "B"),
              ("climax", "A", "A"))  # fmt: skip
STYLE_FORMS = {
    "pop": "song", "rock": "song", "jazz": "head", "electronic": "drop", "cinematic": "theme",
    "piano": "theme", "lofi": "loop", "chiptune": "loop", "folk": "tune", "ambient": "arc",
}  # fmt: skip
#: The final chord rings for at least a beat and MIN_FINAL_S (no less than a beat), and otherwise
#: as little as the bar grid allows: a 2-beat minimum left an 8 s piece at 100 BPM two bars of
#: music and 3.2 s of held chord, too little rhythm for a listener (or the analysis) to find the beat.
MIN_FINAL_BEATS = 1.0
MIN_FINAL_S = 0.75


def beats_per_bar(time_signature: str) -> int:
    if time_signature not in TIME_SIGNATURES:
        raise unknown_name("time signature", time_signature, TIME_SIGNATURES)
    return TIME_SIGNATURES[time_signature]


@dataclass
class SectionPlan:
    role: str  # intro | theme | contrast | climax | breakdown | outro
    label: str  # the description's label (or the form's: verse, chorus, drop, ...)
    start_bar: int
    n_bars: int
    energy: float
    letter: str = ""  # the tune it carries (A, B, C); "" = the role's default

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.n_bars

    @property
    def material(self) -> str:
        return self.letter or ROLE_MATERIAL[self.role]


@dataclass
class Grid:
    """The piece's bars in time: one tempo, or a cue's tempo map (scored to picture), which
    then decides every bar's tempo and length (``tempo_bpm`` is its base tempo)."""

    tempo_bpm: float
    beats_per_bar: int
    duration_s: float
    loop: bool
    pickup_s: float = 0.0  # silence before beat 0
    cue: CueMap | None = None

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    def time_at(self, beat: float) -> float:
        """Seconds at a (composed) beat."""
        if self.cue is not None:
            return self.cue.time_at(beat)
        return self.pickup_s + beat * self.beat_s

    @property
    def total_beats(self) -> float:
        """Beats from the first downbeat to the end."""
        if self.cue is not None:
            return self.cue.total_beats
        return (self.duration_s - self.pickup_s) / self.beat_s

    @property
    def n_body_bars(self) -> int:
        """Full bars before the final chord (a loop has no final chord: bars up to the end)."""
        if self.cue is not None:
            return self.cue.n_body_bars
        if self.loop:
            return max(1, math.ceil(self.total_beats / self.beats_per_bar - 1e-6))
        ring = max(MIN_FINAL_BEATS, MIN_FINAL_S / self.beat_s)
        usable = self.total_beats - min(ring, self.total_beats / 2)
        return max(0, math.floor(usable / self.beats_per_bar + 1e-9))

    @property
    def final_beat(self) -> float:
        return self.n_body_bars * self.beats_per_bar


def _clamp(x: float, low: float = 0.05, high: float = 1.0) -> float:
    return float(min(high, max(low, x)))


def plan_sections(
    n_bars: int,
    energy: float,
    sections: list[Section],
    bar_s: float,
    loop: bool = False,
    form: str = "arc",
) -> list[SectionPlan]:
    """Section plan over ``n_bars`` bars: the description's sections when given (boundaries
    rounded to bars), else an intro, the style's ``form`` (:data:`FORMS`) in 8-bar sections
    (4-bar in short pieces) ending on a climax, and an outro."""
    if n_bars <= 0:
        return []
    if sections:
        return _plan_from_sections(n_bars, sections, bar_s)
    if n_bars <= 4:
        return [SectionPlan("theme", "theme", 0, n_bars, _clamp(energy), "A")]
    intro = 0 if n_bars < 6 or loop else (1 if n_bars < 12 else 2 if n_bars < 40 else 4)
    outro = 0 if n_bars < 10 or loop else (2 if n_bars < 40 else 4)
    body = n_bars - intro - outro
    chunk = 4 if body < 20 else 8
    cycle = FORMS[form] if chunk == 8 else SHORT_FORM
    body_plan: list[tuple[tuple[str, str, str], int]] = []
    left, i = body, 0
    while left > 0:
        size = chunk if left >= chunk + 4 or left == chunk else left
        if chunk < left < chunk + 4 and left >= 6 and not body_plan:
            size = left - left // 2  # a short body still states its tune twice
        body_plan.append((cycle[i % len(cycle)], size))
        left -= size
        i += 1
    if len(body_plan) >= 2 and body_plan[-1][0][0] != "climax":
        # end on a climax that brings back material already heard (the chorus, the theme)
        heard = {entry[1] for entry, _ in body_plan[:-1]}
        climaxes = [e for e in cycle if e[0] == "climax" and e[1] in heard]
        last = body_plan[-1][0]
        body_plan[-1] = (climaxes[0] if climaxes else ("climax", last[1], last[2]),
                         body_plan[-1][1])  # fmt: skip
    plan: list[SectionPlan] = []
    bar = 0
    entries = [(("intro", "", "intro"), intro), *body_plan, (("outro", "", "outro"), outro)]
    for (role, letter, label), size in entries:
        if size <= 0:
            continue
        offset = _ROLE_ENERGY[role] * FORM_DYNAMICS.get(form, 1.0)
        plan.append(SectionPlan(role, label, bar, size, _clamp(energy + offset), letter))
        bar += size
    return plan


def _plan_from_sections(n_bars: int, sections: list[Section], bar_s: float) -> list[SectionPlan]:
    ordered = sorted(sections, key=lambda s: s.start_s)
    starts = [0] + [round(s.start_s / bar_s) for s in ordered[1:]]
    plan: list[SectionPlan] = []
    for i, section in enumerate(ordered):
        start = min(max(starts[i], plan[-1].end_bar if plan else 0), n_bars)
        end = n_bars if i == len(ordered) - 1 else min(max(starts[i + 1], start), n_bars)
        if end <= start:
            continue
        label = section.label.lower().strip()
        role = LABEL_ROLES.get(label, "theme")
        plan.append(SectionPlan(role, section.label, start, end - start, _clamp(section.energy)))
    if not plan:
        plan = [SectionPlan("theme", "theme", 0, n_bars, 0.5)]
    # Make the plan cover every bar.
    plan[0].n_bars += plan[0].start_bar
    plan[0].start_bar = 0
    plan[-1].n_bars = n_bars - plan[-1].start_bar
    return plan


#: consecutive sections closer than this in energy are pushed apart, so a hit is heard
MIN_SECTION_CONTRAST = 0.1


def plan_cue_sections(cue: CueMap, sections: list[Section], energy: float) -> list[SectionPlan]:
    """Sections scored to picture: one starts on every hit (and where the description starts
    one more than a bar from a hit), with the label and energy of the description's section at
    that time. Each differs from the one before, in tune or in energy, so every hit is heard."""
    n_bars = cue.n_body_bars
    if n_bars <= 0:
        return []
    bpb = cue.beats_per_bar
    starts = {0, *(b for b in cue.hit_bars if 0 < b < n_bars)}
    for section in sections:
        bar = round(cue.beat_at(section.start_s) / bpb)
        if 0 < bar < n_bars and all(abs(bar - b) > 1 for b in starts):
            starts.add(bar)
    ordered = sorted(starts)
    plan: list[SectionPlan] = []
    for start, end in zip(ordered, [*ordered[1:], n_bars], strict=True):
        source = _section_at(sections, float(cue.start_s[start]) + 1e-3)
        label = source.label if source else "theme"
        role = LABEL_ROLES.get(label.lower().strip(), "theme")
        value = _clamp(source.energy if source else energy)
        plan.append(SectionPlan(role, label, start, end - start, value))
    _contrast(plan)
    return plan


def _section_at(sections: list[Section], time_s: float) -> Section | None:
    inside = [s for s in sections if s.start_s <= time_s]
    return max(inside, key=lambda s: s.start_s) if inside else None


def _contrast(plan: list[SectionPlan]) -> None:
    """A section that would repeat the one before (same tune, nearly the same energy) takes the
    other tune; one that also sits at the same energy moves away from it, toward the video's
    next section."""
    for i in range(1, len(plan)):
        before, section = plan[i - 1], plan[i]
        if section.material == before.material:
            section.letter = "B" if before.material == "A" else "A"
        if abs(section.energy - before.energy) < MIN_SECTION_CONTRAST:
            after = plan[i + 1].energy if i + 1 < len(plan) else section.energy
            direction = 1.0 if after >= before.energy and before.energy < 0.85 else -1.0
            section.energy = _clamp(before.energy + direction * MIN_SECTION_CONTRAST)


def scale_sections(sections: list[Section], from_s: float | None, to_s: float) -> list[Section]:
    """Stretch section times from the described length to the generated length."""
    if not sections or not from_s or abs(from_s - to_s) < 1e-6:
        return [s for s in sections if s.start_s < to_s]
    k = to_s / from_s
    return [
        Section(start_s=s.start_s * k, end_s=max(s.end_s * k, s.start_s * k + 1e-3),
                label=s.label, energy=s.energy)
        for s in sections
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Video sync
# --------------------------------------------------------------------------------------------


def cut_targets(grid: Grid, cuts_s: list[float]) -> list[tuple[float, bool, bool]]:
    """Per cut: the time of the beat that should sound on it, whether that beat is a downbeat,
    and whether the cut is a hit (starts a section on that downbeat)."""
    targets = []
    for cut in cuts_s:
        if grid.cue is not None:
            cue = grid.cue
            if cut in cue.hits_s:
                targets.append((float(cue.start_s[cue.hit_bars[cue.hits_s.index(cut)]]), True,
                                True))  # fmt: skip
                continue
            beat = cue.nearest_beat(cut)
            bar = int(beat // grid.beats_per_bar)
            downbeat = beat % grid.beats_per_bar == 0 and cue.skip[min(bar, len(cue.skip) - 1)] == 0
            targets.append((cue.time_at(beat), bool(downbeat), False))
            continue
        index = max(0, round((cut - grid.pickup_s) / grid.beat_s))
        targets.append((grid.pickup_s + index * grid.beat_s, index % grid.beats_per_bar == 0,
                        False))  # fmt: skip
    return targets


def cut_alignment(grid: Grid, cuts_s: list[float],
                  onsets_s: list[float | None] | None = None) -> list[CutAlignment]:  # fmt: skip
    """Per cut: the beat that sounds on it — the onset found in the rendered audio
    (``onsets_s``, one per cut target, None where nothing stood out) or else the MIDI grid's —
    the error in ms and whether it is a downbeat / a hit."""
    report = []
    for i, (cut, (target, downbeat, hit)) in enumerate(
        zip(cuts_s, cut_targets(grid, cuts_s), strict=True)
    ):
        heard = onsets_s[i] if onsets_s is not None else None
        beat = heard if heard is not None else target
        error_ms = round((cut - beat) * 1000.0, 2)
        report.append(CutAlignment(cut_s=float(cut), nearest_beat_s=round(beat, 4),
                                   error_ms=error_ms, on_downbeat=downbeat, hit=hit,
                                   measured=heard is not None))  # fmt: skip
    return report


__all__ = [
    "TIME_SIGNATURES",
    "Grid",
    "SectionPlan",
    "beats_per_bar",
    "cut_alignment",
    "cut_targets",
    "plan_cue_sections",
    "plan_sections",
    "scale_sections",
]
