"""Admission control (issue 13): past its lane's bound a call is refused at once with a one-line
"busy" error, the calls that fit all finish, and the server keeps serving. A real server over
stdio, a real client sending concurrent requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from test_mcp_server import error_text, server_env, stdio_session, structured
from vmb_agent.tools.admission import TOOL_LANES, lanes

from vmb_agent.settings import Settings

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]


def test_every_heavy_tool_has_a_lane_with_a_bound() -> None:
    bounds = lanes(Settings(max_jobs=3, max_queued=5))
    heavy = {"describe_visuals", "search_music", "generate_music", "score_video", "index_music"}
    assert set(TOOL_LANES) == heavy
    assert bounds["generate"].running == 3 and bounds["generate"].waiting == 5
    assert bounds["index"].running == 1  # one writer of the library at a time
    assert bounds["search"].running > bounds["generate"].running  # never stuck behind generation


def test_past_the_queue_bound_calls_are_busy_and_the_rest_finish(tmp_path: Path) -> None:
    home, allowed = tmp_path / "home", tmp_path / "allowed"
    allowed.mkdir()
    env = server_env(home, allowed, VMB_MAX_JOBS="1", VMB_MAX_QUEUED="1")
    outcomes: list[tuple[str, Any]] = []

    async def generate(session: Any, seed: int) -> None:
        result = await session.call_tool(
            "generate_music",
            {"description": "calm piano", "duration_s": 6, "seed": seed, "out_dir": str(allowed)},
        )
        outcomes.append(("error" if result.is_error else "ok", result))

    async def scenario() -> None:
        async with stdio_session(env) as session:
            async with anyio.create_task_group() as group:
                for seed in range(5):
                    group.start_soon(generate, session, seed)
            # afterwards the lane is free again: one more call runs
            again = await session.call_tool(
                "generate_music",
                {"description": "calm piano", "duration_s": 2, "out_dir": str(allowed)},
            )
            assert Path(structured(again)["audio_path"]).is_file()

    anyio.run(scenario)
    finished = [r for kind, r in outcomes if kind == "ok"]
    refused = [error_text(r) for kind, r in outcomes if kind == "error"]
    assert len(finished) == 2, refused  # one ran, one waited
    assert len(refused) == 3
    for line in refused:
        assert line.startswith("generate_music: the server is busy"), line
        assert "VMB_MAX_JOBS" in line and "try again" in line
    assert all(Path(structured(r)["audio_path"]).is_file() for r in finished)
