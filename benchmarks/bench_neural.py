"""The neural backends at realistic sizes (random weights, the real architectures' sizes).

    .venv/bin/python benchmarks/bench_neural.py [--only musicgen-melody,stable-audio,clap,vlm]
                                [--seconds 4] [--steps 8] [--runs 2] [--device auto]

Each backend runs in a process of its own (so its peak memory is its own), through the SDK as a
user would call it: the realistic model is built with ``tests/tiny_models/<name>.build(folder,
"realistic")`` and saved, the settings point at the folder, and then

- renderers: ``VMB.generate(..., renderer=NAME)`` twice (cold: loads the model; warm: cached),
  printing the render step's seconds per second of audio;
- clap: 32 captions and 8 clips of 10 s embedded;
- vlm: ``VMB.describe(image, backend="vlm")`` twice.

Prints wall seconds, seconds per audio-second and the process's peak RSS. On the GPU machine
(`device` tool) set ``--device cuda``. The model files go to a temporary folder (several GB for
stable-audio) and are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTING = {"musicgen-melody": "VMB_MUSICGEN_MODEL", "stable-audio": "VMB_STABLE_AUDIO_MODEL",
           "clap": "VMB_CLAP_MODEL", "vlm": "VMB_VLM_MODEL"}  # fmt: skip
BUILDER = {"musicgen-melody": "musicgen", "stable-audio": "stable_audio", "clap": "clap",
           "vlm": "vlm"}  # fmt: skip
PROMPT = "a calm piano piece for a rainy evening, warm and slow"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(name: str, folder: Path) -> float:
    import importlib

    sys.path.insert(0, str(REPO / "tests"))
    start = time.perf_counter()
    importlib.import_module(f"tiny_models.{BUILDER[name]}").build(folder, "realistic")
    return time.perf_counter() - start


def bench_renderer(name: str, seconds: float, steps: int, runs: int) -> dict:
    from vmb_agent.sdk import VMB

    if name == "stable-audio":  # the default is diffusers' 100 steps; cost grows linearly
        from vmb_agent.neural.stable_audio import StableAudioRenderer

        StableAudioRenderer.steps = steps
    vmb = VMB()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = vmb.generate(PROMPT, overrides={"duration_s": seconds, "style": "piano"},
                              seed=1, renderer=name)  # fmt: skip
        times.append((time.perf_counter() - start, result.timings.get("render", 0.0)))
    render = times[-1][1]  # warm when runs > 1 (the first run loads the model)
    return {"cold_s": times[0][0], "warm_s": times[-1][0] if runs > 1 else None,
            "render_s": render, "s_per_audio_s": render / seconds,
            "steps": steps if name == "stable-audio" else None}


def bench_clap() -> dict:
    import numpy as np

    from vmb_agent.library.embed import get_embedder
    from vmb_agent.sdk import load_settings

    embedder = get_embedder("clap", load_settings())
    start = time.perf_counter()
    embedder.embed([f"{PROMPT} {i}" for i in range(32)])
    texts = time.perf_counter() - start
    clips = [np.random.default_rng(i).standard_normal(480_000).astype(np.float32) * 0.1
             for i in range(8)]  # fmt: skip
    start = time.perf_counter()
    embedder.embed_audio(clips, 48_000)  # type: ignore[attr-defined]
    audio = time.perf_counter() - start
    return {"ms_per_text": texts / 32 * 1000, "s_per_10s_clip": audio / 8,
            "s_per_audio_s": audio / 80}


def bench_vlm(runs: int) -> dict:
    from vmb_agent.sdk import VMB

    vmb = VMB()
    image = REPO / "vmb_agent" / "examples" / "harbour.jpg"
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        vmb.describe(image, backend="vlm")
        times.append(time.perf_counter() - start)
    return {"cold_s": times[0], "warm_s": times[-1] if runs > 1 else None}


def child(name: str, seconds: float, steps: int, runs: int) -> None:
    """Bench ``name`` on the model its setting names (built by another process, so the peak
    memory here is the backend's own)."""
    if name == "clap":
        figures = bench_clap()
    elif name == "vlm":
        figures = bench_vlm(runs)
    else:
        figures = bench_renderer(name, seconds, steps, runs)
    import torch

    cuda = os.environ.get("VMB_DEVICE") != "cpu" and torch.cuda.is_available()
    gpu = torch.cuda.max_memory_allocated() / 1e6 if cuda else None
    print(json.dumps({"backend": name, "device": "cuda" if cuda else "cpu", **figures,
                      "peak_rss_mb": peak_mb(), "peak_gpu_mb": gpu}))  # fmt: skip


def run_one(name: str, args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        folder = Path(tmp) / name
        env = {**os.environ, "VMB_DEVICE": args.device, "HF_HUB_OFFLINE": "1",
               "VMB_HOME": str(Path(tmp) / "home"), "VMB_MEASURE_TAGS": "0",
               SETTING[name]: str(folder)}  # fmt: skip
        start = time.perf_counter()
        made = subprocess.run([sys.executable, __file__, "--build", name, str(folder)], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if made.returncode != 0:
            return f"{name}: build failed: {made.stderr.strip().splitlines()[-1:]}"
        built = time.perf_counter() - start
        cmd = [sys.executable, __file__, "--child", name, "--seconds", str(args.seconds),
               "--steps", str(args.steps), "--runs", str(args.runs)]  # fmt: skip
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return f"{name}: failed: {out.stderr.strip().splitlines()[-1:]}"
    row = {**json.loads(out.stdout.strip().splitlines()[-1]), "build_and_save_s": built}
    return ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in row.items() if v is not None)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SETTING))
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per render")
    parser.add_argument("--steps", type=int, default=8, help="stable-audio diffusion steps")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--runs", type=int, default=2, help="calls (the first loads the model)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build[0], Path(args.build[1]))
    elif args.child:
        child(args.child, args.seconds, args.steps, args.runs)
    else:
        for name in args.only.split(","):
            print(run_one(name, args), flush=True)


if __name__ == "__main__":
    main()
