"""Regenerate the bundled examples (made by this project; CC0 / public domain).

    .venv/bin/python vmb_agent/examples/make_examples.py

* ``harbour.jpg``: a procedurally painted sunset harbour (sky gradient, sun, water with
  reflections, quay buildings, boats, film grain), 960x640.
* ``city.mp4``: 9 s, 640x360, 24 fps, H.264, three shots with hard cuts at 3.5 s and 6.5 s:
  a night skyline panning slowly, a busy daytime street with fast traffic, a calm sunset roofline.

Everything is drawn with numpy from a fixed seed, so the files are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
FPS = 24
SIZE = (640, 360)
CUTS_S = (3.5, 6.5)
DURATION_S = 9.0


def _vertical_gradient(
    height: int, width: int, stops: list[tuple[float, tuple[int, int, int]]]
) -> np.ndarray:
    ys = np.linspace(0.0, 1.0, height)
    positions = [p for p, _ in stops]
    channels = [np.interp(ys, positions, [c[i] for _, c in stops]) for i in range(3)]
    column = np.stack(channels, axis=-1)
    return np.repeat(column[:, None, :], width, axis=1)


def make_harbour(path: Path) -> None:
    rng = np.random.default_rng(7)
    width, height = 960, 640
    horizon = 390
    sky = _vertical_gradient(horizon, width, [
        (0.0, (38, 40, 96)), (0.45, (150, 70, 110)), (0.8, (246, 140, 70)), (1.0, (255, 196, 110)),
    ])  # fmt: skip
    # A soft sun glow near the horizon.
    yy, xx = np.mgrid[0:horizon, 0:width]
    sun_x, sun_y = 600, horizon - 40
    glow = np.exp(-(((xx - sun_x) ** 2 + (yy - sun_y) ** 2) / (2 * 90.0**2)))
    sky = sky + glow[..., None] * np.array([60, 45, 10])
    disc = ((xx - sun_x) ** 2 + (yy - sun_y) ** 2) < 34**2
    sky[disc] = (255, 236, 170)
    water = _vertical_gradient(height - horizon, width, [
        (0.0, (200, 110, 80)), (0.3, (90, 60, 90)), (1.0, (20, 28, 60)),
    ])  # fmt: skip
    wy, wx = np.mgrid[0 : height - horizon, 0:width]
    waves = np.sin(wx / (9 + wy / 12.0) + wy * 0.9 + rng.uniform(0, 6.28)) * (4 + wy / 25.0)
    water = water + waves[..., None]
    column = np.exp(-((wx - sun_x) ** 2) / (2 * (30 + wy * 0.6) ** 2))
    sparkle = (np.sin(wy * 1.7 + np.sin(wx / 7.0) * 2.0) > 0.35) * column
    water = water + sparkle[..., None] * np.array([120, 90, 40])
    canvas = np.concatenate([sky, water], axis=0)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    # Quay with warehouses and lit windows on the left, a lighthouse on the right.
    draw.rectangle([0, horizon - 10, 420, horizon + 30], fill=(28, 22, 30))
    x = 0
    while x < 400:
        w, h = int(rng.integers(40, 90)), int(rng.integers(50, 150))
        draw.rectangle(
            [x, horizon - h, x + w, horizon], fill=(34 + int(rng.integers(0, 12)), 26, 36)
        )
        for wy_ in range(horizon - h + 10, horizon - 12, 16):
            for wx_ in range(x + 6, x + w - 8, 14):
                if rng.random() < 0.45:
                    draw.rectangle([wx_, wy_, wx_ + 5, wy_ + 7], fill=(255, 200, 110))
        x += w + int(rng.integers(2, 10))
    draw.polygon(
        [(840, horizon), (852, horizon - 150), (866, horizon - 150), (878, horizon)],
        fill=(230, 220, 215),
    )
    draw.rectangle([846, horizon - 170, 872, horizon - 150], fill=(255, 230, 160))
    # Boats: hulls, masts and rigging.
    for bx, by, scale in (
        (470, horizon + 60, 1.0),
        (640, horizon + 120, 1.4),
        (300, horizon + 150, 1.8),
    ):
        hull = [
            (bx - 60 * scale, by),
            (bx + 60 * scale, by),
            (bx + 45 * scale, by + 18 * scale),
            (bx - 45 * scale, by + 18 * scale),
        ]
        draw.polygon(hull, fill=(22, 18, 26))
        draw.line(
            [(bx, by), (bx, by - 110 * scale)], fill=(25, 20, 28), width=max(2, int(3 * scale))
        )
        draw.line([(bx, by - 110 * scale), (bx + 55 * scale, by)], fill=(60, 50, 60), width=1)
        draw.line([(bx, by - 110 * scale), (bx - 50 * scale, by)], fill=(60, 50, 60), width=1)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    grain = rng.normal(0.0, 4.0, (height, width, 1))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=84, optimize=True, progressive=True)


def _city_frame(t: float, layout: dict[str, np.ndarray]) -> np.ndarray:
    width = SIZE[0]
    if t < CUTS_S[0]:  # night skyline, slow pan
        frame = layout["night"][:, int(t * 24) : int(t * 24) + width].copy()
        for lane, speed, colour in ((300, 110, (255, 240, 200)), (320, -150, (255, 60, 40))):
            for k in range(4):
                x = int((k * 190 + speed * t) % (width + 60)) - 30
                frame[lane : lane + 5, max(0, x) : max(0, x + 26)] = colour
        return frame
    if t < CUTS_S[1]:  # busy daytime street, fast traffic and tracking camera
        local = t - CUTS_S[0]
        frame = layout["day"][:, int(local * 160) % 320 : int(local * 160) % 320 + width].copy()
        for k, (lane, speed, colour) in enumerate((
            (230, 420, (200, 30, 30)), (250, -520, (30, 90, 200)), (275, 610, (240, 200, 30)),
            (300, -380, (240, 240, 240)), (320, 700, (40, 160, 70)),
        )):  # fmt: skip
            for j in range(2):
                x = int((j * 340 + k * 97 + speed * local) % (width + 120)) - 60
                frame[lane : lane + 18, max(0, x) : max(0, x + 60)] = colour
        stripes = (np.arange(width) + int(local * 900)) % 80 < 40
        frame[290:294, stripes] = (250, 250, 250)
        return frame
    local = t - CUTS_S[1]  # sunset roofline, a slow bird
    frame = layout["sunset"].copy()
    bx, by = int(120 + local * 40), int(90 + 6 * np.sin(local * 3))
    frame[by : by + 4, bx : bx + 14] = (30, 20, 30)
    return frame


def _city_layout(rng: np.random.Generator) -> dict[str, np.ndarray]:
    width, height = SIZE
    night = _vertical_gradient(
        height, width + 300, [(0.0, (8, 10, 35)), (0.7, (30, 30, 70)), (1.0, (20, 20, 30))]
    )
    x = 0
    while x < width + 300:
        w, h = int(rng.integers(30, 70)), int(rng.integers(80, 260))
        night[height - 60 - h : height - 60, x : x + w] = (18, 18, 28)
        lit = rng.random((h // 12, max(1, w // 10))) < 0.35
        for r, c in zip(*np.nonzero(lit), strict=True):
            y0, x0 = height - 60 - h + 6 + r * 12, x + 3 + c * 10
            night[y0 : y0 + 5, x0 : x0 + 5] = (255, 210, 120)
        x += w + int(rng.integers(3, 12))
    night[height - 60 :, :] = (35, 35, 40)
    day = _vertical_gradient(
        height,
        width + 320,
        [
            (0.0, (120, 180, 235)),
            (0.55, (200, 225, 245)),
            (0.56, (90, 90, 95)),
            (1.0, (70, 70, 75)),
        ],
    )
    x = 0
    while x < width + 320:
        w, h = int(rng.integers(40, 90)), int(rng.integers(60, 170))
        shade = rng.integers(120, 220, 3)
        day[200 - h : 200, x : x + w] = shade
        day[200 - h + 8 : 200 - 6 : 14, x + 4 : x + w - 4] = (60, 80, 110)
        x += w + int(rng.integers(0, 6))
    sunset = _vertical_gradient(
        height,
        width,
        [
            (0.0, (70, 50, 110)),
            (0.5, (240, 130, 70)),
            (0.75, (255, 190, 110)),
            (1.0, (120, 60, 50)),
        ],
    )
    x = 0
    while x < width:
        w, h = int(rng.integers(50, 110)), int(rng.integers(40, 120))
        sunset[height - 90 - h :, x : x + w] = (40, 25, 35)
        x += w
    return {
        "night": night.astype(np.uint8),
        "day": day.astype(np.uint8),
        "sunset": sunset.astype(np.uint8),
    }


def make_city(path: Path) -> None:
    import av

    rng = np.random.default_rng(11)
    layout = _city_layout(rng)
    width, height = SIZE
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "27", "preset": "medium"}
        for i in range(int(DURATION_S * FPS)):
            pixels = _city_frame(i / FPS, layout)
            noise = rng.integers(-3, 4, pixels.shape)
            pixels = np.clip(pixels.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


if __name__ == "__main__":
    make_harbour(HERE / "harbour.jpg")
    make_city(HERE / "city.mp4")
    for name in ("harbour.jpg", "city.mp4"):
        print(f"{name}: {(HERE / name).stat().st_size / 1024:.0f} KB")
