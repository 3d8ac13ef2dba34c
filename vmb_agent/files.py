"""File access: the allowed-roots policy, input checks, atomic, uniquely named outputs, and the
one table of file kinds by suffix.

Every entry point resolves user paths through :class:`PathPolicy` so that a missing file, a
directory, a ``..`` or symlink escape, or an oversized input is refused with one clear line, and
writes go through :func:`atomic_output` so that a failure never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vmb_agent.errors import AccessDeniedError, InputError

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


@dataclass
class PathPolicy:
    """Which paths may be read/written. ``roots=None`` means unrestricted (a local user's CLI)."""

    roots: list[Path] | None = None
    max_input_bytes: int = 2 * 1024**3
    extra_roots: list[Path] = field(default_factory=list)

    def allowed_roots(self) -> list[Path] | None:
        if self.roots is None:
            return None
        return [Path(r).expanduser().resolve() for r in [*self.roots, *self.extra_roots]]

    def _check_inside(self, resolved: Path, original: str) -> None:
        roots = self.allowed_roots()
        if roots is None:
            return
        if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
            shown = ", ".join(str(r) for r in roots) or "(none configured)"
            raise AccessDeniedError(
                f"path {original!r} is outside the allowed roots; allowed: {shown} "
                "(set VMB_ALLOWED_ROOTS to add more)."
            )

    def check_read(self, path: str | os.PathLike[str], *, what: str = "file") -> Path:
        """Resolve ``path`` (following symlinks, so escapes are caught) and check it is a
        readable, non-empty regular file inside the allowed roots."""
        original = os.fspath(path)
        if not original.strip():
            raise InputError(f"no {what} path given.")
        resolved = Path(original).expanduser().resolve()
        self._check_inside(resolved, original)
        if not resolved.exists():
            raise InputError(f"{what} not found: {original!r}.")
        if resolved.is_dir():
            raise InputError(f"{original!r} is a directory; give a {what}.")
        if not resolved.is_file():
            raise InputError(f"{original!r} is not a regular file.")
        size = resolved.stat().st_size
        if size == 0:
            raise InputError(f"{what} {original!r} is empty (0 bytes).")
        if size > self.max_input_bytes:
            raise InputError(
                f"{what} {original!r} is {size / 1e6:.0f} MB; the limit is "
                f"{self.max_input_bytes / 1e6:.0f} MB (VMB_MAX_INPUT_MB)."
            )
        if not os.access(resolved, os.R_OK):
            raise InputError(f"{what} {original!r} is not readable (permission denied).")
        return resolved

    def check_dir(self, path: str | os.PathLike[str]) -> Path:
        original = os.fspath(path)
        resolved = Path(original).expanduser().resolve()
        self._check_inside(resolved, original)
        if not resolved.is_dir():
            raise InputError(f"folder not found: {original!r}.")
        return resolved

    def check_write(self, path: str | os.PathLike[str]) -> Path:
        """Resolve an output path and check that it lies inside the allowed roots."""
        original = os.fspath(path)
        resolved = Path(original).expanduser().resolve()
        self._check_inside(resolved, original)
        if resolved.is_dir():
            raise InputError(f"output {original!r} is a directory; give a file name.")
        return resolved


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
