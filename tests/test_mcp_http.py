"""The MCP server over streamable HTTP (a real uvicorn subprocess on a free loopback port):
token (401), DNS-rebinding checks (403/421), /health, every tool through the real client, and
8 concurrent generations while the server keeps answering."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import REPO
from test_mcp_server import SHORT_S, TOOL_NAMES, error_text, make_media, server_env, structured

pytestmark = [pytest.mark.server, pytest.mark.timeout(300)]

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_http_server(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vmb_agent.tools.server", "--transport", "http", "--port", str(port),
         *args],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start in 30 s")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="module")
def http_server(
    tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]
) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("home")
    env = server_env(home, media["image"].parent, VMB_TOKEN=TOKEN, PATH="/usr/bin:/bin")
    process, base = start_http_server(env)
    try:
        yield base, home
    finally:
        process.terminate()
        process.wait(timeout=10)


@asynccontextmanager
async def http_session(base: str, token: str = TOKEN) -> AsyncIterator[Any]:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(120)) as client,
        streamable_http_client(f"{base}/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def test_health_token_and_origin_checks(http_server: tuple[str, Path]) -> None:
    base, _ = http_server
    health = httpx.get(f"{base}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    probe = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    no_token = httpx.post(f"{base}/mcp", json=probe, headers=accept)
    assert no_token.status_code == 401 and "Bearer" in no_token.headers["www-authenticate"]
    wrong = httpx.post(f"{base}/mcp", json=probe, headers={**accept, "Authorization": "Bearer no"})
    assert wrong.status_code == 401
    good = {**accept, "Authorization": f"Bearer {TOKEN}"}
    foreign = httpx.post(
        f"{base}/mcp", json=probe, headers={**good, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "evil.example" in foreign.json()["error"]
    rebound = httpx.post(f"{base}/mcp", json=probe, headers={**good, "Host": "evil.example:80"})
    assert rebound.status_code == 421
    local = httpx.post(
        f"{base}/mcp", json=probe, headers={**good, "Origin": "http://localhost:3000"}
    )
    assert local.status_code not in (401, 403, 421)


def test_public_bind_without_token_is_refused(tmp_path: Path) -> None:
    env = server_env(tmp_path / "home", tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "vmb_agent", "serve", "--transport", "http", "--host", "0.0.0.0",
         "--port", str(free_port())],
        env=env, cwd=REPO, check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.startswith("error: refusing to bind to '0.0.0.0' without a token")
    assert "VMB_TOKEN" in out.stderr and "Traceback" not in out.stderr


def test_every_tool_over_http(http_server: tuple[str, Path], media: dict[str, Path]) -> None:
    base, _ = http_server

    async def scenario() -> None:
        async with http_session(base) as session:
            assert {t.name for t in (await session.list_tools()).tools} == TOOL_NAMES
            described = structured(
                await session.call_tool("describe_visuals", {"path": str(media["image"])})
            )
            folder = str(media["piano_c_major"].parent)
            report = structured(await session.call_tool("index_music", {"paths": [folder]}))
            ids = report["added"] + report["unchanged"]
            assert len(ids) == 3
            found = structured(
                await session.call_tool("search_music", {"query": "calm piano", "k": 2})
            )
            assert found["matches"] and found["matches"][0]["id"] in ids
            track = structured(await session.call_tool("get_track", {"id": ids[0]}))
            assert track["id"] == ids[0]
            result = structured(
                await session.call_tool(
                    "generate_music",
                    {"description": described, "duration_s": SHORT_S, "reference_ids": ids[:1]},
                )
            )
            assert Path(result["audio_path"]).is_file()
            scored = structured(
                await session.call_tool("score_video", {"path": str(media["video"])})
            )
            assert Path(scored["video_path"]).is_file()
            assert "outside the allowed roots" in error_text(
                await session.call_tool("describe_visuals", {"path": "/etc/passwd"})
            )
            assert "no-such" in error_text(await session.call_tool("get_track", {"id": "no-such"}))

    anyio.run(scenario)


def test_eight_concurrent_generations_and_a_responsive_server(
    http_server: tuple[str, Path],
) -> None:
    """8 generate_music calls at once all succeed with distinct files; while they run, the
    server still lists tools and answers a search (the event loop is never blocked)."""
    base, _ = http_server

    async def scenario() -> None:
        results: dict[int, Any] = {}
        answered_while_busy: list[str] = []

        async with http_session(base) as session:
            await session.call_tool("search_music", {"query": "warm", "k": 1})  # warm the index

            async def generate(i: int) -> None:
                results[i] = await session.call_tool(
                    "generate_music",
                    {"description": f"gentle piano piece number {i}", "duration_s": SHORT_S,
                     "seed": i},
                )  # fmt: skip

            async with anyio.create_task_group() as tasks:
                for i in range(8):
                    tasks.start_soon(generate, i)
                await anyio.sleep(0.1)
                await session.list_tools()
                if len(results) < 8:
                    answered_while_busy.append("tools/list")
                found = await session.call_tool("search_music", {"query": "calm", "k": 1})
                assert not found.is_error
                if len(results) < 8:
                    answered_while_busy.append("search")

        paths = {structured(r)["audio_path"] for r in results.values()}
        assert len(paths) == 8 and all(Path(p).is_file() for p in paths)
        assert answered_while_busy == ["tools/list", "search"]

    anyio.run(scenario)
