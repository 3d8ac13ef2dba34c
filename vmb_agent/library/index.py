"""A columnar, in-memory copy of the filterable track metadata, for fast targeted search at scale.

Chroma evaluates ``where`` filters row by row in SQLite: ~60 ms at 10,000 tracks but ~0.8 s at
100,000. This index evaluates the same constraints with numpy in about a millisecond and hands
Chroma the candidate ids (plus the ``where`` filter, which stays the authority). It is rebuilt
lazily when the store changes (a write here or in another process, or a different track count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library.search import Constraints

FIELDS = ("tempo_bpm", "duration_s", "key_tonic", "mode", "instruments", "genres", "moods")
_MODES = {"major": 0, "minor": 1}


@dataclass
class AttributeIndex:
    ids: np.ndarray  # object array of track ids
    tempo: np.ndarray  # float, NaN when unknown
    duration: np.ndarray
    tonic: np.ndarray  # int, -1 when unknown
    mode: np.ndarray  # 0 major, 1 minor, -1 unknown
    tags: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # field -> name -> mask
    generation: Any = None
    alive: np.ndarray | None = None  # False for rows removed since the build

    @classmethod
    def build(cls, rows: Iterable[tuple[str, dict[str, Any]]], generation: Any) -> AttributeIndex:
        ids, tempo, duration, tonic, mode = [], [], [], [], []
        members: dict[str, dict[str, list[int]]] = {"instruments": {}, "genres": {}, "moods": {}}
        for row, (track_id, meta) in enumerate(rows):
            ids.append(track_id)
            tempo.append(meta.get("tempo_bpm") if meta.get("tempo_bpm") is not None else np.nan)
            duration.append(meta.get("duration_s") or 0.0)
            tonic.append(meta.get("key_tonic") if meta.get("key_tonic") is not None else -1)
            mode.append(_MODES.get(meta.get("mode") or "", -1))
            for name, by_value in members.items():
                for value in meta.get(name) or ():
                    by_value.setdefault(value, []).append(row)
        n = len(ids)
        tags: dict[str, dict[str, np.ndarray]] = {}
        for name, by_value in members.items():
            tags[name] = {}
            for value, rows_with in by_value.items():
                mask = np.zeros(n, dtype=bool)
                mask[rows_with] = True
                tags[name][value] = mask
        return cls(
            ids=np.array(ids, dtype=object),
            tempo=np.array(tempo, dtype=np.float64),
            duration=np.array(duration, dtype=np.float64),
            tonic=np.array(tonic, dtype=np.int16),
            mode=np.array(mode, dtype=np.int8),
            tags=tags,
            generation=generation,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Append tracks written by this process (cheaper than a rebuild at 100,000 tracks)."""
        new = AttributeIndex.build(rows, self.generation)
        n_old, n_new = len(self), len(new)
        for name in ("ids", "tempo", "duration", "tonic", "mode"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(new, name)]))
        for name in set(self.tags) | set(new.tags):
            old_masks, new_masks = self.tags.get(name, {}), new.tags.get(name, {})
            self.tags[name] = {
                value: np.concatenate([old_masks.get(value, np.zeros(n_old, dtype=bool)),
                                       new_masks.get(value, np.zeros(n_new, dtype=bool))])
                for value in set(old_masks) | set(new_masks)
            }
        if self.alive is not None:
            self.alive = np.concatenate([self.alive, np.ones(n_new, dtype=bool)])

    def remove(self, track_id: str) -> None:
        if self.alive is None:
            self.alive = np.ones(len(self), dtype=bool)
        self.alive[self.ids == track_id] = False

    def mask(self, c: Constraints) -> np.ndarray:
        """Rows that meet every constraint (NaN tempos fail any tempo bound)."""
        keep = np.ones(len(self), dtype=bool) if self.alive is None else self.alive.copy()
        with np.errstate(invalid="ignore"):
            if c.tempo_min is not None:
                keep &= self.tempo >= c.tempo_min
            if c.tempo_max is not None:
                keep &= self.tempo <= c.tempo_max
        if c.duration_min is not None:
            keep &= self.duration >= c.duration_min
        if c.duration_max is not None:
            keep &= self.duration <= c.duration_max
        if c.key is not None:
            keep &= (self.tonic == c.key.tonic) & (self.mode == _MODES[c.key.mode])
        if c.tonic is not None:
            keep &= self.tonic == c.tonic
        if c.mode is not None:
            keep &= self.mode == _MODES[c.mode]
        for name, values in (("instruments", c.instruments), ("genres", [c.genre] if c.genre
                             else []), ("moods", [c.mood] if c.mood else [])):
            for value in values:
                column = self.tags[name].get(value)
                if column is None:
                    return np.zeros(len(self), dtype=bool)
                keep &= column
        return keep

    def closeness(self, rows: np.ndarray, c: Constraints) -> np.ndarray:
        """Vectorised :func:`search.closeness` for the given rows."""
        scores = []
        for values, low, high in ((self.tempo[rows], c.tempo_min, c.tempo_max),
                                  (self.duration[rows], c.duration_min, c.duration_max)):
            if low is None and high is None:
                continue
            if low is not None and high is not None:
                centre, half = (low + high) / 2, max((high - low) / 2, 1e-6)
                scores.append(np.maximum(0.0, 1.0 - np.abs(values - centre) / (2 * half)))
            else:
                bound = low if low is not None else high
                scores.append(1.0 / (1.0 + np.abs(values - bound) / max(bound, 1.0)))
        if not scores:
            return np.ones(len(rows))
        return np.nan_to_num(np.mean(scores, axis=0), nan=0.0)
