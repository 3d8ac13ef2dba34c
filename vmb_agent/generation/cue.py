"""Hit points: the tempo map of a cue scored to picture.

A film composer sets a cue's *hit points* with a click-track calculator: every cut that starts a
new section must fall exactly on a downbeat, and the tempo may only bend a little to get there.
:func:`plan_cue` does the same over the whole cue at once:

* a cut starts a section (a *hit*) when it comes at least a bar after the last hit; closer cuts
  get an accent on the nearest beat instead (the composer's crash and kick);
* between two hits lies a whole number of beats, in bars of the piece's meter plus, where a full
  bar would miss, one shorter bar (a 2/4 or 3/4 bar in 4/4: the composed bar's last beats are
  dropped), and the tempo ramps bar by bar (within ±8 % of the base tempo, at most 3 % from one
  bar to the next) so the hit lands exactly;
* the music starts with the picture: the first hit is reached by a pickup (the first composed
  bar's opening beats are dropped; at most :data:`LEAD_IN_MAX_S` of silence before it);
* a dynamic programme over the hits picks each segment's beat count and end tempo, minimising the
  tempo's drift from the base, its bar-to-bar changes and the meter changes; a hit no tempo map
  within the limits can reach becomes an accent.

The composer keeps writing in even bars of ``beats_per_bar`` beats (*composed* bars and beats);
:class:`CueMap` turns a composed beat into seconds and tells which beats are played.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.types import TempoMap, TempoMapBar

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.types import Conditions

TEMPO_DRIFT = 0.08  # every bar within +-8 % of the base tempo
EXPLICIT_TEMPO_DRIFT = 0.05  # ... within +-5 % when the user asked for the tempo
TEMPO_STEP = 0.03  # and within 3 % of the bar before
LEAD_IN_MAX_S = 0.1  # silence before the first note, at most (the music starts with the picture)
MIN_HIT_BARS = 1.0  # a cut starts a section when it comes a bar (base tempo) after the last hit
FINAL_STEP = 0.02  # after the last hit the tempo returns toward the base, 2 % a bar
FINAL_HIT_BARS = 2.0  # a last shot shorter than this ends the piece: the final chord on its cut
MIN_FINAL_BEATS = 1.0  # the final chord rings at least a beat ...
MIN_FINAL_S = 0.75  # ... and this long
#: the programme's costs: squared drift from the base tempo (in %) per beat, squared bar-to-bar
#: change (in %), and each bar shorter than the meter
DRIFT_COST = 0.03
CHANGE_COST = 1.0
SHORT_BAR_COST = 8.0
HALF_BEAT_BAR_COST = 10.0  # a 5/8 or 7/8 bar: only where whole beats cannot reach the hit
HALF_BEAT_PICKUP_COST = 2.0
TEMPO_BIN_BPM = 0.05
MAX_STATES = 64


@dataclass
class CueMap:
    """Composed bars -> seconds. Bar ``i`` holds composed beats ``[i*bpb, (i+1)*bpb)``; it plays
    ``beats[i]`` of them from ``skip[i]`` on, starting at ``start_s[i]``, at ``tempo[i]``. The last
    bar is the final chord's: it rings at its tempo until the end."""

    base_bpm: float
    beats_per_bar: int
    duration_s: float
    start_s: np.ndarray
    tempo: np.ndarray
    beats: np.ndarray
    skip: np.ndarray
    hits_s: list[float] = field(default_factory=list)
    hit_bars: list[int] = field(default_factory=list)
    accents_s: list[float] = field(default_factory=list)

    @property
    def n_body_bars(self) -> int:
        """Bars before the final chord."""
        return len(self.start_s) - 1

    def _bar(self, beat: float) -> int:
        return int(min(max(math.floor(beat / self.beats_per_bar + 1e-9), 0), len(self.start_s) - 1))

    def _bar_at_time(self, time_s: float) -> int:
        i = int(np.searchsorted(self.start_s, time_s + 1e-9, side="right")) - 1
        return min(max(i, 0), len(self.start_s) - 1)

    @cached_property
    def hit_beats(self) -> frozenset[float]:
        """The composed beats of the hits (their bars' downbeats)."""
        return frozenset(float(bar * self.beats_per_bar) for bar in self.hit_bars)

    def time_at(self, beat: float) -> float:
        """Seconds at a composed beat; a dropped beat maps to where its bar's playing starts (a
        pickup) or ends (a shortened bar), so notes in dropped beats have no length."""
        i = self._bar(beat)
        local = beat - i * self.beats_per_bar - self.skip[i]
        if local < 0:
            return float(self.start_s[i])
        if i < len(self.start_s) - 1 and local > self.beats[i]:
            return float(self.start_s[i + 1])
        return float(self.start_s[i] + local * 60.0 / self.tempo[i])

    def beat_at(self, time_s: float) -> float:
        """The composed beat playing at ``time_s``."""
        i = self._bar_at_time(time_s)
        local = (time_s - self.start_s[i]) * self.tempo[i] / 60.0
        if i < len(self.start_s) - 1:
            local = min(local, float(self.beats[i]))
        return float(i * self.beats_per_bar + self.skip[i] + max(local, 0.0))

    def nearest_beat(self, time_s: float) -> float:
        """The played beat (a composed beat number) nearest to ``time_s``."""
        i = self._bar_at_time(time_s)
        beat_s = 60.0 / self.tempo[i]
        local = np.arange(math.ceil(self.beats[i] - 1e-9)) * beat_s + self.start_s[i]
        options = [(abs(t - time_s), i * self.beats_per_bar + self.skip[i] + k)
                   for k, t in enumerate(local)]  # fmt: skip
        if i + 1 < len(self.start_s):
            options.append((abs(self.start_s[i + 1] - time_s), (i + 1) * self.beats_per_bar))
        return float(min(options)[1])

    @property
    def total_beats(self) -> float:
        return self.beat_at(self.duration_s)

    def downbeats_s(self) -> np.ndarray:
        """Times of the bars' first played beats that are downbeats (not a pickup's)."""
        return self.start_s[self.skip == 0]

    def report(self, digits: int = 6) -> TempoMap:
        """The map as explicit conditions (and for the user: base, range, every bar)."""
        bars = [
            TempoMapBar(bar=i, start_s=round(float(s), digits), tempo_bpm=round(float(t), digits),
                        beats=float(b), first_beat=float(k))
            for i, (s, t, b, k) in enumerate(
                zip(self.start_s, self.tempo, self.beats, self.skip, strict=True))
        ]  # fmt: skip
        return TempoMap(base_bpm=round(self.base_bpm, digits),
                        min_bpm=round(float(self.tempo.min()), 3),
                        max_bpm=round(float(self.tempo.max()), 3),
                        beats_per_bar=self.beats_per_bar, hits_s=list(self.hits_s),
                        bars=bars)  # fmt: skip

    @classmethod
    def from_report(cls, tempo_map: TempoMap, duration_s: float,
                    cuts_s: list[float]) -> CueMap:  # fmt: skip
        bars = tempo_map.bars
        start_s = np.array([b.start_s for b in bars])
        hits = list(tempo_map.hits_s)
        hit_bars = [int(np.argmin(np.abs(start_s - h))) for h in hits]
        return cls(tempo_map.base_bpm, tempo_map.beats_per_bar, duration_s, start_s,
                   np.array([b.tempo_bpm for b in bars]), np.array([b.beats for b in bars]),
                   np.array([b.first_beat for b in bars]), hits, hit_bars,
                   [c for c in cuts_s if all(abs(c - h) > 1e-6 for h in hits)])  # fmt: skip


