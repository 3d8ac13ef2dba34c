"""Colour and texture features of one picture, measured on a small RGB array.

Every feature is a plain float with a fixed scale so the mapping model (``model.py``) can
standardise it. Inputs are ``float32`` arrays of shape ``(height, width, 3)`` with values in
``[0, 1]`` (gamma-encoded sRGB, as decoded); callers shrink pictures to a few hundred pixels first,
so every function here costs well under a millisecond per frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Rec. 709 luma weights (applied to gamma-encoded values, like video luma).
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
#: A pixel's hue and saturation count fully once its brightest channel (HSV value) reaches this;
#: below it their weight falls smoothly to 0 at black (see :func:`colour_reliability`) ...
RELIABLE_VALUE = 0.5
#: ... and while its darkest channel (HWB whiteness) stays at least this far below white.
RELIABLE_WHITE_MARGIN = 0.25
#: Saturation per pixel that counts as colourless when weighing the dominant hue: about what
#: 1-4 code values of sensor noise give a grey picture (0.01-0.03 measured).
HUE_NOISE_SATURATION = 0.02


@dataclass(frozen=True)
class ColourFeatures:
    """Summary of one picture (or the mean over a video's sampled frames).

    brightness     mean luma, 0 (black) .. 1 (white)
    contrast       RMS contrast: standard deviation of luma, 0 .. 0.5
    saturation     mean HSV saturation weighted per pixel by :func:`colour_reliability`, 0 (grey,
                   or too dark / too near white to show a colour) .. 1 (pure colours)
    colourfulness  Hasler & Suesstrunk (2003) metric / 150, about 0 .. 1
    warmth         mean (red - blue) / mean HSV value: -1 (blue) .. +1 (red/orange); a ratio, so
                   scaling the exposure does not change it (colour temperature is about hue)
    complexity     edge density: mean luma gradient magnitude x 4, about 0 .. 1
    hue_deg        circular mean hue in degrees, 0 .. 360, each pixel weighted by its saturation
                   times its reliability
    hue_strength   length of that mean hue vector, 0 (no dominant hue, or too little reliable
                   colour to tell) .. 1
    """

    brightness: float
    contrast: float
    saturation: float
    colourfulness: float
    warmth: float
    complexity: float
    hue_deg: float
    hue_strength: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(value), 4) for name, value in asdict(self).items()}


def colour_features(rgb: np.ndarray) -> ColourFeatures:
    """Measure :class:`ColourFeatures` of an ``(H, W, 3)`` float array in ``[0, 1]``."""
    rgb = np.asarray(rgb, dtype=np.float32)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = rgb @ LUMA
    high = rgb.max(axis=-1)
    low = rgb.min(axis=-1)
    chroma = high - low
    saturation = np.where(high > 1e-6, chroma / np.maximum(high, 1e-6), 0.0)
    reliability = colour_reliability(high, low)

    # Hasler & Suesstrunk (2003): opponent-colour spread plus mean, on a 0-255 scale. It and
    # warmth need no reliability weight: they are built from channel differences, which are
    # already near 0 for near-black and near-white pixels (warmth, a ratio of picture-wide means,
    # counts each pixel's (red - blue) / value in proportion to its value).
    rg = (red - green) * 255.0
    yb = (0.5 * (red + green) - blue) * 255.0
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())

    hue_deg, hue_strength = _dominant_hue(rgb, high, chroma, saturation, reliability)
    return ColourFeatures(
        brightness=float(luma.mean()),
        contrast=float(luma.std()),
        # An unreliable pixel counts as grey: it shows no colour, it is not left out.
        saturation=float((reliability * saturation).mean()),
        colourfulness=float(min(colourfulness / 150.0, 1.5)),
        warmth=float((red - blue).mean() / max(float(high.mean()), 1e-3)),
        complexity=float(min(edge_density(luma) * 4.0, 1.5)),
        hue_deg=hue_deg,
        hue_strength=hue_strength,
    )


def colour_reliability(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """How far each pixel's hue and HSV saturation can be trusted, 0 .. 1, from its brightest
    (``high``, HSV value) and darkest (``low``, HWB whiteness) channels.

    Saturation is chroma / value, so near black it divides noise by almost nothing: a pixel
    one code value off grey at value 10/255 reads as saturation 0.1, and JPEG or sensor noise of
    a few code values swings it between 0 and 1 and its hue anywhere. Perception agrees: colours
    fade as they darken (Hunt 1952, the Hunt effect), and the Munsell chroma that Valdez &
    Mehrabian's saturation -> arousal finding was measured in shrinks to 0 towards black, where
    HSV saturation stays at 1. Near white every channel is close to clipping, so what is left of
    the hue is a cast or compression noise.

    The weight is a smoothstep of the value (0 at black, 1 from :data:`RELIABLE_VALUE`) times a
    smoothstep of the darkest channel's distance from white (1 while it is at least
    :data:`RELIABLE_WHITE_MARGIN`). A smoothstep rises like x^2 near 0, faster than the noise in
    saturation falls (like 1 / value), so noise still counts for nothing at black. Value, not
    luma, decides "dark" so that a pure blue (luma 0.07) keeps its full weight.
    """
    dark = _smoothstep(high / RELIABLE_VALUE)
    white = _smoothstep((1.0 - low) / RELIABLE_WHITE_MARGIN)
    return dark * white


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def edge_density(luma: np.ndarray) -> float:
    """Mean gradient magnitude of a luma image (central differences), in luma units per pixel,
    rescaled to a 256-pixel-wide picture so the value does not depend on the working size."""
    if luma.shape[0] < 3 or luma.shape[1] < 3:
        return 0.0
    gx = luma[1:-1, 2:] - luma[1:-1, :-2]
    gy = luma[2:, 1:-1] - luma[:-2, 1:-1]
    magnitude = float(np.hypot(gx, gy).mean()) * 0.5
    return magnitude * (luma.shape[1] / 256.0)


def _dominant_hue(
    rgb: np.ndarray,
    high: np.ndarray,
    chroma: np.ndarray,
    saturation: np.ndarray,
    reliability: np.ndarray,
) -> tuple[float, float]:
    """Circular mean of the HSV hue, each pixel weighted by its saturation x reliability.

    The total weight gets :data:`HUE_NOISE_SATURATION` per pixel of colourless prior, so the
    strength only fades when the picture's reliable colour is about as small as noise: an
    all-but-white or all-but-black picture has no dominant hue, however consistent its faint
    cast, while an ordinary photo's strength barely moves.
    """
    safe = np.maximum(chroma, 1e-6)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(
        high == red,
        ((green - blue) / safe) % 6.0,
        np.where(high == green, (blue - red) / safe + 2.0, (red - green) / safe + 4.0),
    )
    angle = hue * (np.pi / 3.0)
    weight = saturation * (chroma > 1e-3) * reliability
    if float(weight.sum()) <= 1e-6:
        return 0.0, 0.0
    total = float(weight.sum()) + HUE_NOISE_SATURATION * weight.size
    x = float((weight * np.cos(angle)).sum()) / total
    y = float((weight * np.sin(angle)).sum()) / total
    return float(np.degrees(np.arctan2(y, x)) % 360.0), float(np.hypot(x, y))


def dominant_palette(rgb: np.ndarray, colours: int = 5) -> list[str]:
    """Dominant colours as ``#rrggbb``, most common first (median cut: deterministic)."""
    from PIL import Image

    pixels = np.clip(np.asarray(rgb) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if pixels.ndim != 3 or pixels.size == 0:
        return []
    image = Image.fromarray(pixels)
    quantized = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], key=lambda c: (-c[0], c[1]))
    result = []
    for _, index in counts[:colours]:
        r, g, b = palette[index * 3 : index * 3 + 3]
        result.append(f"#{r:02x}{g:02x}{b:02x}")
    return result


def shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Reduce an array by an integer block-mean factor so its long side is <= ``max_side``."""
    factor = int(np.ceil(max(rgb.shape[0], rgb.shape[1]) / max_side))
    if factor <= 1:
        return rgb
    height = rgb.shape[0] // factor * factor
    width = rgb.shape[1] // factor * factor
    if height == 0 or width == 0:
        return rgb
    blocks = rgb[:height, :width].reshape(height // factor, factor, width // factor, factor, -1)
    return blocks.mean(axis=(1, 3))
