"""Stage 1, the text bridge: describe an image, a video or a text prompt as music.

    from vmb_agent.describe import describe_source, parse_text_attributes
    description = describe_source("vmb_agent/examples/city.mp4", context="night drive",
                                  kind="auto", backend="analysis", policy=PathPolicy())
    hints, evidence = parse_text_attributes("faster, in D minor, add piano, no drums")

Backends implement :class:`Describer` and register in :data:`describers` (``analysis`` here;
``vlm`` in :mod:`vmb_agent.neural.vlm`). Importing this package is light: numpy, Pillow and
PyAV load when a picture is first described.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from vmb_agent.describe.media import MediaSource, SourceKindArg, resolve_source
from vmb_agent.files import PathPolicy
from vmb_agent.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.describe.text import TextHints
    from vmb_agent.settings import Settings
    from vmb_agent.types import Evidence, MusicAttributes, MusicDescription


class Describer(Protocol):
    """A way of turning a resolved source (image / video file or text) into a description."""

    name: str

    def describe(self, source: MediaSource, context: str | None = None) -> MusicDescription: ...


#: Describer backends by name. Factories run (and import their dependencies) on first use.
describers: Registry[Describer] = Registry("describe")


@describers.register("analysis")
def _analysis() -> Describer:
    from vmb_agent.describe.analysis import AnalysisDescriber

    return AnalysisDescriber()


@describers.register("vlm")
def _vlm(settings: Settings | None = None) -> Describer:
    from vmb_agent.neural.vlm import VLMDescriber  # torch + transformers; VMB_VLM_MODEL

    return VLMDescriber(settings)


def get_describer(backend: str, settings: Settings | None = None) -> Describer:
    """The describer for ``backend`` (made once, then reused; per settings for one that reads
    them); ``UnknownNameError`` lists the known names."""
    return describers.shared(backend, settings)


def describe_source(
    source: str | os.PathLike[str],
    *,
    context: str | None = None,
    kind: SourceKindArg = "auto",
    backend: str = "analysis",
    policy: PathPolicy | None = None,
    settings: Settings | None = None,
) -> MusicDescription:
    """Describe ``source`` (a file path or text) as music.

    ``kind="auto"``: a string that names an existing path, has a media suffix, or contains a
    path separator and no spaces is a file (image or video by its content); anything else is a
    text prompt. Files are checked with ``policy.check_read``. Raises a ``VMBError`` subclass
    with a one-line message for every bad input.
    """
    describer = get_describer(backend, settings)  # an unknown one fails before any file is read
    if context is not None and not isinstance(context, str):
        from vmb_agent.errors import InputError

        raise InputError(f"context must be text, not {type(context).__name__}.")
    resolved = resolve_source(source, kind, policy or PathPolicy())
    return describer.describe(resolved, (context or "").strip() or None)


def parse_text_attributes(text: str) -> tuple[TextHints, list[Evidence]]:
    """Parse free text into :class:`~vmb_agent.describe.text.TextHints` (tempo, key, mode, metre,
    duration, genres, moods, instruments to add / remove, energy and valence levels and changes)
    plus the evidence for each. See :func:`vmb_agent.describe.text.parse_text_attributes`."""
    from vmb_agent.describe.text import parse_text_attributes as parse

    return parse(text)


def apply_hints(attributes: MusicAttributes, hints: TextHints) -> MusicAttributes:
    """Apply parsed text hints (an edit) to existing attributes; see ``text.apply_hints``."""
    from vmb_agent.describe.text import apply_hints as apply

    return apply(attributes, hints)


__all__ = [
    "Describer",
    "MediaSource",
    "apply_hints",
    "describe_source",
    "describers",
    "get_describer",
    "parse_text_attributes",
]
