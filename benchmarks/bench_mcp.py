"""Latency of the MCP server as an agent sees it (real ``mcp`` client, stdio subprocess).

    .venv/bin/python benchmarks/bench_mcp.py [--duration 30] [--concurrent 1]

Prints:
  - spawn -> first tools/list answer                     (target <= 1.5 s)
  - describe_visuals on a bundled image, cold and warm    (target <= 1 s warm)
  - tools/list and search_music latency while a long generate_music runs (target <= 200 ms)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "vmb_agent" / "examples"


def bundled_image(work: Path) -> Path:
    """The first bundled example image (a generated 640x480 gradient if there is none)."""
    for pattern in ("*.jpg", "*.jpeg", "*.png", "*.webp"):
        found = sorted(EXAMPLES.glob(pattern))
        if found:
            return found[0]
    import numpy as np
    from PIL import Image

    print(f"(no image in {EXAMPLES}; using a generated 640x480 gradient)")
    y, x = np.mgrid[0:480, 0:640]
    pixels = np.stack([x * 255 // 640, y * 255 // 480, np.full_like(x, 90)], axis=-1)
    path = work / "gradient.jpg"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def midi_folder(root: Path) -> Path:
    """A few small MIDI files so search has something to rank."""
    import pretty_midi

    folder = root / "midi"
    folder.mkdir(parents=True, exist_ok=True)
    for n, (program, bpm, tonic) in enumerate([(0, 120, 60), (48, 70, 57), (19, 90, 62)]):
        pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
        inst = pretty_midi.Instrument(program=program)
        for i in range(32):
            start = i * 60 / bpm
            pitch = tonic + [0, 2, 4, 5, 7, 5, 4, 2][i % 8]
            inst.notes.append(pretty_midi.Note(80, pitch, start, start + 0.4))
        pm.instruments.append(inst)
        pm.write(str(folder / f"piece{n}.mid"))
    return folder


async def run(duration_s: float, concurrent: int) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    work = Path(tempfile.mkdtemp(prefix="vmb-bench-mcp-"))
    env = {
        "VMB_HOME": str(work / "home"),
        "VMB_ALLOWED_ROOTS": str(work),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    image = bundled_image(work)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vmb_agent.tools.server"], env=env, cwd=str(REPO)
    )
    started = time.perf_counter()
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 - opening /dev/null does not block
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await session.list_tools()
            print(f"spawn -> tools/list answered: {time.perf_counter() - started:.2f} s (<= 1.5)")

            times = []
            for _ in range(4):
                t = time.perf_counter()
                result = await session.call_tool("describe_visuals", {"path": str(image)})
                times.append(time.perf_counter() - t)
                assert not result.is_error, result.content[0].text
            print(f"describe_visuals {image.name}: cold {times[0]:.2f} s, "
                  f"warm median {statistics.median(times[1:]):.3f} s (<= 1)")  # fmt: skip

            await session.call_tool("index_music", {"paths": [str(midi_folder(work))]})
            await session.call_tool("search_music", {"query": "calm piano", "k": 3})  # warm

            list_ms: list[float] = []
            search_ms: list[float] = []
            walls: list[float] = []

            async def generate(seed: int) -> None:
                t = time.perf_counter()
                result = await session.call_tool(
                    "generate_music",
                    {"description": "a slow, wide orchestral build", "duration_s": duration_s,
                     "seed": seed},
                )  # fmt: skip
                assert not result.is_error, result.content[0].text
                walls.append(time.perf_counter() - t)

            async with anyio.create_task_group() as tasks:
                for seed in range(concurrent):
                    tasks.start_soon(generate, seed)
                await anyio.sleep(0.5)
                while len(walls) < concurrent and len(list_ms) < 50:
                    t = time.perf_counter()
                    await session.list_tools()
                    list_ms.append(1000 * (time.perf_counter() - t))
                    t = time.perf_counter()
                    await session.call_tool("search_music", {"query": "calm piano", "k": 3})
                    search_ms.append(1000 * (time.perf_counter() - t))
                    await anyio.sleep(0.2)
            if not list_ms:
                print("generation finished before any probe; raise --duration")
                return
            print(f"during {concurrent} x {duration_s:g} s generation (last done after "
                  f"{max(walls):.1f} s), {len(list_ms)} probes:")  # fmt: skip
            for name, ms in (("tools/list", list_ms), ("search_music", search_ms)):
                median, worst = statistics.median(ms), max(ms)
                print(f"  {name:12s} median {median:.0f} ms, max {worst:.0f} ms (<= 200)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="generation length (s)")
    parser.add_argument("--concurrent", type=int, default=1, help="generations at once")
    args = parser.parse_args()
    anyio.run(run, args.duration, args.concurrent)


if __name__ == "__main__":
    main()
