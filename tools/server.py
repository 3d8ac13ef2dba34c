"""The VMB MCP server (mcp 2.x ``MCPServer``): six tools, resources, prompts, two transports.

    vmb serve                                  # stdio (Claude Desktop, IDE agents)
    vmb serve --transport http --port 8765     # streamable HTTP at /mcp, /health for probes
    python -m vmb_agent.tools.server ...       # the same without the CLI

One ``VMB`` SDK instance is created per process and shared by every session (its engines load on
first use, so ``tools/list`` answers at once). Tool handlers run in worker threads, so the event
loop keeps answering while music is generated. Every call is bound to a path policy made of
VMB_ALLOWED_ROOTS (narrowed to the client's MCP roots when it offers roots inside them), VMB_HOME
and the bundled examples; client roots widen the roots only on stdio with VMB_TRUST_CLIENT_ROOTS=1.
Once serving it prints one banner line on stderr (``announce``); the first Ctrl-C or SIGTERM
closes every session and ends the process within 2 s (``Lifecycle``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import ValidationError
from vmb_agent.tools.admission import Admission
from vmb_agent.tools.content import OUTPUTS_URI, mime_type, tool_result
from vmb_agent.tools.handlers import TOOLS, ToolSpec, validation_message

from vmb_agent.errors import InputError, VMBError, shorten
from vmb_agent.files import PathPolicy, effective_roots
from vmb_agent.sdk import VMB, load_settings
from vmb_agent.settings import Settings

log = logging.getLogger("vmb.mcp")

#: largest output file a resource read returns (base64 inflates it by a third on the wire)
MAX_RESOURCE_BYTES = 64 * 1024**2
#: progress notifications are sent at most this often (the last one always goes out)
PROGRESS_INTERVAL_S = 0.1
ROOTS_TIMEOUT_S = 2.0
#: a client's roots/list beyond this many entries is ignored
MAX_CLIENT_ROOTS = 64


def _examples_dir() -> Path:
    import vmb_agent

    return Path(vmb_agent.__file__).resolve().parent / "examples"


@dataclass
class ServerState:
    """What every session shares: settings, the SDK and the always-allowed roots."""

    settings: Settings
    vmb: VMB
    base_roots: list[Path] = field(default_factory=list)
    # how many calls of each kind run at once and wait; past that, "busy" (tools/admission.py)
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.settings)
    # stdio with VMB_TRUST_CLIENT_ROOTS=1: the client's roots may widen the allowed roots
    trust_client_roots: bool = False

    @classmethod
    def create(cls, settings: Settings) -> ServerState:
        base_roots = [*settings.allowed_roots, settings.home, _examples_dir()]
        policy = PathPolicy(roots=base_roots, max_input_bytes=int(settings.max_input_mb * 1024**2))
        return cls(settings=settings, vmb=VMB(settings, policy=policy), base_roots=base_roots)


class VMBMCPServer(MCPServer[ServerState]):
    """``MCPServer`` whose errors always say what was wrong, on one line: argument-validation
    errors name the bad value, and even a crash names its exception (the SDK's own message is
    only "Error executing tool X"); stdio requests nested too deep get a JSON-RPC error."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            raise ToolError(unexpected_message(name, exc)) from exc.__cause__
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(validation_message(name, cause)) from cause
            # "Error executing tool x: <message>" -> "x: <message>"
            message = str(exc).removeprefix(f"Error executing tool {name}: ")
            raise ToolError(f"{name}: {message}") from cause

    async def run_stdio_async(self) -> None:
        """Serve over stdio, each incoming line checked for depth before the SDK parses it."""
        from vmb_agent.tools.http import DepthCheckedLines

        async with DepthCheckedLines.stdio() as (read_stream, write_stream):
            lowlevel = self._lowlevel_server
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        contents = await super().read_resource(uri, context)
        if str(uri).startswith(OUTPUTS_URI) and isinstance(contents, list):
            # One template serves every output type; label each file by its own suffix.
            return [dataclasses.replace(c, mime_type=mime_type(str(uri))) for c in contents]
        return contents


def unexpected_message(tool: str, exc: BaseException) -> str:
    """The one line a client sees for an exception that is not a ``VMBError``: the machine's
    refusal named with its path, else ``internal error in <tool>: <Type>: <first line>`` (the
    traceback goes to the log)."""
    from vmb_agent.errors import internal_error, os_failure

    cause = exc.__cause__ or exc
    while isinstance(cause, UnexpectedToolError) and cause.__cause__ is not None:
        cause = cause.__cause__  # a nested tool's crash: report the original
    failure = os_failure(cause) if isinstance(cause, OSError) else None
    if failure is not None:
        return f"{tool}: {failure}"
    log.error("%s raised an unexpected exception", tool, exc_info=cause)
    return internal_error(cause, tool)


