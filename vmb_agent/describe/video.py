"""Reading videos: one streaming pass that measures colour, brightness, motion and shot cuts.

Frames are decoded with PyAV (FFmpeg) and never kept: each analysed frame is reduced on the spot
to a tiny luma + chroma image (about 80 pixels wide, sampled straight from the YUV planes) and a
32-bin histogram, so memory does not grow with the video's length. What keeps the pass fast:

* the decoder skips non-reference frames (``skip_frame="NONREF"``: B-frames in most H.264/HEVC
  files), which halves decoding work and still leaves 10+ frames per second to analyse;
* at most ~15 frames a second are analysed (:data:`ANALYSIS_STEP_S`); the frames in between are
  only held, and measured when a cut shows up, so cut times stay exact to the frame;
* when a core is spare (the load average leaves one idle), frames are decoded in a worker
  thread (FFmpeg releases the GIL while it decodes) and the analysis runs beside it. On a busy
  machine that would only add CPU (handing frames between cores cost ~10 % more), so decoding
  then stays in this thread. FFmpeg's own frame threads get only the cores beyond those (two
  of them cost ~45 % more CPU per 1080p frame than one);
* motion is measured on :data:`CHUNK_FRAMES` tiny images at a time (numpy's per-call overhead
  is paid per chunk), and colour features on at most :data:`COLOUR_FRAMES` frames, each as it
  comes (so with a decoding thread they are done by the time the last frame is).

Motion energy is frame differencing on the tiny luma image (changes below a noise floor ignored),
scaled to a 1/30 s frame interval; brightness is the tiny luma image's mean.
A shot cut is a frame whose luma + chroma histogram differs sharply from the previous frame's and
stands out from its neighbours (an adaptive threshold), so fast motion inside a shot is not a cut;
a jump that returns on the next analysed frame is a flash, not a cut.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from vmb_agent.describe.features import (
    LUMA,
    ColourFeatures,
    colour_features,
    dominant_palette,
)
from vmb_agent.describe.media import open_media
from vmb_agent.errors import InputError
from vmb_agent.rendering.video import declared_duration, is_cover_art, no_video_message

TINY_WIDTH = 80
COLOUR_WIDTH = 160
#: Colour frames are at least this far apart ...
COLOUR_STEP_S = 0.5
#: ... and about this many are spread over a video (each costs ~4 ms; the features are averaged:
#: 48 of a 60 s clip read brightness and saturation within 0.005 of 120 samples, warmth 0.015).
COLOUR_FRAMES = 48
MAX_COLOUR_FRAMES = 240  # when the length is unknown: decimate once this many are kept
CHUNK_FRAMES = 32
#: Frames closer than this to the last analysed one are held, not measured: motion needs no
#: more than ~15 frames a second. When a cut shows between two analysed frames, the held
#: frames are measured to find its exact frame.
ANALYSIS_STEP_S = 1.0 / 15.0
MAX_HELD_FRAMES = 3  # so at least every 4th frame is analysed (and little memory is held)
#: A cut needs this histogram distance (0..1) ...
CUT_MIN_DISTANCE = 0.30
#: ... and this many times the median distance of the frames around it.
CUT_CONTRAST = 3.0
CUT_WINDOW_S = 1.0
MIN_SHOT_S = 0.4
#: Luma changes below this (film grain, sensor and compression noise) are not motion.
NOISE_FLOOR = 0.015
MAX_PIXELS = 40_000_000  # 8K UHD is 33 MP
DECODE_THREADS = 0  # 0: FFmpeg threads for the cores beyond the decoding and analysing ones (<= 8)
#: Decoded frames waiting for the analysis: few, so each is still in the cache when it is read
#: (a queue of 16 cost ~25 % more CPU than this) and little memory is held (1080p: 3 MB a frame).
DECODE_QUEUE = 2
_BT709, _UNSPECIFIED, _BT601 = 1, 2, (5, 6)  # FFmpeg AVColorSpace codes
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
    brightness: np.ndarray = field(default_factory=lambda: np.zeros(0))  # mean luma, 0..1
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
        """Which analysed frames are the first ones at or after a cut (their difference is the
        cut, not motion)."""
        at = np.zeros(self.times_s.size, dtype=bool)
        first = np.searchsorted(self.times_s, np.asarray(self.cuts_s, dtype=float) - 1e-3)
        at[first[first < at.size]] = True
        return at

    def motion_between(self, start_s: float, end_s: float) -> float:
        """Mean motion energy inside ``[start_s, end_s)``; the global mean if nothing is there."""
        inside = (self.times_s >= start_s + 1e-3) & (self.times_s < end_s) & ~self._at_cut()
        return float(self.motion[inside].mean()) if inside.any() else self.mean_motion()

    def mean_brightness(self) -> float:
        return float(self.brightness.mean()) if self.brightness.size else 0.0

    def brightness_between(self, start_s: float, end_s: float) -> float:
        """Mean luma (0..1) of the frames inside ``[start_s, end_s)``; the global mean if none."""
        inside = (self.times_s >= start_s - 1e-3) & (self.times_s < end_s)
        if not inside.any() or self.brightness.size != self.times_s.size:
            return self.mean_brightness()
        return float(self.brightness[inside].mean())


def analyse_video(path: Path, shown: str | None = None) -> VideoAnalysis:
    """Measure a video in one streaming pass; ``InputError`` if it cannot be decoded."""
    import av

    shown = shown or str(path)
    try:
        container = open_media(path, kinds=("video",), shown=shown, metadata_errors="ignore")
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
        cores = _cores()
        threaded = _core_is_spare(cores)
        stream.thread_type = "AUTO"
        # FFmpeg's frame threads cost extra CPU per frame (cheap frames can take twice the CPU):
        # they get only the cores left beside the analysis (and the decoding thread).
        used = 2 if threaded else 1
        stream.codec_context.thread_count = DECODE_THREADS or max(1, min(cores - used, 8))
        stream.codec_context.skip_frame = "NONREF"
        # The deblocking filter only polishes pixels we average away; skipping it saves ~20 %.
        stream.codec_context.options = {"skip_loop_filter": "all"}
        pass_ = _Pass(fps, declared)
        frames = _decoded(container, stream, threaded=threaded)
        try:
            for frame in frames:
                pass_.add(frame)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if pass_.count == 0:
                raise InputError(
                    f"video {shown!r} has no decodable frames ({_first_line(exc)})."
                ) from None
            # A damaged tail: keep what was decoded (checked against the duration below).
        finally:
            frames.close()  # the decoding thread has stopped before the container closes
    if pass_.count == 0:
        raise InputError(f"video {shown!r} has no decodable frames.")
    last = pass_.last_time + 1.0 / fps
    if declared and last < 0.5 * declared - 1.0:
        raise InputError(
            f"video {shown!r} is truncated or damaged: frames stop at {last:.1f} s of a declared "
            f"{declared:.1f} s."
        )
    duration = max(declared or 0.0, last) if declared else last
    return pass_.finish(width=width or pass_.width, height=height or pass_.height,
                        duration_s=duration, fps=fps)  # fmt: skip


_END = object()


def _decoded(container: object, stream: object, *, threaded: bool) -> Iterator[object]:
    """The stream's frames in order, decoded in a worker thread when ``threaded`` (FFmpeg
    releases the GIL while it decodes, so the caller's analysis runs beside it on another core).
    A decoding error is raised here after the frames decoded before it. Close the iterator
    before the container: closing stops and joins the worker."""
    if not threaded:
        yield from container.decode(stream)  # type: ignore[attr-defined]
        return
    handed: queue.Queue = queue.Queue(maxsize=DECODE_QUEUE)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():  # the consumer may have stopped reading: never block for good
            try:
                handed.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for frame in container.decode(stream):  # type: ignore[attr-defined]
                if not hand_over(frame):
                    return
            end: object = _END
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            end = exc
        hand_over(end)

    worker = threading.Thread(target=decode, name="vmb-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = handed.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


class _Pass:
    """Accumulates per-frame numbers. Holds one chunk of tiny luma images, the frames decoded
    since the last analysed one, the last two histograms and a capped set of colour thumbnails.
    """

    def __init__(self, fps: float, duration_s: float | None = None) -> None:
        self.fps = fps
        self.count = 0  # frames decoded
        self.analysed = 0
        self.width = 0
        self.height = 0
        self.last_time = -np.inf
        self.colour_step = max(COLOUR_STEP_S, (duration_s or 0.0) / COLOUR_FRAMES)
        self.colour_frames: list[np.ndarray] = []
        #: each colour frame's features, measured as it comes (while the next frames decode)
        self.colour_measured: list[ColourFeatures] = []
        self.colour_stride = 1  # keep every n-th colour sample (doubles when the cap is hit)
        self.colour_seen = 0
        self.next_colour_t = 0.0
        self._colour_layout: _Layout | None = None
        self._layout: _Layout | None = None
        self._held: list[tuple[float, object]] = []  # decoded since the last analysed frame
        self._hists: list[np.ndarray] = []  # of the last two analysed frames
        self._luma: list[np.ndarray] = []  # analysed tiny luma images waiting for motion ...
        self._times: list[float] = []  # ... and their times
        self._analysed_t = -np.inf
        self._numbers: dict[str, list[float]] = {"distance": [], "skip": [], "cut_time": []}
        self._parts: list[dict[str, np.ndarray]] = []  # times, motion and brightness per chunk
        self._prev_luma: np.ndarray | None = None  # tiny luma of the last measured frame
        self._prev_t = 0.0

    def add(self, frame: object) -> None:
        t = frame.time  # type: ignore[attr-defined]
        t = float(t) if t is not None else self.count / self.fps
        if t <= self.last_time:
            return  # out-of-order or duplicate timestamps carry nothing new
        self.last_time = t
        self.count += 1
        self.width, self.height = frame.width, frame.height  # type: ignore[attr-defined]
        if t >= self.next_colour_t:
            self._add_colour(frame)
            self.next_colour_t = t + self.colour_step
        layout = self._layout
        if layout is not None and layout.fits(frame):
            soon = t - self._analysed_t < ANALYSIS_STEP_S - 1e-4
            if soon and len(self._held) < MAX_HELD_FRAMES:
                self._held.append((t, frame))  # kept only until the next analysed frame
                return
        if layout is None or not layout.fits(frame):  # the first frame, or a new frame size
            self._measure_motion()
            self._held.clear()
            self._layout = layout = _Layout(frame, TINY_WIDTH)
        self._analyse(frame, t, layout)

    def _analyse(self, frame: object, t: float, layout: _Layout) -> None:
        luma, hist = layout.measure(frame)
        distance = _hist_distances(hist, self._hists[-1]) if self._hists else 0.0
        cut_time = t
        if distance >= CUT_MIN_DISTANCE and self._held:
            cut_time = self._exact_jump(hist, t, layout)
        self._numbers["distance"].append(float(distance))
        skip = _hist_distances(hist, self._hists[-2]) if len(self._hists) > 1 else 0.0
        self._numbers["skip"].append(float(skip))
        self._numbers["cut_time"].append(cut_time)
        self._hists = [*self._hists[-1:], hist]
        self._held.clear()
        self._luma.append(luma)
        self._times.append(t)
        self._analysed_t = t
        self.analysed += 1
        if len(self._luma) == CHUNK_FRAMES:
            self._measure_motion()

    def _exact_jump(self, hist: np.ndarray, t: float, layout: _Layout) -> float:
        """The time of the biggest histogram jump between the last analysed frame and this one,
        through the frames held in between: a cut's exact frame."""
        hists = [self._hists[-1], *[layout.measure(f)[1] for _, f in self._held], hist]
        jumps = [_hist_distances(b, a) for a, b in pairwise(hists)]
        times = [*[held_t for held_t, _ in self._held], t]
        return times[int(np.argmax(jumps))]

    def _add_colour(self, frame: object) -> None:
        self.colour_seen += 1
        if (self.colour_seen - 1) % self.colour_stride:
            return
        if self._colour_layout is None or not self._colour_layout.fits(frame):
            # Colour and texture want a little more detail than motion does.
            self._colour_layout = _Layout(frame, COLOUR_WIDTH)
        tiny = self._colour_layout.tiny(frame)
        rgb = _yuv_to_rgb(*tiny, self._colour_layout.planar, frame)
        self.colour_frames.append(rgb)
        self.colour_measured.append(colour_features(rgb))
        if len(self.colour_frames) >= MAX_COLOUR_FRAMES:
            # Deterministic decimation: keep every other sample and halve the rate from now on.
            self.colour_frames = self.colour_frames[::2]
            self.colour_measured = self.colour_measured[::2]
            self.colour_stride *= 2

    def _measure_motion(self) -> None:
        """Motion and brightness of the waiting tiny luma images, all at once: mean luma change
        above the noise floor from each frame's predecessor, per 1/30 s."""
        if not self._luma:
            return
        luma, times = np.stack(self._luma), np.asarray(self._times)
        fresh = self._prev_luma is None or self._prev_luma.shape != luma.shape[1:]
        before = luma[:1] if fresh else self._prev_luma[None]  # type: ignore[index]
        previous = np.concatenate([before, luma[:-1]])
        diff = np.maximum(np.abs(luma - previous) - NOISE_FLOOR, 0.0).mean(axis=(1, 2))
        dt = np.maximum(np.diff(times, prepend=times[0] if fresh else self._prev_t), 1.0 / 60.0)
        # Frames further apart than 1/30 s are scaled back to one interval.
        motion = np.where(dt > 1.0 / 30.0, diff / (dt * 30.0), diff)
        brightness = luma.mean(axis=(1, 2))
        self._parts.append({"times": times, "motion": motion, "brightness": brightness})
        self._prev_luma, self._prev_t = luma[-1], float(times[-1])
        self._luma, self._times = [], []

    def finish(self, *, width: int, height: int, duration_s: float, fps: float) -> VideoAnalysis:
        self._measure_motion()

        def joined(name: str) -> np.ndarray:
            return np.concatenate([part[name] for part in self._parts]).astype(np.float64)

        times = joined("times")
        distance = np.asarray(self._numbers["distance"])
        cuts = detect_cuts(
            times,
            distance,
            np.asarray(self._numbers["skip"]),
            np.asarray(self._numbers["cut_time"]),
        )
        # The palette needs only ~60k pixels; more makes median cut slow for no gain.
        stacked = np.concatenate(self.colour_frames, axis=0)
        stacked = stacked[:: max(1, stacked.shape[0] * stacked.shape[1] // 60_000)]
        features = _mean_features(self.colour_measured)
        return VideoAnalysis(
            width=width,
            height=height,
            duration_s=float(duration_s),
            fps=fps,
            colour=features,
            palette=dominant_palette(stacked),
            times_s=times,
            motion=joined("motion"),
            cut_distance=distance,
            brightness=joined("brightness"),
            cuts_s=cuts,
            frames_analysed=self.analysed,
        )


def detect_cuts(
    times: np.ndarray,
    distance: np.ndarray,
    skip_distance: np.ndarray | None = None,
    exact_times: np.ndarray | None = None,
) -> list[float]:
    """Times of hard cuts: histogram jumps that are large in absolute terms and large relative
    to the median jump within ``CUT_WINDOW_S`` around them (so a flicker or fast pan is not one).

    ``skip_distance[i]`` is frame i's distance to frame i-2: when the frame after a jump looks
    like the frame before it again, the jump was a flash (a strobe, a camera flash), not a cut.
    ``exact_times[i]`` is the time of the frame, between analysed frames i-1 and i, where the
    jump happened (``times[i]`` when none was skipped).
    """
    exact = times if exact_times is None else exact_times
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
        if cuts and exact[i] - cuts[-1] < MIN_SHOT_S:
            continue
        cuts.append(round(float(exact[i]), 3))
    return cuts


class _Layout:
    """Which pixels make the tiny image of frames of one size and pixel format.

    Planar 8-bit YUV is read straight from the planes (no scaling pass): luma is sampled every
    ``sample`` pixels and averaged over ``factor`` x ``factor`` blocks (averaging keeps fine
    detail from aliasing into false motion; sampling first keeps the cost low), and chroma is
    taken at the centre of each luma block, so every pixel keeps its own colour whatever the
    step and the chroma subsampling. Other pixel formats go through FFmpeg's scaler."""

    def __init__(self, frame: object, target_width: int) -> None:
        width, height = frame.width, frame.height  # type: ignore[attr-defined]
        name = frame.format.name  # type: ignore[attr-defined]
        self.key = (width, height, name, getattr(frame, "color_range", 0))
        step = max(1, round(width / target_width))
        self.sample = max(1, step // 4)
        self.factor = max(1, step // self.sample)
        self.height = height
        self.rows = -(-height // self.sample) // self.factor
        self.cols = -(-width // self.sample) // self.factor
        self.planar = name in _PLANAR_8BIT and self.rows > 0 and self.cols > 0
        if not self.planar:
            self.factor, self.rows, self.cols = 1, max(1, height // step), max(1, width // step)
            return
        cx, cy = _PLANAR_8BIT[name]
        block = self.sample * self.factor
        self.chroma_height = -(-height // cy)
        rows = (np.arange(self.rows) * block + block // 2) // cy
        cols = (np.arange(self.cols) * block + block // 2) // cx
        self.chroma_rows = np.minimum(rows, self.chroma_height - 1)
        self.chroma_cols = np.minimum(cols, -(-width // cx) - 1)
        # The sampled luma rows, whole (up to the last sampled column): copying rows and then
        # picking columns is ~2.5x faster than one strided copy out of a freshly decoded frame.
        self._rows = np.empty(
            (self.rows * self.factor, (self.cols * self.factor - 1) * self.sample + 1), np.uint8
        )
        # Tables from a block's sum and a chroma code to its value and histogram bin: one
        # take() per frame instead of a chain of float operations.
        full_range = name.startswith("yuvj") or self.key[3] == 2
        offset, luma_scale, chroma_scale = (
            (0.0, 255.0, 255.0) if full_range else (16.0, 219.0, 224.0)
        )
        sums = np.arange(self.factor * self.factor * 255 + 1, dtype=np.float32)
        self.luma_of_sum = (sums / float(self.factor * self.factor) - offset) / luma_scale
        self.chroma_of_code = (np.arange(256, dtype=np.float32) - 128.0) / chroma_scale
        self.luma_key, self.u_key, self.v_key = _bin_keys(
            self.luma_of_sum, self.chroma_of_code, self.chroma_of_code
        )
        self._chroma_index: dict[int, np.ndarray] = {}  # flat chroma positions by line size

    def fits(self, frame: object) -> bool:
        return self.key == (
            frame.width,  # type: ignore[attr-defined]
            frame.height,  # type: ignore[attr-defined]
            frame.format.name,  # type: ignore[attr-defined]
            getattr(frame, "color_range", 0),
        )

    def read(self, frame: object, luma: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Copy a planar frame's sampled pixels (uint8) into ``luma``, ``u`` and ``v``."""
        planes = frame.planes  # type: ignore[attr-defined]
        rows = self._rows
        rows[...] = _plane(planes[0], self.height)[:: self.sample][: rows.shape[0], : rows.shape[1]]
        luma[...] = rows[:, :: self.sample]
        for plane, out in ((planes[1], u), (planes[2], v)):
            line = plane.line_size
            if line not in self._chroma_index:
                self._chroma_index[line] = self.chroma_rows[:, None] * line + self.chroma_cols
            chroma = np.frombuffer(plane, dtype=np.uint8)  # type: ignore[call-overload]
            chroma.take(self._chroma_index[line], out=out, mode="clip")

    def tiny(self, frame: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One frame's tiny luma and chroma as float32. Planar: Y in [0, 1], U and V centred on
        0; other formats (through the scaler): luma, B - luma and R - luma."""
        if not self.planar:
            rgb = frame.to_ndarray(  # type: ignore[attr-defined]
                format="rgb24", width=self.cols, height=self.rows
            ).astype(np.float32) / np.float32(255.0)
            luma = rgb @ LUMA
            return luma, rgb[..., 2] - luma, rgb[..., 0] - luma
        sums, u, v = self._sums(frame)
        return (
            self.luma_of_sum.take(sums),
            self.chroma_of_code.take(u),
            self.chroma_of_code.take(v),
        )

    def measure(self, frame: object) -> tuple[np.ndarray, np.ndarray]:
        """A frame's tiny luma image (float32, 0..1) and its 32-bin histogram."""
        if not self.planar:
            luma, u, v = self.tiny(frame)
            return luma, _histograms(np.stack(_bin_keys(luma, u, v))[:, None])[0]
        sums, u, v = self._sums(frame)
        keys = np.empty((3, 1, *sums.shape), np.uint16)
        self.luma_key.take(sums, out=keys[0, 0], mode="clip")
        self.u_key.take(u, out=keys[1, 0], mode="clip")
        self.v_key.take(v, out=keys[2, 0], mode="clip")
        return self.luma_of_sum.take(sums), _histograms(keys)[0]

    def _sums(self, frame: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block sums of a planar frame's sampled luma (uint16) and its chroma codes."""
        sampled = np.empty((1, self.rows * self.factor, self.cols * self.factor), np.uint8)
        u, v = np.empty((2, self.rows, self.cols), np.uint8)
        self.read(frame, sampled[0], u, v)
        return _block_sum(sampled, self.factor)[0], u, v


def _block_sum(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Sums of ``factor`` x ``factor`` blocks of uint8 frames ``(n, rows, cols)``, as uint16.
    Adding strided views (rows, then columns) is far faster than sum() over reshaped axes."""
    n, height, width = pixels.shape
    rows = pixels.reshape(n, height // factor, factor, width)
    total = rows[:, :, 0].astype(np.uint16)
    for k in range(1, factor):
        total += rows[:, :, k]
    columns = total.reshape(n, height // factor, width // factor, factor)
    out = columns[..., 0].copy()
    for k in range(1, factor):
        out += columns[..., k]
    return out


def _plane(plane: object, rows: int) -> np.ndarray:
    line = plane.line_size  # type: ignore[attr-defined]
    data = np.frombuffer(plane, dtype=np.uint8)  # type: ignore[call-overload]
    rows = min(rows, data.size // line)
    return data[: rows * line].reshape(rows, line)  # a view: only the sampled pixels get copied


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
    tagged = getattr(frame, "colorspace", _UNSPECIFIED)
    # The file's own matrix tag when it has one; untagged: BT.709 for HD, BT.601 for SD (the
    # convention players follow).
    if tagged == _BT709 or (tagged not in _BT601 and height >= 720):
        kr, kb = 0.2126, 0.0722
    else:
        kr, kb = 0.299, 0.114
    kg = 1.0 - kr - kb
    red = luma + 2.0 * (1.0 - kr) * v
    blue = luma + 2.0 * (1.0 - kb) * u
    green = (luma - kr * red - kb * blue) / kg
    return np.clip(np.stack([red, green, blue], axis=-1), 0.0, 1.0).astype(np.float32)


def _bin_keys(
    luma: np.ndarray, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram bin numbers as uint16: luma (0..1) in 16 bins numbered 0-15, U and V
    (-0.5..0.5) in 8 bins each, numbered 16-23 and 24-31."""
    return (
        np.clip(luma * 16, 0, 15).astype(np.uint16),
        np.clip((u + 0.5) * 8, 0, 7).astype(np.uint16) + np.uint16(16),
        np.clip((v + 0.5) * 8, 0, 7).astype(np.uint16) + np.uint16(24),
    )


def _histograms(keys: np.ndarray) -> np.ndarray:
    """Per frame: normalised 16-bin luma + 8-bin U + 8-bin V histograms, concatenated (each
    sums to 1), shape ``(frames, 32)``, from bin numbers ``(3, frames, ...)`` (see
    :func:`_bin_keys`); one bincount for all frames."""
    n = keys.shape[1]
    keys = keys + (np.arange(n, dtype=np.uint16) * np.uint16(32)).reshape(
        1, n, *[1] * (keys.ndim - 2)
    )
    counts = np.bincount(keys.ravel(), minlength=32 * n)
    return counts.reshape(n, 32).astype(np.float32) / float(keys[0, 0].size or 1)


def _hist_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Half the L1 distance of concatenated histograms (last axis), averaged over the three:
    0..1."""
    return 0.5 * np.abs(a - b).sum(axis=-1) / 3.0


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


def _core_is_spare(cores: int) -> bool:
    """Whether a core would sit idle beside this thread: more cores than the load average's
    runnable tasks (1 minute) plus this one."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on this system: assume a spare core when there is one
        load = 0.0
    return cores >= 2 and load + 1.0 <= cores


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _first_line(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)  # FFmpeg errors: the reason without the path
    text = (strerror or str(exc)).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
