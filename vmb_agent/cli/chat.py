"""``vmb chat``: an interactive session (LLM mode when an endpoint is configured, else offline)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click


@click.command("chat")
@click.option(
    "--offline", is_flag=True, help="Use the built-in edit grammar even if an LLM is set."
)
@click.option("--describe", "describe_path", metavar="PATH", help="Start from this image or video.")
def chat(offline: bool, describe_path: str | None) -> None:
    """Refine and generate music interactively.

    With VMB_LLM_BASE_URL and VMB_LLM_MODEL set, an OpenAI-compatible model drives VMB's tools;
    otherwise type commands and edits such as: describe PATH, faster, in D minor, add strings,
    no drums, piano only, more like 2, 45 seconds, darker, generate, play, help, quit.
    """
    from vmb_agent.chat.session import ChatSession
    from vmb_agent.chat.wrap import StreamWrapper, terminal_width, wrap_text
    from vmb_agent.sdk import VMB, load_settings

    settings = load_settings()  # a bad VMB_* value: one line naming it
    vmb = VMB(settings)
    interactive = sys.stdin.isatty()
    # In a terminal, lines break between words (the terminal itself would cut words at its
    # last column); piped output keeps each line whole for whatever reads it.
    wrapping = sys.stdout.isatty()

    def say(text: str) -> None:
        click.echo(wrap_text(text, terminal_width()) if wrapping else text)

    if interactive:
        try:
            import readline  # noqa: F401 - line editing and history for input()
        except ImportError:  # pragma: no cover - not on every platform
            pass
    use_llm = not offline and bool(settings.llm_base_url and settings.llm_model)
    if use_llm:
        from vmb_agent.chat.llm import LLMChat

        def raw(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        write = StreamWrapper(raw).write if wrapping else raw
        session = LLMChat.from_settings(vmb, settings, write=write, out=say)
        say(f"vmb chat — {settings.llm_model} at {settings.llm_base_url}; 'quit' leaves.")
        if describe_path:
            _llm_turn(session, f"Describe {describe_path} as music and summarise it for me.", say)
    else:
        session = ChatSession(vmb, out=say)
        say("vmb chat (offline mode) — type 'help' for commands, 'quit' to leave.")
        if describe_path:
            session.handle(f"describe {describe_path}")
    offline_session = session if isinstance(session, ChatSession) else None
    while True:
        try:
            line = input("vmb> ")
        except EOFError:
            click.echo("")
            break
        except KeyboardInterrupt:
            click.echo("")
            continue
        if line.strip().lower() in ("quit", "exit", "bye", "q"):
            click.echo("bye")
            break
        try:
            if offline_session is not None:
                offline_session.handle(line)
                if offline_session.finished:
                    break
            elif line.strip():
                _llm_turn(session, line, say)
        except KeyboardInterrupt:
            click.echo("\ninterrupted")


def _llm_turn(session: object, line: str, say: Callable[[str], None]) -> None:
    from vmb_agent.chat.llm import LLMChat
    from vmb_agent.chat.session import ChatSession
    from vmb_agent.errors import VMBError

    assert isinstance(session, LLMChat)
    lowered = line.strip().lower()
    if lowered in ("play", "open", "show", "help"):
        # Local commands work the same in both modes, on the shared state.
        local = ChatSession(session.vmb, out=say)
        local.state = session.state
        local.handle(lowered)
        return
    try:
        session.ask(line)
    except VMBError as exc:
        say(f"error: {exc}")
