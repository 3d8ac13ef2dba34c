"""Reading videos: one streaming pass that measures colour, motion and shot cuts.

Frames are decoded with PyAV (FFmpeg) and never kept: each decoded frame is reduced on the spot
to a tiny luma image (about 80 pixels wide, taken straight from the Y plane) and a few numbers, so
memory does not grow with the video's length. Two things keep the pass fast:

* the decoder skips non-reference frames (``skip_frame="NONREF"``: B-frames in most H.264/HEVC
  files), which halves decoding work and still leaves 10+ frames per second to analyse;
* colour features are measured on a frame only every :data:`COLOUR_STEP_S` seconds.

Motion energy is frame differencing on the tiny luma image (changes below a noise floor ignored),
scaled to a 1/30 s frame interval.
A shot cut is a frame whose luma + chroma histogram differs sharply from the previous frame's and
stands out from its neighbours (an adaptive threshold), so fast motion inside a shot is not a cut;
a jump that returns on the next frame is a flash, not a cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vmb_agent.describe.features import ColourFeatures, colour_features, dominant_palette
from vmb_agent.errors import InputError
from vmb_agent.rendering.video import declared_duration, is_cover_art, no_video_message

TINY_WIDTH = 80
COLOUR_WIDTH = 160
COLOUR_STEP_S = 0.5
MAX_COLOUR_FRAMES = 240
#: A cut needs this histogram distance (0..1) ...
CUT_MIN_DISTANCE = 0.30
#: ... and this many times the median distance of the frames around it.
CUT_CONTRAST = 3.0
CUT_WINDOW_S = 1.0
MIN_SHOT_S = 0.4
#: Luma changes below this (film grain, sensor and compression noise) are not motion.
NOISE_FLOOR = 0.015
MAX_PIXELS = 40_000_000  # 8K UHD is 33 MP
_PLANAR_8BIT = {
    "yuv420p": (2, 2), "yuvj420p": (2, 2), "yuv422p": (2, 1), "yuvj422p": (2, 1),
    "yuv444p": (1, 1), "yuvj444p": (1, 1), "yuv411p": (4, 1), "yuv440p": (1, 2),
}  # fmt: skip


@dataclass
class VideoAnalysis:
    """Everything measured in one pass over a video."""

    width: int
    height: int
    duration_s: float
    fps: float
    colour: ColourFeatures
    palette: list[str]
    times_s: np.ndarray  # time of each analysed frame
    motion: np.ndarray  # motion energy at each analysed frame (luma difference per 1/30 s)
    cut_distance: np.ndarray  # histogram distance to the previous analysed frame
    cuts_s: list[float] = field(default_factory=list)
    frames_analysed: int = 0

    @property
    def cuts_per_minute(self) -> float:
        return len(self.cuts_s) / max(self.duration_s, 1.0) * 60.0

    def mean_motion(self) -> float:
        """Mean motion energy, with the cut frames themselves left out."""
        if self.motion.size == 0:
            return 0.0
        keep = ~self._at_cut()
        return float(self.motion[keep].mean()) if keep.any() else 0.0

    def _at_cut(self) -> np.ndarray:
        """Which analysed frames are the first frames after a cut (their difference is the cut,
        not motion)."""
        return np.isin(np.round(self.times_s, 3), np.asarray(self.cuts_s))

    def motion_between(self, start_s: float, end_s: float) -> float:
        """Mean motion energy inside ``[start_s, end_s)``; the global mean if nothing is there."""
        inside = (self.times_s >= start_s + 1e-3) & (self.times_s < end_s) & ~self._at_cut()
        return float(self.motion[inside].mean()) if inside.any() else self.mean_motion()


def analyse_video(path: Path, shown: str | None = None) -> VideoAnalysis:
    """Measure a video in one streaming pass; ``InputError`` if it cannot be decoded."""
    import av

    shown = shown or str(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot open video {shown!r}: it is corrupt, truncated or not a video "
            f"({_first_line(exc)})."
        ) from None
    with container:
        pictures = [s for s in container.streams.video if not is_cover_art(s)]
        if not pictures:
            raise InputError(no_video_message(shown, container))
        stream = pictures[0]
        width = int(stream.codec_context.width or 0)
        height = int(stream.codec_context.height or 0)
        if width * height > MAX_PIXELS:
            raise InputError(
                f"video {shown!r} is {width}x{height}; "
                f"the limit is {MAX_PIXELS / 1e6:.0f} MP a frame."
            )
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        declared = declared_duration(container, stream)
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        # The deblocking filter only polishes pixels we average away; skipping it saves ~20 %.
        stream.codec_context.options = {"skip_loop_filter": "all"}
        pass_ = _Pass(fps)
        try:
            for frame in container.decode(stream):
                pass_.add(frame)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if pass_.count == 0:
                raise InputError(
                    f"video {shown!r} has no decodable frames ({_first_line(exc)})."
                ) from None
            # A damaged tail: keep what was decoded (checked against the duration below).
    if pass_.count == 0:
        raise InputError(f"video {shown!r} has no decodable frames.")
    last = pass_.times[-1] + 1.0 / fps
    if declared and last < 0.5 * declared - 1.0:
        raise InputError(
            f"video {shown!r} is truncated or damaged: frames stop at {last:.1f} s of a declared "
            f"{declared:.1f} s."
        )
    duration = max(declared or 0.0, last) if declared else last
    return pass_.finish(width=width or pass_.width, height=height or pass_.height,
                        duration_s=duration, fps=fps)  # fmt: skip


class _Pass:
    """Accumulates per-frame numbers; holds only the previous tiny frame and a capped set of
    colour thumbnails."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.count = 0
        self.width = 0
        self.height = 0
        self.times: list[float] = []
        self.motion: list[float] = []
        self.distance: list[float] = []
        self.skip_distance: list[float] = []  # to the frame two back: tells flashes from cuts
        self.colour_frames: list[np.ndarray] = []
        self.colour_stride = 1  # keep every n-th colour sample (doubles when the cap is hit)
        self.colour_seen = 0
        self.next_colour_t = 0.0
        self._prev_luma: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._prev2_hist: np.ndarray | None = None
        self._prev_t = 0.0

    def add(self, frame: object) -> None:
        t = frame.time  # type: ignore[attr-defined]
        t = float(t) if t is not None else self.count / self.fps
        if self.times and t <= self.times[-1]:
            return  # out-of-order or duplicate timestamps carry nothing new
        luma, u, v, _ = _tiny_yuv(frame, TINY_WIDTH)
        self.width, self.height = frame.width, frame.height  # type: ignore[attr-defined]
        hist = _histogram(luma, u, v)
        if self._prev_luma is None or self._prev_hist is None:
            motion, distance = 0.0, 0.0
        else:
            dt = max(t - self._prev_t, 1.0 / 60.0)
            diff = float(np.maximum(np.abs(luma - self._prev_luma) - NOISE_FLOOR, 0.0).mean())
            motion = diff / (dt * 30.0) if dt > 1.0 / 30.0 else diff
            distance = _hist_distance(hist, self._prev_hist)
        self.times.append(t)
        self.motion.append(motion)
        self.distance.append(distance)
        self.skip_distance.append(
            _hist_distance(hist, self._prev2_hist) if self._prev2_hist is not None else 0.0
        )
        if t >= self.next_colour_t:
            # Colour and texture want a little more detail than motion does.
            self._add_colour(_yuv_to_rgb(*_tiny_yuv(frame, COLOUR_WIDTH), frame))
            self.next_colour_t = t + COLOUR_STEP_S
        self._prev2_hist = self._prev_hist
        self._prev_luma, self._prev_hist, self._prev_t = luma, hist, t
        self.count += 1

    def _add_colour(self, rgb: np.ndarray) -> None:
        self.colour_seen += 1
        if (self.colour_seen - 1) % self.colour_stride:
            return
        self.colour_frames.append(rgb)
        if len(self.colour_frames) >= MAX_COLOUR_FRAMES:
            # Deterministic decimation: keep every other sample and halve the rate from now on.
            self.colour_frames = self.colour_frames[::2]
            self.colour_stride *= 2

    def finish(self, *, width: int, height: int, duration_s: float, fps: float) -> VideoAnalysis:
        times = np.asarray(self.times)
        distance = np.asarray(self.distance)
        motion = np.asarray(self.motion)
        cuts = detect_cuts(times, distance, np.asarray(self.skip_distance))
        # The palette needs only ~60k pixels; more makes median cut slow for no gain.
        stacked = np.concatenate(self.colour_frames, axis=0)
        stacked = stacked[:: max(1, stacked.shape[0] * stacked.shape[1] // 60_000)]
        features = _mean_features([colour_features(f) for f in self.colour_frames])
        return VideoAnalysis(
            width=width,
            height=height,
            duration_s=float(duration_s),
            fps=fps,
            colour=features,
            palette=dominant_palette(stacked),
            times_s=times,
            motion=motion,
            cut_distance=distance,
            cuts_s=cuts,
            frames_analysed=self.count,
        )


def detect_cuts(
    times: np.ndarray, distance: np.ndarray, skip_distance: np.ndarray | None = None
) -> list[float]:
    """Times of hard cuts: histogram jumps that are large in absolute terms and large relative
    to the median jump within ``CUT_WINDOW_S`` around them (so a flicker or fast pan is not one).

    ``skip_distance[i]`` is frame i's distance to frame i-2: when the frame after a jump looks
    like the frame before it again, the jump was a flash (a strobe, a camera flash), not a cut.
    """
    cuts: list[float] = []
    flash_return = -1  # index of the jump back out of a flash
    for i in range(1, distance.size):
        if distance[i] < CUT_MIN_DISTANCE or i == flash_return:
            continue
        is_flash = (
            skip_distance is not None
            and i + 1 < distance.size
            and skip_distance[i + 1] < 0.5 * distance[i]
        )
        if is_flash:
            flash_return = i + 1
            continue
        window = (np.abs(times - times[i]) <= CUT_WINDOW_S) & (np.arange(times.size) != i)
        local = float(np.median(distance[window])) if window.any() else 0.0
        if distance[i] < CUT_CONTRAST * local + 0.05:
            continue
        if cuts and times[i] - cuts[-1] < MIN_SHOT_S:
            continue
        cuts.append(round(float(times[i]), 3))
    return cuts


def _tiny_yuv(frame: object, target_width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Luma and chroma of a frame at about ``target_width`` pixels wide, as float32 in [0, 1]
    (chroma centred on 0). Planar 8-bit YUV is read straight from the planes (no scaling pass);
    other pixel formats go through FFmpeg's scaler."""
    width, height = frame.width, frame.height  # type: ignore[attr-defined]
    step = max(1, round(width / target_width))
    name = frame.format.name  # type: ignore[attr-defined]
    if name in _PLANAR_8BIT:
        cx, cy = _PLANAR_8BIT[name]
        planes = frame.planes  # type: ignore[attr-defined]
        chroma_rows, chroma_step = -(-height // cy), (max(1, step // cy), max(1, step // cx))
        y = _block_mean(_plane(planes[0], height)[:height, :width], step)
        u = _plane(planes[1], chroma_rows)[:: chroma_step[0], :: chroma_step[1]]
        v = _plane(planes[2], chroma_rows)[:: chroma_step[0], :: chroma_step[1]]
        rows, cols = min(y.shape[0], u.shape[0]), min(y.shape[1], u.shape[1])
        y = y[:rows, :cols].astype(np.float32)
        u = u[:rows, :cols].astype(np.float32)
        v = v[:rows, :cols].astype(np.float32)
        full_range = name.startswith("yuvj") or getattr(frame, "color_range", 0) == 2
        if full_range:
            return y / 255.0, (u - 128.0) / 255.0, (v - 128.0) / 255.0, True
        return (y - 16.0) / 219.0, (u - 128.0) / 224.0, (v - 128.0) / 224.0, True
    rgb = (
        frame.to_ndarray(  # type: ignore[attr-defined]
            format="rgb24", width=max(1, width // step), height=max(1, height // step)
        ).astype(np.float32)
        / 255.0
    )
    from vmb_agent.describe.features import LUMA

    luma = rgb @ LUMA
    return luma, rgb[..., 2] - luma, rgb[..., 0] - luma, False


def _block_mean(plane: np.ndarray, step: int) -> np.ndarray:
    """Shrink a uint8 plane by ``step``: sample every ``step // 4`` pixels, then average 4x4
    (or smaller) blocks. Averaging keeps fine detail from aliasing into false motion; sampling
    first keeps the cost at a fraction of a millisecond."""
    sample = max(1, step // 4)
    factor = max(1, step // sample)
    sub = plane[::sample, ::sample]
    rows, cols = sub.shape[0] // factor * factor, sub.shape[1] // factor * factor
    sub = sub[:rows, :cols].astype(np.float32)
    total = np.zeros((rows // factor, cols // factor), dtype=np.float32)
    for dy in range(factor):  # strided adds: far faster than mean() over reshaped axes
        for dx in range(factor):
            total += sub[dy::factor, dx::factor]
    return total / float(factor * factor)


def _plane(plane: object, rows: int) -> np.ndarray:
    line = plane.line_size  # type: ignore[attr-defined]
    data = np.frombuffer(plane, dtype=np.uint8)  # type: ignore[call-overload]
    rows = min(rows, data.size // line)
    return data[: rows * line].reshape(rows, line)  # a view: only the strided pixels get copied


def _yuv_to_rgb(
    luma: np.ndarray, u: np.ndarray, v: np.ndarray, planar: bool, frame: object
) -> np.ndarray:
    if not planar:
        # The fallback path stored B-Y and R-Y; rebuild RGB from them.
        red = luma + v
        blue = luma + u
        green = (luma - 0.2126 * red - 0.0722 * blue) / 0.7152
        return np.clip(np.stack([red, green, blue], axis=-1), 0.0, 1.0)
    height = frame.height  # type: ignore[attr-defined]
    if height >= 720:  # BT.709 for HD, BT.601 for SD (the usual convention)
        kr, kb = 0.2126, 0.0722
    else:
        kr, kb = 0.299, 0.114
    kg = 1.0 - kr - kb
    red = luma + 2.0 * (1.0 - kr) * v
    blue = luma + 2.0 * (1.0 - kb) * u
    green = (luma - kr * red - kb * blue) / kg
    return np.clip(np.stack([red, green, blue], axis=-1), 0.0, 1.0).astype(np.float32)


def _histogram(luma: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Normalised 16-bin luma + 8-bin U + 8-bin V histograms, concatenated (each sums to 1)."""
    n = luma.size or 1
    y_bins = np.bincount(np.clip(luma * 16, 0, 15).astype(np.int64).ravel(), minlength=16)
    u_bins = np.bincount(np.clip((u + 0.5) * 8, 0, 7).astype(np.int64).ravel(), minlength=8)
    v_bins = np.bincount(np.clip((v + 0.5) * 8, 0, 7).astype(np.int64).ravel(), minlength=8)
    return np.concatenate([y_bins, u_bins, v_bins]).astype(np.float32) / n


def _hist_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two concatenated histograms, averaged over the three: 0..1."""
    return 0.5 * float(np.abs(a - b).sum()) / 3.0


def _mean_features(items: list[ColourFeatures]) -> ColourFeatures:
    """Average of per-frame features (hue as a strength-weighted circular mean)."""

    def mean(name: str) -> float:
        return float(np.mean([getattr(item, name) for item in items]))

    angles = np.radians([item.hue_deg for item in items])
    weights = np.array([item.hue_strength for item in items])
    x = float((weights * np.cos(angles)).mean())
    y = float((weights * np.sin(angles)).mean())
    return ColourFeatures(
        brightness=mean("brightness"),
        contrast=mean("contrast"),
        saturation=mean("saturation"),
        colourfulness=mean("colourfulness"),
        warmth=mean("warmth"),
        complexity=mean("complexity"),
        hue_deg=float(np.degrees(np.arctan2(y, x)) % 360.0),
        hue_strength=float(np.hypot(x, y)),
    )


def _first_line(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)  # FFmpeg errors: the reason without the path
    text = (strerror or str(exc)).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
