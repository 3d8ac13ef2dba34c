"""Streamable HTTP transport: the MCP app behind a small guard (token, Host, Origin).

Rules:
- Binding beyond loopback requires ``VMB_TOKEN``; the server refuses to start without it.
- When a token is set every request except ``/health`` must carry ``Authorization: Bearer <token>``
  (401 otherwise).
- DNS rebinding: on a loopback bind the ``Host`` header must name a loopback host (421 otherwise);
  a browser ``Origin`` must be a loopback origin or the server's own origin (403 otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlparse

from vmb_agent.errors import InputError, VMBError
from vmb_agent.settings import Settings

log = logging.getLogger("vmb.mcp.http")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PUBLIC_PATHS = {"/health"}


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
        body = json.dumps({"error": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

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


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to expose the server beyond this machine without a token."""
    if not is_loopback(host) and not settings.token:
        raise VMBError(
            f"refusing to bind to {host!r} without a token: anyone who can reach this port could "
            "use the server. Set VMB_TOKEN to a long random secret "
            "(e.g. `export VMB_TOKEN=$(openssl rand -hex 32)`), or bind to 127.0.0.1."
        )


def build_app(server: Any, *, host: str, settings: Settings) -> ASGIApp:
    """The guarded ASGI app: MCP at ``/mcp``, ``/health`` for probes."""
    from mcp.server.transport_security import TransportSecuritySettings

    check_bind(host, settings)
    loopback = is_loopback(host)
    # Our guard does the Host/Origin checks (with clear messages); the SDK's own copy would
    # reject a remote client's Host on a public bind, so it is configured to match.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(host=host, transport_security=security)
    return GuardMiddleware(app, token=settings.token, loopback_only=loopback)


def serve_http(server: Any, *, host: str, port: int, settings: Settings) -> None:
    import uvicorn

    if not 0 < port < 65536:
        raise InputError(f"port {port} is out of range; allowed: 1 to 65535.")
    app = build_app(server, host=host, settings=settings)
    log.warning(
        "VMB MCP server on http://%s:%s/mcp (token %s)",
        host,
        port,
        "required" if settings.token else "not set",
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
