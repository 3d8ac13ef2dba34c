"""The ``vmb`` command line: a thin adapter over the SDK (parse -> call -> format).

Subcommands live in their own modules and are imported only when invoked, so ``vmb --help``
stays fast. Every failure is one line on stderr, ``error: <what was wrong and what is allowed>``,
and an exit code (docs/agents.md#errors-and-exit-codes) — never a traceback or click's usage
block (that is what ``--help`` is for):

    0 success
    1 internal error (a bug in VMB; VMB_DEBUG=1 shows the traceback); ``vmb eval``: a guard failed
    2 usage, input or configuration error: a bad flag or value, a file VMB cannot use, a path
      outside the allowed roots, a bad VMB_* setting; ``library add`` when nothing was added
    3 the operating system refused a read or write (no space, permission, name too long,
      read-only file system): the message names the path
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vmb_agent.errors import VMBError

# command name -> (module, attribute, one-line help shown by `vmb --help` without importing it)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "describe": (
        "vmb_agent.cli.describe",
        "describe",
        "Describe an image, video or text as music.",
    ),
    "library": ("vmb_agent.cli.library", "library", "Build, add to and inspect the music library."),
    "search": ("vmb_agent.cli.search", "search", "Find reference music (broad/targeted/dual)."),
    "generate": ("vmb_agent.cli.generate", "generate", "Generate music from the two bridges."),
    "score": ("vmb_agent.cli.generate", "score", "Score a video: describe, search, generate, mux."),
    "serve": ("vmb_agent.cli.serve", "serve", "Run the MCP server (stdio or streamable HTTP)."),
    "chat": ("vmb_agent.cli.chat", "chat", "Refine and generate music interactively."),
    "eval": ("vmb_agent.cli.eval", "eval_group", "Run the evaluation suites."),
    "token": ("vmb_agent.cli.serve", "token", "Print a fresh random token for VMB_TOKEN."),
    "backends": ("vmb_agent.cli.backends", "backends", "List the engines and whether each runs."),
}


def usage_line(exc: click.UsageError) -> str:
    """Click's usage error as one line: what was wrong, what is allowed, where help is."""
    message = " ".join(exc.format_message().split())
    ctx = exc.ctx
    if ctx is None:
        return message
    command = ctx.command
    if isinstance(command, click.Group) and message.startswith("No such command"):
        message += f" Allowed: {', '.join(command.list_commands(ctx))}."
    return f"{message} (see '{ctx.command_path} --help')"


class LazyGroup(click.Group):
    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's ``main``, with its usage errors as one ``error:`` line (exit 2) instead of
        the three-line usage block; ``--help`` still prints the usage."""
        call = functools.partial(super().main, args, prog_name, complete_var, **extra)
        if not standalone_mode:
            return call(standalone_mode=False)
        try:
            code = call(standalone_mode=False)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `vmb`: the help is the answer
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            click.echo(f"error: {usage_line(exc)}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *(n for n in _COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in _COMMANDS:
            return None
        module, attr, _ = _COMMANDS[cmd_name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            # A command whose dependencies are missing shows up as unavailable, not as a crash.
            reason = str(exc)

            @click.command(cmd_name, help=_COMMANDS[cmd_name][2])
            def unavailable() -> None:
                raise click.ClickException(f"'vmb {cmd_name}' is not available: {reason}")

            return unavailable

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in _COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        from vmb_agent.errors import VMBError

        try:
            return super().invoke(ctx)
        except VMBError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            known = _known_failure(exc)
            if known is not None:
                click.echo(f"error: {known}", err=True)
                ctx.exit(known.exit_code)
            if os.environ.get("VMB_DEBUG"):
                raise
            from vmb_agent.errors import internal_error

            # a bug in VMB: one line, details only on request
            click.echo(f"{internal_error(exc)} (set VMB_DEBUG=1 for a traceback)", err=True)
            ctx.exit(1)


def _known_failure(exc: Exception) -> VMBError | None:
    """The ``VMBError`` for a failure that is not a bug although it reached the CLI as another
    exception: the machine refusing a read or write, a bad VMB_* setting (read by a command
    before the SDK could explain it). None for anything else."""
    from vmb_agent.errors import os_failure, settings_error

    if isinstance(exc, OSError):
        return os_failure(exc)
    if type(exc).__name__ == "ValidationError" and getattr(exc, "title", "") == "Settings":
        return settings_error(exc)
    return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vmb-agent", prog_name="vmb")
def cli() -> None:
    """VMB — Visuals Music Bridge: score images, videos and words with music.

    describe (text bridge) -> search (music bridge) -> generate (explicitly conditioned).
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="vmb")
