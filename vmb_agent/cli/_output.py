"""Shared output helpers for CLI commands: ``--json`` printing and progress bars."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from pydantic import BaseModel

from vmb_agent.types import ProgressCallback

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [to_jsonable(v) for v in value]
    return value


def emit(value: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``value`` as JSON (``--json``) or with the command's human-readable ``render``."""
    if as_json:
        click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))
    else:
        render(value)


def echo_warnings(warnings: Sequence[str]) -> None:
    """``warning: <line>`` on stderr for each of a result's warnings (stdout stays the result,
    so ``--json`` output remains pure JSON; the JSON carries them too)."""
    for line in warnings:
        click.echo(f"warning: {line}", err=True)


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[ProgressCallback]:
    """Yield a ``report(done, total, message)`` callback drawing a rich progress bar on stderr.

    The same callback signature is what SDK operations accept as ``progress=``.
    """
    if not enabled:
        yield lambda done, total=None, message=None: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=None, message="")

        def report(done: float, total: float | None = None, message: str | None = None) -> None:
            progress.update(task, completed=done, total=total, message=message or "")

        yield report


def read_description(path: str) -> Any:
    """A ``MusicDescription`` JSON file (as ``vmb describe --json`` writes), or a one-line error.

    Read through the path policy's JSON reader: a regular file only (``/dev/zero`` or a FIFO is
    refused, not read forever), at most 16 MB, nested at most 64 levels."""
    from vmb_agent.errors import shorten, validated
    from vmb_agent.files import PathPolicy
    from vmb_agent.sdk import load_settings
    from vmb_agent.types import MusicDescription

    policy = PathPolicy(max_input_bytes=int(load_settings().max_input_mb * 1024**2))
    data = policy.read_json(path, what="description file")
    return validated(
        MusicDescription, data, f"description {shorten(path)} is not a MusicDescription"
    )
