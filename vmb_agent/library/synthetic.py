"""Synthetic library tracks for scaling measurements (benchmarks and ``vmb eval speed``).

Random but plausible metadata and unit-norm random embeddings, inserted straight into the store:
the point is to measure query latency at 10k-100k tracks without ingesting real files.
"""

from __future__ import annotations

import numpy as np

from vmb_agent.types import TrackInfo

KEYS = ["C major", "G major", "D major", "A major", "E minor", "A minor", "D minor", "F major",
        "Bb major", "B minor", "F# minor", "Eb major"]  # fmt: skip
INSTRUMENTS = ["piano", "violin", "cello", "flute", "choir", "drums", "harp", "acoustic guitar",
               "organ", "strings", "trumpet", "clarinet"]  # fmt: skip
GENRES = ["folk", "baroque", "ambient", "celtic", "classical", "cinematic", "jazz", "pop"]
MOODS = ["calm", "happy", "melancholic", "tense", "warm", "dramatic"]


def synthetic_batch(
    start: int, n: int, rng: np.random.Generator, dim: int = 384
) -> tuple[list[TrackInfo], np.ndarray]:
    """``n`` tracks with ids ``start..start+n`` (hex) and their embeddings, shape (n, dim)."""
    tracks = []
    for i in range(start, start + n):
        instruments = list(rng.choice(INSTRUMENTS, int(rng.integers(1, 4)), replace=False))
        tracks.append(
            TrackInfo(
                id=f"{i:016x}", title=f"synthetic {i}", path=f"/synthetic/{i}.mid", format="midi",
                duration_s=float(rng.uniform(20, 400)), tempo_bpm=float(rng.uniform(50, 190)),
                key=KEYS[int(rng.integers(0, len(KEYS)))], instruments=instruments,
                genres=[GENRES[int(rng.integers(0, len(GENRES)))]],
                moods=[MOODS[int(rng.integers(0, len(MOODS)))]], caption=f"synthetic track {i}",
            )
        )
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return tracks, vectors


def fill_library(library: object, size: int, *, seed: int = 0, batch: int = 2500) -> None:
    """Upsert ``size`` synthetic tracks into ``library`` (a :class:`~vmb_agent.library.Library`)."""
    rng = np.random.default_rng(seed)
    for start in range(0, size, batch):
        tracks, vectors = synthetic_batch(start, min(batch, size - start), rng)
        library.store.upsert(tracks, vectors)  # type: ignore[attr-defined]
