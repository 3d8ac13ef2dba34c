"""The ``vmb`` command line: a thin adapter over the SDK (parse -> call -> format).

Subcommands live in their own modules and are imported only when invoked, so ``vmb --help``
stays fast. Every command maps a :class:`~vmb_agent.errors.VMBError` to ``error: <message>`` on
stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

# command name -> (module, attribute, one-line help shown by `vmb --help` without importing it)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "describe": ("vmb_agent.cli.describe", "describe", "Describe an image, video or text as music."),
    "library": ("vmb_agent.cli.library", "library", "Build, add to and inspect the music library."),
    "search": ("vmb_agent.cli.search", "search", "Find reference music (broad/targeted/dual)."),
    "generate": ("vmb_agent.cli.generate", "generate", "Generate music from the two bridges."),
    "score": ("vmb_agent.cli.generate", "score", "Score a video: describe, search, generate, mux."),
    "serve": ("vmb_agent.cli.serve", "serve", "Run the MCP server (stdio or streamable HTTP)."),
    "chat": ("vmb_agent.cli.chat", "chat", "Refine and generate music interactively."),
    "eval": ("vmb_agent.cli.eval", "eval_group", "Run the evaluation suites."),
}


class LazyGroup(click.Group):
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
        except Exception as exc:  # a bug in VMB: one line, details only on request
            if os.environ.get("VMB_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc} (set VMB_DEBUG=1 for a traceback)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vmb-agent", prog_name="vmb")
def cli() -> None:
    """VMB — Visuals Music Bridge: score images, videos and words with music.

    describe (text bridge) -> search (music bridge) -> generate (explicitly conditioned).
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="vmb")
