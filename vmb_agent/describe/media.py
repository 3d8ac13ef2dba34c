"""What a file is, decided by content (magic bytes), not by name; the one way media is opened.

``resolve_source`` turns the caller's ``source`` + ``kind`` into a :class:`MediaSource`. Every file
path goes through ``PathPolicy.check_read`` (missing, directory, FIFO or device, empty, allowed
roots, size), and the first bytes decide the container format, so a text file renamed ``.jpg`` is
refused with a clear message instead of a decoder traceback.

:func:`open_media` is how every video and audio file is opened with PyAV (FFmpeg): only a file
whose first bytes are a real media container (:func:`sniff_media`) is opened, with that
container's demuxer forced and FFmpeg limited to the ``file`` protocol. FFmpeg would otherwise
follow what a file names inside it: an HLS playlist (``.m3u8``) or a concat list in the allowed
roots that lists ``/elsewhere/private.ts`` would make it read outside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vmb_agent.errors import InputError, UnsupportedFormatError
from vmb_agent.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, PathPolicy, open_regular

if TYPE_CHECKING:  # pragma: no cover
    import av.container

SourceKindArg = Literal["auto", "image", "video", "text"]

MEDIA_SUFFIXES = {**IMAGE_SUFFIXES, **VIDEO_SUFFIXES}
ALLOWED_FORMATS = "images (JPEG, PNG, WebP, BMP, TIFF) or videos (MP4, MOV, MKV, WebM, AVI)"
MAX_TEXT_CHARS = 4000

# ISO base media (MP4/MOV) top-level box types that may come first in a file.
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
#: Bytes read from the start of a file to tell its format (MPEG-TS needs three 188-byte packets).
HEAD_BYTES = 512
MediaKind = Literal["image", "video", "audio", "midi"]
#: FFmpeg demuxers that open other files or URLs named inside the input: never used.
INDIRECT_DEMUXERS = frozenset({"hls", "applehttp", "concat", "dash", "imf", "webm_dash_manifest",
                               "image2", "sdp", "rtsp", "rtp", "tee", "data", "lavfi"})  # fmt: skip


@dataclass(frozen=True)
class MediaFormat:
    """A container recognised by its first bytes: what it can hold and FFmpeg's demuxer for it."""

    name: str  # "MP4", "PNG", "WAV", ...
    kinds: frozenset[str]  # what it holds: image, video, audio, midi
    demuxer: str | None = None  # FFmpeg's demuxer (None: not opened with FFmpeg)


def _fmt(name: str, *kinds: str, demuxer: str | None = None) -> MediaFormat:
    return MediaFormat(name, frozenset(kinds), demuxer)


def sniff_media(head: bytes) -> MediaFormat | None:
    """The container format from a file's first bytes (:data:`HEAD_BYTES` of them), or ``None``
    if they are not a known image, video, audio or MIDI container."""
    riff = head[8:12] if head[:4] in (b"RIFF", b"RF64") else b""
    if head.startswith(b"\xff\xd8\xff"):
        return _fmt("JPEG", "image")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _fmt("PNG", "image")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _fmt("GIF", "image")
    if riff == b"WEBP":
        return _fmt("WebP", "image")
    if head[:2] == b"BM" and len(head) >= 14:
        return _fmt("BMP", "image")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _fmt("TIFF", "image")
    if riff == b"AVI ":
        return _fmt("AVI", "video", demuxer="avi")
    if riff == b"WAVE":
        return _fmt("WAV", "audio", demuxer="wav")
    if riff == b"RMID" or head[:4] == b"MThd":
        return _fmt("MIDI", "midi")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _fmt("WebM" if b"webm" in head[:64] else "MKV", "video", "audio", demuxer="matroska")
    if head[4:8] in _ISO_BOXES:
        brand = head[8:12]
        name = "MOV" if brand == b"qt  " or head[4:8] != b"ftyp" else "MP4"
        return _fmt(name, "video", "audio", demuxer="mov")
    return _sniff_streams(head)


def _sniff_streams(head: bytes) -> MediaFormat | None:
    """Containers told by a sync pattern rather than a file header."""
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return _fmt("MPEG-TS", "video", "audio", demuxer="mpegts")
    if head[:4] == b"FLV\x01":
        return _fmt("FLV", "video", "audio", demuxer="flv")
    if head[:4] == b"OggS":
        return _fmt("Ogg", "video", "audio", demuxer="ogg")
    if head[:4] == b"fLaC":
        return _fmt("FLAC", "audio", demuxer="flac")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _fmt("AIFF", "audio", demuxer="aiff")
    if head[:3] == b"ID3":
        return _fmt("MP3", "audio", demuxer="mp3")
    frame = head.lstrip(b"\x00")  # some encoders pad before the first frame
    if len(frame) >= 2 and frame[0] == 0xFF and frame[1] & 0xF6 == 0xF0:
        return _fmt("AAC", "audio", demuxer="aac")
    if len(frame) >= 2 and frame[0] == 0xFF and frame[1] & 0xE0 == 0xE0 and frame[1] & 0x06:
        return _fmt("MP3", "audio", demuxer="mp3")
    return None


