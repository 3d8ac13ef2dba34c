"""The agent configurations in docs/agents.md, started exactly as written (only the placeholder
paths swapped for temporary ones) and spoken to with the real ``mcp`` client: initialize, then
list the tools. A pasted configuration that cannot start a server fails here, not for a user."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import REPO
from test_mcp_http import free_port
from test_mcp_server import TOOL_NAMES

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

DOC = REPO / "docs" / "agents.md"
#: a configuration block: an HTML comment naming it, then a JSON code block
CONFIG_BLOCK = re.compile(r"<!-- mcp-config: (?P<name>[\w-]+)[^>]*-->\s*```json\n(?P<json>.*?)```",
                          re.DOTALL)  # fmt: skip
#: where the installed entry points are: the bin folder of the Python running the tests
VENV_BIN = Path(sys.executable).parent


def doc_configs() -> dict[str, dict[str, Any]]:
    """Each named configuration's one server entry (``mcpServers.vmb``)."""
    configs = {}
    for match in CONFIG_BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        servers = json.loads(match["json"])["mcpServers"]
        assert list(servers) == ["vmb"], f"{match['name']}: one server named vmb"
        configs[match["name"]] = servers["vmb"]
    return configs


def test_the_doc_has_every_configuration() -> None:
    configs = doc_configs()
    assert set(configs) == {"installed", "uvx", "generic", "http"}
    for name in ("installed", "uvx", "generic"):
        env = configs[name]["env"]
        assert {"VMB_HOME", "VMB_ALLOWED_ROOTS"} <= set(env), name
    assert Path(configs["installed"]["command"]).name == "vmb-mcp"
    assert configs["uvx"]["command"] == "uvx" and configs["uvx"]["args"][-1] == "vmb-mcp"


def with_temporary_paths(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The configuration's env with its example folders replaced by real, empty ones."""
    swapped = dict(env)
    swapped["VMB_HOME"] = str(tmp_path / "home")
    roots = []
    for i, _ in enumerate(env["VMB_ALLOWED_ROOTS"].split(":")):
        root = tmp_path / f"root{i}"
        root.mkdir()
        roots.append(str(root))
    swapped["VMB_ALLOWED_ROOTS"] = ":".join(roots)
    return swapped


def list_tools_over_stdio(command: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Start the server as an MCP client does (``stdio_client``: the client's safe environment
    variables plus the configuration's ``env``) and list its tools."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    seen: dict[str, Any] = {}

    async def scenario() -> None:
        params = StdioServerParameters(command=command, args=args, env=env)
        with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 - opening /dev/null does not block
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                init = await session.initialize()
                seen["server"] = init.server_info.name
                seen["tools"] = {t.name for t in (await session.list_tools()).tools}
                stats = await session.read_resource("vmb://library/stats")
                seen["location"] = json.loads(stats.contents[0].text)["location"]

    anyio.run(scenario)
    return seen


def test_installed_config_starts_the_server(tmp_path: Path) -> None:
    config = doc_configs()["installed"]
    command = str(VENV_BIN / Path(config["command"]).name)  # the doc's /path/to/venv/bin
    env = with_temporary_paths(config["env"], tmp_path)
    seen = list_tools_over_stdio(command, config["args"], env)
    assert seen["server"] == "vmb" and seen["tools"] == TOOL_NAMES
    assert seen["location"].startswith(env["VMB_HOME"])  # the configured VMB_HOME is used


def test_generic_config_starts_the_server_from_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = doc_configs()["generic"]
    assert config["type"] == "stdio"
    # "vmb-mcp on the client's PATH": the client passes its PATH on to the server
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env = with_temporary_paths(config["env"], tmp_path)
    seen = list_tools_over_stdio(config["command"], config["args"], env)
    assert seen["server"] == "vmb" and seen["tools"] == TOOL_NAMES


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uvx") is None, reason="uv is not installed (no uvx)")
def test_uvx_config_starts_the_server(tmp_path: Path) -> None:
    """uvx builds its environment from this checkout (the doc's wheel path swapped for it); the
    first run downloads the dependencies, so it needs the network or a warm uv cache."""
    config = doc_configs()["uvx"]
    args = list(config["args"])
    args[args.index("--from") + 1] = str(REPO)
    env = with_temporary_paths(config["env"], tmp_path)
    seen = list_tools_over_stdio(config["command"], args, env)
    assert seen["server"] == "vmb" and seen["tools"] == TOOL_NAMES


def test_http_config_reaches_a_running_server(tmp_path: Path) -> None:
    """The HTTP client configuration against ``vmb serve --transport http`` with a token."""
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    config = doc_configs()["http"]
    assert config["type"] == "http"
    token = "doc-config-token-" + "x1y2z3" * 6
    port = free_port()
    url = config["url"].replace(":8765/", f":{port}/")
    headers = {k: v.replace("<VMB_TOKEN>", token) for k, v in config["headers"].items()}
    env = {**os.environ, "VMB_HOME": str(tmp_path / "home"), "VMB_TOKEN": token}
    process = subprocess.Popen(
        [str(VENV_BIN / "vmb"), "serve", "--transport", "http", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            seen["server"] = (await session.initialize()).server_info.name
            seen["tools"] = {t.name for t in (await session.list_tools()).tools}

    try:
        banner = process.stderr.readline().decode()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/mcp (token required)" in banner, banner
        anyio.run(scenario)
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 5
    assert seen["server"] == "vmb" and seen["tools"] == TOOL_NAMES
