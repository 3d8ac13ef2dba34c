"""The MCP server under load, as agents see it (real ``mcp`` client, stdio subprocess).

    .venv/bin/python benchmarks/bench_load.py [--searches 50] [--generations 8] [--duration 20]

Prints:
  - search_music p50/p95 alone (one at a time)                       (target p95 <= 200 ms)
  - search_music p50/p95 with 50 searches at once
  - search_music p50/p95 while 8 generate_music calls run             (target p95 <= 200 ms)
  - 12 concurrent describe_visuals of a 9999x9999 PNG: the server's peak RSS (target <= 1.5 GB)
    and its RSS 10 s later (target < 700 MB)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_mcp import midi_folder

QUERY = {"query": "calm piano for a rainy evening", "k": 5}


def percentiles(ms: list[float]) -> str:
    if not ms:
        return "no samples"
    p50, p95 = np.percentile(ms, [50, 95])
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(ms):.0f} ms (n={len(ms)})"


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return float(fields["VmRSS"].split()[0]) / 1024, float(fields["VmHWM"].split()[0]) / 1024


def server_pid() -> int:
    """The newest child process of this one (the stdio server)."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    return int(children[-1])


def big_png(work: Path) -> Path:
    from PIL import Image

    path = work / "huge.png"
    Image.new("RGB", (9999, 9999), (40, 90, 160)).save(path, optimize=True)
    return path


async def timed_search(session, out: list[float]) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = await session.call_tool("search_music", QUERY)
    out.append(1000 * (time.perf_counter() - start))
    if result.is_error:
        print("  search error:", result.content[0].text)


async def run(searches: int, generations: int, duration_s: float) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    work = Path(tempfile.mkdtemp(prefix="vmb-bench-load-"))
    env = {"VMB_HOME": str(work / "home"), "VMB_ALLOWED_ROOTS": str(work), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vmb_agent.tools.server"], env=env, cwd=str(REPO)
    )
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 - opening /dev/null does not block
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            pid = server_pid()
            await session.call_tool("index_music", {"paths": [str(midi_folder(work))]})
            await session.call_tool("search_music", QUERY)  # warm

            alone: list[float] = []
            for _ in range(searches):
                await timed_search(session, alone)
            print(f"search alone:            {percentiles(alone)}")

            burst: list[float] = []
            async with anyio.create_task_group() as tasks:
                for _ in range(searches):
                    tasks.start_soon(timed_search, session, burst)
            print(f"{searches} searches at once:    {percentiles(burst)}")

            during: list[float] = []
            done: list[float] = []

            async def generate(seed: int) -> None:
                start = time.perf_counter()
                result = await session.call_tool(
                    "generate_music",
                    {"description": "a slow, wide orchestral build", "duration_s": duration_s,
                     "seed": seed},
                )  # fmt: skip
                done.append(time.perf_counter() - start)
                if result.is_error:
                    print("  generate:", result.content[0].text)

            async with anyio.create_task_group() as tasks:
                for seed in range(generations):
                    tasks.start_soon(generate, seed)
                await anyio.sleep(0.5)
                while len(done) < generations:
                    await timed_search(session, during)
                    await anyio.sleep(0.1)
            print(f"during {generations} generations:  {percentiles(during)} "
                  f"(generations done after {max(done):.1f} s)")  # fmt: skip

            image = big_png(work)
            before = rss_mb(pid)[0]
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) here
            async with anyio.create_task_group() as tasks:
                for _ in range(12):
                    tasks.start_soon(session.call_tool, "describe_visuals", {"path": str(image)})
            current, peak = rss_mb(pid)
            await anyio.sleep(10)
            later = rss_mb(pid)[0]
            print(f"12 describes of 9999x9999: server RSS {before:.0f} MB before, peak "
                  f"{peak:.0f} MB (<= 1536), {current:.0f} MB at the end, {later:.0f} MB 10 s "
                  f"later (< 700)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="each generation's length")
    args = parser.parse_args()
    anyio.run(run, args.searches, args.generations, args.duration)


if __name__ == "__main__":
    main()
