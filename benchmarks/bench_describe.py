"""Speed and memory of the text bridge (``vmb describe``); prints the figures.

    .venv/bin/python benchmarks/bench_describe.py            # photo + 60 s video + 10 min memory
    .venv/bin/python benchmarks/bench_describe.py --quick    # skip the 10-minute video

Targets (issue 2, this 2-core machine, warm process): a 1920x1080 photo in <= 0.3 s, a 60 s
1280x720 video in <= 2.5 s, and peak memory for a 10-minute 1080p video < 500 MB. Test media
are generated once (FFmpeg test sources, low bitrate) and cached in a temp folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "vmb-bench-describe"
REPO = Path(__file__).resolve().parents[1]


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_photo(path: Path) -> Path:
    """A 1920x1080 JPEG: the bundled harbour painting upscaled, with fresh grain."""
    import numpy as np
    from PIL import Image

    if not path.exists():
        image = Image.open(REPO / "vmb_agent" / "examples" / "harbour.jpg").resize((1920, 1080))
        grain = np.random.default_rng(0).normal(0, 5, (1080, 1920, 1))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    return path


def make_video(path: Path, width: int, height: int, seconds: int, fps: int, crf: int) -> Path:
    """Three FFmpeg test sources back to back (two hard cuts), H.264 with B-frames."""
    if path.exists():
        return path
    third = seconds / 3
    size = f"{width}x{height}"
    sources = [
        f"testsrc2=size={size}:rate={fps}:duration={third}",
        f"gradients=size={size}:rate={fps}:duration={third}:speed=0.05",
        (
            f"life=size={width // 4}x{height // 4}:rate={fps}:mold=10:ratio=0.5:"
            f"death_color=#202040:life_color=#ff8000,scale={width}:{height}:flags=neighbor,"
            f"trim=duration={third}"
        ),
    ]
    args = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
    for source in sources:
        args += ["-f", "lavfi", "-i", source]
    args += ["-filter_complex", "[0][1][2]concat=n=3:v=1:a=0,format=yuv420p",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), str(path)]  # fmt: skip
    print(f"  generating {path.name} ({size}, {seconds} s, {fps} fps) ...", flush=True)
    subprocess.run(args, check=True)
    return path


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time (all threads) of ``fn`` after a warm-up.
    CPU time shows the work itself when other processes compete for the two cores."""
    fn()  # warm: imports, vocabulary, codec set-up
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def peak_memory(path: Path) -> str:
    """Describe ``path`` in a fresh process; report its peak RSS and the baseline after imports."""
    code = (
        "import resource, sys, time\n"
        "from vmb_agent.describe import describe_source\n"
        "import numpy, PIL.Image, av\n"
        "from vmb_agent.describe import analysis, video\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "start = time.perf_counter()\n"
        "d = describe_source(sys.argv[1])\n"
        "took = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'{peak:.0f} {base:.0f} {took:.1f} {len(d.cuts_s)} {d.source.duration_s:.0f}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True, cwd=REPO)  # fmt: skip
    peak, base, took, cuts, duration = out.stdout.split()
    return (f"peak RSS {peak} MB (after imports {base} MB), {took} s, {cuts} cuts found, "
            f"{duration} s long")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10-minute video")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    from vmb_agent.describe import describe_source

    print("vmb describe benchmark (analysis backend)")
    photo = make_photo(CACHE / "photo-1920x1080.jpg")
    median, best, cpu = timed(lambda: describe_source(photo), options.repeats * 4)
    print(
        f"photo 1920x1080 JPEG: median {median * 1000:.0f} ms, best {best * 1000:.0f} ms, "
        f"CPU {cpu * 1000:.0f} ms (target <= 300 ms)"
    )

    for name in ("harbour.jpg", "city.mp4"):
        example = REPO / "vmb_agent" / "examples" / name
        median, _, _ = timed(lambda e=example: describe_source(e), options.repeats)
        print(f"example {name}: median {median * 1000:.0f} ms")

    median, _, _ = timed(lambda: describe_source("slow melancholic piano in D minor"), 20)
    print(f"text prompt: median {median * 1000:.1f} ms")

    clip = make_video(CACHE / "video-720p-60s.mp4", 1280, 720, 60, 30, 28)
    median, best, cpu = timed(lambda: describe_source(clip), options.repeats)
    print(
        f"video 1280x720 60 s 30 fps H.264: median {median:.2f} s, best {best:.2f} s, "
        f"CPU {cpu:.2f} s over 2 threads (target <= 2.5 s)"
    )
    print(f"load average: {os.getloadavg()[0]:.1f} on 2 cores (above 2 = other work competing)")

    if not options.quick:
        hd_clip = make_video(CACHE / "video-1080p-60s.mp4", 1920, 1080, 60, 30, 28)
        median, best, cpu = timed(lambda: describe_source(hd_clip), max(1, options.repeats // 2))
        print(f"video 1920x1080 60 s 30 fps H.264: median {median:.2f} s, CPU {cpu:.2f} s")
        long_clip = make_video(CACHE / "video-1080p-600s.mp4", 1920, 1080, 600, 12, 35)
        print(f"video 1920x1080 600 s 12 fps H.264: {peak_memory(long_clip)} (target < 500 MB)")


if __name__ == "__main__":
    main()
