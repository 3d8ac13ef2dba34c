"""Generation benchmark: controllability over a style x tempo x key x mode grid, musical sanity
on the MIDI, determinism, and speed/memory of the full compose -> render -> master path.

    .venv/bin/python benchmarks/bench_generation.py            # sampled grid (~240 requests)
    .venv/bin/python benchmarks/bench_generation.py --quick    # 40 requests
    .venv/bin/python benchmarks/bench_generation.py --speed-only

Prints the figures; it asserts nothing (targets: tempo +-2 % on >= 95 %, key+mode on >= 90 %,
exact duration, every requested instrument present, byte-identical MIDI for a seed, >= 95 % of
strong-beat melody notes in chord or scale; 30 s in <= 1.5 s, 3 min in <= 8 s, <= 600 MB).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEMPI = (60, 80, 100, 120, 140, 160, 180)


def grid(quick: bool) -> list[tuple[str, float, str]]:
    """Every style meets all 24 keys (quick: 4); tempi rotate so each style covers 60-180."""
    from vmb_agent.generation.styles import STYLES
    from vmb_agent.theory import MAJOR_NAMES, MINOR_NAMES

    cases = []
    for s_index, style in enumerate(STYLES):
        for tonic, mode in itertools.product(range(12), ("major", "minor")):
            if quick and (tonic + s_index) % 6:
                continue
            names = MAJOR_NAMES if mode == "major" else MINOR_NAMES
            tempo = TEMPI[(tonic * 2 + (mode == "minor") + s_index) % len(TEMPI)]
            cases.append((style, float(tempo), f"{names[tonic]} {mode}"))
    return cases


def controllability(quick: bool, duration: float) -> None:
    from vmb_agent.generation import generate_music
    from vmb_agent.generation.checks import melody_chord_or_scale_share, section_cadences
    from vmb_agent.generation.composer import compose
    from vmb_agent.generation.conditions import resolve_conditions
    from vmb_agent.rendering.outputs import midi_bytes
    from vmb_agent.settings import get_settings
    from vmb_agent.theory import gm_program_to_instrument
    from vmb_agent.types import GenerationOverrides

    settings = get_settings()
    cases = grid(quick)
    tempo_ok = tempo_octave_ok = key_ok = duration_ok = inst_ok = det_ok = 0
    below_170 = [0, 0]
    strong_shares: list[float] = []
    cadence_ok = cadence_total = 0
    by_style: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    misses: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (style, tempo, key) in enumerate(cases):
            overrides = GenerationOverrides(
                style=style, tempo_bpm=tempo, key=key, duration_s=duration
            )
            result = generate_music(None, [], overrides, seed=i, out_dir=Path(tmp), stems=False,
                                    video_path=None, settings=settings)  # fmt: skip
            m = result.measured
            t_hit = m.tempo_bpm is not None and abs(m.tempo_bpm - tempo) / tempo <= 0.02
            k_hit = m.key == result.requested.key
            tempo_ok += t_hit
            if m.tempo_bpm is not None:  # octave errors forgiven (the usual "Acc2" metric)
                tempo_octave_ok += any(
                    abs(m.tempo_bpm * f - tempo) / tempo <= 0.02 for f in (0.5, 1, 2)
                )
            if tempo < 170:
                below_170[0] += 1
                below_170[1] += t_hit
            key_ok += k_hit
            by_style[style][0] += 1
            by_style[style][1] += t_hit
            by_style[style][2] += k_hit
            if not (t_hit and k_hit):
                misses.append(f"{style} {tempo:g} {key}: measured {m.tempo_bpm} {m.key}")
            duration_ok += abs(m.duration_s - duration) <= 0.010
            import pretty_midi

            pm = pretty_midi.PrettyMIDI(result.midi_path)
            present = {
                gm_program_to_instrument(x.program, x.is_drum) for x in pm.instruments if x.notes
            }
            inst_ok += set(result.requested.instruments) <= present
            conditions = resolve_conditions(None, None, overrides, seed=i)
            a = midi_bytes(compose(conditions, seed=i).midi)
            composition = compose(conditions, seed=i)
            det_ok += a == midi_bytes(composition.midi) == Path(result.midi_path).read_bytes()
            strong_shares.append(melody_chord_or_scale_share(composition))
            ok, total = section_cadences(composition)
            cadence_ok += ok
            cadence_total += total
            for p in Path(tmp).iterdir():
                p.unlink()
    n = len(cases)
    elapsed = time.perf_counter() - t0
    print(f"controllability grid: {n} requests of {duration:g} s ({elapsed:.0f} s)")
    print(f"  tempo within 2 %:          {tempo_ok}/{n} = {100 * tempo_ok / n:.1f} %")
    print(
        f"  tempo within 2 % below 170 BPM: {below_170[1]}/{below_170[0]} = "
        f"{100 * below_170[1] / max(1, below_170[0]):.1f} %"
    )
    print(
        f"  tempo within 2 % or an octave off: {tempo_octave_ok}/{n} = {100 * tempo_octave_ok / n:.1f} %"
    )
    print(f"  key + mode equal:          {key_ok}/{n} = {100 * key_ok / n:.1f} %")
    print(f"  duration exact (10 ms):    {duration_ok}/{n}")
    print(f"  instruments all present:   {inst_ok}/{n}")
    print(f"  byte-identical MIDI/seed:  {det_ok}/{n}")
    print(f"  strong-beat melody notes in chord/scale: min {100 * min(strong_shares):.1f} %, "
          f"mean {100 * sum(strong_shares) / n:.1f} %")  # fmt: skip
    print(f"  sections ending on a cadence (I or V): {cadence_ok}/{cadence_total}")
    print("  per style (tempo ok / key ok / n):")
    for style, (count, t, k) in by_style.items():
        print(f"    {style:11s} {t:3d} / {k:3d} / {count}")
    for line in misses[:80]:
        print("   miss:", line)


_SPEED_CASE = """
import resource, sys, tempfile, time
from pathlib import Path
t_import = time.perf_counter()
from vmb_agent.generation import generate_music
from vmb_agent.settings import get_settings
from vmb_agent.types import GenerationOverrides as O
style, seconds = sys.argv[1], float(sys.argv[2])
out = Path(tempfile.mkdtemp())
t = time.perf_counter()
generate_music(None, [], O(style=style, duration_s=seconds), seed=1, out_dir=out, stems=False,
               video_path=None, settings=get_settings())
