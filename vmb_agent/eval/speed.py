"""Per-stage speed and peak memory, and how they scale.

Each measurement runs in a fresh subprocess (``python -m vmb_agent.eval.speed CASE ARG``) so its
peak resident memory is its own: the case warms up once (imports, models, JIT-free caches), then
times the operation, and prints ``{"seconds": ..., "peak_mb": ...}``.

Scaling: search at 1k / 10k / 100k synthetic tracks, generation of 30 s and 3 min, description of
10 s / 60 s / 10 min videos. Quick runs take the smallest size of each.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vmb_agent.eval import EvalContext
from vmb_agent.eval.report import Check, SuiteResult, new_figure, save_figure


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the current address space;
    ``ru_maxrss`` would also carry the parent's size over from before ``exec``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _video(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> Path:
    """A test video made by FFmpeg's own test source (moving pattern, colours drifting)."""
    import imageio_ffmpeg

    if not path.exists():
        source = f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             source, "-vf", "hue=h=t*72", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32",
             "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )  # fmt: skip
    return path


CACHE = Path(tempfile.gettempdir()) / "vmb-eval-speed"


def _videos_for(seconds: str) -> tuple[Path, Path]:
    """(warm-up clip, test video); made once and cached. Called in the parent process, so the
    measured subprocess's memory is the describer's alone."""
    CACHE.mkdir(exist_ok=True)
    warm = _video(CACHE / "warm-2s.mp4", 2, 1280, 720)
    if float(seconds) >= 600:  # the memory case: 1080p at 15 fps keeps its synthesis affordable
        return warm, _video(CACHE / f"video-{seconds}s-1080p15.mp4", float(seconds), 1920, 1080, 15)
    return warm, _video(CACHE / f"video-{seconds}s-720p.mp4", float(seconds), 1280, 720)


def _case_describe_video(seconds: str) -> float:
    from vmb_agent.sdk import VMB

    vmb = VMB()
    warm, video = _videos_for(seconds)
    vmb.describe(warm)
    start = time.perf_counter()
    vmb.describe(video)
    return time.perf_counter() - start


def _case_describe_image(_: str) -> float:
    import numpy as np
    from PIL import Image

    from vmb_agent.sdk import VMB

    path = Path(tempfile.gettempdir()) / "vmb-eval-speed-photo.jpg"
    if not path.exists():
        rng = np.random.default_rng(0)
        gradient = np.linspace(0, 255, 1920)[None, :, None] * np.ones((1080, 1, 3))
        pixels = np.clip(gradient + rng.normal(0, 20, (1080, 1920, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    vmb = VMB()
    vmb.describe(path)
    start = time.perf_counter()
    vmb.describe(path)
    return time.perf_counter() - start


def _case_generate(seconds: str) -> float:
    from vmb_agent.sdk import VMB

    vmb = VMB()
    style = {"style": "pop", "instruments": ["piano", "bass", "drums", "strings", "acoustic guitar"]}
    with tempfile.TemporaryDirectory() as out:
        vmb.generate(None, overrides={**style, "duration_s": 5.0}, seed=1, out_dir=out)
        start = time.perf_counter()
        vmb.generate(None, overrides={**style, "duration_s": float(seconds)}, seed=2, out_dir=out)
        return time.perf_counter() - start


def _case_search(size: str) -> float:
    """p95 latency (s) of warm dual searches at ``size`` synthetic tracks."""
    import numpy as np

    from vmb_agent.library import Library
    from vmb_agent.library.synthetic import fill_library
    from vmb_agent.settings import Settings
    from vmb_agent.types import SearchFilters

    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Settings(home=Path(tmp)))
        fill_library(library, int(size), seed=1)
        # warm: load the embedder and build the attribute index (a one-time cost per process)
        library.search(query="warm up", mode="dual", k=10, filters=SearchFilters(tempo_min=60))
        latencies = []
        for i in range(40):
            start = time.perf_counter()
            library.search(
                query=f"bright folk dance on fiddle and flute {i}", mode="dual", k=10,
                filters=SearchFilters(tempo_min=80 + i % 30, tempo_max=140),
            )  # fmt: skip
            latencies.append(time.perf_counter() - start)
        library.close()
    print("latencies ms:", [round(x * 1000) for x in latencies], file=sys.stderr)
    return float(np.percentile(latencies, 95))


CASES = {
    "describe_image": _case_describe_image,
    "describe_video": _case_describe_video,
    "generate": _case_generate,
    "search": _case_search,
}


def measure(case: str, arg: str, timeout_s: float = 400) -> dict[str, float]:
    """Run one case in a fresh interpreter; returns seconds and peak memory (MB)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vmb_agent.eval.speed", case, arg],
        check=False, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"speed case {case} {arg} failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def evaluate_speed(ctx: EvalContext) -> SuiteResult:
    plan = {
        "describe_image": ["1080p"],
        "describe_video": ["10"] if ctx.quick else ["10", "60", "600"],
        "generate": ["30"] if ctx.quick else ["30", "180"],
        "search": ["1000"] if ctx.quick else ["1000", "10000", "100000"],
    }
    rows = []
    for seconds in plan["describe_video"]:
        _videos_for(seconds)
    for case, args in plan.items():
        for arg in args:
            ctx.log(f"  speed: {case} {arg}")
            m = measure(case, arg)
            rows.append({"case": case, "size": arg, "seconds": round(m["seconds"], 4),
                         "peak_mb": round(m["peak_mb"], 1)})  # fmt: skip
    by = {(r["case"], r["size"]): r for r in rows}
    result = SuiteResult("speed", metrics={"timings": rows})
    targets = [
        ("describe 1920x1080 photo (s)", ("describe_image", "1080p"), "seconds", 0.3),
        ("describe 60 s 720p video (s)", ("describe_video", "60"), "seconds", 2.5),
        ("describe 10 min 1080p15 video peak memory (MB)", ("describe_video", "600"), "peak_mb", 500),
        ("generate 30 s, 5 instruments (s)", ("generate", "30"), "seconds", 1.5),
        ("generate 3 min (s)", ("generate", "180"), "seconds", 8.0),
        ("generate 3 min peak memory (MB)", ("generate", "180"), "peak_mb", 600),
        ("search p95 at 10k tracks (s)", ("search", "10000"), "seconds", 0.05),
        ("search p95 at 100k tracks (s)", ("search", "100000"), "seconds", 0.15),
    ]
    for name, key, field, threshold in targets:
        if key not in by:
            continue
        if ctx.quick and field == "seconds":
            # The quick subset runs inside the test suite, beside other work on a shared 2-core
            # machine: wall time there guards against gross regressions (2x the target) while
            # the report still says whether the target was met. The full run (`vmb eval
            # speed`, `make eval`) and benchmarks/ enforce the target itself.
            result.checks.append(Check(name, by[key][field], 2 * threshold, "<=", target=threshold))
        else:
            result.checks.append(Check(name, by[key][field], threshold, "<="))
    searches = [r for r in rows if r["case"] == "search"]
    if len(searches) > 1:
        fig, ax = new_figure()
        ax.plot([int(r["size"]) for r in searches], [r["seconds"] * 1000 for r in searches], marker="o")
        ax.set_xscale("log")
        ax.set_xlabel("tracks in the library")
        ax.set_ylabel("dual search p95 (ms)")
        ax.set_title("Query latency vs library size (warm, embedding included)")
        result.plots.append(save_figure(fig, ctx.out_dir / "latency_vs_size.png"))
    return result


def main(argv: list[str]) -> None:
    case, arg = argv
    seconds = CASES[case](arg)
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
