"""Shared output helpers for CLI commands: ``--json`` printing and progress bars."""

from __future__ import annotations

import json
import time
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


#: off a terminal (``long`` work), a progress line at most this often (and each tenth of it)
PLAIN_INTERVAL_S = 10.0
#: ... and none before this: short work needs no progress
PLAIN_QUIET_S = 2.0


@contextmanager
def progress_bar(
    description: str, *, enabled: bool = True, long: bool = False
) -> Iterator[ProgressCallback]:
    """Yield a ``report(done, total, message)`` callback (the signature SDK operations accept as
    ``progress=``) drawing a rich progress bar on a terminal's stderr.

    ``long`` (library build/add: counted work of minutes): the bar shows an ETA that counts
    from the first report (a resumed build starts part-way), and off a terminal progress comes
    as plain lines (:class:`PlainProgress`) instead of nothing.
    """
    if not enabled:
        yield lambda done, total=None, message=None: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if long and not console.is_terminal:
        yield PlainProgress(description)
        return
    eta = (TaskProgressColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(eta if long else (TimeElapsedColumn(),)),
        TextColumn("{task.fields[message]}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=None, message="")
        first = long

        def report(done: float, total: float | None = None, message: str | None = None) -> None:
            nonlocal first
            if first:  # a resumed build starts part-way: the ETA counts from here on
                progress.reset(task, total=total, completed=done, message=message or "")
                first = False
            else:
                progress.update(task, completed=done, total=total, message=message or "")

        yield report


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


class PlainProgress:
    """Progress as plain lines on stderr, for logs and pipes (a bar would be noise there):
    ``building library: 120/500 (24%), 0:31 elapsed, about 1:40 left``, at most every
    ``PLAIN_INTERVAL_S`` or each tenth of the work, and the last one. Work done within
    ``PLAIN_QUIET_S`` prints nothing: a quick add (or a quick refusal) stays one line."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.started = time.monotonic()
        self.baseline: tuple[float, float] | None = None  # (time, done) of the first report
        self.last_line_at = 0.0
        self.last_tenth = -1

    def __call__(self, done: float, total: float | None = None, message: str | None = None) -> None:
        now = time.monotonic()
        if self.baseline is None:  # a resumed build starts part-way: rate from here on
            self.baseline = (now, done)
        tenth = int(10 * done / total) if total else -1
        finished = bool(total) and done >= (total or 0)
        if now - self.started < PLAIN_QUIET_S:
            return
        if finished and not self.last_line_at:  # nothing was shown: no lone "done" line
            return
        if not finished and tenth == self.last_tenth and now - self.last_line_at < PLAIN_INTERVAL_S:
            return
        self.last_line_at, self.last_tenth = now, tenth
        line = f"{self.description}: {done:.0f}"
        if total:
            line += f"/{total:.0f} ({100 * done / total:.0f}%)"
        line += f", {_clock(now - self.started)} elapsed"
        since, done_then = self.baseline
        if total and not finished and done > done_then and now > since:
            left = (total - done) * (now - since) / (done - done_then)
            line += f", about {_clock(left)} left"
        if message:
            line += f": {message}"
        click.echo(line, err=True)


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
