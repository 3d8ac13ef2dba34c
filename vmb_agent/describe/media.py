"""What a source is: text, an image or a video, decided by content (magic bytes), not by name.

``resolve_source`` turns the caller's ``source`` + ``kind`` into a :class:`MediaSource`. Every file
path goes through ``PathPolicy.check_read`` (missing, directory, empty, allowed roots, size), and
the first bytes decide the container format, so a text file renamed ``.jpg`` is refused with a
clear message instead of a decoder traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vmb_agent.errors import InputError, UnsupportedFormatError
from vmb_agent.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, PathPolicy

SourceKindArg = Literal["auto", "image", "video", "text"]

MEDIA_SUFFIXES = {**IMAGE_SUFFIXES, **VIDEO_SUFFIXES}
ALLOWED_FORMATS = "images (JPEG, PNG, WebP, BMP, TIFF) or videos (MP4, MOV, MKV, WebM, AVI)"
MAX_TEXT_CHARS = 4000

# ISO base media (MP4/MOV) top-level box types that may come first in a file.
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


@dataclass(frozen=True)
class MediaSource:
    """A resolved source: exactly one of ``path`` (image/video) or ``text`` is set."""

    kind: Literal["image", "video", "text"]
    path: Path | None = None
    text: str | None = None
    format: str | None = None  # container format, e.g. "JPEG", "MP4"
    shown: str = ""  # the caller's spelling, for messages


def sniff_format(head: bytes) -> tuple[Literal["image", "video"], str] | None:
    """Container format from a file's first bytes (at least 16), or ``None`` if unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WebP"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image", "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video", "WebM" if b"webm" in head[:64] else "MKV"
    if head[4:8] in _ISO_BOXES:
        brand = head[8:12]
        return "video", "MOV" if brand == b"qt  " or head[4:8] != b"ftyp" else "MP4"
    return None


def _describe_unknown(head: bytes) -> str:
    """A few words on what an unrecognised file seems to hold (for the error message)."""
    known = [(b"GIF8", "GIF"), (b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP"), (b"ID3", "MP3 audio"),
             (b"OggS", "Ogg"), (b"fLaC", "FLAC audio")]  # fmt: skip
    for prefix, name in known:
        if head.startswith(prefix):
            return f"it is {name}"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "it is WAV audio"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "its content is not a known image or video format"
    return "it contains text"


def looks_like_path(source: str) -> bool:
    """The ``kind="auto"`` rule: a path names an existing file, or has a media suffix, or
    contains a path separator and no spaces (``"rock/pop, 120 bpm"`` stays text)."""
    stripped = source.strip()
    if not stripped or "\n" in stripped or len(stripped) > 1024:
        return False
    expanded = os.path.expanduser(stripped)
    if os.path.exists(expanded):
        return True
    if Path(stripped).suffix.lower() in MEDIA_SUFFIXES:
        return True
    has_separator = "/" in stripped or os.sep in stripped
    return has_separator and " " not in stripped


def resolve_source(
    source: str | os.PathLike[str], kind: SourceKindArg, policy: PathPolicy
) -> MediaSource:
    """Decide what ``source`` is and check it can be read; raise ``InputError`` if not."""
    if kind not in ("auto", "image", "video", "text"):
        raise InputError(f"unknown kind {kind!r}; allowed: auto, image, video, text.")
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
        if kind == "auto":
            kind_is_file = True
        else:
            kind_is_file = kind != "text"
    elif isinstance(source, str):
        kind_is_file = kind in ("image", "video") or (kind == "auto" and looks_like_path(source))
    else:
        raise InputError(f"source must be a path or text, not {type(source).__name__}.")
    if not kind_is_file:
        return _text_source(source)
    return _file_source(source, kind, policy)


def _text_source(text: str) -> MediaSource:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InputError("the text is empty; describe the scene or the music in words.")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise InputError(
            f"the text is {len(cleaned)} characters long; the limit is {MAX_TEXT_CHARS}."
        )
    return MediaSource(kind="text", text=cleaned, shown=cleaned[:60])


def _file_source(source: str, kind: SourceKindArg, policy: PathPolicy) -> MediaSource:
    what = kind if kind in ("image", "video") else "file"
    path = policy.check_read(source, what=what)
    with open(path, "rb") as handle:
        head = handle.read(64)
    found = sniff_format(head)
    if found is None:
        suffix = path.suffix.lower()
        claimed = f" (its name says {MEDIA_SUFFIXES[suffix]})" if suffix in MEDIA_SUFFIXES else ""
        raise UnsupportedFormatError(
            f"{source!r} is not a supported image or video: {_describe_unknown(head)}{claimed}; "
            f"allowed: {ALLOWED_FORMATS}."
        )
    media_kind, media_format = found
    if kind in ("image", "video") and media_kind != kind:
        wanted = {
            "image": "an image; give an image file (JPEG, PNG, WebP, BMP, TIFF)",
            "video": "a video; give a video file (MP4, MOV, MKV, WebM, AVI)",
        }[kind]
        article = "an" if media_kind == "image" else "a"
        raise InputError(f"{source!r} is {article} {media_kind} ({media_format}), not {wanted}.")
    return MediaSource(kind=media_kind, path=path, format=media_format, shown=source)