# ----------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------


async def _client_roots(ctx: Context) -> list[Path]:
    """The client's file:// roots, if it declares the roots capability (else none)."""
    try:
        capabilities = ctx.client_capabilities
    except Exception:  # noqa: BLE001 - no session (a direct call)
        return []
    if capabilities is None or capabilities.roots is None:
        return []
    try:
        with warnings.catch_warnings(), anyio.fail_after(ROOTS_TIMEOUT_S):
            warnings.simplefilter("ignore")  # roots are deprecated in the newest protocol revision
            listed = await ctx.session.list_roots()
    except Exception as exc:  # noqa: BLE001 - the client may decline; use the configured roots
        log.info("client roots unavailable: %s", exc)
        return []
    roots = []
    for root in listed.roots[:MAX_CLIENT_ROOTS]:
        parsed = urlparse(str(root.uri))
        if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
            roots.append(Path(unquote(parsed.path)))
    return roots


async def _session_policy(state: ServerState, ctx: Context) -> PathPolicy:
    """The path policy of one call: the configured roots narrowed by the client's roots (or
    widened by them: stdio with VMB_TRUST_CLIENT_ROOTS=1 only), plus VMB_HOME and the examples;
    / and system folders are never roots (``vmb_agent.files.effective_roots``)."""
    settings = state.settings
    roots = effective_roots(
        settings.allowed_roots,
        [settings.home, _examples_dir()],
        await _client_roots(ctx),
        widen=state.trust_client_roots,
    )
    return PathPolicy(roots=roots, max_input_bytes=state.vmb.policy.max_input_bytes)


def _progress_bridge(ctx: Context) -> Any:
    """A ``progress(done, total, message)`` callback for worker threads that forwards to the
    client as MCP progress notifications, as percent (engines count in their own units, and
    MCP progress must only increase), throttled; a failed send never breaks the work."""
    sent = {"at": 0.0, "percent": 0.0}

    def progress(done: float, total: float | None = None, message: str | None = None) -> None:
        if total:
            sent["percent"] = max(sent["percent"], min(99.0, 100.0 * float(done) / float(total)))
        now = time.monotonic()
        if now - sent["at"] < PROGRESS_INTERVAL_S:
            return
        sent["at"] = now
        try:
            anyio.from_thread.run(ctx.report_progress, sent["percent"], 100.0, message)
        except Exception as exc:  # noqa: BLE001 - the client went away; the work goes on
            log.debug("progress not delivered: %s", exc)

    return progress


def _make_tool(spec: ToolSpec, state: ServerState) -> Tool:
    async def run(args: Any, ctx: Context) -> CallToolResult:
        vmb = state.vmb.with_policy(await _session_policy(state, ctx))
        progress = _progress_bridge(ctx)
        started = time.perf_counter()
        try:
            async with state.admission.slot(spec.name):  # busy: refused before any work
                await ctx.report_progress(0.0, 100.0, f"{spec.name} started")
                result = await anyio.to_thread.run_sync(spec.handler, vmb, args, progress)
        except VMBError as exc:
            raise ToolError(str(exc)) from exc
        except ValidationError as exc:  # e.g. a hand-edited MusicDescription that breaks a bound
            raise ToolError(validation_message(spec.name, exc).removeprefix(f"{spec.name}: "))
        except ImportError as exc:  # an engine stage that is not installed in this build
            raise ToolError(f"this VMB build cannot run {spec.name}: {exc}") from exc
        log.info("%s done in %.2f s", spec.name, time.perf_counter() - started)
        await ctx.report_progress(100.0, 100.0, f"{spec.name} done")
        return tool_result(result, state.settings)

    return Tool(
        fn=run,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=spec.input_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(arg_model=spec.input_model, output_model=spec.output_model),
        is_async=True,
        context_kwarg="ctx",
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=False,
            idempotent_hint=spec.idempotent,
            open_world_hint=False,
        ),
    )


# ----------------------------------------------------------------------------------------------
# Resources and prompts
# ----------------------------------------------------------------------------------------------


