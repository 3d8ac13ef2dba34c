"""Retrieval quality: a labelled query set built from the library's own metadata.

Each query has a natural-language phrasing that deliberately avoids the captions' wording
("a lively Irish dance tune" for O'Neill's collection, "something for a string quartet" for
violin+viola+cello), the structured filters an agent would pass for the same intent, and a
relevance rule over track metadata. We report precision@k, recall@k and nDCG@k (binary
relevance) for broad, targeted and dual search, and filter adherence for targeted search,
which must be 100 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmb_agent.types import SearchFilters, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.sdk import VMB

MODES = ("broad", "targeted", "dual")


@dataclass
class LabelledQuery:
    text: str
    filters: SearchFilters
    is_relevant: Callable[[TrackInfo], bool]
    label: str


def _has(track: TrackInfo, *names: str) -> bool:
    return all(n in track.instruments for n in names)


def _collection(track: TrackInfo, *needles: str) -> bool:
    hay = " ".join(filter(None, [track.collection, track.composer, track.title])).lower()
    return any(n in hay for n in needles)


def build_queries(tracks: list[TrackInfo]) -> list[LabelledQuery]:
    """Queries whose relevant set is non-empty in this library (phrased unlike captions)."""
    candidates = [
        LabelledQuery(
            "a four-part Lutheran hymn harmonised for church choir",
            SearchFilters(instruments=["choir"]),
            lambda t: _collection(t, "chorale", "bach"),
            "composer/form: Bach chorales",
        ),
        LabelledQuery(
            "a lively Irish dance tune for a session in the pub",
            SearchFilters(instruments=["fiddle"]),
            lambda t: _collection(t, "o'neill", "oneill", "ryan", "irish"),
            "collection: Irish dance tunes",
        ),
        LabelledQuery(
            "a simple old German village song",
            SearchFilters(),
            lambda t: _collection(t, "essen", "german", "folk"),
            "collection: Essen folk songs",
        ),
        LabelledQuery(
            "sacred vocal polyphony from the sixteenth century",
            SearchFilters(instruments=["choir"]),
            lambda t: _collection(t, "palestrina", "renaissance", "josquin", "monteverdi"),
            "era: Renaissance polyphony",
        ),
        LabelledQuery(
            "chamber music for two violins, viola and cello",
            SearchFilters(instruments=["violin", "viola", "cello"]),
            lambda t: _has(t, "violin", "viola", "cello"),
            "instrumentation: string quartet",
        ),
        LabelledQuery(
            "a sad, slow melody in a minor key",
            SearchFilters(mode="minor", tempo_max=90),
            lambda t: bool(t.key and t.key.endswith("minor") and (t.tempo_bpm or 999) <= 90),
            "mode+tempo: slow minor",
        ),
        LabelledQuery(
            "a brisk, cheerful tune in a major key",
            SearchFilters(mode="major", tempo_min=110),
            lambda t: bool(t.key and t.key.endswith("major") and (t.tempo_bpm or 0) >= 110),
            "mode+tempo: fast major",
        ),
        LabelledQuery(
            "something to waltz to, in three",
            SearchFilters(),
            lambda t: (t.time_signature or "").startswith("3/"),
            "meter: triple",
        ),
    ]
    for key in ("D minor", "G major", "F major", "A minor"):
        candidates.append(
            LabelledQuery(
                f"a piece whose home key is {key}",
                SearchFilters(key=key),
                lambda t, key=key: t.key == key,
                f"key: {key}",
            )
        )
    return [q for q in candidates if any(q.is_relevant(t) for t in tracks)]


def ndcg_at_k(relevance: list[bool], n_relevant: int, k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(relevance[:k]) if rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_relevant, k)))
    return dcg / ideal if ideal else 0.0


def violates(track: TrackInfo, f: SearchFilters) -> list[str]:
    """Which of the filters ``track`` breaks (empty list = adheres)."""
    broken = []
    if f.tempo_min is not None and (track.tempo_bpm is None or track.tempo_bpm < f.tempo_min):
        broken.append("tempo_min")
    if f.tempo_max is not None and (track.tempo_bpm is None or track.tempo_bpm > f.tempo_max):
        broken.append("tempo_max")
    if f.key is not None:
        from vmb_agent.theory import parse_key

        wanted = f.key.strip()
        has_mode = any(w in wanted.lower() for w in ("maj", "min")) or wanted.endswith("m")
        if has_mode and track.key != parse_key(wanted).name:
            broken.append("key")
        if not has_mode and (track.key or "").split(" ")[0] != parse_key(wanted).name.split(" ")[0]:
            broken.append("key")
    if f.mode is not None and not (track.key or "").endswith(f.mode):
        broken.append("mode")
    if any(i not in track.instruments for i in f.instruments):
        broken.append("instruments")
    if f.genre is not None and f.genre not in track.genres:
        broken.append("genre")
    if f.mood is not None and f.mood not in track.moods:
        broken.append("mood")
    if f.duration_min is not None and track.duration_s < f.duration_min:
        broken.append("duration_min")
    if f.duration_max is not None and track.duration_s > f.duration_max:
        broken.append("duration_max")
    return broken


def evaluate_retrieval(vmb: VMB, *, ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """Run every labelled query in every mode; returns metrics per mode and k."""
    tracks = vmb.list_tracks(limit=100000)
    queries = build_queries(tracks)
    k_max = max(ks)
    per_mode: dict[str, dict[str, float]] = {}
    rows = []
    adherence_total = adherence_ok = 0
    for mode in MODES:
        sums = {f"{m}@{k}": 0.0 for k in ks for m in ("precision", "recall", "ndcg")}
        for q in queries:
            relevant_ids = {t.id for t in tracks if q.is_relevant(t)}
            result = vmb.search(
                q.text, mode=mode, filters=q.filters if mode != "broad" else None, k=k_max
            )
            rel = [m.id in relevant_ids for m in result.matches]
            for k in ks:
                hits = sum(rel[:k])
                sums[f"precision@{k}"] += hits / k
                sums[f"recall@{k}"] += hits / len(relevant_ids)
                sums[f"ndcg@{k}"] += ndcg_at_k(rel, len(relevant_ids), k)
            if mode == "targeted":
                for m in result.matches:
                    adherence_total += 1
                    adherence_ok += not violates(m.track, q.filters)
            rows.append(
                {
                    "mode": mode,
                    "query": q.label,
                    "relevant": len(relevant_ids),
                    f"hits@{k_max}": sum(rel),
                    f"ndcg@{k_max}": round(ndcg_at_k(rel, len(relevant_ids), k_max), 3),
                }
            )
        per_mode[mode] = {name: total / max(len(queries), 1) for name, total in sums.items()}
    return {
        "queries": len(queries),
        "tracks": len(tracks),
        "per_mode": per_mode,
        "filter_adherence": adherence_ok / adherence_total if adherence_total else 1.0,
        "targeted_results_checked": adherence_total,
        "rows": rows,
    }
