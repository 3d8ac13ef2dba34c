"""Library benchmarks: audio ingest speed, corpus build time, warm query latency at scale.

    .venv/bin/python benchmarks/bench_library.py                  # everything (several minutes)
    .venv/bin/python benchmarks/bench_library.py --skip-build --sizes 10000
    .venv/bin/python benchmarks/bench_library.py --only build --build-size 500

Prints the figures, wall time and CPU time (this process + its worker processes, so a busy
machine shows as wall >> CPU / cores); targets: ingest >= 30x real time (issue 3), build of 500
pieces <= 120 s on 2 cores (issue 14) and a resumed build (nothing left to do) in seconds, query
p95 (warm, embedding included) <= 50 ms at 10,000 tracks and <= 150 ms at 100,000 (issue 3).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from vmb_agent.library import Library
from vmb_agent.library.synthetic import INSTRUMENTS, fill_library
from vmb_agent.settings import Settings
from vmb_agent.types import SearchFilters

T = TypeVar("T")


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds so far: this process, and its finished worker processes."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, workers.ru_utime + workers.ru_stime


def timed(run: Callable[[], T]) -> tuple[T, float, float, float]:
    """``(result, wall s, CPU s of this process, CPU s of workers)`` for ``run()``."""
    mine, theirs = cpu_seconds()
    started = time.perf_counter()
    result = run()
    wall = time.perf_counter() - started
    mine_after, theirs_after = cpu_seconds()
    return result, wall, mine_after - mine, theirs_after - theirs


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def bench_ingest(n_files: int = 12, seconds: float = 30.0) -> None:
    """Render corpus pieces to WAV/MP3 and time ``Library.add`` (after a warm-up file)."""
    import soundfile

    from vmb_agent.library.corpus import piece_to_midi, select_pieces
    from vmb_agent.library.midi import load_midi
    from vmb_agent.rendering.synth import render_midi

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "music").mkdir()
        total_audio = 0.0
        for i, ref in enumerate(select_pieces(n_files + 1)):
            piece = piece_to_midi(ref, tmp)
            pm = load_midi(piece.midi_path)
            audio = render_midi(pm, sample_rate=44100)[: int(seconds * 44100)]
            fmt = "MP3" if i % 3 == 2 else "WAV"
            target = (root / "warmup.wav") if i == 0 else \
                root / "music" / f"piece{i}.{fmt.lower()}"
            soundfile.write(target, audio, 44100, format=fmt)
            if i:
                total_audio += len(audio) / 44100
        from vmb_agent.library.ingest import expand_paths, ingest_files
        from vmb_agent.types import IngestReport

        library = Library(Settings(home=root / "home"))
        library.add([root / "warmup.wav"])  # loads the embedder, Chroma, scipy
        report, elapsed, mine, theirs = timed(lambda: library.add([root / "music"]))
        assert len(report.added) == n_files, report.failed
        print(f"ingest, one core (Library.add): {n_files} files (WAV + MP3), "
              f"{total_audio:.0f} s of audio in {elapsed:.2f} s = {total_audio / elapsed:.0f}x real time (target "
              f">= 30x); CPU {mine + theirs:.1f} s; {load()}")
        parallel = Library(Settings(home=root / "home-parallel"))
        parallel.add([root / "warmup.wav"])
        files, _ = expand_paths([root / "music"])
        report, elapsed, mine, theirs = timed(
            lambda: ingest_files(parallel, files, IngestReport(), tags={}))
        assert len(report.added) == n_files, report.failed
        print(f"ingest, ingest_files (a pool from 4 cores): {total_audio / elapsed:.0f}x real time in "
              f"{elapsed:.2f} s; CPU {mine:.1f} s here + {theirs:.1f} s in workers; {load()}")


def bench_build(size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Settings(home=Path(tmp)))
        started_load = load()
        report, elapsed, mine, theirs = timed(lambda: library.build(size=size))
        stats = library.stats()
        print(f"build: {size} pieces in {elapsed:.1f} s ({len(report.added)} added, "
              f"{len(report.failed)} failed; target <= 120 s for 500 on 2 cores); CPU "
              f"{mine:.1f} s here + {theirs:.1f} s in workers; {started_load} at the start, "
              f"{load()} at the end")
        print(f"  collections: {stats.by_collection}")
        print(f"  total music: {stats.total_duration_s / 3600:.1f} h")
        again, elapsed, _, _ = timed(lambda: library.build(size=size))
        print(f"  build again (resumed, nothing to do): {elapsed:.1f} s, "
              f"{len(again.unchanged)} already there")


def bench_queries(size: int, n_queries: int = 60) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Settings(home=Path(tmp)))
        started = time.perf_counter()
        fill_library(library, size, seed=size)
        print(f"queries at {size:,} tracks (inserted in {time.perf_counter() - started:.0f} s):")
        started = time.perf_counter()
        library.search(query="warm up the embedder", k=10)
        library.search(mode="targeted", filters=SearchFilters(tempo_min=90), k=10)
        print(f"  first queries (load the embedder, build the attribute index): "
              f"{time.perf_counter() - started:.1f} s")
        cases = {
            "broad": lambda i: library.search(
                query=f"calm piano piece for a rainy evening number {i}", mode="broad", k=10),
            "targeted": lambda i: library.search(
                mode="targeted", k=10, filters=SearchFilters(
                    tempo_min=80 + i % 40, tempo_max=120 + i % 40, mode="minor",
                    instruments=[INSTRUMENTS[i % len(INSTRUMENTS)]])),
            "dual": lambda i: library.search(
                query=f"bright folk dance on fiddle and flute {i}", mode="dual", k=10,
                filters=SearchFilters(tempo_min=90, tempo_max=140)),
            "dual (no filters)": lambda i: library.search(
                query=f"dark cinematic strings, slow build {i}", mode="dual", k=10),
        }
        for name, run in cases.items():
            latencies = []
            for i in range(n_queries):
                t0 = time.perf_counter()
                run(i)
                latencies.append((time.perf_counter() - t0) * 1000)
            p50, p95 = np.percentile(latencies, [50, 95])
            print(f"  {name:<18} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
        library.close()


def main() -> None:  # the worker processes import this module: keep work under __main__
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["ingest", "build", "query"])
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--build-size", type=int, default=500)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    if args.only in (None, "ingest"):
        bench_ingest()
    if args.only in (None, "build") and not args.skip_build:
        bench_build(args.build_size)
    if args.only in (None, "query"):
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            bench_queries(size)


if __name__ == "__main__":
    main()