def _register_resources(server: MCPServer, state: ServerState) -> None:
    @server.resource(
        OUTPUTS_URI + "{+name}",
        name="output",
        description="A file VMB generated (audio, MIDI, piano roll, video) under VMB_HOME/outputs.",
    )
    async def read_output(name: str) -> bytes:
        outputs = state.settings.outputs_dir.resolve()
        try:  # a NUL byte or an over-long name is just not an output's name
            path = (outputs / name).resolve()
            found = path.is_relative_to(outputs) and path.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise ResourceNotFoundError(f"no output named {shorten(name)} in {outputs}.")
        size = path.stat().st_size
        if size > MAX_RESOURCE_BYTES:
            raise ResourceError(
                f"output {name!r} is {size / 1e6:.0f} MB; read it from disk at {path}."
            )
        return await anyio.Path(path).read_bytes()

    @server.resource(
        "vmb://tracks/{id}",
        name="track",
        description="A library track's metadata (JSON): tempo, key, instruments, caption, path.",
        mime_type="application/json",
    )
    async def read_track(id: str) -> str:
        try:
            track = await anyio.to_thread.run_sync(state.vmb.get_track, id)
        except VMBError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return track.model_dump_json(indent=2)

    @server.resource(
        "vmb://library/stats",
        name="library-stats",
        description="How many tracks the music library holds, by format and collection.",
        mime_type="application/json",
    )
    async def read_stats() -> str:
        try:
            stats = await anyio.to_thread.run_sync(state.vmb.library_stats)
        except VMBError as exc:
            raise ResourceError(str(exc)) from exc
        return stats.model_dump_json(indent=2)

    @server.resource(
        "vmb://backends",
        name="backends",
        description="Every describer, embedder, generator and renderer, which one is selected, "
        "and whether each can run here (and why not: a missing extra or weights).",
        mime_type="application/json",
    )
    async def read_backends() -> str:
        from vmb_agent.backends import list_backends

        rows = await anyio.to_thread.run_sync(list_backends, state.settings)
        return json.dumps([row.model_dump() for row in rows], indent=2)


def prompt_text(name: str) -> str:
    """A prompt file shipped in ``vmb_agent.prompts`` (e.g. ``mcp_score_video.md``)."""
    return resources.files("vmb_agent.prompts").joinpath(name).read_text(encoding="utf-8")


def _register_prompts(server: MCPServer) -> None:
    @server.prompt(name="score_this_video", title="Score this video")
    def score_this_video(path: str, context: str = "") -> str:
        """Write music for a video: describe it, refine with the user, pick references, generate."""
        return prompt_text("mcp_score_video.md").format(path=path, context=context or "(none)")

    @server.prompt(name="music_for_this_image", title="Music for this image")
    def music_for_this_image(path: str, context: str = "") -> str:
        """Compose a piece that fits an image, refining the description and references first."""
        return prompt_text("mcp_music_for_image.md").format(path=path, context=context or "(none)")


# ----------------------------------------------------------------------------------------------
# The server
# ----------------------------------------------------------------------------------------------


def build_server(
    settings: Settings | None = None,
    *,
    log_level: str = "WARNING",
    trust_client_roots: bool = False,
) -> VMBMCPServer:
    """Create the MCP server with its tools, resources and prompts (nothing heavy loads yet).
    ``trust_client_roots``: the client's roots may widen the allowed roots (stdio only)."""
    settings = settings or load_settings()
    state = ServerState.create(settings)
    state.trust_client_roots = trust_client_roots

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[ServerState]:
        # The SDK object is shared by every session; its engines load on first use.
        yield state

    from vmb_agent import __version__

    server = VMBMCPServer(
        name="vmb",
        title="VMB — Visuals Music Bridge",
        version=__version__,
        instructions=prompt_text("mcp_instructions.md"),
        tools=[_make_tool(spec, state) for spec in TOOLS.values()],
        lifespan=lifespan,
        log_level=log_level.upper(),  # type: ignore[arg-type]
    )
    server.state = state  # type: ignore[attr-defined]
    _register_resources(server, state)
    _register_prompts(server)

    from starlette.requests import Request
    from starlette.responses import JSONResponse

    @server.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "server": "vmb", "version": __version__})

    return server


# ----------------------------------------------------------------------------------------------
# Running: one banner line, and a clean stop on the first Ctrl-C / SIGTERM
# ----------------------------------------------------------------------------------------------

#: after the first Ctrl-C / SIGTERM, sessions are closed at once; a tool call still running in a
#: worker thread this long after is abandoned and the process ends (its outputs are written
#: atomically and the library in atomic batches, so nothing is left half-written)
STOP_GRACE_S = 1.0
#: the banner names at most this many allowed roots
BANNER_ROOTS = 3


@dataclass
class Lifecycle:
    """How the server stops. The first SIGINT or SIGTERM asks every session to close and arms a
    timer that ends the process ``STOP_GRACE_S`` later if work still holds it; a second signal
    ends it at once. Exit status: 130 after Ctrl-C (as every ``vmb`` command), else 0."""

    signal_number: int | None = None

    @property
    def exit_code(self) -> int:
        return 130 if self.signal_number == signal.SIGINT else 0

    async def stop_on_signals(self, stop: Callable[[], None]) -> None:
        if sys.platform == "win32":  # no signal handlers in its event loop: Ctrl-C as Python's
            return
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for number in signals:
                if self.signal_number is not None:
                    _end_now(self.exit_code)
                self.signal_number = number
                log.info("stopping on %s", signal.Signals(number).name)
                timer = threading.Timer(STOP_GRACE_S, _end_now, (self.exit_code,))
                timer.daemon = True  # never what keeps the process alive
                timer.start()
                stop()


