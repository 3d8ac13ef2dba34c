"""``vmb chat`` in LLM mode against a scripted OpenAI-compatible server on loopback.

The scripted model streams a tool call (split across chunks, as real servers do), gets the real
tool result back, then streams a reply; a second turn sends bad arguments and must get a one-line
error back as the tool result. The chat runs as the real ``vmb chat`` command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from test_mcp_server import make_media, server_env

pytestmark = pytest.mark.timeout(180)

API_KEY = "sk-test-123"


def _sse(chunks: list[dict[str, Any]]) -> str:
    lines = [f"data: {json.dumps({'choices': [c]})}\n\n" for c in chunks]
    return "".join(lines) + "data: [DONE]\n\n"


def _tool_call(call_id: str, name: str, arguments: str) -> list[dict[str, Any]]:
    half = len(arguments) // 2
    return [
        {"index": 0, "delta": {"role": "assistant", "tool_calls": [
            {"index": 0, "id": call_id, "type": "function",
             "function": {"name": name, "arguments": arguments[:half]}}]}},
        {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}},
        {"index": 0, "delta": {}, "finish_reason": "tool_calls"},
    ]  # fmt: skip


def _text(*pieces: str) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": {"content": p}} for p in pieces] + [
        {"index": 0, "delta": {}, "finish_reason": "stop"}
    ]


class ScriptedLLM:
    """An OpenAI-compatible /chat/completions that replays a script and records requests."""

    def __init__(self, script: list[list[dict[str, Any]]]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def completions(request: Request) -> Response:
            self.requests.append(await request.json())
            self.headers.append(dict(request.headers))
            if not self.script:
                return JSONResponse({"error": "script exhausted"}, status_code=500)
            return Response(_sse(self.script.pop(0)), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture
def llm_server(request: pytest.FixtureRequest) -> Iterator[tuple[ScriptedLLM, str]]:
    import uvicorn
    from test_mcp_http import free_port

    scripted = ScriptedLLM(request.param)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(scripted.app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield scripted, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=5)


def _media(tmp_path: Path) -> dict[str, Path]:
    return make_media(tmp_path / "media")


IMAGE_PLACEHOLDER = "__IMAGE__"
SCRIPT = [
    _tool_call("call_1", "describe_visuals", json.dumps({"path": IMAGE_PLACEHOLDER})),
    _text("The picture ", "suggests a calm, ", "warm piece."),
    _tool_call("call_2", "get_track", json.dumps({"id": 42, "colour": "red"})),
    _text("That id does not work."),
]


@pytest.mark.parametrize("llm_server", [SCRIPT], indirect=True)
def test_llm_loop_calls_real_tools_and_streams_replies(
    tmp_path: Path, llm_server: tuple[ScriptedLLM, str]
) -> None:
    scripted, base_url = llm_server
    media = _media(tmp_path)
    # the script names the image only once the test knows where it is
    scripted.script[0] = _tool_call(
        "call_1", "describe_visuals", json.dumps({"path": str(media["image"])})
    )
    env = server_env(
        tmp_path / "home", media["image"].parent,
        VMB_LLM_BASE_URL=base_url, VMB_LLM_MODEL="scripted", VMB_LLM_API_KEY=API_KEY,
        PATH="/usr/bin:/bin",
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "vmb_agent", "chat"],
        input="what music fits my photo?\nwhat about track 42?\nquit\n",
        env=env, cwd=REPO, check=False, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "The picture suggests a calm, warm piece." in out.stdout
    assert "[tool] describe_visuals" in out.stdout and "[tool] get_track" in out.stdout

    first, second, third, fourth = scripted.requests
    assert scripted.headers[0]["authorization"] == f"Bearer {API_KEY}"
    assert first["stream"] is True and first["model"] == "scripted"
    assert {t["function"]["name"] for t in first["tools"]} == {
        "describe_visuals", "search_music", "generate_music", "index_music", "score_video",
        "get_track",
    }  # fmt: skip
    # the tool ran for real: its MusicDescription went back to the model
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    description = json.loads(tool_message["content"])
    assert description["source"]["kind"] == "image" and description["text"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "describe_visuals"
    # bad arguments come back to the model as a one-line error, and the loop goes on
    error = json.loads(fourth["messages"][-1]["content"])["error"]
    assert error.startswith("get_track:") and "\n" not in error
    assert "id=42" in error and "colour" in error
    assert third["messages"][-1]["content"] == "what about track 42?"


@pytest.mark.parametrize("llm_server", [[]], indirect=True)
def test_llm_endpoint_errors_are_one_line(
    tmp_path: Path, llm_server: tuple[ScriptedLLM, str]
) -> None:
    _, base_url = llm_server
    env = server_env(
        tmp_path / "home", tmp_path, VMB_LLM_BASE_URL=base_url, VMB_LLM_MODEL="m",
        PATH="/usr/bin:/bin",
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "vmb_agent", "chat"], input="hello\nquit\n",
        env=env, cwd=REPO, check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0
    assert "error: LLM endpoint" in out.stdout and "500" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
