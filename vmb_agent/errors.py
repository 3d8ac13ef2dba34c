"""One exception tree for everything VMB reports to a user, and the checks that raise it.

Every message is one line that names the bad value (at most ~80 characters of it) and says what
is allowed. The CLI prints ``error: <message>`` and exits with the error's ``exit_code``; MCP
tools turn a ``VMBError`` into a tool error (``isError``). Anything that is *not* a ``VMBError``
is a bug in VMB.

Exit codes (docs/agents.md#errors-and-exit-codes has the table):
    0 success, 1 internal error (a bug), 2 usage, input or configuration error,
    3 the operating system refused a read or write (``EnvironmentFailureError``), 130 interrupted.
"""

from __future__ import annotations

import difflib
import errno
import math
import numbers
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pydantic stays off the import path of `vmb --help`
    from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound="BaseModel")

#: how much of a bad value a message shows (a 1 MB string must not come back as a 1 MB error)
MAX_SHOWN_CHARS = 80
#: a message longer than this (a list of allowed names plus values) is cut: a backstop only
MAX_MESSAGE_CHARS = 4000

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


def shorten(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis."""
    try:
        shown = repr(value)
    except ValueError:  # an int too long to convert to text
        return f"<{type(value).__name__} too large to show>"
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class VMBError(Exception):
    """Base class of every error VMB reports to a user (bad input, missing asset, ...)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        # Keep the message on one line: callers print it as-is.
        line = " ".join(str(message).split())
        if len(line) > MAX_MESSAGE_CHARS:
            line = line[: MAX_MESSAGE_CHARS - 1] + "…"
        super().__init__(line)

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


class ConfigError(VMBError):
    """A setting from the environment (``VMB_*``) is invalid, e.g. ``VMB_MAX_INPUT_MB=abc``."""


class BusyError(VMBError):
    """The server already runs and queues as many calls of this kind as it accepts."""


class EnvironmentFailureError(VMBError):
    """The operating system refused a read or write: permission denied, no space left, a name
    too long, a read-only file system. The message names the path."""

    exit_code = EXIT_ENVIRONMENT


#: errno -> (what went wrong, what to do): the failures that are the machine's, not VMB's
_OS_FAILURES = {
    errno.EACCES: ("permission denied", "choose a path you may use"),
    errno.EPERM: ("operation not permitted", "choose a path you may use"),
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EFBIG: ("file too large for this file system", "write elsewhere"),
    errno.ENAMETOOLONG: ("file name too long", "each name may be at most 255 bytes"),
    errno.EROFS: ("read-only file system", "write somewhere writable"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
    errno.EISDIR: ("is a folder", "give a file"),
    errno.ELOOP: ("too many levels of symbolic links", "check the path"),
    errno.EIO: ("input/output error", "check the device"),
    errno.EMFILE: ("too many open files", "raise the open-file limit (ulimit -n)"),
    errno.ENFILE: ("too many open files in the system", "try again later"),
    errno.EXDEV: ("cannot move across file systems", "write on the same file system"),
    errno.EBUSY: ("device or resource busy", "try again later"),
    errno.ETXTBSY: ("file busy", "try again later"),
}


def os_failure(
    exc: OSError, *, where: str | os.PathLike[str] | None = None
) -> EnvironmentFailureError | None:
    """The one-line ``EnvironmentFailureError`` for an ``OSError`` the machine raised (naming
    its path, or ``where`` when the error has none), or None for one that is not about the
    machine (a decoder's ``OSError`` about a corrupt file stays the caller's to explain)."""
    if exc.errno not in _OS_FAILURES:
        return None
    what, advice = _OS_FAILURES[exc.errno]
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    path = exc.filename if exc.filename is not None else where
    shown = f" at {_shown_path(path)}" if path is not None else ""
    if exc.filename2 is not None:
        shown += f" -> {_shown_path(exc.filename2)}"
    return EnvironmentFailureError(f"{what} ({name}){shown}; {advice}.")


def _shown_path(path: object) -> str:
    """A path from an ``OSError`` (text, bytes, a path object or a descriptor), cut short."""
    text = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path)
    return shorten(text)


def internal_error(exc: BaseException, where: str = "") -> str:
    """``internal error[ in <where>]: <Type>: <first line>``: what a bug looks like to a user."""
    first = next(iter(str(exc).strip().splitlines()), "")
    if len(first) > 200:
        first = first[:199] + "…"
    place = f" in {where}" if where else ""
    return f"internal error{place}: {type(exc).__name__}" + (f": {first}" if first else "")


def unknown_name(
    kind: str, value: str, allowed: Iterable[str], *, also_accepted: Iterable[str] = ()
) -> UnknownNameError:
    """Build the standard 'unknown X' error: lists what is allowed and suggests the closest
    (from ``allowed`` plus ``also_accepted`` aliases, which are not listed)."""
    allowed = sorted(set(allowed))
    candidates = [a.lower() for a in [*allowed, *also_accepted]]
    # a long value is like none of the names (and difflib is quadratic in its length)
    probe = str(value).lower() if len(str(value)) <= 100 else ""
    close = difflib.get_close_matches(probe, candidates, n=1) if probe else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(allowed[:100]) + (", ..." if len(allowed) > 100 else "")
    return UnknownNameError(f"unknown {kind} {shorten(value)}.{hint} Allowed: {shown}.")


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise ``OutOfRangeError`` (also for a
    value that is not a number at all)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name}={shorten(value)} is not a number; allowed: {low} to {high}.")
    if math.isnan(value) or not (low <= value <= high):
        raise OutOfRangeError(f"{name}={shorten(value)} is out of range; allowed: {low} to {high}.")
    return value


