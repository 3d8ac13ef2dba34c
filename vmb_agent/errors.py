"""One exception tree for everything VMB reports to a user.

Every message is one line that names the bad value and says what is allowed. The CLI prints
``error: <message>`` and exits 2; MCP tools turn a ``VMBError`` into a tool error (``isError``).
Anything that is *not* a ``VMBError`` is a bug in VMB.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pydantic stays off the import path of `vmb --help`
    from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound="BaseModel")


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
    for rule in field.metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", getattr(rule, "lt", high))
    if low is None and high is None:
        return None
    return f"{low:g} to {high:g}" if low is not None and high is not None else (
        f"at least {low:g}" if low is not None else f"at most {high:g}"
    )


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
        where = ".".join(str(p) for p in err["loc"]) or "value"
        shown = repr(err.get("input"))
        if len(shown) > 60:
            shown = shown[:57] + "..."
        allowed = _field_range(model, err["loc"]) if err["type"] in _BOUND_ERRORS else None
        if err["type"] == "missing":
            problems.append(f"{where} is required")
        elif err["type"] == "extra_forbidden":
            fields = ", ".join(allowed_fields)
            problems.append(f"unknown field {where!r}" + (f" (allowed: {fields})" if fields else ""))
        elif allowed:
            problems.append(f"{where}={shown} is out of range; allowed: {allowed}")
        else:
            problems.append(f"{where}={shown}: {err['msg']}")
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
