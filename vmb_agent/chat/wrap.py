"""Word wrapping for ``vmb chat`` in a terminal: lines break between words, never inside one.

A terminal left to itself breaks a long line at its last column, often mid-word. Whole lines
(the offline session's answers) go through :func:`wrap_text`; the LLM's streamed text goes
through :class:`StreamWrapper`, which holds back each word until it knows where the word ends.
Continuation lines keep the line's indent plus two spaces; a word longer than the line (a path)
is written whole on a line of its own rather than cut.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable

MIN_WIDTH = 20
HANG = "  "  # continuation lines are indented a little more than the line they continue


def terminal_width() -> int:
    """The terminal's columns now (it may have been resized), at least ``MIN_WIDTH``."""
    return max(MIN_WIDTH, shutil.get_terminal_size().columns)


def wrap_text(text: str, width: int) -> str:
    """``text`` with every line longer than ``width`` broken between words."""
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        wrapper = textwrap.TextWrapper(
            width, subsequent_indent=indent + HANG, break_long_words=False, break_on_hyphens=False
        )
        lines.append(wrapper.fill(line))
    return "\n".join(lines)


class StreamWrapper:
    """Writes streamed text through ``sink``, wrapped at ``width()`` columns between words."""

    def __init__(self, sink: Callable[[str], None], width: Callable[[], int] = terminal_width):
        self.sink = sink
        self.width = width
        self.column = 0
        self.word = ""
        self.space = False  # whitespace seen since the last word written

    def write(self, text: str) -> None:
        for char in text:
            if char == "\n":
                self._flush_word()
                self.sink("\n")
                self.column, self.space = 0, False
            elif char in " \t":
                self._flush_word()
                self.space = self.column > 0
            else:
                self.word += char

    def flush(self) -> None:
        """Write the word held back (the end of a turn that did not end with a newline)."""
        self._flush_word()

    def _flush_word(self) -> None:
        if not self.word:
            return
        gap = 1 if self.space and self.column > 0 else 0
        if self.column > 0 and self.column + gap + len(self.word) > self.width():
            self.sink("\n" + HANG)
            self.column, gap = len(HANG), 0
        self.sink(" " * gap + self.word)
        self.column += gap + len(self.word)
        self.word, self.space = "", False


__all__ = ["StreamWrapper", "terminal_width", "wrap_text"]
