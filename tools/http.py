"""Streamable HTTP transport: the MCP app behind a small guard (token, Host, Origin, JSON depth).

Rules:
- Binding beyond loopback requires ``VMB_TOKEN``: at least 32 characters and an estimated 128
  bits of entropy (``vmb token`` prints one); the server refuses to start otherwise. A token
  that is blank or holds whitespace is refused on any bind (no client could send it).
- When a token is set every request except ``/health`` must carry ``Authorization: Bearer <token>``
  (401 otherwise); it is compared in constant time.
- DNS rebinding: on a loopback bind the ``Host`` header must name a loopback host (421 otherwise);
  a browser ``Origin`` must be a loopback origin or the server's own origin (403 otherwise).
- A request nested deeper than ``MAX_JSON_DEPTH`` (objects and arrays) is answered with a JSON-RPC
  error before anything parses it, over HTTP (400) and over stdio (:class:`DepthCheckedLines`):
  the SDK's parser would give up on it without answering.
"""

from __future__ import annotations

import codecs
import contextlib
import hmac
import io
import ipaddress
import json
import logging
import math
import os
import re
import selectors
import socket
import sys
from collections import Counter, deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    MutableMapping,
)
from typing import Any, BinaryIO
from urllib.parse import urlparse

from vmb_agent.errors import ConfigError, InputError
from vmb_agent.files import MAX_JSON_DEPTH, json_depth
from vmb_agent.settings import Settings

