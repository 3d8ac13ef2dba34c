"""Form: the bar grid, the section plan, and video sync (cuts on beats and downbeats).

Everything here is in bars and beats at one constant tempo. A piece of ``duration_s`` seconds
has ``n_body_bars`` full bars followed by a final chord that rings until the exact end (or, for
a loop, bars until the end that lead back to the start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vmb_agent.errors import unknown_name
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
DOWNBEAT_BONUS_S = 0.04


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
    tempo_bpm: float
    beats_per_bar: int
    duration_s: float
    loop: bool
    pickup_s: float = 0.0  # silence before beat 0 (video sync phase)

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def total_beats(self) -> float:
        """Beats from the first downbeat to the end."""
        return (self.duration_s - self.pickup_s) / self.beat_s

    @property
    def n_body_bars(self) -> int:
        """Full bars before the final chord (a loop has no final chord: bars up to the end)."""
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
    n_bars: int, energy: float, sections: list[Section], bar_s: float, loop: bool = False,
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


def sync_tempo(
    tempo_bpm: float,
    cuts_s: list[float],
    beats_per_bar: int,
    *,
    tolerance: float = 0.08,
    max_pickup_s: float = 0.6,
) -> tuple[float, float]:
    """The tempo within ``tempo ± tolerance`` and the pickup (time before the first downbeat,
    at most a beat and ``max_pickup_s``) that put the cuts nearest to beats, preferring downbeats.

    Least squared error in seconds; landing within ``DOWNBEAT_BONUS_S`` of a downbeat is worth
    that much beat error; small pulls toward the asked tempo and no pickup break ties.
    Returns ``(tempo_bpm, pickup_s)``.
    """
    cuts = np.array([c for c in cuts_s if c > 0.05], dtype=float)
    if cuts.size == 0:
        return tempo_bpm, 0.0
    low = max(30.0, tempo_bpm * (1 - tolerance))
    high = min(300.0, tempo_bpm * (1 + tolerance))
    tempi = np.arange(low, high + 1e-9, 0.02) if high > low else np.array([tempo_bpm])
    pickups = np.arange(0.0, max_pickup_s + 1e-9, 0.005)
    best = (float("inf"), tempo_bpm, 0.0)
    for pickup in pickups:
        beat = 60.0 / tempi[:, None]
        valid = pickup < beat[:, 0]
        if not valid.any():
            continue
        shifted = cuts[None, :] - pickup
        bar = beat * beats_per_bar
        d_beat = shifted - np.round(shifted / beat) * beat
        d_bar = shifted - np.round(shifted / bar) * bar
        cost = (d_beat**2 + np.minimum(d_bar**2, DOWNBEAT_BONUS_S**2)).sum(axis=1)
        cost += 1e-4 * ((tempi - tempo_bpm) / tempo_bpm) ** 2 + 1e-5 * pickup**2
        cost[~valid] = np.inf
        i = int(np.argmin(cost))
        if cost[i] < best[0] - 1e-12:
            best = (float(cost[i]), float(tempi[i]), float(pickup))
    return round(best[1], 3), round(best[2], 4)


def cut_alignment(
    tempo_bpm: float, cuts_s: list[float], beats_per_bar: int, pickup_s: float = 0.0
) -> list[CutAlignment]:
    """Per cut: the nearest beat of the piece's grid (first downbeat at ``pickup_s``), the error
    in ms and whether that beat is a downbeat."""
    beat = 60.0 / tempo_bpm
    report = []
    for cut in cuts_s:
        index = max(0, round((cut - pickup_s) / beat))
        nearest = pickup_s + index * beat
        report.append(
            CutAlignment(
                cut_s=float(cut),
                nearest_beat_s=round(nearest, 4),
                error_ms=round((cut - nearest) * 1000.0, 2),
                on_downbeat=index % beats_per_bar == 0,
            )
        )
    return report


__all__ = [
    "TIME_SIGNATURES",
    "Grid",
    "SectionPlan",
    "beats_per_bar",
    "cut_alignment",
    "plan_sections",
    "scale_sections",
    "sync_tempo",
]