def path_problem(value: str) -> str | None:
    """Why ``value`` cannot be a path at all (None if it can): a NUL byte, or ``~user`` naming
    no user. Checked before the path reaches the operating system, which would raise."""
    if "\x00" in value:
        return f"{shorten(value)} contains a NUL byte; a path cannot"
    head = value.split("/", 1)[0]
    named_user = head.startswith("~") and head != "~" and not any(c.isspace() for c in head)
    # expanduser leaves an unknown user's ~name as it is (Path.expanduser raises instead)
    if named_user and os.path.expanduser(head) == head:
        return (
            f"{shorten(value)} starts with {shorten(head)} but there is no user "
            f"{shorten(head[1:])}; use ~/ for your home or a full path"
        )
    return None


def check_path_text(value: str | os.PathLike[str], what: str) -> None:
    """Raise ``InputError`` if ``value`` cannot be a path (see :func:`path_problem`)."""
    problem = path_problem(os.fspath(value)) if isinstance(value, str | os.PathLike) else None
    if problem:
        raise InputError(f"{what} {problem}.")


_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _field_range(model: type | None, loc: tuple) -> str | None:
    """``"0.5 to 600"`` for the numeric field at ``loc`` (nested models followed), if bounded."""
    import typing

    field = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not isinstance(part, str) or not fields or part not in fields:
            return None
        field = fields[part]
        # the next step looks inside the field's model (through Optional / unions)
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        model = next((c for c in candidates if hasattr(c, "model_fields")), None)
    if field is None:
        return None
    low = high = None
    above = below = "at"  # "at least" (ge) or "more than" (gt); "at most" or "less than"
    for rule in field.metadata:
        if getattr(rule, "ge", None) is not None or getattr(rule, "gt", None) is not None:
            above = "at" if getattr(rule, "ge", None) is not None else "more"
            low = getattr(rule, "ge", None) if above == "at" else rule.gt
        if getattr(rule, "le", None) is not None or getattr(rule, "lt", None) is not None:
            below = "at" if getattr(rule, "le", None) is not None else "less"
            high = getattr(rule, "le", None) if below == "at" else rule.lt
    if low is None and high is None:
        return None
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    if low is not None:
        return f"at least {low:g}" if above == "at" else f"more than {low:g}"
    return f"at most {high:g}" if below == "at" else f"less than {high:g}"


def location(parts: Iterable[object]) -> str:
    """A pydantic error's ``loc`` as ``field.sub.0``, cut to ``MAX_SHOWN_CHARS`` (a dict key in
    it can be any length)."""
    where = ".".join(str(part) for part in parts) or "value"
    return where if len(where) <= MAX_SHOWN_CHARS else where[: MAX_SHOWN_CHARS - 1] + "…"


def error_text(err: dict) -> str:
    """A pydantic error's message, cut to 300 characters (a validator's own may quote a value)."""
    said = str(err.get("msg", ""))
    return said if len(said) <= 300 else said[:299] + "…"


def validation_problems(
    exc: Exception, *, model: type | None = None, allowed_fields: Iterable[str] = ()
) -> str:
    """One line naming each bad field of a pydantic ``ValidationError``, its value and what is
    allowed (``tempo_bpm=400 is out of range; allowed: 30 to 300``); ``model`` is the model
    that was validated, to look the allowed range up."""
    errors = exc.errors() if hasattr(exc, "errors") else []  # type: ignore[attr-defined]
    if not errors:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    problems = []
    for err in errors[:4]:
        where = location(err["loc"])
        shown = shorten(err.get("input"))
        said = error_text(err)
        allowed = _field_range(model, err["loc"]) if err["type"] in _BOUND_ERRORS else None
        if err["type"] == "missing":
            problems.append(f"{where} is required")
        elif err["type"] == "extra_forbidden":
            fields = ", ".join(allowed_fields)
            problems.append(
                f"unknown field {where!r}" + (f" (allowed: {fields})" if fields else "")
            )
        elif allowed:
            problems.append(f"{where}={shown} is out of range; allowed: {allowed}")
        else:
            problems.append(f"{where}={shown}: {said}")
    more = f" (+{len(errors) - 4} more)" if len(errors) > 4 else ""
    return "; ".join(problems) + more


def validated(model: type[ModelT], data: object, what: str) -> ModelT:
    """``model.model_validate(data)``, with a bad value reported as a one-line ``InputError``
    (``<what>: tempo_bpm=400: Input should be ...``) instead of pydantic's multi-line error."""
    from pydantic import ValidationError

    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, model=model, allowed_fields=list(model.model_fields))
        out_of_range = all(err["type"] in _BOUND_ERRORS for err in exc.errors())
        raise (OutOfRangeError if out_of_range else InputError)(f"{what}: {problems}.") from None


def settings_error(exc: Exception) -> ConfigError:
    """The one-line ``ConfigError`` for a pydantic ``ValidationError`` raised while reading the
    settings: each bad value named by its environment variable (``VMB_MAX_INPUT_MB='abc': ...``)
    with what is allowed."""
    from vmb_agent.settings import Settings

    errors = exc.errors() if hasattr(exc, "errors") else []  # type: ignore[attr-defined]
    problems = []
    for err in errors[:4]:
        name = "VMB_" + "_".join(str(p) for p in err["loc"][:1]).upper()
        allowed = _field_range(Settings, err["loc"][:1]) if err["type"] in _BOUND_ERRORS else None
        said = f"out of range; allowed: {allowed}" if allowed else err["msg"]
        problems.append(f"{name}={shorten(err.get('input'))} is not valid: {said}")
    return ConfigError("; ".join(problems or [str(exc)]) + " (fix or unset the variable).")
