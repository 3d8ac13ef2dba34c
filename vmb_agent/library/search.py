"""Dual-track music retrieval (arXiv 2412.09428): broad (theme), targeted (attributes), dual (fused).

* broad: cosine similarity between the query embedding (free text, or a description's prose plus
  a summary of its attributes) and the track caption embeddings.
* targeted: the constraints select candidates (an in-memory attribute index evaluates them with
  numpy -- Chroma's own ``where`` evaluation costs ~0.8 s at 100,000 tracks -- and Chroma is
  asked only about those ids; the equivalent ``where`` clause is the fallback), every match is
  re-checked against the constraints, and matches are ranked by closeness to the centre of each
  requested range. A constraint nothing meets gives fewer or no matches and a note.
* dual: reciprocal rank fusion (k=60) of both lists. Hard filters, when given, bind both tracks;
  without filters, soft targets are derived from the description (tempo +-15 %, mode,
  instruments) and relaxed one by one if nothing meets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vmb_agent.errors import InputError, OutOfRangeError
from vmb_agent.theory import Key, normalize_instrument, parse_key
from vmb_agent.types import (
    MusicDescription,
    SearchFilters,
    SearchMode,
    SearchResult,
    TrackInfo,
    TrackMatch,
)

RRF_K = 60
# Up to this many filtered candidates are handed to Chroma as an id list; beyond it the filter
# is loose enough that the nearest neighbours mostly pass it.
MAX_CANDIDATE_IDS = 20000


@dataclass
class Constraints:
    """Validated, normalised filters."""

    tempo_min: float | None = None
    tempo_max: float | None = None
    key: Key | None = None  # exact key
    tonic: int | None = None  # tonic only (either mode)
    mode: str | None = None
    instruments: list[str] = field(default_factory=list)
    genre: str | None = None
    mood: str | None = None
    duration_min: float | None = None
    duration_max: float | None = None

    def is_empty(self) -> bool:
        return where_clause(self) is None


def validate_filters(filters: SearchFilters) -> Constraints:
    """Check and normalise filters; one-line errors naming the bad value."""
    c = Constraints()
    if filters.tempo_min is not None and filters.tempo_max is not None \
            and filters.tempo_min > filters.tempo_max:
        raise OutOfRangeError(
            f"tempo range {filters.tempo_min:g}-{filters.tempo_max:g} is inverted; "
            "give MIN-MAX with MIN <= MAX (30-300 BPM)."
        )
    if filters.duration_min is not None and filters.duration_max is not None \
            and filters.duration_min > filters.duration_max:
        raise OutOfRangeError(
            f"duration range {filters.duration_min:g}-{filters.duration_max:g} is inverted; "
            "give MIN-MAX seconds with MIN <= MAX."
        )
    c.tempo_min, c.tempo_max = filters.tempo_min, filters.tempo_max
    c.duration_min, c.duration_max = filters.duration_min, filters.duration_max
    if filters.key:
        try:
            c.key = parse_key(filters.key, default_mode=None)
        except InputError:
            c.tonic = parse_key(filters.key).tonic  # bare tonic: either mode (or bad -> error)
    c.mode = filters.mode
    if c.key is not None and c.mode is not None and c.key.mode != c.mode:
        raise OutOfRangeError(
            f"key {c.key.name!r} contradicts mode {c.mode!r}; give one or make them agree."
        )
    c.instruments = list(dict.fromkeys(normalize_instrument(i) for i in filters.instruments))
    c.genre = filters.genre.strip().lower() if filters.genre and filters.genre.strip() else None
    c.mood = filters.mood.strip().lower() if filters.mood and filters.mood.strip() else None
    return c


def where_clause(c: Constraints) -> dict[str, Any] | None:
    """The Chroma ``where`` filter for the constraints (``None`` when unconstrained)."""
    terms: list[dict[str, Any]] = []
    if c.tempo_min is not None:
        terms.append({"tempo_bpm": {"$gte": float(c.tempo_min)}})
    if c.tempo_max is not None:
        terms.append({"tempo_bpm": {"$lte": float(c.tempo_max)}})
    if c.duration_min is not None:
        terms.append({"duration_s": {"$gte": float(c.duration_min)}})
    if c.duration_max is not None:
        terms.append({"duration_s": {"$lte": float(c.duration_max)}})
    if c.key is not None:
        terms.append({"key": c.key.name})
    if c.tonic is not None:
        terms.append({"key_tonic": c.tonic})
    if c.mode is not None:
        terms.append({"mode": c.mode})
    for name in c.instruments:
        terms.append({"instruments": {"$contains": name}})
    if c.genre:
        terms.append({"genres": {"$contains": c.genre}})
    if c.mood:
        terms.append({"moods": {"$contains": c.mood}})
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}


def satisfies(track: TrackInfo, c: Constraints) -> bool:
    """Python re-check of every constraint (the property test's oracle too)."""
    if c.tempo_min is not None and (track.tempo_bpm is None or track.tempo_bpm < c.tempo_min):
        return False
    if c.tempo_max is not None and (track.tempo_bpm is None or track.tempo_bpm > c.tempo_max):
        return False
    if c.duration_min is not None and track.duration_s < c.duration_min:
        return False
    if c.duration_max is not None and track.duration_s > c.duration_max:
        return False
    key = parse_key(track.key) if track.key else None
    if (c.key is not None or c.tonic is not None or c.mode is not None) and key is None:
        return False
    if c.key is not None and key != c.key:
        return False
    if c.tonic is not None and key is not None and key.tonic != c.tonic:
        return False
    if c.mode is not None and key is not None and key.mode != c.mode:
        return False
    instruments = {i.lower() for i in track.instruments}
    if any(i not in instruments for i in c.instruments):
        return False
    if c.genre and c.genre not in {g.lower() for g in track.genres}:
        return False
    return not (c.mood and c.mood not in {m.lower() for m in track.moods})


def describe_constraints(c: Constraints) -> str:
    parts = []
    if c.tempo_min is not None or c.tempo_max is not None:
        parts.append(f"tempo {_fmt(c.tempo_min, '30')}-{_fmt(c.tempo_max, '300')} BPM")
    if c.key is not None:
        parts.append(f"key {c.key.name}")
    if c.tonic is not None:
        parts.append(f"tonic {Key(c.tonic, 'major').name.split()[0]}")
    if c.mode:
        parts.append(f"mode {c.mode}")
    if c.instruments:
        parts.append("instruments " + " + ".join(c.instruments))
    if c.genre:
        parts.append(f"genre {c.genre}")
    if c.mood:
        parts.append(f"mood {c.mood}")
    if c.duration_min is not None or c.duration_max is not None:
        parts.append(f"duration {_fmt(c.duration_min, '0')}-{_fmt(c.duration_max, '...')} s")
    return ", ".join(parts)


def _fmt(value: float | None, default: str) -> str:
    return default if value is None else f"{value:g}"


def closeness(track: TrackInfo, c: Constraints) -> float:
    """0-1: how near the track sits to the centre of each requested numeric range (key, mode,
    instruments, genre and mood either match or the track is filtered out, so they add nothing)."""
    scores = []
    for value, low, high in ((track.tempo_bpm, c.tempo_min, c.tempo_max),
                             (track.duration_s, c.duration_min, c.duration_max)):
        if value is None or (low is None and high is None):
            continue
        if low is not None and high is not None:
            centre, half = (low + high) / 2, max((high - low) / 2, 1e-6)
            scores.append(max(0.0, 1.0 - abs(value - centre) / (2 * half)))
        else:
            bound = low if low is not None else high
            scores.append(1.0 / (1.0 + abs(value - bound) / max(bound, 1.0)))
    return float(np.mean(scores)) if scores else 1.0


def _matched(what: str, name: str, tagged: float | None, verb: str = "") -> str:
    """'genre jazz matches', or where the name came from the audio tagger, say so."""
    if tagged is not None:
        return f"tagged {name} {tagged:.2f} by the audio tagger"
    return f"{what} {name}" + (f" {verb}" if verb else "")


def reasons_for(track: TrackInfo, c: Constraints, similarity: float | None) -> list[str]:
    reasons = []
    if c.tempo_min is not None or c.tempo_max is not None:
        reasons.append(f"tempo {track.tempo_bpm:.0f} within "
                       f"{_fmt(c.tempo_min, '30')}–{_fmt(c.tempo_max, '300')}"
                       if track.tempo_bpm is not None else "tempo unknown")
    if c.key is not None:
        reasons.append(f"key {track.key} matches")
    else:
        if c.tonic is not None:
            reasons.append(f"tonic {Key(c.tonic, 'major').name.split()[0]} matches ({track.key})")
        if c.mode is not None:
            reasons.append(f"mode {c.mode} matches ({track.key})")
    from vmb_agent.library.recording import heard_names

    heard = heard_names(track)
    for name in c.instruments:
        reasons.append(_matched("instruments include", name, heard.get(("instrument", name))))
    if c.genre:
        reasons.append(_matched("genre", c.genre, heard.get(("genre", c.genre)), "matches"))
    if c.mood:
        reasons.append(_matched("mood", c.mood, heard.get(("mood", c.mood)), "matches"))
    if c.duration_min is not None or c.duration_max is not None:
        reasons.append(f"duration {track.duration_s:.0f} s within "
                       f"{_fmt(c.duration_min, '0')}–{_fmt(c.duration_max, '...')} s")
    if similarity is not None:
        reasons.append(f"theme similarity {similarity:.2f}")
    return reasons


def description_query_text(description: MusicDescription) -> str:
    """Prose of the text bridge plus a compact summary of its attributes, for embedding."""
    a = description.attributes
    summary = []
    if a.moods:
        summary.append(", ".join(a.moods))
    if a.genres:
        summary.append(", ".join(a.genres))
    if a.key:
        summary.append(f"in {a.key}")
    if a.tempo_bpm:
        summary.append(f"at {a.tempo_bpm:.0f} BPM")
    if a.instruments:
        summary.append("with " + ", ".join(a.instruments))
    return (" ".join(summary) + ". " + description.text).strip()


def soft_constraints(description: MusicDescription | None) -> list[Constraints]:
    """Targets derived from a description, from strictest to loosest (relaxed in this order:
    instruments, then mode, then tempo)."""
    if description is None:
        return []
    a = description.attributes
    base = Constraints()
    if a.tempo_bpm:
        base.tempo_min, base.tempo_max = round(a.tempo_bpm * 0.85, 1), round(a.tempo_bpm * 1.15, 1)
    if a.key:
        try:
            base.mode = parse_key(a.key).mode
        except InputError:
            base.mode = None
    instruments = []
    for name in a.instruments:
        try:
            instruments.append(normalize_instrument(name))
        except InputError:  # a description may name instruments we cannot filter on
            pass
    base.instruments = list(dict.fromkeys(instruments))[:2]
    levels = [base]
    if base.instruments:
        levels.append(Constraints(base.tempo_min, base.tempo_max, mode=base.mode))
    if base.mode:
        levels.append(Constraints(base.tempo_min, base.tempo_max))
    return [lv for lv in levels if not lv.is_empty()]


def fuse(rankings: list[list[str]]) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (60 + rank) over the lists a track appears in."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, track_id in enumerate(ranking, start=1):
            scores[track_id] = scores.get(track_id, 0.0) + 1.0 / (RRF_K + rank)
    return scores


def run_search(store: Any, embed: Any, *, query: str | None,
               description: MusicDescription | None, mode: SearchMode,
               filters: SearchFilters, k: int) -> SearchResult:
    """The three retrieval modes over a :class:`~vmb_agent.library.store.TrackStore`."""
    c = validate_filters(filters)
    where = where_clause(c)
    text = (query or "").strip()
    if description is not None:
        text = (text + " " + description_query_text(description)).strip()
    notes: list[str] = []
    result = SearchResult(mode=mode, query=text, filters=filters)
    if store.count() == 0:
        result.notes.append("the library is empty; run `vmb library build` or `vmb library add`.")
        return result
    if mode == "dual" and not text and where is None:
        raise OutOfRangeError(
            "search needs something to search for: a query text, a description, or a filter "
            "(tempo, key, mode, instruments, genre, mood, duration)."
        )
    if mode in ("broad", "dual") and not text:
        if mode == "broad":
            raise OutOfRangeError("broad search needs a query text or a description.")
        mode_used = "targeted"
        notes.append("no query text or description: only the targeted track ran.")
    else:
        mode_used = mode
    if mode_used == "targeted" and where is None and not text:
        raise OutOfRangeError(
            "targeted search needs at least one filter (tempo, key, mode, instruments, genre, "
            "mood, duration) or a query."
        )

    embedding = embed(text) if text else None
    similarity: dict[str, float] = {}
    tracks: dict[str, TrackInfo] = {}

    loaded: list[Any] = []

    def attribute_index() -> Any:  # one freshness check per search
        if not loaded:
            loaded.append(store.attribute_index())
        return loaded[0]

    def candidate_rows(constraints: Constraints) -> np.ndarray:
        return np.flatnonzero(attribute_index().mask(constraints))

    def semantic(n: int, constraints: Constraints | None) -> list[str]:
        """Nearest tracks by theme, among those meeting ``constraints``."""
        if constraints is None or constraints.is_empty():
            hits = store.query(embedding, n=n, where=None)
        else:
            rows = candidate_rows(constraints)
            if len(rows) == 0:
                return []
            if len(rows) <= MAX_CANDIDATE_IDS:
                ids = list(attribute_index().ids[rows])
                hits = store.query(embedding, n=n, where=None, ids=ids)
            else:  # a loose filter: probe enough nearest neighbours that ~2.5 n pass it
                # (Chroma's row-by-row `where` below costs ~0.4 s at 100k tracks: a last resort)
                fraction = len(rows) / max(len(attribute_index().ids), 1)
                probe = min(max(4 * n, 200, int(2.5 * n / fraction)), 5000)
                hits = [h for h in store.query(embedding, n=probe, where=None)
                        if satisfies(h[0], constraints)]
                if len(hits) < n:
                    hits = store.query(embedding, n=n, where=where_clause(constraints))
            hits = [h for h in hits if satisfies(h[0], constraints)]
        for track, sim in hits:
            tracks[track.id] = track
            similarity[track.id] = sim
        return [t.id for t, _ in hits]

    def targeted(constraints: Constraints, n: int) -> list[str]:
        """Tracks meeting ``constraints``, closest to the requested values first."""
        if embedding is not None:  # candidates by theme, then ranked by closeness
            found = [tracks[tid] for tid in semantic(max(n, 50), constraints)]
        else:  # rank every candidate by closeness in the index, fetch only the best
            index = attribute_index()
            rows = candidate_rows(constraints)
            scores = index.closeness(rows, constraints)
            best = rows[np.argsort(-scores, kind="stable")[: n * 2]]
            found = [t for t in store.get_many(list(index.ids[best]))
                     if satisfies(t, constraints)]
            for t in found:
                tracks[t.id] = t
        found.sort(key=lambda t: (-closeness(t, constraints), -similarity.get(t.id, 0.0), t.id))
        return [t.id for t in found[:n]]

    applied = c
    if mode_used == "broad":
        ranked = semantic(k, c)
        scores = {tid: similarity[tid] for tid in ranked}
    elif mode_used == "targeted":
        ranked = targeted(c, k)
        scores = {tid: closeness(tracks[tid], c) for tid in ranked}
    else:  # dual
        if where is not None:
            # One Chroma query serves both lists: the theme-nearest tracks that meet the
            # filters, ranked once by similarity (broad) and once by closeness (targeted).
            target_ids = targeted(c, k * 3)
            broad_ids = sorted(similarity, key=lambda tid: (-similarity[tid], tid))[: k * 3]
        else:
            broad_ids = semantic(k * 3, None)
            target_ids = []
            for level, soft in enumerate(soft_constraints(description)):
                target_ids = targeted(soft, k * 3)
                if target_ids:
                    applied = soft
                    if level > 0:
                        notes.append(f"no track met all the description's targets; relaxed to "
                                     f"{describe_constraints(soft)}.")
                    break
            if not target_ids and soft_constraints(description):
                applied = Constraints()
                notes.append("no track met the description's tempo/mode targets; "
                             "ranked by theme only.")
        fused = fuse([broad_ids, target_ids])
        ranked = sorted(fused, key=lambda tid: (-fused[tid], tid))[:k]
        scores = {tid: fused[tid] * RRF_K / 2 for tid in ranked}  # 1.0 = first in both lists

    if where is not None:
        ranked = [tid for tid in ranked if satisfies(tracks[tid], c)]
        if len(ranked) < k:
            notes.append(
                f"only {len(ranked)} track(s) meet {describe_constraints(c)}"
                if ranked else f"no track meets {describe_constraints(c)}; relax a constraint."
            )
    for tid in ranked:
        track = tracks[tid]
        constraints = applied if mode_used != "broad" else c
        if satisfies(track, constraints):
            reasons = reasons_for(track, constraints, similarity.get(tid))
        else:  # a theme match from the broad list that misses the description's soft targets
            reasons = reasons_for(track, Constraints(), similarity.get(tid))
            reasons.append(f"outside the soft targets ({describe_constraints(constraints)})")
        result.matches.append(TrackMatch(
            id=tid, title=track.title, path=track.path, score=round(float(scores[tid]), 4),
            track=track, reasons=reasons,
        ))
    result.notes = notes
    return result
