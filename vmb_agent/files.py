"""File access: the allowed-roots policy, input checks, atomic, uniquely named outputs, and the
one table of file kinds by suffix.

Every entry point resolves user paths through :class:`PathPolicy` so that a missing file, a
directory, a FIFO or device, a ``..`` or symlink escape, or an oversized input is refused with one
clear line before anything opens it, and writes go through :func:`atomic_output` so that a
failure never leaves a half-written file. ``/`` and system folders are never allowed roots.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from vmb_agent.errors import AccessDeniedError, InputError, VMBError

log = logging.getLogger("vmb.files")

# --------------------------------------------------------------------------------------------
# File kinds by suffix: the one owner (the library, describe, score and the CLI import these)
# --------------------------------------------------------------------------------------------

#: Audio the library reads (libsndfile, else PyAV/FFmpeg).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
#: Standard MIDI files.
MIDI_SUFFIXES = (".mid", ".midi")
#: Images and videos ``describe`` takes, with the container format each suffix claims (the
#: file's first bytes still decide what it is).
IMAGE_SUFFIXES = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".png": "PNG", ".webp": "WebP",
    ".bmp": "BMP", ".dib": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
}  # fmt: skip
VIDEO_SUFFIXES = {
    ".mp4": "MP4", ".m4v": "MP4", ".mov": "MOV", ".qt": "MOV", ".mkv": "MKV", ".webm": "WebM",
    ".avi": "AVI",
}  # fmt: skip
#: Containers a scored video can be written in (``rendering.video.CONTAINERS`` says which codecs
#: each takes as they are); ``vmb score --out NAME`` with a video suffix names a video file.
SCORED_VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm")


#: Folders that hold the system's secrets, devices or kernel state: neither they nor anything
#: inside them is ever an allowed root (configured or offered by an MCP client), and nothing is
#: ever written inside them, even by an unrestricted CLI.
SYSTEM_TREES = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/private/etc", "/System")
#: Folders that are never a root themselves (a root there would open the whole system), though a
#: folder inside them may be one (``/var/lib/vmb``, ``/usr/share/sounds``).
SYSTEM_DIRS = ("/", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr", "/var", "/private",
               "/private/var")  # fmt: skip
#: JSON files (descriptions) are read whole: at most this many bytes, nested this deep.
MAX_JSON_BYTES = 16 * 1024**2
MAX_JSON_DEPTH = 64

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


def system_folder(path: Path) -> str | None:
    """Why the resolved ``path`` can never be an allowed root, or ``None`` if it can be one."""
    if path == Path(path.anchor):
        return "the root of the file system"
    for tree in SYSTEM_TREES:
        if path.is_relative_to(tree):
            return f"inside the system folder {tree}"
    if str(path) in SYSTEM_DIRS:
        return "a system folder"
    return None


def check_root(root: str | os.PathLike[str]) -> Path:
    """``root`` resolved (symlinks followed); ``AccessDeniedError`` if it is ``/`` or a system
    folder (:data:`SYSTEM_TREES`, :data:`SYSTEM_DIRS`)."""
    shown = os.fspath(root)
    resolved = _resolve(shown, "allowed root")
    why = system_folder(resolved)
    if why is not None:
        raise AccessDeniedError(
            f"{shown!r} cannot be an allowed root: it is {why}; allowed: a project or media "
            "folder (never /, /etc, /proc, /sys, /dev, /boot, /run, /usr or /var itself)."
        )
    return resolved


def effective_roots(
    configured: Sequence[Path], own: Sequence[Path], client: Sequence[Path], *, widen: bool
) -> list[Path]:
    """The roots of one MCP session: the ``configured`` roots (VMB_ALLOWED_ROOTS) narrowed to the
    ``client``'s roots that overlap them, plus the server's ``own`` (VMB_HOME, the examples).

    Client roots only narrow: one outside every configured root is ignored, and with none that
    overlaps the configured roots stand. ``widen`` (stdio with VMB_TRUST_CLIENT_ROOTS=1: the
    user's own client) adds them instead. ``/`` and system folders are never accepted."""
    offered = []
    for root in client:
        try:
            offered.append(check_root(root))
        except VMBError as exc:
            log.warning("client root refused: %s", exc)
    if widen:
        return [*configured, *own, *offered]
    narrowed = []
    for root in offered:
        for allowed in (check_root(r) for r in configured):
            if root.is_relative_to(allowed):
                narrowed.append(root)
            elif allowed.is_relative_to(root):
                narrowed.append(allowed)
    if offered and not narrowed:
        log.info("client roots %s lie outside the allowed roots; ignored", offered)
    return [*dict.fromkeys(narrowed or configured), *own]


def _resolve(original: str, what: str) -> Path:
    """``original`` with ``~`` expanded and every symlink followed; one-line ``InputError`` for
    a path the OS cannot take (a NUL byte, a name too long, a symlink loop)."""
    if "\x00" in original:
        raise InputError(f"{what} path {original[:80]!r} contains a NUL byte; give a file path.")
    try:
        return Path(original).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        reason = getattr(exc, "strerror", None) or "symlink loop"
        raise InputError(f"{what} path {_short(original)!r} cannot be used: {reason}.") from None


def _short(original: str) -> str:
    return original if len(original) <= 120 else original[:100] + "..." + original[-17:]


def _stat(resolved: Path, original: str, what: str) -> os.stat_result | None:
    """``os.stat`` of a resolved path; ``None`` if nothing is there, ``InputError`` naming the
    path for any other failure (permission denied, name too long)."""
    try:
        return resolved.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InputError(f"{what} {_short(original)!r} cannot be read: {exc.strerror}.") from None


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is (``"a FIFO (named pipe)"``), or ``None`` for a regular file."""
    for test, name in _NOT_REGULAR:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


@dataclass
class PathPolicy:
    """Which paths may be read/written. ``roots=None`` means unrestricted (a local user's CLI).

    Every check resolves the path (following every symlink) and checks the *real* path, so a
    ``..`` or a symlink that points out of the roots is refused; roots themselves are resolved
    at each check and may never be ``/`` or a system folder (:func:`check_root`)."""

    roots: list[Path] | None = None
    max_input_bytes: int = 2 * 1024**3
    extra_roots: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.allowed_roots()  # a system folder as a root is refused at once

    def allowed_roots(self) -> list[Path] | None:
        if self.roots is None:
            return None
        return [check_root(r) for r in [*self.roots, *self.extra_roots]]

    def allows(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path``'s real path lies inside the allowed roots (no error raised)."""
        try:
            self._check_inside(_resolve(os.fspath(path), "file"), os.fspath(path))
        except VMBError:
            return False
        return True

    def _check_inside(self, resolved: Path, original: str) -> None:
        roots = self.allowed_roots()
        if roots is None:
            return
        if not any(resolved.is_relative_to(r) for r in roots):
            shown = ", ".join(str(r) for r in roots) or "(none configured)"
            raise AccessDeniedError(
                f"path {_short(original)!r} is outside the allowed roots; allowed: {shown} "
                "(set VMB_ALLOWED_ROOTS to add more)."
            )

    def check_read(self, path: str | os.PathLike[str], *, what: str = "file") -> Path:
        """Resolve ``path`` (following symlinks, so escapes are caught) and check it is a
        readable, non-empty regular file inside the allowed roots and under the size limit.
        FIFOs, devices, sockets and folders are refused before anything opens them."""
        original = os.fspath(path)
        if not original.strip():
            raise InputError(f"no {what} path given.")
        resolved = _resolve(original, what)
        self._check_inside(resolved, original)
        info = _stat(resolved, original, what)
        if info is None:
            raise InputError(f"{what} not found: {_short(original)!r}.")
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{_short(original)!r} is a directory; give a {what}.")
        kind = _not_regular(info.st_mode)
        if kind is not None:
            raise InputError(f"{what} {_short(original)!r} is {kind}, not a regular file.")
        if info.st_size == 0:
            raise InputError(f"{what} {_short(original)!r} is empty (0 bytes).")
        if info.st_size > self.max_input_bytes:
            raise InputError(
                f"{what} {_short(original)!r} is {info.st_size / 1e6:.0f} MB; the limit is "
                f"{self.max_input_bytes / 1e6:.0f} MB (VMB_MAX_INPUT_MB)."
            )
        if not os.access(resolved, os.R_OK):
            raise InputError(f"{what} {_short(original)!r} is not readable (permission denied).")
        return resolved

    def open_read(self, path: str | os.PathLike[str], *, what: str = "file") -> BinaryIO:
        """:meth:`check_read`, then open the real path for reading; the open never blocks (a
        FIFO swapped in after the check is refused, not waited on)."""
        resolved = self.check_read(path, what=what)
        return open_regular(resolved, what=what, shown=os.fspath(path))

    def read_json(
        self,
        path: str | os.PathLike[str],
        *,
        what: str = "JSON file",
        max_bytes: int = MAX_JSON_BYTES,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> object:
        """A JSON file's content: checked like any input, at most ``max_bytes`` long and nested
        at most ``max_depth`` deep; one-line ``InputError`` otherwise."""
        original = os.fspath(path)
        limit = min(max_bytes, self.max_input_bytes)
        with self.open_read(path, what=what) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InputError(
                f"{what} {_short(original)!r} is larger than the {limit / 2**20:.0f} MB limit."
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{what} {_short(original)!r} is not UTF-8 text (byte {exc.start})."
            ) from None
        return parse_json(text, what=f"{what} {_short(original)!r}", max_depth=max_depth)

    def check_dir(self, path: str | os.PathLike[str]) -> Path:
        original = os.fspath(path)
        resolved = _resolve(original, "folder")
        self._check_inside(resolved, original)
        info = _stat(resolved, original, "folder")
        if info is None or not stat.S_ISDIR(info.st_mode):
            raise InputError(f"folder not found: {_short(original)!r}.")
        return resolved

    def check_write(self, path: str | os.PathLike[str]) -> Path:
        """Resolve an output path and check that it lies inside the allowed roots, outside the
        system folders, and that the nearest existing folder above it is a folder."""
        original = os.fspath(path)
        resolved = _resolve(original, "output")
        self._check_inside(resolved, original)
        for tree in SYSTEM_TREES:
            if resolved.is_relative_to(tree):
                raise AccessDeniedError(
                    f"output {_short(original)!r} is inside the system folder {tree}; "
                    "VMB never writes there."
                )
        info = _stat(resolved, original, "output")
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise InputError(f"output {_short(original)!r} is a directory; give a file name.")
        for parent in resolved.parents:
            found = _stat(parent, str(parent), "output folder")
            if found is None:
                continue
            if not stat.S_ISDIR(found.st_mode):
                raise InputError(
                    f"output {_short(original)!r} cannot be written: {str(parent)!r} is a file, "
                    "not a folder."
                )
            break
        return resolved


def open_regular(resolved: Path, *, what: str = "file", shown: str | None = None) -> BinaryIO:
    """Open an already-checked real path for reading without blocking, and refuse it if it is
    not a regular file by then (a FIFO would hang a plain ``open`` forever)."""
    shown = _short(shown or str(resolved))
    try:
        fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{what} {shown!r} cannot be read: {exc.strerror}.") from None
    kind = _not_regular(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise InputError(f"{what} {shown!r} is {kind}, not a regular file.")
    return os.fdopen(fd, "rb")


def json_depth(text: str) -> int:
    """How deep brackets nest in *valid* JSON ``text``, brackets inside strings not counted: a
    quote preceded by an even number of backslashes opens or closes a string. Linear numpy over
    the positions of quotes and brackets only, so memory stays near the text's own size."""
    import numpy as np

    codes = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    quotes = np.flatnonzero(codes == 34)
    escaped = quotes[(quotes > 0) & (codes[quotes - 1] == 92)]
    if escaped.size:  # count the backslashes right before each of them
        slashes = np.flatnonzero(codes == 92)
        starts = slashes[np.concatenate([[True], np.diff(slashes) != 1])]
        run_start = starts[np.searchsorted(starts, escaped - 1, side="right") - 1]
        odd = (escaped - run_start) % 2 == 1
        quotes = np.setdiff1d(quotes, escaped[odd], assume_unique=True)
    brackets = np.flatnonzero(np.isin(codes, (91, 93, 123, 125)))  # [ ] { }
    outside = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
    steps = np.where(np.isin(codes[outside], (91, 123)), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def parse_json(text: str, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``json.loads(text)`` with the nesting depth limited; one-line ``InputError`` naming
    ``what`` on any problem (Python's parser itself stops at ~1000 levels with RecursionError,
    reported here as too deep)."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}.") from None
    except RecursionError:
        raise InputError(
            f"{what} nests over {sys.getrecursionlimit()} levels deep; the limit is {max_depth}."
        ) from None
    if text.count("[") + text.count("{") <= max_depth:  # cannot nest deeper: skip the count
        return value
    depth = json_depth(text)
    if depth > max_depth:
        raise InputError(f"{what} nests {depth} levels deep; the limit is {max_depth}.")
    return value


def unique_stem(prefix: str) -> str:
    """A readable, collision-free file stem: ``<prefix>-YYYYmmdd-HHMMSS-<6 hex>``."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def check_new_output(path: Path, *, overwrite: bool) -> None:
    """Refuse to replace an existing file unless ``overwrite`` (checked before any work)."""
    if not overwrite and path.exists():
        raise InputError(
            f"{str(path)!r} already exists; pass --force (SDK: overwrite=True) to replace it."
        )


def _place(tmp: Path, target: Path, *, overwrite: bool) -> None:
    """Move a finished temporary file onto ``target``: atomically replacing what is there, or
    (``overwrite=False``) only if nothing is there, even if a file appeared meanwhile."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # a hard link never replaces: FileExistsError if the name is taken
    except FileExistsError:
        check_new_output(target, overwrite=False)
        raise
    except OSError:  # no hard links on this file system (FAT, some network shares)
        check_new_output(target, overwrite=False)
        os.replace(tmp, target)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``
    atomically, on any error it is deleted, so readers never see a half-written file."""
    with atomic_outputs([path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_outputs(
    paths: Sequence[str | os.PathLike[str]], *, overwrite: bool = True
) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths`` for a set of files that must appear together or not at
    all: on success each is renamed onto its target; if the body or any rename fails, every
    temporary file is deleted and the targets already renamed are removed again. With
    ``overwrite=False`` an existing target is an error (``InputError``), never replaced."""
    targets = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent
            )
            os.close(fd)
            temps.append(Path(tmp_name))
        yield list(temps)
        mode = 0o666 & ~_umask()  # mkstemp makes 0600; outputs get the usual mode
        renamed: list[Path] = []
        try:
            for tmp, target in zip(temps, targets, strict=True):
                os.chmod(tmp, mode)
                _place(tmp, target, overwrite=overwrite)
                renamed.append(target)
        except BaseException:
            for target in renamed:
                target.unlink(missing_ok=True)
            raise
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