cold = time.perf_counter() - t_import
t = time.perf_counter()
r = generate_music(None, [], O(style=style, duration_s=seconds), seed=2, out_dir=out, stems=False,
                   video_path=None, settings=get_settings())
warm = time.perf_counter() - t
stages = {k: v for k, v in r.timings.items() if k != "total"}
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"{cold:.2f} {warm:.2f} {rss} {'torch' in sys.modules} {len(r.requested.instruments)} {stages}")
"""


def speed() -> None:
    """Each case in a fresh process (so max RSS is that case's own): the first call includes
    imports and SoundFont loading (cold), the second is the steady state (warm)."""
    for style, seconds in (
        ("pop", 30),
        ("cinematic", 30),
        ("jazz", 30),
        ("pop", 180),
        ("cinematic", 180),
    ):
        out = subprocess.run([sys.executable, "-c", _SPEED_CASE, style, str(seconds)],
                             capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
        if out.returncode != 0:
            print(f"speed: {style} {seconds} s failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        cold, warm, rss, torch, n, stages = out.stdout.strip().split(" ", 5)
        print(f"speed: {style} {seconds} s, {n} instruments: warm {warm} s, cold process {cold} s "
              f"(incl. imports), max RSS {rss} MB, torch imported: {torch}\n    stages {stages}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--duration", type=float, default=12.0)
    args = parser.parse_args()
    speed()
    if not args.speed_only:
        controllability(args.quick, args.duration)


if __name__ == "__main__":
    main()
