"""The issue's full controllability grid: 10 styles x 7 tempi (60-180 BPM) x 12 tonics x both
modes = 1680 requests, measured from the rendered audio (tempo within 2 %, key + mode).

`vmb eval controls` takes a 240-request Latin square of this grid; this runs all of it, with
durations (8 / 12.5 / 20 s) and instrument requests (the style's first three instruments for even
tonics) assigned the same way, in two worker processes:

    .venv/bin/python benchmarks/bench_control_grid.py [--workers 2]

About 5 minutes on the 2-core machine. Prints the shares overall and by tempo, duration, style and
whether instruments were requested.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from vmb_agent.eval.controls import ControlCase, build_grid, tempo_hit
from vmb_agent.generation import style_catalog
from vmb_agent.theory import parse_key


def grid() -> list[ControlCase]:
    catalog = style_catalog()
    instruments = {style: list(names)[:3] for style, names in catalog.items()}
    return build_grid(sorted(catalog), quick=False, seed=2026, style_instruments=instruments,
                      every_tempo=True)  # fmt: skip


def run(cases: list[ControlCase]) -> list[dict]:
    from vmb_agent.generation import generate_music
    from vmb_agent.settings import get_settings
    from vmb_agent.types import GenerationOverrides

    settings = get_settings()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            overrides = GenerationOverrides(style=case.style, tempo_bpm=case.tempo_bpm,
                                            key=case.key, duration_s=case.duration_s,
                                            instruments=case.instruments)  # fmt: skip
            result = generate_music(None, [], overrides, seed=case.seed, out_dir=Path(tmp),
                                    stems=False, video_path=None, settings=settings)  # fmt: skip
            for path in (result.audio_path, result.midi_path):
                if path:
                    Path(path).unlink(missing_ok=True)
            measured_key = result.measured.key
            rows.append({
                "style": case.style, "tempo": case.tempo_bpm, "duration": case.duration_s,
                "instruments": case.instruments is not None,
                "tempo_ok": tempo_hit(result.measured.tempo_bpm, case.tempo_bpm, 0.02),
                "key_ok": measured_key is not None
                and parse_key(measured_key) == parse_key(case.key),
            })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cases = grid()
    t0 = time.perf_counter()
    shards = [cases[i :: args.workers] for i in range(args.workers)]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [row for part in pool.map(run, shards) for row in part]
    elapsed = time.perf_counter() - t0
    n = len(rows)
    tempo_ok = sum(r["tempo_ok"] for r in rows)
    key_ok = sum(r["key_ok"] for r in rows)
    print(f"full grid: {n} requests in {elapsed:.0f} s ({args.workers} workers)")
    print(f"  tempo within 2 %: {tempo_ok}/{n} = {tempo_ok / n:.1%}  (target >= 95 %)")
    print(f"  key + mode equal: {key_ok}/{n} = {key_ok / n:.1%}  (target >= 90 %)")
    for field in ("tempo", "duration", "instruments", "style"):
        groups: dict = collections.defaultdict(list)
        for r in rows:
            groups[r[field]].append(r["tempo_ok"])
        shares = ", ".join(f"{k}: {np.mean(v):.1%}" for k, v in sorted(groups.items()))
        print(f"  tempo ok by {field}: {shares}")


if __name__ == "__main__":
    main()