log = logging.getLogger("vmb.mcp.http")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PUBLIC_PATHS = {"/health"}
#: a token guarding a server reachable from other machines: at least this long and this strong
MIN_TOKEN_CHARS = 32
MIN_TOKEN_BITS = 128
#: JSON-RPC "Invalid Request"
INVALID_REQUEST = -32600


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) stays on this machine."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> str:
    """The host name of a ``Host`` header value (``[::1]:8765`` -> ``::1``)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class GuardMiddleware:
    """ASGI middleware enforcing the bearer token and Host/Origin checks."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.check(scope.get("path", ""), headers)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message = problem
        extra = [(b"www-authenticate", b'Bearer realm="vmb"')] if status == 401 else []
        await _send_json(send, status, {"error": message}, extra)

    def check(self, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(_split_host(host)):
            return 421, f"host {host!r} is not allowed; this server only answers on loopback."
        origin = headers.get("origin")
        if origin and not self._origin_allowed(origin, host):
            return 403, f"origin {origin!r} is not allowed."
        if self.token and path not in PUBLIC_PATHS:
            auth = headers.get("authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return 401, "missing or wrong bearer token (Authorization: Bearer $VMB_TOKEN)."
        return None

    @staticmethod
    def _origin_allowed(origin: str, host: str) -> bool:
        if origin == "null":
            return False
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return False
        if is_loopback(parsed.hostname):
            return True
        # Same-origin requests from a page the server itself serves.
        return parsed.netloc.lower() == host.lower()


def token_bits(token: str) -> float:
    """Estimated entropy of ``token`` in bits: its length times the Shannon entropy of its own
    characters. "aaaa..." scores 0, "abab..." 1 bit a character, and a random URL-safe token
    (``vmb token``) about 5.7 bits a character, 240+ in all."""
    counts = Counter(token)
    n = len(token)
    return -n * sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def check_token(token: str | None, host: str) -> None:
    """Refuse a token no client could send (blank, holding whitespace) on any bind, and on a
    bind beyond loopback a missing or weak one (``MIN_TOKEN_CHARS``, ``MIN_TOKEN_BITS``)."""
    fresh = "`export VMB_TOKEN=$(vmb token)`"
    if token and (not token.strip() or any(c.isspace() or not c.isprintable() for c in token)):
        raise ConfigError(
            "VMB_TOKEN is blank or holds whitespace or control characters, so no client could "
            f"send it; allowed: one word of printable characters, e.g. {fresh}."
        )
    if is_loopback(host):
        return
    if not token:
        raise ConfigError(
            f"refusing to bind to {host!r} without a token: anyone who can reach this port could "
            f"use the server. Set VMB_TOKEN to a long random secret ({fresh}), or bind to "
            "127.0.0.1."
        )
    bits = token_bits(token)
    if len(token) < MIN_TOKEN_CHARS or bits < MIN_TOKEN_BITS:
        raise ConfigError(
            f"refusing to bind to {host!r} with a weak VMB_TOKEN ({len(token)} characters, about "
            f"{bits:.0f} bits of entropy); allowed: at least {MIN_TOKEN_CHARS} characters and "
            f"{MIN_TOKEN_BITS} bits (length x the entropy of its characters), e.g. {fresh}."
        )


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to expose the server beyond this machine without a strong token."""
    check_token(settings.token, host)


# ----------------------------------------------------------------------------------------------
# The JSON depth limit, for HTTP bodies and stdio lines
# ----------------------------------------------------------------------------------------------

_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
_COLON = re.compile(r"\s*:\s*")


def request_id(text: str) -> int | str | None:
    """The top-level ``"id"`` of a JSON-RPC message, found without parsing it (it may be too
    deep to parse): a scan of its strings and brackets. None if there is none."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
        elif token in ("]", "}"):
            depth -= 1
        elif depth == 1 and token == '"id"':
            colon = _COLON.match(text, match.end())
            if colon is None:
                continue  # the word "id" as a value, not the key
            try:
                value, _ = json.JSONDecoder().raw_decode(text, colon.end())
            except ValueError:
                return None
            ok = isinstance(value, int | str) and not isinstance(value, bool)
            return value if ok else None
    return None


def depth_error(text: str) -> dict[str, Any] | None:
    """The JSON-RPC error answering ``text`` if it nests deeper than ``MAX_JSON_DEPTH``."""
    depth = json_depth(text)
    if depth <= MAX_JSON_DEPTH:
        return None
    message = (
        f"the request nests objects/arrays {depth} levels deep; allowed: at most "
        f"{MAX_JSON_DEPTH} levels."
    )
    return {
        "jsonrpc": "2.0",
        "id": request_id(text),
        "error": {"code": INVALID_REQUEST, "message": message},
    }


class DepthLimitMiddleware:
    """ASGI middleware answering a POST body nested too deep with a JSON-RPC error (400) before
    the SDK parses it. A body over ``max_body`` is passed on as it came (the SDK answers 413)."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        messages: list[dict[str, Any]] = []
        size = 0
        complete = False
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                break
            if not message.get("more_body", False):
                complete = True
                break
        if complete:
            body = b"".join(m.get("body", b"") for m in messages)
            error = depth_error(body.decode("utf-8", errors="replace"))
            if error is not None:
                await _send_json(send, 400, error)
                return
        pending = deque(messages)

        async def replay() -> Any:
            return pending.popleft() if pending else await receive()

        await self.app(scope, replay, send)


async def _send_json(send: Any, status: int, payload: object, extra: list | None = None) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


class DepthCheckedLines:
    """The stdio transport's incoming lines with the depth limit: a line nested too deep never
    reaches the SDK's parser (which drops it without an answer, so the client would wait
    forever); it is answered with a JSON-RPC error through the transport's write stream."""

    def __init__(self, lines: AsyncIterable[str]) -> None:
        import anyio

        self.lines = lines
        self.replies: Any = None  # the transport's write stream, once it exists
        self.ready = anyio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._checked()

    async def _checked(self) -> AsyncIterator[str]:
        from mcp.shared.message import SessionMessage
        from mcp_types import jsonrpc_message_adapter

        async for line in self.lines:
            error = depth_error(line)
            if error is None:
                yield line
                continue
            log.info("request refused: %s", error["error"]["message"])
            await self.ready.wait()
            reply = jsonrpc_message_adapter.validate_python(error)
            await self.replies.send(SessionMessage(reply))

    @classmethod
    @contextlib.asynccontextmanager
    async def stdio(cls) -> AsyncIterator[tuple[Any, Any]]:
        """``mcp.server.stdio.stdio_server()`` reading depth-checked lines from stdin."""
        from mcp.server.stdio import stdio_server

        with _claimed_stdin() as wire:
            lines = cls(_lines_from(wire))
            async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
                lines.replies = write_stream
                lines.ready.set()
                yield read_stream, write_stream


async def _lines_from(wire: BinaryIO) -> AsyncIterator[str]:
    """The lines of ``wire``, read so that a stop (Ctrl-C, SIGTERM) can cancel the wait: the
    event loop waits until the pipe or terminal is readable, then one ``read`` takes what is
    there. A read in a worker thread (``anyio.wrap_file``) cannot be cancelled, so the server
    would hang on a terminal's stdin until the next line. A descriptor the loop cannot watch
    (a regular file, /dev/null) is read in a worker thread: such a read never waits."""
    import anyio

    fd = wire.fileno()
    if not _watchable(fd):
        text = io.TextIOWrapper(wire, encoding="utf-8", errors="replace")
        async for line in anyio.wrap_file(text):
            yield line
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []  # the line being read, in pieces (a request may be megabytes)
    while True:
        await anyio.wait_readable(fd)
        chunk = os.read(fd, 1 << 16)  # does not block: the descriptor is readable
        pieces = decoder.decode(chunk, final=not chunk).split("\n")
        for piece in pieces[:-1]:
            yield "".join([*parts, piece, "\n"])
            parts = []
        if pieces[-1]:
            parts.append(pieces[-1])
        if not chunk:  # end of input: the client closed the pipe
            if parts:
                yield "".join(parts)
            return


def _watchable(fd: int) -> bool:
    """Whether the event loop's selector can wait on ``fd`` (not on regular files, nor on any
    pipe on Windows, whose event loop cannot wait on pipes this way)."""
    if sys.platform == "win32":
        return False
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return False
    return True


@contextlib.contextmanager
def _claimed_stdin() -> Iterator[BinaryIO]:
    """The protocol's stdin on a private descriptor, with fd 0 pointed at /dev/null meanwhile
    so that a child process (ffmpeg) never reads the client's bytes, as the SDK does when it
    opens stdin itself. The private descriptor stays open: a reader thread may still block on
    it when the server stops."""
    wire = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        yield os.fdopen(wire, "rb", closefd=False)
    finally:
        os.dup2(wire, 0)


def build_app(server: Any, *, host: str, settings: Settings) -> ASGIApp:
    """The guarded ASGI app: MCP at ``/mcp``, ``/health`` for probes."""
    from mcp.server.transport_security import (
        DEFAULT_MAX_REQUEST_BODY_SIZE,
        TransportSecuritySettings,
    )

    check_bind(host, settings)
    loopback = is_loopback(host)
    # Our guard does the Host/Origin checks (with clear messages); the SDK's own copy would
    # reject a remote client's Host on a public bind, so it is configured to match.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(host=host, transport_security=security)
    # depth checked after the token: an unknown client cannot make the server buffer a body
    app = DepthLimitMiddleware(app, max_body=DEFAULT_MAX_REQUEST_BODY_SIZE)
    return GuardMiddleware(app, token=settings.token, loopback_only=loopback)


#: on a stop, requests still open (a tool call, a client's event stream) get this long to end
#: before uvicorn cuts them (the whole stop must take under 2 s)
GRACEFUL_SHUTDOWN_S = 0.5


async def serve_http(
    server: Any,
    *,
    host: str,
    port: int,
    settings: Settings,
    stop_on_signals: Callable[[Callable[[], None]], Awaitable[None]],
    on_started: Callable[[str], Awaitable[None]],
) -> None:
    """Serve the guarded app with uvicorn until ``stop_on_signals`` calls its ``stop``: then
    every MCP session is closed (clients see their streams end), uvicorn stops accepting and
    finishes within ``GRACEFUL_SHUTDOWN_S``. ``on_started(url)`` runs once it listens."""
    import anyio
    import uvicorn

    if not 0 < port < 65536:
        raise InputError(f"port {port} is out of range; allowed: 1 to 65535.")
    app = build_app(server, host=host, settings=settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)  # fmt: skip
    http = _uvicorn_without_signals()(config)
    shown_host = f"[{host}]" if ":" in host else host
    token = "token required" if settings.token else "no token, loopback only"
    url = f"streamable HTTP at http://{shown_host}:{port}/mcp ({token})"

    async def stop_sessions() -> None:
        await _close_sessions(server)
        http.should_exit = True

    async def when_started() -> None:
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.05)
        await on_started(url)

    listening = _listen(host, port)
    async with anyio.create_task_group() as group:
        group.start_soon(stop_on_signals, lambda: group.start_soon(stop_sessions))
        group.start_soon(when_started)
        await http.serve(sockets=[listening])
        group.cancel_scope.cancel()


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so that a port in use is one ``error:`` line (uvicorn
    would log it and exit from inside the event loop, with a traceback)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host.strip("[]"), port))
    except OSError as exc:
        listening.close()
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}; choose another port with "
                          "--port, or stop what uses it.") from None  # fmt: skip
    return listening


def _uvicorn_without_signals() -> type:
    import uvicorn

    class Quiet(uvicorn.Server):
        """uvicorn without signal handlers of its own: we stop it (``should_exit``) on ours, and
        it does not re-raise the signal afterwards, so the exit status is ours."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Quiet


async def _close_sessions(server: Any) -> None:
    """End every MCP session now, so that clients' open streams finish and uvicorn need not wait
    for them. The session manager has no public call for this; without it the streams are cut
    after ``GRACEFUL_SHUTDOWN_S`` anyway."""
    try:
        manager = server.session_manager
    except (AttributeError, RuntimeError):  # no HTTP app was made
        return
    transports = getattr(manager, "_server_instances", {})
    for transport in list(transports.values()):
        with contextlib.suppress(Exception):
            await transport.terminate()
