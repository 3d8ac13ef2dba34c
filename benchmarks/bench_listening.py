"""Listening with numbers (issue 11): form, melody and mix per style, against the corpus.

    python benchmarks/bench_listening.py [--durations 30,90] [--seeds 2] [--corpus 40] [--plot DIR]

For every style and duration: bar repetition share, melody step share and chromatic share
(symbolic, `vmb_agent.eval.listening`), loudness range, stem spread and DC offset of the written
WAV and stems. The corpus row measures the same symbolic figures on music21 pieces (folk songs,
reels, chorales; repeats not expanded). Targets: repetition >= 0.5; steps 55-80 %; LRA >= 4 LU
(pop, rock, electronic, lofi, chiptune) or >= 6 LU (cinematic, ambient, piano, folk; pieces
>= 60 s); stems within 12 dB; |DC| <= 0.001.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDE_LRA = {"cinematic", "ambient", "piano", "folk"}


def corpus_rows(n: int) -> dict[str, float]:
    import pretty_midi

    from vmb_agent.eval.listening import interval_shares, melody_line, repetition_share
    from vmb_agent.library.corpus import piece_to_midi, select_pieces
    from vmb_agent.library.midi import analyze_midi

    reps, steps, chrom = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for ref in select_pieces(n * 2):
            try:
                piece = piece_to_midi(ref, tmp)
            except Exception:  # noqa: BLE001, S112 - some corpus files do not parse
                continue
            pm = pretty_midi.PrettyMIDI(piece.midi_path)
            line = melody_line(pm)
            if len(line) < 16:
                continue
            info = analyze_midi(pm)
            key = info.key or "C major"
            from vmb_agent.theory import parse_key

            k = parse_key(key)
            s, c = interval_shares(line, k.tonic, k.mode == "minor")
            reps.append(repetition_share(pm))
            steps.append(s)
            chrom.append(c)
            if len(reps) >= n:
                break
    return {"n": len(reps), "repetition": float(np.mean(reps)), "steps": float(np.mean(steps)),
            "chromatic": float(np.mean(chrom))}  # fmt: skip


def style_rows(styles: list[str], durations: list[float], seeds: int, out: Path) -> list[dict]:
    from vmb_agent import VMB
    from vmb_agent.eval.listening import measure_form, measure_mix
    from vmb_agent.types import GenerationOverrides

    vmb = VMB()
    rows = []
    for style in styles:
        for duration in durations:
            for seed in range(seeds):
                overrides = GenerationOverrides(style=style, duration_s=duration)
                t0 = time.perf_counter()
                result = vmb.generate(None, overrides=overrides, seed=seed, out_dir=out, stems=True)
                elapsed = time.perf_counter() - t0
                form = measure_form(style, seed, duration)
                mix = measure_mix(result.audio_path, result.stems)
                rows.append({
                    "style": style, "duration": duration, "seed": seed,
                    "repetition": form.repetition, "tune_rep": form.melody_repetition,
                    "steps": form.steps, "chromatic": form.chromatic,
                    "lra": mix.loudness_range_lu, "spread": mix.stem_spread_db,
                    "dc": mix.dc_offset, "lufs": result.measured.loudness_lufs,
                    "seconds": elapsed,
                    "quietest": min(mix.stem_levels_lufs, key=mix.stem_levels_lufs.get, default=""),
                })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", default="30,90")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--styles", default="")
    parser.add_argument("--corpus", type=int, default=40)
    args = parser.parse_args()
    from vmb_agent.generation.styles import STYLES

    styles = [s for s in args.styles.split(",") if s] or list(STYLES)
    durations = [float(d) for d in args.durations.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("VMB_HOME", tmp)
        rows = style_rows(styles, durations, args.seeds, Path(tmp) / "out")
    print(f"{'style':<11}{'dur':>5}{'rep':>7}{'tune':>6}{'steps':>7}{'chrom':>7}{'LRA':>7}{'spread':>8}"
          f"{'DC':>9}{'LUFS':>7}{'s':>6}  quietest stem")  # fmt: skip
    for style in styles:
        for duration in durations:
            group = [r for r in rows if r["style"] == style and r["duration"] == duration]
            mean = {k: float(np.mean([r[k] for r in group if r[k] is not None]))
                    for k in ("repetition", "tune_rep", "steps", "chromatic", "lra", "spread", "dc", "lufs",
                              "seconds")}  # fmt: skip
            print(f"{style:<11}{duration:>5.0f}{mean['repetition']:>7.2f}{mean['tune_rep']:>6.2f}"
                  f"{mean['steps']:>7.2f}"
                  f"{mean['chromatic']:>7.2f}{mean['lra']:>7.1f}{mean['spread']:>8.1f}"
                  f"{mean['dc']:>9.4f}{mean['lufs']:>7.1f}{mean['seconds']:>6.1f}  "
                  f"{group[0]['quietest']}")  # fmt: skip
    if args.corpus:
        c = corpus_rows(args.corpus)
        print(f"{'corpus':<11}{'':>5}{c['repetition']:>7.2f}{'':>6}{c['steps']:>7.2f}"
              f"{c['chromatic']:>7.2f}   ({c['n']} music21 pieces; repeats not expanded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
