"""Reading still images: format checks, EXIF orientation, the decompression-bomb guard.

Only a small working copy is ever decoded: JPEGs are decoded at 1/2-1/8 scale (``draft``), then
every format is reduced to at most :data:`WORK_SIDE` pixels on the long side, which is all the
colour and texture features need.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmb_agent.errors import InputError, UnsupportedFormatError

#: Largest image accepted, in pixels (100 MP: above any phone or DSLR photo). Bigger images are
#: refused from the header alone, before any pixel is decoded.
MAX_PIXELS = 100_000_000
#: Long side of the working copy used for the features.
WORK_SIDE = 256
PIL_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "DIB": "BMP",
               "TIFF": "TIFF"}  # fmt: skip
_ROTATING_ORIENTATIONS = {5, 6, 7, 8}


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # (h, w, 3) float32 in [0, 1], the small working copy, upright
    width: int  # full-size width after EXIF orientation
    height: int
    format: str


def load_image(path: Path, shown: str | None = None) -> LoadedImage:
    """Decode ``path`` into a small upright RGB working copy; ``InputError`` on any problem."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    shown = shown or str(path)
    try:
        with warnings.catch_warnings():
            # We apply our own pixel limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                _check_pixels(shown, width, height)
                pil_format = (image.format or "").upper()
                if pil_format not in PIL_FORMATS:
                    raise UnsupportedFormatError(
                        f"{shown!r} is a {image.format or 'unknown'} image; allowed: JPEG, PNG, "
                        "WebP, BMP, TIFF."
                    )
                orientation = image.getexif().get(0x0112, 1)
                if pil_format == "JPEG":
                    image.draft("RGB", (WORK_SIDE * 2, WORK_SIDE * 2))
                image.load()
                upright = ImageOps.exif_transpose(image)
                rgb = _to_rgb_array(upright)
    except Image.DecompressionBombError as exc:
        # Pillow refused it in open(), before we could read the size: take its pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise InputError(
            _too_big_message(shown, None, int(found.group(1)) if found else None)
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(
            f"cannot decode image {shown!r}: it is corrupt or truncated "
            f"({type(exc).__name__}: {_first_line(exc)})."
        ) from None
    if orientation in _ROTATING_ORIENTATIONS:
        width, height = height, width
    return LoadedImage(rgb=rgb, width=width, height=height, format=PIL_FORMATS[pil_format])


def _check_pixels(shown: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"image {shown!r} has no pixels ({width}x{height}).")
    if width * height > MAX_PIXELS:
        raise InputError(_too_big_message(shown, width, height))


def _too_big_message(shown: str, width: int | None, height: int | None) -> str:
    """``width=None`` means only the pixel count (in ``height``) is known."""
    if width and height:
        size = f" is {width}x{height} pixels ({width * height / 1e6:.0f} MP);"
    elif height:
        size = f" has {height / 1e6:.0f} MP;"
    else:
        size = " is too large;"
    return (
        f"image {shown!r}{size} the limit is {MAX_PIXELS / 1e6:.0f} MP "
        "(refused as a possible decompression bomb)."
    )


def _to_rgb_array(image: object) -> np.ndarray:
    """A float32 ``(h, w, 3)`` array in [0, 1], at most ``WORK_SIDE`` on the long side."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale to 8 bits by the image's own range.
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max()) or 1.0
        image = Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas read as white paper, as a viewer would show them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.float32) / 255.0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else "no details"
