"""``vmb serve``: run the MCP server over stdio (default) or streamable HTTP."""

from __future__ import annotations

import click


@click.command("serve")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio for Claude Desktop / IDE agents; http (streamable HTTP at /mcp) for remote ones.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP bind address.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="HTTP port."
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="WARNING",
    show_default=True,
    envvar="VMB_LOG_LEVEL",
    help="Log level (logs go to stderr; stdout is the protocol). Env: VMB_LOG_LEVEL.",
)
def serve(transport: str, host: str, port: int, log_level: str) -> None:
    """Run the MCP server (stdio or streamable HTTP).

    Prints one line on stderr once it serves (transport, address, allowed roots, library size)
    and stops on the first Ctrl-C or SIGTERM, closing every session within 2 s (exit status 130
    after Ctrl-C, 0 after SIGTERM or when a stdio client closes the pipe).

    Binding HTTP beyond loopback requires VMB_TOKEN, a random secret of at least 32 characters
    and 128 bits (`vmb token` prints one); clients then send "Authorization: Bearer $VMB_TOKEN".
    GET /health answers without a token.
    """
    from vmb_agent.tools.server import run

    code = run(transport, host=host, port=port, log_level=log_level)
    if code:
        click.get_current_context().exit(code)


@click.command("token")
def token() -> None:
    """Print a fresh random token for VMB_TOKEN (43 URL-safe characters, 256 bits).

    \b
    export VMB_TOKEN=$(vmb token)
    vmb serve --transport http --host 0.0.0.0
    """
    import secrets

    click.echo(secrets.token_urlsafe(32))