def _end_now(code: int) -> None:
    """End the process without the interpreter's teardown: with chromadb, numpy and pydantic
    loaded that alone takes 0.5-1.5 s on a busy machine. Nothing is lost: outputs are renamed
    into place when complete and every library write is committed when it returns."""
    with contextlib.suppress(Exception):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _shown_roots(state: ServerState) -> str:
    roots = [str(p) for p in state.settings.allowed_roots]
    shown = ", ".join(roots[:BANNER_ROOTS]) + (f" +{len(roots) - BANNER_ROOTS} more"
                                               if len(roots) > BANNER_ROOTS else "")  # fmt: skip
    configured = shown or "none set (VMB_ALLOWED_ROOTS)"
    widen = "; client roots may add" if state.trust_client_roots else ""
    return f"roots {configured} + VMB_HOME {state.settings.home}{widen}"


async def announce(state: ServerState, where: str) -> None:
    """Print the one banner line on stderr: transport and address, roots, library size. The
    library is counted in a worker thread, so the server answers meanwhile."""

    def library_size() -> str:
        try:
            return f"{state.vmb.library.count()} tracks"
        except VMBError as exc:
            return f"unavailable ({str(exc)[:120]})"

    size = await anyio.to_thread.run_sync(library_size, abandon_on_cancel=True)
    line = f"vmb serve: MCP over {where}; {_shown_roots(state)}; library {size}; Ctrl-C to stop"
    print(line, file=sys.stderr, flush=True)


async def serve_stdio(server: VMBMCPServer, lifecycle: Lifecycle) -> None:
    """Serve one client over stdin/stdout until it closes stdin or a signal stops us."""
    async with anyio.create_task_group() as group:
        group.start_soon(lifecycle.stop_on_signals, group.cancel_scope.cancel)
        group.start_soon(announce, server.state, "stdio")  # type: ignore[attr-defined]
        await server.run_stdio_async()
        group.cancel_scope.cancel()  # the client closed stdin: we are done


def run(
    transport: str = "stdio",
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    settings: Settings | None = None,
    log_level: str = "WARNING",
) -> int:
    """Serve over ``stdio`` or streamable ``http`` until the client leaves (stdio: returns 0)
    or a signal stops the server: then the process ends with 130 after Ctrl-C, 0 after SIGTERM
    (see ``Lifecycle``). Raises ``VMBError`` on a bad configuration."""
    settings = settings or load_settings()
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    lifecycle = Lifecycle()
    if transport == "stdio":
        trust = settings.trust_client_roots  # the user's own client, by explicit opt-in
        server = build_server(settings, log_level=log_level, trust_client_roots=trust)
        anyio.run(serve_stdio, server, lifecycle)
        return _stopped(lifecycle)
    if transport != "http":
        raise InputError(f"unknown transport {transport!r}; allowed: stdio, http.")
    if settings.trust_client_roots:
        log.warning("VMB_TRUST_CLIENT_ROOTS is ignored over HTTP: client roots only narrow")
    from vmb_agent.tools.http import serve_http

    server = build_server(settings, log_level=log_level)

    async def announce_http(url: str) -> None:
        await announce(server.state, url)  # type: ignore[attr-defined]

    anyio.run(lambda: serve_http(server, host=host, port=port, settings=settings,
                                 stop_on_signals=lifecycle.stop_on_signals,
                                 on_started=announce_http))  # fmt: skip
    return _stopped(lifecycle)


def _stopped(lifecycle: Lifecycle) -> int:
    """After a stop by signal, end the process now (the 2 s promise includes its exit)."""
    if lifecycle.signal_number is not None:
        _end_now(lifecycle.exit_code)
    return lifecycle.exit_code


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``vmb-mcp`` / ``python -m vmb_agent.tools.server``."""
    parser = argparse.ArgumentParser(prog="vmb-mcp", description="VMB MCP server.")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log-level", default=os.environ.get("VMB_LOG_LEVEL", "WARNING"))
    ns = parser.parse_args(argv)
    try:
        code = run(ns.transport, host=ns.host, port=ns.port, log_level=ns.log_level)
    except VMBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:  # before the server was up
        raise SystemExit(130) from None
    raise SystemExit(code)


if __name__ == "__main__":
    main()
