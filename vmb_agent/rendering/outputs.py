"""Writers for the rendered outputs: WAV, MIDI and the piano-roll PNG (Pillow, no matplotlib).

Writers take a final path that ``files.atomic_output`` handed out, so a failure never leaves a
half-written file behind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vmb_agent.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi

WAV_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}
#: piano-roll colours by track order (drums are drawn grey at the bottom)
_COLOURS = [
    (230, 85, 70), (70, 140, 230), (90, 190, 120), (240, 180, 60), (170, 110, 220),
    (60, 200, 200), (235, 120, 180), (150, 150, 90),
]  # fmt: skip


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, bit_depth: int = 24) -> None:
    import soundfile

    if bit_depth not in WAV_SUBTYPES:
        raise InputError(f"bit depth {bit_depth} is not supported; allowed: 16, 24.")
    clipped = np.clip(audio, -1.0, 1.0)
    raw = open(path, "wb")  # noqa: SIM115 - closed below, where a full disk may also show
    checked = _CheckedFile(raw)
    try:
        soundfile.write(checked, clipped, sample_rate, subtype=WAV_SUBTYPES[bit_depth], format="WAV")
        checked.close()
    except Exception:  # soundfile reports a failed write as its own error (or an assert)
        checked.close()
        if checked.error is None:
            raise
        checked.error.filename = str(path)  # the machine's refusal (no space, quota), not a bug
        raise checked.error from None
    if checked.error is not None:
        checked.error.filename = str(path)
        raise checked.error


class _CheckedFile:
    """A file for libsndfile's virtual I/O that keeps an ``OSError`` instead of raising it.

    libsndfile writes through C callbacks: an exception raised there is printed and lost, and
    libsndfile reports only "System error". Kept here, a full disk surfaces as ENOSPC.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        return self._guard(self.raw.write, data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(self.raw.seek, offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def close(self) -> None:
        """Close the file; a failed final flush is kept like any other write error."""
        try:
            self.raw.close()
        except OSError as exc:
            self.error = self.error or exc

    def _guard(self, call: Callable[..., int], *args: int | bytes) -> int:
        if self.error is not None:
            return 0
        try:
            return call(*args)
        except OSError as exc:
            self.error = exc
            return 0


def write_midi(path: Path, midi: pretty_midi.PrettyMIDI) -> None:
    midi.write(str(path))


def midi_bytes(midi: pretty_midi.PrettyMIDI) -> bytes:
    """The MIDI file's bytes (for determinism checks) without touching the disk."""
    import io

    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def draw_piano_roll(
    path: Path, midi: pretty_midi.PrettyMIDI, duration_s: float, *, width: int = 1400,
    height: int = 520, section_starts_s: list[float] | None = None,
) -> None:  # fmt: skip
    """A piano roll: time left to right, pitch bottom to top, one colour per instrument."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (22, 24, 30))
    draw = ImageDraw.Draw(image)
    pitched = [n.pitch for inst in midi.instruments if not inst.is_drum for n in inst.notes]
    low = min(pitched, default=48) - 2
    high = max(pitched, default=84) + 2
    drum_band = 60 if any(inst.is_drum for inst in midi.instruments) else 0
    roll_h = height - drum_band - 20
    x_scale = (width - 20) / max(duration_s, 1e-3)
    row = roll_h / max(1, high - low + 1)
    for t in section_starts_s or []:
        x = 10 + t * x_scale
        draw.line([(x, 0), (x, height)], fill=(70, 72, 84), width=1)
    colour_index = 0
    for inst in midi.instruments:
        if inst.is_drum:
            for note in inst.notes:
                x0 = 10 + note.start * x_scale
                y = height - 10 - drum_band + (note.pitch % 12) * (drum_band / 12)
                draw.rectangle([x0, y, x0 + 2, y + 3], fill=(150, 150, 150))
            continue
        colour = _COLOURS[colour_index % len(_COLOURS)]
        colour_index += 1
        for note in inst.notes:
            x0 = 10 + note.start * x_scale
            x1 = max(x0 + 1, 10 + note.end * x_scale)
            y1 = 10 + (high - note.pitch) * row
            shade = 0.55 + 0.45 * note.velocity / 127
            fill = tuple(int(c * shade) for c in colour)
            draw.rectangle([x0, y1, x1, y1 + max(1.0, row - 1)], fill=fill)
    image.save(str(path), format="PNG", optimize=False)


__all__ = ["draw_piano_roll", "midi_bytes", "write_midi", "write_wav"]
