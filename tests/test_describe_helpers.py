"""The synthetic media the describe tests use (they live in the package for `vmb eval`), plus a
few pictures at the edges of the colour features (near black, near white, very vivid)."""

import numpy as np

from vmb_agent.describe.synthetic import (  # noqa: F401
    brighten,
    cutting_video,
    panning_video,
    photo,
    saturate,
    save_image,
    scene,
    warm,
    write_video,
)


def dark_blue_gradient(width: int = 320, height: int = 200) -> np.ndarray:
    """A still night-sky gradient from RGB (0, 0, 10) to (5, 10, 60) (of 255), corner to corner:
    plainly dark blue, yet its HSV saturation is about 0.9 because every pixel is near black."""
    t = (
        0.5 * np.linspace(0, 1, height)[:, None, None]
        + 0.5 * np.linspace(0, 1, width)[None, :, None]
    )
    return ((np.array([0, 0, 10]) + t * np.array([5, 10, 50])) / 255.0).astype(np.float32)


def near_black_noise(width: int = 320, height: int = 200, seed: int = 0) -> np.ndarray:
    """An underexposed frame: black at 2 % with sensor-like noise in every channel."""
    rng = np.random.default_rng(seed)
    return np.clip(0.02 + rng.normal(0, 0.012, (height, width, 3)), 0, 1).astype(np.float32)


def near_white(width: int = 320, height: int = 200, seed: int = 0) -> np.ndarray:
    """An overexposed frame: white at 97 % with a faint warm cast and noise."""
    rng = np.random.default_rng(seed)
    image = 0.97 + rng.normal(0, 0.015, (height, width, 3)) + np.array([0.0, 0.0, -0.02])
    return np.clip(image, 0, 1).astype(np.float32)


def vivid_blocks(width: int = 320, height: int = 200, seed: int = 1, block: int = 20) -> np.ndarray:
    """A busy, vivid scene: random primary and secondary colour blocks at high contrast."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.float32)
    for y in range(0, height, block):
        for x in range(0, width, block):
            colour = np.zeros(3)
            colour[rng.integers(0, 3)] = 1.0
            colour[rng.integers(0, 3)] = rng.choice([0.0, 1.0])
            image[y : y + block, x : x + block] = colour * rng.uniform(0.7, 1.0)
    return image


def pastel(width: int = 320, height: int = 200, seed: int = 1) -> np.ndarray:
    """A calm pastel scene: pale lavender with soft, slow colour drifts."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(0, 1, height)[:, None, None]
    xs = np.linspace(0, 1, width)[None, :, None]
    image = np.array([0.85, 0.82, 0.9]) + 0.06 * np.sin(xs * 3.0) * np.array([1.0, -0.5, 0.0])
    image = (
        image + 0.05 * ys * np.array([0.0, 0.5, -0.5]) + rng.normal(0, 0.005, (height, width, 3))
    )
    return np.clip(image, 0, 1).astype(np.float32)
