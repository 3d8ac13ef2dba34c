"""Symbolic music quality: the overlapping-area (OA) method of Yang & Lerch (2020).

"On the evaluation of generative models in music" (Neural Computing and Applications 32) compares
two sets of pieces feature by feature: for each feature it builds the distribution of pairwise
distances *within* the reference set (intra-set) and *between* the two sets (inter-set), smooths
both with a Gaussian KDE and reports

* **OA** — the overlapping area of the two densities (1 = the generated set is as close to the
  reference set as the reference set is to itself; 0 = no overlap), and
* **KLD** — the Kullback–Leibler divergence of inter-set from intra-set (lower is closer).

Features (per piece, non-drum notes): pitch-class histogram, used pitches, pitch range, mean
absolute pitch interval, note density (notes per bar), mean inter-onset interval (beats), note
length histogram (beats), polyphony; plus two summary checks that are not OA features: scale
consistency (share of notes in the best-fitting major/minor scale) and repetition (share of bars
whose pitch/rhythm pattern already occurred).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

#: note-length classes in beats (16th, 8th, dotted 8th, quarter, dotted quarter, half, longer)
LENGTH_EDGES = np.array([0.0, 0.375, 0.625, 0.875, 1.25, 1.75, 2.5, np.inf])
FEATURES = (
    "pitch_class_histogram",
    "used_pitches",
    "pitch_range",
    "pitch_interval",
    "note_density",
    "inter_onset_interval",
    "note_length_histogram",
    "polyphony",
)
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


@dataclass
class PieceFeatures:
    values: dict[str, np.ndarray]
    scale_consistency: float
    repetition: float


@dataclass
class FeatureComparison:
    feature: str
    overlap_area: float
    kl_divergence: float
    intra_mean: float
    inter_mean: float


@dataclass
class SetComparison:
    """OA/KLD per feature for one generated set against one reference set."""

    name: str
    reference: str
    n_generated: int
    n_reference: int
    features: list[FeatureComparison] = field(default_factory=list)
    scale_consistency: float = 0.0
    repetition: float = 0.0

    @property
    def mean_overlap_area(self) -> float:
        return float(np.mean([f.overlap_area for f in self.features])) if self.features else 0.0


def _load(midi: pretty_midi.PrettyMIDI | str | Path) -> pretty_midi.PrettyMIDI:
    import pretty_midi

    return midi if isinstance(midi, pretty_midi.PrettyMIDI) else pretty_midi.PrettyMIDI(str(midi))


def piece_features(midi: pretty_midi.PrettyMIDI | str | Path) -> PieceFeatures | None:
    """Features of one piece; ``None`` if it has fewer than 8 pitched notes."""
    pm = _load(midi)
    notes = sorted(
        (n for inst in pm.instruments if not inst.is_drum for n in inst.notes),
        key=lambda n: (n.start, n.pitch),
    )
    if len(notes) < 8:
        return None
    starts = np.array([n.start for n in notes])
    ends = np.array([n.end for n in notes])
    pitches = np.array([n.pitch for n in notes])
    _, tempi = pm.get_tempo_changes()
    beat_s = 60.0 / float(tempi[0]) if len(tempi) else 0.5
    beats_per_bar = 4
    if pm.time_signature_changes:
        beats_per_bar = pm.time_signature_changes[0].numerator
    span_s = max(float(ends.max() - starts.min()), beat_s)
    n_bars = max(span_s / (beat_s * beats_per_bar), 1.0)

    pch = np.bincount(pitches % 12, minlength=12).astype(float)
    pch /= pch.sum()
    onsets = np.unique(np.round(starts / beat_s, 3))
    ioi = np.diff(onsets) if len(onsets) > 1 else np.array([0.0])
    lengths = (ends - starts) / beat_s
    length_hist = np.histogram(lengths, bins=LENGTH_EDGES)[0].astype(float)
    length_hist /= max(length_hist.sum(), 1.0)
    # melody-ish line for intervals: the highest note at each onset
    top = {}
    for s, p in zip(np.round(starts / beat_s, 3), pitches, strict=True):
        top[s] = max(top.get(s, 0), p)
    line = np.array([top[s] for s in sorted(top)])
    intervals = np.abs(np.diff(line)) if len(line) > 1 else np.array([0.0])
    # mean number of notes sounding at each onset (sampled for very long pieces)
    sample = starts[:: max(len(starts) // 2000, 1)]
    polyphony = float(np.mean([((starts <= t) & (ends > t)).sum() for t in sample]))
    values = {
        "pitch_class_histogram": pch,
        "used_pitches": np.array([len(np.unique(pitches))], float),
        "pitch_range": np.array([pitches.max() - pitches.min()], float),
        "pitch_interval": np.array([intervals.mean()], float),
        "note_density": np.array([len(notes) / n_bars], float),
        "inter_onset_interval": np.array([ioi.mean()], float),
        "note_length_histogram": length_hist,
        "polyphony": np.array([polyphony], float),
    }
    return PieceFeatures(
        values,
        scale_consistency(pitches),
        repetition(starts, pitches, beat_s, beats_per_bar),
    )


def scale_consistency(pitches: np.ndarray) -> float:
    """Share of notes inside the best-fitting major or natural-minor scale (max over 24 keys)."""
    counts = np.bincount(np.asarray(pitches) % 12, minlength=12)
    best = 0
    for tonic in range(12):
        for steps in (_MAJOR, _MINOR):
            best = max(best, int(counts[(tonic + steps) % 12].sum()))
    return best / max(int(counts.sum()), 1)


def repetition(starts: np.ndarray, pitches: np.ndarray, beat_s: float, beats_per_bar: int) -> float:
    """Share of bars (after the first) whose top-line pattern — (onset in 16ths, pitch relative
    to the bar's first top note) — already occurred in an earlier bar: motivic return, exact or
    transposed. The top line is the highest note at each onset."""
    bar_len = beat_s * beats_per_bar
    top: dict[tuple[int, int], int] = {}
    for s, p in zip(starts, pitches, strict=True):
        bar = int(s // bar_len)
        sixteenth = round((s - bar * bar_len) / beat_s * 4)
        top[(bar, sixteenth)] = max(top.get((bar, sixteenth), 0), int(p))
    bars: dict[int, list[tuple[int, int]]] = {}
    for (bar, sixteenth), p in sorted(top.items()):
        bars.setdefault(bar, []).append((sixteenth, p))
    seen: set[tuple] = set()
    repeats = 0
    for bar in sorted(bars):
        events = bars[bar]
        pattern = tuple((o, p - events[0][1]) for o, p in events)
        repeats += pattern in seen
        seen.add(pattern)
    return repeats / max(len(bars) - 1, 1)


def _distances(a: Sequence[np.ndarray], b: Sequence[np.ndarray] | None) -> np.ndarray:
    xa = np.stack(a)
    if b is None:
        d = np.linalg.norm(xa[:, None, :] - xa[None, :, :], axis=-1)
        return d[np.triu_indices(len(xa), k=1)]
    xb = np.stack(b)
    return np.linalg.norm(xa[:, None, :] - xb[None, :, :], axis=-1).ravel()


def overlap_area(intra: np.ndarray, inter: np.ndarray, grid_points: int = 512) -> tuple[float, float]:
    """(OA, KLD) of two distance samples via Gaussian KDEs on a shared grid."""
    from scipy.stats import gaussian_kde

    lo = float(min(intra.min(), inter.min()))
    hi = float(max(intra.max(), inter.max()))
    if hi - lo < 1e-9:
        return 1.0, 0.0
    pad = 0.1 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, grid_points)

    def density(x: np.ndarray) -> np.ndarray:
        if np.ptp(x) < 1e-9:  # a constant sample: a narrow bump
            width = (hi - lo) / 50
            pdf = np.exp(-0.5 * ((grid - x[0]) / width) ** 2)
        else:
            pdf = gaussian_kde(x)(grid)
        return pdf / np.trapezoid(pdf, grid)

    p, q = density(intra), density(inter)
    oa = float(np.trapezoid(np.minimum(p, q), grid))
    eps = 1e-10
    kld = float(np.trapezoid(p * np.log((p + eps) / (q + eps)), grid))
    return min(max(oa, 0.0), 1.0), max(kld, 0.0)


def compare_sets(
    name: str,
    generated: Iterable[PieceFeatures | None],
    reference_name: str,
    reference: Iterable[PieceFeatures | None],
) -> SetComparison:
    """Yang & Lerch OA/KLD of ``generated`` against ``reference`` for every feature."""
    gen = [f for f in generated if f is not None]
    ref = [f for f in reference if f is not None]
    if len(gen) < 2 or len(ref) < 2:
        raise ValueError(f"need at least 2 pieces per set (got {len(gen)} and {len(ref)})")
    out = SetComparison(name, reference_name, len(gen), len(ref))
    for feature in FEATURES:
        intra = _distances([f.values[feature] for f in ref], None)
        inter = _distances([f.values[feature] for f in gen], [f.values[feature] for f in ref])
        oa, kld = overlap_area(intra, inter)
        out.features.append(
            FeatureComparison(feature, oa, kld, float(intra.mean()), float(inter.mean()))
        )
    out.scale_consistency = float(np.mean([f.scale_consistency for f in gen]))
    out.repetition = float(np.mean([f.repetition for f in gen]))
    return out


def random_in_key_baseline(
    reference: pretty_midi.PrettyMIDI, seed: int, *, key_tonic: int = 0, minor: bool = False
) -> pretty_midi.PrettyMIDI:
    """The naive baseline: the same note onsets/durations, pitches drawn uniformly from the key's
    scale over the piece's pitch range — so the OA scale is readable."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    scale = (key_tonic + (_MINOR if minor else _MAJOR)) % 12
    tempi = reference.get_tempo_changes()[1]
    out = pretty_midi.PrettyMIDI(initial_tempo=float(tempi[0]) if len(tempi) else 120.0)
    for inst in reference.instruments:
        if inst.is_drum or not inst.notes:
            continue
        lo = min(n.pitch for n in inst.notes)
        hi = max(n.pitch for n in inst.notes)
        candidates = [p for p in range(lo, hi + 1) if p % 12 in scale] or [lo]
        new = pretty_midi.Instrument(program=inst.program)
        for n in inst.notes:
            pitch = int(rng.choice(candidates))
            new.notes.append(
                pretty_midi.Note(velocity=n.velocity, pitch=pitch, start=n.start, end=n.end)
            )
        out.instruments.append(new)
    return out