# --------------------------------------------------------------------------------------------
# Choosing the hits
# --------------------------------------------------------------------------------------------


def choose_hits(cuts_s: list[float], duration_s: float, base_bpm: float,
                beats_per_bar: int) -> tuple[list[float], list[float]]:  # fmt: skip
    """(hits, accents): a cut is a hit when it comes a bar after the last hit (the first: a beat
    after the start) and leaves the final chord room before the end."""
    beat = 60.0 / base_bpm
    bar = beat * beats_per_bar
    ring = max(MIN_FINAL_BEATS * beat, MIN_FINAL_S)
    hits: list[float] = []
    accents: list[float] = []
    for cut in sorted(c for c in cuts_s if 0.0 < c < duration_s):
        room_before = cut - (hits[-1] if hits else 0.0)
        enough = room_before >= (MIN_HIT_BARS * bar if hits else beat)
        if enough and duration_s - cut >= ring:
            hits.append(float(cut))
        else:
            accents.append(float(cut))
    return hits, accents


# --------------------------------------------------------------------------------------------
# The dynamic programme
# --------------------------------------------------------------------------------------------


def bar_lengths(n_beats: float, beats_per_bar: int) -> list[float]:
    """Bars for ``n_beats`` beats (a multiple of a half beat): full bars, then one shorter bar
    where a full one would miss; a remainder under 1.5 beats borrows the last full bar and
    becomes two short bars (in 4/4: 4.5 beats -> 5/8 + 2/4, 5 beats -> 3/4 + 2/4). [] when
    ``n_beats`` is too short to play."""
    bpb = float(beats_per_bar)
    full = int(n_beats // bpb + 1e-9)
    rest = n_beats - full * bpb
    if rest < 1e-9:
        return [bpb] * full
    if rest >= 1.5 or (rest >= 1.0 and bpb <= 2):
        return [bpb] * full + [rest]
    if full == 0:
        return []
    total = rest + bpb
    first = max(total - 2.0, 1.5)
    return [bpb] * (full - 1) + [first, total - first]


def _ramp_duration(start: np.ndarray, end: np.ndarray, bars: list[float]) -> np.ndarray:
    """Seconds of ``bars`` whose tempi ramp linearly from ``start`` (the bar before) to ``end``
    (the last bar)."""
    m = len(bars)
    total = np.zeros_like(end)
    for j, beats in enumerate(bars):
        total += beats * 60.0 / (start + (end - start) * (j + 1) / m)
    return total


def _solve_end_tempo(start: np.ndarray, bars: list[float], gap_s: float, low: float,
                     high: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The end tempo per start tempo that makes ``bars`` last ``gap_s`` (bisection; the length
    falls as the tempo rises), and whether it is within the limits."""
    m = len(bars)
    # a falling ramp's steps are measured against ever slower bars: its bound is tighter
    lo = np.maximum(low, start / (1 + m * TEMPO_STEP / (1 - TEMPO_STEP)))
    hi = np.minimum(high, start * (1 + TEMPO_STEP * m))
    ok = (lo <= hi) & (_ramp_duration(start, hi, bars) <= gap_s) & (
        _ramp_duration(start, lo, bars) >= gap_s)  # fmt: skip
    a, b = lo.copy(), hi.copy()
    for _ in range(48):
        mid = 0.5 * (a + b)
        longer = _ramp_duration(start, mid, bars) > gap_s
        a = np.where(longer, mid, a)
        b = np.where(longer, b, mid)
    return 0.5 * (a + b), ok


@dataclass
class _State:
    tempo: float  # the last bar's tempo
    cost: float
    path: tuple  # the pickup (beats, tempo, tempo), then (bars, end tempo, start tempo) a segment


def _segment_cost(start: float, end: float, bars: list[float], base: float, bpb: int) -> float:
    m = len(bars)
    cost = 0.0
    for j, beats in enumerate(bars):
        tempo = start + (end - start) * (j + 1) / m
        cost += DRIFT_COST * beats * ((tempo / base - 1) * 100) ** 2
    cost += CHANGE_COST * m * ((end - start) / start / m * 100) ** 2
    short = sum(b < bpb for b in bars)
    return cost + SHORT_BAR_COST * short + HALF_BEAT_BAR_COST * sum(b % 1 > 0 for b in bars)


def _pickup_states(first_hit: float, base: float, low: float, high: float,
                   bpb: int) -> list[_State]:  # fmt: skip
    """The opening segment: a pickup and full bars at one tempo up to the first hit, after at
    most LEAD_IN_MAX_S of silence. Beat counts on a half-beat grid."""
    states = []
    n_low = math.ceil(2 * (first_hit - LEAD_IN_MAX_S) * low / 60.0)
    n_high = math.floor(2 * first_hit * high / 60.0)
    for halves in range(max(n_low, 1), n_high + 1):
        beats = halves / 2
        fastest, slowest = 60.0 * beats / (first_hit - LEAD_IN_MAX_S), 60.0 * beats / first_hit
        # no silence before the music, or the base tempo (a little silence): both are options
        for tempo in {max(slowest, low), min(max(base, slowest, low), fastest, high)}:
            if not (low - 1e-9 <= tempo <= high + 1e-9
                    and slowest - 1e-9 <= tempo <= fastest + 1e-9):  # fmt: skip
                continue
            cost = DRIFT_COST * beats * ((tempo / base - 1) * 100) ** 2
            cost += HALF_BEAT_PICKUP_COST * (halves % 2) + 0.5 * ((beats % bpb) != 0)
            states.append(_State(tempo, cost, ((beats, tempo, tempo),)))
    return states


def _advance(states: list[_State], gap_s: float, base: float, low: float, high: float,
             bpb: int) -> list[_State]:  # fmt: skip
    """Every way to play the next segment (``gap_s`` long) from every state, best per tempo bin."""
    starts = np.array([s.tempo for s in states])
    n_low = max(4, math.floor(2 * gap_s * low / 60.0))
    n_high = math.ceil(2 * gap_s * high / 60.0)
    best: dict[int, _State] = {}
    for halves in range(n_low, n_high + 1):
        bars = bar_lengths(halves / 2, bpb)
        if not bars:
            continue
        ends, ok = _solve_end_tempo(starts, bars, gap_s, low, high)
        for state, end, fits in zip(states, ends, ok, strict=True):
            if not fits:
                continue
            cost = state.cost + _segment_cost(state.tempo, float(end), bars, base, bpb)
            key = round(float(end) / TEMPO_BIN_BPM)
            if key not in best or cost < best[key].cost:
                step = (tuple(bars), float(end), state.tempo)
                best[key] = _State(float(end), cost, (*state.path, step))
    return sorted(best.values(), key=lambda s: s.cost)[:MAX_STATES]


def plan_cue(
    cuts_s: list[float],
    duration_s: float,
    base_bpm: float,
    beats_per_bar: int,
    *,
    drift: float = TEMPO_DRIFT,
) -> CueMap | None:
    """The cue's tempo map: every hit on a downbeat; None when no cut can be a hit."""
    hits, accents = choose_hits(cuts_s, duration_s, base_bpm, beats_per_bar)
    low, high = base_bpm * (1 - drift), base_bpm * (1 + drift)
    states: list[_State] = []
    while hits and not states:
        states = _pickup_states(hits[0], base_bpm, low, high, beats_per_bar)
        if not states:
            accents.append(hits.pop(0))
    if not states:
        return None
    kept = [hits[0]]
    for i in range(1, len(hits)):
        advanced = _advance(states, hits[i] - kept[-1], base_bpm, low, high, beats_per_bar)
        if advanced:  # else no tempo map within the limits reaches this cut: an accent
            states = advanced
            kept.append(hits[i])
        else:
            accents.append(hits[i])
    best = min(states, key=lambda s: s.cost)
    return _build(best, kept, sorted(accents), duration_s, base_bpm, beats_per_bar)


def _build(state: _State, hits: list[float], accents: list[float], duration_s: float,
           base: float, bpb: int) -> CueMap:  # fmt: skip
    """Bars from the chosen path: the pickup, each segment's ramp, then the last segment at the
    last tempo up to the final chord."""
    starts: list[float] = []
    tempi: list[float] = []
    beats: list[float] = []
    skips: list[float] = []
    pickup_beats, tempo0 = state.path[0][0], state.path[0][1]
    full, partial = divmod(pickup_beats, bpb)
    t = max(0.0, hits[0] - pickup_beats * 60.0 / tempo0)
    if partial > 1e-9:
        starts.append(t), tempi.append(tempo0), beats.append(partial), skips.append(bpb - partial)
        t += partial * 60.0 / tempo0
    for _ in range(int(full)):
        starts.append(t), tempi.append(tempo0), beats.append(bpb), skips.append(0.0)
        t += bpb * 60.0 / tempo0
    hit_bars = [len(starts)]
    for k, (bars, end, start) in enumerate(state.path[1:], start=1):
        t = hits[k - 1]
        m = len(bars)
        for j, n in enumerate(bars):
            tempo = start + (end - start) * (j + 1) / m
            starts.append(t), tempi.append(tempo), beats.append(n), skips.append(0.0)
            t += n * 60.0 / tempo
        hit_bars.append(len(starts))
    return _finish(starts, tempi, beats, skips, hits, hit_bars, accents, duration_s, base, bpb)


def _finish(starts: list[float], tempi: list[float], beats: list[float], skips: list[float],
            hits: list[float], hit_bars: list[int], accents: list[float], duration_s: float,
            base: float, bpb: int) -> CueMap:  # fmt: skip
    """Snap each hit bar to its cut (removing the bisection's rounding), add the bars after the
    last hit at the last tempo, and the final chord's bar."""
    last = hits[-1]
    tempo = tempi[-1] if tempi else base
    t = last
    if duration_s - last >= FINAL_HIT_BARS * bpb * 60.0 / base:
        while True:  # bars drifting back toward the base tempo while the final chord has room
            step = float(np.clip(base - tempo, -tempo * FINAL_STEP, tempo * FINAL_STEP))
            bar_s = bpb * 60.0 / (tempo + step)
            if t + bar_s + max(MIN_FINAL_BEATS * 60.0 / (tempo + step), MIN_FINAL_S) > duration_s:
                break
            tempo += step
            starts.append(t), tempi.append(tempo), beats.append(bpb), skips.append(0.0)
            t += bar_s
    starts.append(t), tempi.append(tempo), beats.append(bpb), skips.append(0.0)  # final chord
    start_s = np.array(starts)
    for hit, bar in zip(hits, hit_bars, strict=True):
        start_s[bar] = hit
    return CueMap(base, bpb, duration_s, start_s, np.array(tempi), np.array(beats),
                  np.array(skips), hits_s=list(hits), hit_bars=hit_bars,
                  accents_s=accents)  # fmt: skip


def sync_to_picture(conditions: Conditions, *, explicit_tempo: bool) -> Conditions:
    """The conditions with the cue's tempo map when the cuts give it hits (a loop never has
    one); an explicit tempo may bend only +-5 %."""
    from vmb_agent.generation.form import beats_per_bar

    if not conditions.cuts_s or conditions.loop:
        return conditions
    drift = EXPLICIT_TEMPO_DRIFT if explicit_tempo else TEMPO_DRIFT
    cue = plan_cue(conditions.cuts_s, conditions.duration_s, conditions.tempo_bpm,
                   beats_per_bar(conditions.time_signature), drift=drift)  # fmt: skip
    if cue is None:
        return conditions
    origins = {**conditions.origins, "tempo_map": "video"}
    lead = float(cue.start_s[0])
    if lead > 0:
        origins["pickup_s"] = "video"
    return conditions.model_copy(
        update={"tempo_map": cue.report(), "pickup_s": round(lead, 6), "origins": origins}
    )


__all__ = ["CueMap", "bar_lengths", "choose_hits", "plan_cue", "sync_to_picture"]