def read_head(path: Path, *, shown: str | None = None, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a checked file (opened without blocking: a FIFO is refused)."""
    with open_regular(path, shown=shown) as handle:
        return handle.read(size)


def check_media(path: Path, kinds: tuple[str, ...], *, shown: str | None = None) -> MediaFormat:
    """``path``'s container, sniffed from its content; ``UnsupportedFormatError`` naming the file
    if it is not a real media container holding one of ``kinds`` (a playlist, a concat list,
    text, an image where a video is wanted...)."""
    shown = shown or str(path)
    head = read_head(path, shown=shown)
    found = sniff_media(head)
    wanted = " or ".join(_KIND_NAMES.get(kind, kind) for kind in kinds)
    allowed = _allowed_for(kinds)
    if found is None:
        raise UnsupportedFormatError(
            f"cannot read {wanted} {shown!r}: {_describe_unknown(head)}; allowed: {allowed}."
        )
    if not found.kinds & set(kinds):
        held = " or ".join(sorted(_KIND_NAMES.get(kind, kind) for kind in found.kinds))
        what = f"{_article(held)} {held} file ({found.name})"
        if set(kinds) <= {"video", "audio"}:  # a container: say which stream is missing
            raise UnsupportedFormatError(
                f"{shown!r} has no {wanted} stream: it is {what}; allowed: {allowed}."
            )
        raise UnsupportedFormatError(f"{shown!r} is not {_article(wanted)} {wanted} file: it is "
                                     f"{what}; allowed: {allowed}.")  # fmt: skip
    return found


def open_media(
    path: str | os.PathLike[str],
    *,
    kinds: tuple[str, ...] = ("video", "audio"),
    shown: str | None = None,
    **options: Any,
) -> av.container.InputContainer:
    """Open a video or audio file with PyAV, safely: the real path (symlinks resolved), only if
    its content is a media container holding one of ``kinds`` (:func:`check_media`), with that
    container's demuxer forced (never a playlist or concat list) and FFmpeg limited to the
    ``file`` protocol. ``options`` go to ``av.open`` (e.g. ``metadata_errors="ignore"``).
    Raises ``UnsupportedFormatError`` for anything else; PyAV's own errors pass through."""
    import av

    real = Path(path).resolve()
    found = check_media(real, kinds, shown=shown or os.fspath(path))
    if found.demuxer is None:
        raise UnsupportedFormatError(f"{shown or os.fspath(path)!r} is {found.name}; it is not "
                                     f"opened as {' or '.join(kinds)}.")  # fmt: skip
    container = av.open(str(real), mode="r", format=found.demuxer,
                        options={"protocol_whitelist": "file"}, **options)  # fmt: skip
    if set(container.format.name.split(",")) & INDIRECT_DEMUXERS:  # cannot happen: forced
        container.close()
        raise UnsupportedFormatError(f"{shown or os.fspath(path)!r} is a playlist; not opened.")
    return container


_KIND_NAMES = {"midi": "MIDI"}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _allowed_for(kinds: tuple[str, ...]) -> str:
    formats = {
        "image": "JPEG, PNG, WebP, BMP, TIFF",
        "video": "MP4, MOV, MKV, WebM, AVI, MPEG-TS, FLV, Ogg",
        "audio": "WAV, FLAC, MP3, AAC, Ogg, AIFF, MP4/M4A, WebM",
        "midi": "MIDI (.mid)",
    }
    return "; ".join(f"{kind}s ({formats[kind]})" for kind in kinds if kind in formats)


@dataclass(frozen=True)
class MediaSource:
    """A resolved source: exactly one of ``path`` (image/video) or ``text`` is set."""

    kind: Literal["image", "video", "text"]
    path: Path | None = None
    text: str | None = None
    format: str | None = None  # container format, e.g. "JPEG", "MP4"
    shown: str = ""  # the caller's spelling, for messages


#: The containers ``describe`` takes (the first bytes decide, see :func:`sniff_media`).
DESCRIBE_FORMATS = {"JPEG": "image", "PNG": "image", "WebP": "image", "BMP": "image",
                    "TIFF": "image", "MP4": "video", "MOV": "video", "MKV": "video",
                    "WebM": "video", "AVI": "video"}  # fmt: skip


def sniff_format(head: bytes) -> tuple[Literal["image", "video"], str] | None:
    """An image or video container ``describe`` takes, from a file's first bytes (at least 16),
    or ``None`` if it is anything else."""
    found = sniff_media(head)
    if found is None or found.name not in DESCRIBE_FORMATS:
        return None
    return DESCRIBE_FORMATS[found.name], found.name  # type: ignore[return-value]


def _describe_unknown(head: bytes) -> str:
    """A few words on what an unrecognised file seems to hold (for the error message)."""
    known = [(b"GIF8", "GIF"), (b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP"), (b"ID3", "MP3 audio"),
             (b"OggS", "Ogg"), (b"fLaC", "FLAC audio"), (b"#EXTM3U", "an M3U/HLS playlist"),
             (b"ffconcat", "an FFmpeg concat list")]  # fmt: skip
    for prefix, name in known:
        if head.lstrip(b"\xef\xbb\xbf").startswith(prefix):
            return f"it is {name}"
    found = sniff_media(head)
    if found is not None:
        return f"it is {found.name} ({' or '.join(sorted(found.kinds))})"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "its content is not a known media format"
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
    head = read_head(path, shown=source)
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
