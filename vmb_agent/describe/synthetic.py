"""Synthetic, deterministic test media: photo-like images with controlled brightness,
saturation and warmth, and videos with controlled motion and cuts.

Used by the describe tests, the ``vmb eval describe`` sweeps and the benchmarks, so the
controlled sweeps are the same code everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def photo(width: int = 320, height: int = 200, seed: int = 0) -> np.ndarray:
    """A photo-like RGB float image in [0, 1]: sky gradient, ground, shapes, texture."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(0, 1, height)[:, None]
    xs = np.linspace(0, 1, width)[None, :]
    sky = np.stack([0.45 + 0.3 * ys, 0.55 + 0.2 * ys, 0.75 - 0.1 * ys], axis=-1) * np.ones(
        (1, width, 1)
    )
    ground = np.stack([0.35 + 0.1 * xs, 0.45 + 0.05 * xs, 0.25 + 0 * xs], axis=-1) * np.ones(
        (height, 1, 1)
    )
    image = np.where((ys > 0.6)[..., None], ground, sky)
    for _ in range(12):
        x0, y0 = rng.integers(0, width - 30), rng.integers(height // 3, height - 30)
        image[y0 : y0 + rng.integers(8, 30), x0 : x0 + rng.integers(8, 30)] = rng.uniform(
            0.1, 0.9, 3
        )
    image = image + rng.normal(0, 0.03, image.shape)
    return np.clip(image, 0, 1).astype(np.float32)


def brighten(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(image * factor, 0, 1)


def saturate(image: np.ndarray, amount: float) -> np.ndarray:
    """amount 0 = greyscale, 1 = unchanged, > 1 = more saturated."""
    grey = (image @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))[..., None]
    return np.clip(grey + (image - grey) * amount, 0, 1)


def warm(image: np.ndarray, shift: float) -> np.ndarray:
    """shift > 0 adds red and removes blue (warmer); < 0 the reverse (cooler)."""
    out = image.copy()
    out[..., 0] += shift
    out[..., 2] -= shift
    return np.clip(out, 0, 1)


def save_image(image: np.ndarray, path: Path, **options: object) -> Path:
    from PIL import Image

    Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path, **options)
    return path


def write_video(
    path: Path, frames: list[np.ndarray] | object, fps: int = 12, codec: str = "libx264"
) -> Path:
    """Encode uint8 RGB frames (an iterable) with PyAV (H.264 unless ``codec`` says otherwise);
    the container follows the file suffix."""
    import av

    frames = iter(frames)  # type: ignore[call-overload]
    first = next(frames)
    height, width = first.shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "23", "preset": "ultrafast"}
        elif codec == "libvpx-vp9":
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        for frame in [first, *frames]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def scene(seed: int, width: int = 192, height: int = 108) -> np.ndarray:
    """A textured uint8 scene, twice as wide as the frame (so it can pan)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.15, 0.85, 3)
    image = np.ones((height, width * 2, 3)) * base
    for _ in range(60):
        x0, y0 = rng.integers(0, width * 2 - 16), rng.integers(0, height - 16)
        image[y0 : y0 + rng.integers(4, 16), x0 : x0 + rng.integers(4, 16)] = rng.uniform(0, 1, 3)
    return (image * 255).astype(np.uint8)


def panning_video(path: Path, speed_px: int, seconds: float = 3.0, fps: int = 12) -> Path:
    """One shot panning across a textured scene at ``speed_px`` pixels per frame."""
    background = scene(1)
    width = background.shape[1] // 2
    frames = (
        background[:, (i * speed_px) % width : (i * speed_px) % width + width]
        for i in range(int(seconds * fps))
    )
    return write_video(path, frames, fps)


def cutting_video(
    path: Path, cuts: int, seconds: float = 6.0, fps: int = 12, codec: str = "libx264"
) -> Path:
    """Static shots of different scenes with ``cuts`` hard cuts evenly spaced."""
    shots = [scene(10 + k)[:, :192] for k in range(cuts + 1)]
    total = int(seconds * fps)
    frames = (shots[min(cuts, i * (cuts + 1) // total)] for i in range(total))
    return write_video(path, frames, fps, codec)
