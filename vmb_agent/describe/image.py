"""Reading still images: format checks, EXIF orientation, a decoded-pixel budget.

Only a small working copy is ever kept, and a large image never becomes a full-size array:

* the header's size is checked first: over :data:`MAX_PIXELS` is refused before any pixel is
  decoded (a decompression bomb);
* JPEGs are decoded at 1/2-1/8 scale (``draft``);
* large 8-bit, non-interlaced PNGs (over :data:`STREAM_PIXELS`) are decoded a strip of rows at a
  time, each strip reduced at once (:func:`_png_strips`), so a 12 KB 9999x9999 one-colour PNG
  costs a few MB, not the 400 MB of its full-size pixels;
* any other image (WebP, TIFF, BMP, interlaced or 16-bit PNG) is decoded whole, so it may have
  at most :data:`MAX_FULL_DECODE_PIXELS`, and is reduced before any full-size copy is made.

Every image is then reduced to at most :data:`WORK_SIDE` pixels on the long side, which is all
the colour and texture features need.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vmb_agent.errors import InputError, UnsupportedFormatError
from vmb_agent.files import open_regular

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

#: Largest image accepted, in pixels (100 MP: above any phone or DSLR photo). Bigger images are
#: refused from the header alone, before any pixel is decoded.
MAX_PIXELS = 100_000_000
#: Images over this many pixels are reduced while (PNG, JPEG) or right after (others) decoding.
STREAM_PIXELS = 4_000_000
#: Formats that can only be decoded whole are refused over this many pixels (~100 MB decoded).
MAX_FULL_DECODE_PIXELS = 24_000_000
#: Pixels decoded per PNG strip (a few MB at a time).
STRIP_PIXELS = 2_000_000
#: Long side of the working copy used for the features.
WORK_SIDE = 256
PIL_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "DIB": "BMP",
               "TIFF": "TIFF"}  # fmt: skip
_ROTATING_ORIENTATIONS = {5, 6, 7, 8}
#: PNG colour type -> bytes per pixel at 8 bits (grey, RGB, palette, grey+alpha, RGBA)
_PNG_BYTES_PER_PIXEL = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # (h, w, 3) float32 in [0, 1], the small working copy, upright
    width: int  # full-size width after EXIF orientation
    height: int
    format: str


def load_image(path: Path, shown: str | None = None) -> LoadedImage:
    """Decode ``path`` into a small upright RGB working copy; ``InputError`` on any problem."""
    from PIL import Image, UnidentifiedImageError

    shown = shown or str(path)
    try:
        with warnings.catch_warnings(), open_regular(path, what="image", shown=shown) as handle:
            # We apply our own pixel limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                width, height = image.size
                _check_pixels(shown, width, height)
                pil_format = (image.format or "").upper()
                if pil_format not in PIL_FORMATS:
                    raise UnsupportedFormatError(
                        f"{shown!r} is a {image.format or 'unknown'} image; allowed: JPEG, PNG, "
                        "WebP, BMP, TIFF."
                    )
                reduced, orientation = _decode_reduced(image, handle, shown, pil_format)
            rgb = _to_rgb_array(_upright(reduced, orientation))
    except Image.DecompressionBombError as exc:
        # Pillow refused it in open(), before we could read the size: take its pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise InputError(
            _too_big_message(shown, None, int(found.group(1)) if found else None)
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, zlib.error,
            struct.error) as exc:  # fmt: skip
        raise InputError(
            f"cannot decode image {shown!r}: it is corrupt or truncated "
            f"({type(exc).__name__}: {_first_line(exc)})."
        ) from None
    if orientation in _ROTATING_ORIENTATIONS:
        width, height = height, width
    return LoadedImage(rgb=rgb, width=width, height=height, format=PIL_FORMATS[pil_format])


def _decode_reduced(
    image: PILImage.Image, handle: BinaryIO, shown: str, pil_format: str
) -> tuple[PILImage.Image, int]:
    """The decoded image, already reduced by whole factors when it is large (see the module
    docstring for how each format keeps within the budget), and its EXIF orientation."""
    from PIL import Image

    width, height = image.size
    if pil_format == "JPEG":
        image.draft("RGB", (WORK_SIDE * 2, WORK_SIDE * 2))
    elif width * height > STREAM_PIXELS:
        if pil_format == "PNG" and _png_streamable(image):
            # Pillow's getexif() would decode the whole PNG to look for EXIF after the pixels;
            # only an eXIf chunk before them (where the PNG spec puts it) is read here.
            exif = Image.Exif()
            if "exif" in image.info:
                exif.load(image.info["exif"])
            return _png_strips(handle, image, _factors(width, height)), _orientation(exif)
        if width * height > MAX_FULL_DECODE_PIXELS:
            raise InputError(
                f"image {shown!r} is {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
                f"a {PIL_FORMATS[pil_format]} image this large is decoded whole, so the limit is "
                f"{MAX_FULL_DECODE_PIXELS / 1e6:.0f} MP (JPEG and 8-bit PNG: "
                f"{MAX_PIXELS / 1e6:.0f} MP)."
            )
    image.load()
    orientation = _orientation(image.getexif())
    if image.width * image.height <= STREAM_PIXELS:
        return image, orientation
    # Reduce before any full-size copy (mode conversion, compositing) is made.
    flat = image if image.mode in _REDUCIBLE_MODES else _flatten(image)
    return flat.reduce(_factors(*flat.size)), orientation


def _orientation(exif: PILImage.Exif) -> int:
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) else 1


_REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA", "I", "F")


def _factors(width: int, height: int) -> tuple[int, int]:
    """Whole-number reduction factors that leave at least twice the working size (as Pillow's
    ``thumbnail(reducing_gap=2.0)`` reduces before its final resampling)."""
    factor = max(1, int(max(width, height) / WORK_SIDE / 2))
    return factor, factor


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


def _upright(image: PILImage.Image, orientation: int) -> PILImage.Image:
    """``image`` turned as its EXIF orientation says (what ``ImageOps.exif_transpose`` does)."""
    from PIL import Image

    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)  # fmt: skip
    return image.transpose(method) if method is not None else image


def _flatten(image: PILImage.Image) -> PILImage.Image:
    """An RGB image: 16-bit and float greyscale scaled by their own range, transparent areas
    white (as a viewer shows them on paper)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max()) or 1.0
        image = Image.fromarray(np.clip(values / top * 255.0, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_rgb_array(image: PILImage.Image) -> np.ndarray:
    """A float32 ``(h, w, 3)`` array in [0, 1], at most ``WORK_SIDE`` on the long side."""
    from PIL import Image

    image = _flatten(image)
    image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.float32) / 255.0


# --------------------------------------------------------------------------------------------
# Large PNGs, a strip at a time
# --------------------------------------------------------------------------------------------


def _png_streamable(image: PILImage.Image) -> bool:
    """8-bit, non-interlaced PNGs of the five colour types can be decoded in strips (Pillow's
    raw mode names the bit depth: ``RGB;16B``, ``P;4``... are left to the whole decode)."""
    rawmode = image.tile[0][3] if image.tile else None
    return image.info.get("interlace", 0) == 0 and rawmode in ("L", "RGB", "P", "LA", "RGBA")


def _png_strips(
    handle: BinaryIO, image: PILImage.Image, factors: tuple[int, int]
) -> PILImage.Image:
    """Decode a PNG a strip of rows at a time and reduce each strip by ``factors`` at once, so
    only one strip is ever held at full size. Each strip is handed to Pillow as a small PNG of
    its own (its filtered rows, uncompressed, after the unfiltered row above them), so Pillow's
    own decoder undoes the row filters."""
    from PIL import Image

    width, height = image.size
    header = _png_header(handle)
    stride = 1 + width * _PNG_BYTES_PER_PIXEL[header["colour"]]
    rows = max(1, STRIP_PIXELS // width // factors[1]) * factors[1]
    out = Image.new("RGB", (-(-width // factors[0]), -(-height // factors[1])))
    inflate = zlib.decompressobj()
    data = _idat_pieces(handle)
    above = b""  # the last unfiltered row of the previous strip
    for top in range(0, height, rows):
        count = min(rows, height - top)
        filtered = _inflate_exactly(inflate, data, count * stride)
        strip = _decode_strip(header, width, count, above, filtered)
        skip = 1 if above else 0
        above = strip.crop((0, strip.height - 1, width, strip.height)).tobytes()
        flat = _flatten(strip)
        out.paste(flat.reduce(factors, box=(0, skip, width, skip + count)), (0, top // factors[1]))
    return out


def _png_header(handle: BinaryIO) -> dict:
    """IHDR plus the PLTE and tRNS chunks (the ones decoding needs), read from the start of the
    file; the file is left at the first IDAT chunk. Other chunks are skipped unread."""
    handle.seek(0)
    if handle.read(8) != _PNG_SIGNATURE:
        raise ValueError("not a PNG signature")
    header: dict = {"chunks": b""}
    while True:
        length, kind = struct.unpack(">I4s", handle.read(8))
        if kind == b"IDAT":
            handle.seek(-8, io.SEEK_CUR)
            return header
        if kind == b"IEND":
            raise EOFError("no image data")
        if kind not in (b"IHDR", b"PLTE", b"tRNS"):
            handle.seek(length + 4, io.SEEK_CUR)
            continue
        if length > 1024:
            raise ValueError(f"{kind.decode()} chunk of {length} bytes")
        body = handle.read(length)
        handle.read(4)  # CRC (Pillow checked the header chunks when it opened the file)
        if kind == b"IHDR":
            header["colour"], header["ihdr"] = body[9], body
        else:
            header["chunks"] += _png_chunk(kind, body)


def _idat_pieces(handle: BinaryIO, piece: int = 1 << 20) -> Iterator[bytes]:
    """The compressed image data of consecutive IDAT chunks, at most ``piece`` bytes at a time."""
    while True:
        start = handle.read(8)
        if len(start) < 8:
            return
        length, kind = struct.unpack(">I4s", start)
        if kind != b"IDAT":
            return
        left = length
        while left:
            chunk = handle.read(min(piece, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
        handle.read(4)  # CRC


def _inflate_exactly(inflate: zlib._Decompress, data: Iterator[bytes], size: int) -> bytes:
    """The next ``size`` bytes of the decompressed stream (never more held at once)."""
    out = bytearray()
    while len(out) < size:
        source = inflate.unconsumed_tail or next(data, b"")
        if not source:
            raise EOFError(f"image data ends after {len(out)} of {size} bytes")
        out += inflate.decompress(source, size - len(out))
    return bytes(out)


def _decode_strip(
    header: dict, width: int, count: int, above: bytes, filtered: bytes
) -> PILImage.Image:
    """Pillow's decode of ``count`` filtered rows, preceded by the unfiltered row ``above`` them
    (stored with filter type 0 so the rows below it unfilter against it)."""
    from PIL import Image

    rows = count + (1 if above else 0)
    ihdr = struct.pack(">II", width, rows) + header["ihdr"][8:]
    body = zlib.compress((b"\x00" + above if above else b"") + filtered, 0)
    png = (_PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + header["chunks"]
           + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b""))  # fmt: skip
    strip = Image.open(io.BytesIO(png))
    strip.load()
    return strip


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else "no details"
