"""One exception tree for everything VMB reports to a user.

Every message is one line that names the bad value and says what is allowed. The CLI prints
``error: <message>`` and exits 2; MCP tools turn a ``VMBError`` into a tool error (``isError``).
Anything that is *not* a ``VMBError`` is a bug in VMB.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class VMBError(Exception):
    """Base class of every error VMB reports to a user (bad input, missing asset, ...)."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Keep the message on one line: callers print it as-is.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class InputError(VMBError):
    """A file or value given by the caller cannot be used (missing, corrupt, wrong format)."""


class UnsupportedFormatError(InputError):
    """The file's format is not one VMB reads."""


class OutOfRangeError(InputError):
    """A number is outside the range the parameter allows."""


class UnknownNameError(InputError):
    """A name (style, instrument, backend, key, track id, ...) is not one VMB knows."""


class AccessDeniedError(VMBError):
    """A path lies outside the allowed roots."""


class NotFoundError(VMBError):
    """A library track or output that should exist does not."""


class BackendUnavailableError(VMBError):
    """An optional backend is not installed or has no local weights configured."""


class LibraryError(VMBError):
    """The music library (Chroma) could not be opened or written."""


def unknown_name(
    kind: str, value: str, allowed: Iterable[str], *, also_accepted: Iterable[str] = ()
) -> UnknownNameError:
    """Build the standard 'unknown X' error: lists what is allowed and suggests the closest
    (from ``allowed`` plus ``also_accepted`` aliases, which are not listed)."""
    allowed = sorted(set(allowed))
    candidates = [a.lower() for a in [*allowed, *also_accepted]]
    close = difflib.get_close_matches(str(value).lower(), candidates, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(allowed[:100]) + (", ..." if len(allowed) > 100 else "")
    return UnknownNameError(f"unknown {kind} {value!r}.{hint} Allowed: {shown}.")


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise ``OutOfRangeError``."""
    if math.isnan(value) or not (low <= value <= high):
        raise OutOfRangeError(f"{name}={value} is out of range; allowed: {low} to {high}.")
    return value
