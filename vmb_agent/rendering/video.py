"""Video helpers: probe a video's stream and length, and mux music into it with ffmpeg.

The scored video is written in the container its file name asks for (:data:`CONTAINERS`, the
one table of which video codecs each container takes). A picture whose codec fits is copied
(``-c:v copy``: no quality loss, rotation metadata kept); any other is re-encoded (H.264, or VP9
for WebM) with the rotation applied and the frame padded to even sizes. The music becomes AAC
(Opus in WebM), padded or trimmed to the video's length; MP4 and MOV are written with their index
first (``+faststart``) so browsers can start playing before the download ends. ffmpeg is the
static binary inside ``imageio-ffmpeg``. Every input is opened as the container its content shows
(``describe.media.open_media`` / ``check_media``), with FFmpeg limited to the ``file`` protocol:
a playlist or concat list is never followed out of the allowed roots. The pipeline's music comes
from memory as raw samples through a pipe (:func:`start_mux`), so ffmpeg encodes it while the
WAV and the other files are written.
"""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmb_agent.errors import BackendUnavailableError, InputError, OutOfRangeError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: the longest video that can be scored (the music's own limit, check_duration's 600 s)
MAX_VIDEO_S = 600.0
MIN_VIDEO_S = 0.2
#: an explicit music length may differ from the video's by this much (it is then fitted)
DURATION_TOLERANCE_S = 0.5
DEFAULT_AUDIO_KBPS = 192
AUDIO_KBPS_RANGE = (64, 320)

# libx264 with yuv420p needs even frame sizes: pad odd ones by one black pixel (no resampling);
# full-range (JPEG) input is brought to the TV range players expect. ffmpeg applies rotation
# metadata before these filters (autorotate) when it re-encodes.
_EVEN_420 = "pad=ceil(iw/2)*2:ceil(ih/2)*2,scale=out_range=tv,format=yuv420p"
_H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-vf", _EVEN_420)
_VP9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
        "-crf", "30", "-b:v", "0", "-vf", _EVEN_420)  # fmt: skip


@dataclass(frozen=True)
class Container:
    """How a scored video is written for one output suffix."""

    name: str
    muxer: str  # ffmpeg's -f
    copies: frozenset[str]  # video codecs (FFmpeg names) the container takes as they are
    encoder: tuple[str, ...]  # how a picture in any other codec is re-encoded
    audio: str  # the music's encoder
    faststart: bool  # index (moov) before the media data, for playback while downloading


_MP4 = Container(
    "MP4", "mp4", frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"}), _H264, "aac", faststart=True
)
#: Output suffix -> container. Anything not listed (cinepak, rawvideo, msmpeg4, ...) is
#: re-encoded rather than written into a container that players reject.
CONTAINERS: dict[str, Container] = {
    ".mp4": _MP4,
    ".m4v": _MP4,
    ".mov": Container("MOV", "mov", frozenset({"h264", "hevc", "mpeg4", "prores", "mjpeg"}),
                      _H264, "aac", True),
    ".mkv": Container("MKV", "matroska",
                      frozenset({"h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "mpeg2video",
                                 "mjpeg", "prores", "theora", "ffv1"}),
                      _H264, "aac", False),
    ".webm": Container("WebM", "webm", frozenset({"vp8", "vp9", "av1"}), _VP9, "libopus", False),
}  # fmt: skip


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int
    height: int
    fps: float | None
    codec: str = ""  # FFmpeg's name of the picture's codec, e.g. "h264", "cinepak"
    index: int = 0  # which video stream is the picture (cover art is skipped)
    cut_short: bool = False  # timestamps read only until past the limit: longer than duration_s


def container_for(path: Path) -> Container:
    """The container a scored video named ``path`` is written in; ``InputError`` if none."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        named = f"'{suffix}'" if suffix else "no suffix"
        raise InputError(
            f"cannot write the scored video {str(path)!r} ({named}); "
            f"allowed: {', '.join(CONTAINERS)}."
        )
    return CONTAINERS[suffix]


def default_suffix(video: Path) -> str:
    """The scored video's suffix when the caller names none: the input's, else MP4."""
    suffix = Path(video).suffix.lower()
    return suffix if suffix in CONTAINERS else ".mp4"


def parse_audio_bitrate(value: str | int | None) -> int:
    """The music's bitrate in kb/s from ``192k``, ``"256"`` or ``256``; one-line errors."""
    if value is None:
        return DEFAULT_AUDIO_KBPS
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+)\s*k?", text)
    if isinstance(value, bool) or not match:
        raise InputError(f"audio bitrate {value!r} is not a bitrate; give kb/s, e.g. 192k or 256k.")
    kbps = int(match.group(1))
    low, high = AUDIO_KBPS_RANGE
    if not low <= kbps <= high:
        raise OutOfRangeError(f"audio bitrate {kbps}k is out of range; allowed: {low}k to {high}k.")
    return kbps


#: Recent probes by file identity (real path, device, inode, size, change time) and options:
#: scoring one video probes it four times (the SDK's and the pipeline's checks, the mux), and a
#: 10-minute video's timestamps take ~0.2 s to read each time. A changed file is probed again.
_PROBES: dict[tuple, VideoInfo] = {}
_MAX_PROBES = 16


def probe_video(path: Path, *, limit_s: float = MAX_VIDEO_S, timestamps: bool = True) -> VideoInfo:
    """Length, frame size and codec of a video; ``InputError`` if it has no video stream or is
    corrupt.

    A length the container declares over ``limit_s`` is taken as it is (a long file is refused
    at once). Otherwise the length is where the last frame ends by its timestamp: right for
    variable frame rates, and for files whose declared length misses the last reordered frames.
    Timestamps come from the packets, read (never decoded) until just past ``limit_s``.
    ``timestamps=False`` reads the declared length only.
    """
    try:
        real = Path(path).resolve()
        stat = real.stat()
        key: tuple | None = (str(real), stat.st_dev, stat.st_ino, stat.st_size,
                             stat.st_mtime_ns, stat.st_ctime_ns, limit_s, timestamps)  # fmt: skip
    except OSError:  # not there or not readable: the probe below says so
        key = None
    if key is not None and key in _PROBES:
        return _PROBES[key]
    info = _probe(path, limit_s=limit_s, timestamps=timestamps)
    if key is not None:
        if len(_PROBES) >= _MAX_PROBES:  # the oldest goes (tolerant of another thread's pop)
            _PROBES.pop(next(iter(_PROBES), None), None)
        _PROBES[key] = info
    return info


def _probe(path: Path, *, limit_s: float, timestamps: bool) -> VideoInfo:
    from vmb_agent.describe.media import open_media

    try:
        with open_media(path, kinds=("video",), metadata_errors="ignore") as container:
            pictures = [s for s in container.streams.video if not is_cover_art(s)]
            if not pictures:
                raise InputError(no_video_message(str(path), container))
            stream = pictures[0]
            fps = float(stream.average_rate) if stream.average_rate else None
            duration = declared_duration(container, stream) or 0.0
            cut_short = False
            if timestamps and duration <= limit_s:
                end = _frames_end(container, stream, limit_s, fps)
                duration, cut_short = end or duration, end > limit_s
            return VideoInfo(
                duration_s=float(duration), width=int(stream.width or 0),
                height=int(stream.height or 0), fps=fps, codec=stream.codec_context.name,
                index=list(container.streams.video).index(stream), cut_short=cut_short,
            )  # fmt: skip
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for unreadable files
        raise InputError(f"cannot read video {str(path)!r}: {exc}") from None


def check_video(path: Path, *, duration_s: float | None = None) -> VideoInfo:
    """Probe ``path`` and check it can be scored: a picture, 0.2-600 s long, and (if given) an
    explicit music length within :data:`DURATION_TOLERANCE_S` of the video's."""
    info = probe_video(path)
    shown = str(path)
    if info.duration_s <= MIN_VIDEO_S:
        raise InputError(f"video {shown!r} is too short ({info.duration_s:.2f} s); "
                         f"allowed: over {MIN_VIDEO_S:g} s.")  # fmt: skip
    if info.duration_s > MAX_VIDEO_S:
        lasts = f"over {MAX_VIDEO_S:.0f}" if info.cut_short else f"{info.duration_s:.0f}"
        raise OutOfRangeError(f"video {shown!r} lasts {lasts} s; the limit is "
                              f"{MAX_VIDEO_S:.0f} s (cut it shorter first).")  # fmt: skip
    if duration_s is not None and abs(duration_s - info.duration_s) > DURATION_TOLERANCE_S:
        raise InputError(
            f"duration {duration_s:g} s does not match the video's length {info.duration_s:.1f} s"
            f" (allowed: within {DURATION_TOLERANCE_S:g} s); leave --duration (duration_s) out "
            "to fit the video."
        )
    return info


def check_scoring(
    video: Path,
    *,
    out: Path | None = None,
    overwrite: bool = False,
    duration_s: float | None = None,
    audio_bitrate: str | int | None = None,
) -> tuple[VideoInfo, int]:
    """Everything about scoring ``video`` that can be checked before any work: the named output
    (a known container; not an existing file unless ``overwrite``), the music's bitrate and the
    video itself (:func:`check_video`). Returns the video's facts and the bitrate in kb/s."""
    from vmb_agent.files import check_new_output

    audio_kbps = parse_audio_bitrate(audio_bitrate)
    if out is not None:
        container_for(out)
        check_new_output(Path(out), overwrite=overwrite)
    return check_video(video, duration_s=duration_s), audio_kbps


def declared_duration(container: object, stream: object) -> float | None:
    """The length the file declares: the stream's, else the container's; ``None`` if neither."""
    if getattr(stream, "duration", None) and getattr(stream, "time_base", None):
        return float(stream.duration * stream.time_base)  # type: ignore[attr-defined]
    if getattr(container, "duration", None):
        return float(container.duration) / 1e6  # type: ignore[attr-defined]
    return None


_KIND_WORDS = {"subtitle": "subtitles", "data": "data streams", "attachment": "attachments"}


def no_video_message(shown: str, container: object) -> str:
    """``'x.mp4' has no video stream (it holds only audio)``: what the file holds instead."""
    streams = list(container.streams)  # type: ignore[attr-defined]
    kinds = sorted({_KIND_WORDS.get(s.type, s.type) for s in streams if s.type != "video"})
    if any(s.type == "video" for s in streams):  # every video stream is an attached picture
        kinds.append("cover art")
    holds = f"it holds only {' and '.join(kinds)}" if kinds else "it holds no streams"
    return f"{shown!r} has no video stream ({holds}); give a video file (e.g. .mp4)."


def is_cover_art(stream: object) -> bool:
    import av

    return av.stream.Disposition.attached_pic in stream.disposition  # type: ignore[attr-defined]


def _frames_end(container: Any, stream: Any, limit_s: float, fps: float | None) -> float:
    """Where the last frame ends (its timestamp plus its duration), from the packets without
    decoding them; it stops a little past ``limit_s``. 0 if no packet has a timestamp."""
    if stream.time_base is None:
        return 0.0
    # Times in plain integer arithmetic: ``ticks * num / den`` is the correctly rounded float,
    # as ``float(ticks * time_base)`` is, without a Fraction per packet (0.5 s for 10 minutes
    # of video). Demuxed packets carry their stream's time base.
    num, den = stream.time_base.numerator, stream.time_base.denominator
    start = stream.start_time * num / den if stream.start_time else 0.0
    one_frame = 1.0 / fps if fps else 0.0
    end = 0.0
    for packet in container.demux(stream):
        pts = packet.pts
        if pts is None:
            continue
        duration = packet.duration
        shown = duration * num / den if duration else one_frame
        end = max(end, pts * num / den - start + shown)
        if end > limit_s + 1.0:
            break
    return end


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # noqa: BLE001 - a missing binary surfaces as various errors
        raise BackendUnavailableError(
            f"ffmpeg is not available ({exc}); pip install imageio-ffmpeg"
        ) from None


def picture_args(codec: str, container: Container) -> list[str]:
    """ffmpeg's video options: copy a codec the container takes, else re-encode."""
    if codec not in container.copies:
        return list(container.encoder)
    # Apple players need HEVC tagged hvc1 in MP4/MOV (ffmpeg's default hev1 does not play)
    tag = ["-tag:v", "hvc1"] if codec == "hevc" and container.muxer in ("mp4", "mov") else []
    return ["-c:v", "copy", *tag]


def _input(path: Path, kind: str) -> list[str]:
    """ffmpeg's options to read ``path`` as a local file, with the demuxer of the container its
    content shows forced (``UnsupportedFormatError`` if it holds no ``kind``)."""
    from vmb_agent.describe.media import check_media

    real = path.resolve()
    demuxer = check_media(real, (kind,), shown=str(path)).demuxer or ""
    return ["-protocol_whitelist", "file", "-f", demuxer, "-i", f"file:{real}"]


def mux_audio(
    video: Path,
    audio: Path,
    output: Path,
    duration_s: float,
    *,
    container: Container | None = None,
    audio_kbps: int = DEFAULT_AUDIO_KBPS,
) -> None:
    """Write ``output``: ``video``'s picture (copied if ``container`` takes its codec, else
    re-encoded) with the audio file ``audio``, cut to ``duration_s``. ``container`` defaults to
    the one ``output``'s suffix names."""
    audio_input = _input(Path(audio), "audio")
    command = _mux_command(video, audio_input, output, duration_s, container, audio_kbps)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InputError(_mux_failure(video, result.stderr, result.returncode))


def start_mux(
    video: Path,
    audio: np.ndarray,
    sample_rate: int,
    output: Path,
    duration_s: float,
    *,
    container: Container | None = None,
    audio_kbps: int = DEFAULT_AUDIO_KBPS,
) -> Mux:
    """Start writing ``output`` as :func:`mux_audio` does, with the music given as samples
    (``(n, channels)`` float) fed to ffmpeg through a pipe: the encoding runs while the caller
    writes its other files, and no WAV has to be written first. ``Mux.wait()`` finishes it."""
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    # our own samples, raw: the raw demuxer is forced and `pipe` is the only protocol allowed
    audio_input = ["-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels),
                   "-protocol_whitelist", "pipe", "-i", "pipe:0"]  # fmt: skip
    command = _mux_command(video, audio_input, output, duration_s, container, audio_kbps)
    return Mux(command, audio, Path(video))


#: Samples written to ffmpeg's pipe at a time (a second of stereo float: 350 kB, no big copy).
_FEED_FRAMES = 44100


class Mux:
    """An ffmpeg mux in the background, its music fed through stdin by a thread."""

    def __init__(self, command: list[str], audio: np.ndarray, video: Path) -> None:
        self._video = video
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._feeder = threading.Thread(target=self._feed, args=(audio,), daemon=True)
        self._feeder.start()

    def _feed(self, audio: np.ndarray) -> None:
        import numpy as np

        pipe = self._process.stdin
        assert pipe is not None
        try:
            for start in range(0, audio.shape[0], _FEED_FRAMES):
                chunk = audio[start : start + _FEED_FRAMES]
                pipe.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
        except OSError:  # ffmpeg stopped reading (it failed, or was cancelled): wait() says why
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def wait(self) -> None:
        """Wait for ffmpeg to finish; ``InputError`` with its message if it failed."""
        assert self._process.stderr is not None
        # read its messages first: ffmpeg never blocks on a full stderr pipe while we wait
        messages = self._process.stderr.read().decode("utf-8", "replace")
        self._process.stderr.close()
        code = self._process.wait()
        self._feeder.join()
        if code != 0:
            raise InputError(_mux_failure(self._video, messages, code))

    def cancel(self) -> None:
        """Stop ffmpeg (the caller failed before the mux was needed)."""
        self._process.kill()
        self._process.wait()
        self._feeder.join()
        if self._process.stderr is not None:
            self._process.stderr.close()


def _mux_command(
    video: Path,
    audio_input: list[str],
    output: Path,
    duration_s: float,
    container: Container | None,
    audio_kbps: int,
) -> list[str]:
    """ffmpeg's command line: ``video``'s picture and the first audio stream of
    ``audio_input`` (the options that open it) into ``output``, cut to ``duration_s``."""
    container = container or container_for(output)
    info = probe_video(video, timestamps=False)  # the codec and the stream, not the length
    # Only the files named here are read: each input's demuxer is forced to the container its
    # content shows (never a playlist or concat list) and FFmpeg may use no protocol but
    # `file` (no http, pipes or nested URLs); music given as samples comes raw through stdin.
    return [
        _ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        *_input(Path(video), "video"), *audio_input,
        "-map", f"0:v:{info.index}", "-map", "1:a:0",
        *picture_args(info.codec, container),
        "-c:a", container.audio, "-b:a", f"{audio_kbps}k",
        # ffmpeg's AAC with its fast coder: 2.3x quicker than the default two-loop search (1.0 s
        # instead of 2.3 s for a minute of stereo), transparent enough at 192 kb/s
        *(["-aac_coder", "fast"] if container.audio == "aac" else []),
        "-af", "apad", "-t", f"{duration_s:.3f}",
        *(["-movflags", "+faststart"] if container.faststart else []),
        "-f", container.muxer, f"file:{Path(output).resolve()}",
    ]  # fmt: skip


def _mux_failure(video: Path, stderr: str, code: int) -> str:
    message = " ".join(stderr.strip().splitlines()[-2:]) or f"exit {code}"
    return f"could not mux music into {str(video)!r}: {message}"


__all__ = [
    "CONTAINERS",
    "Container",
    "Mux",
    "VideoInfo",
    "check_scoring",
    "check_video",
    "container_for",
    "declared_duration",
    "default_suffix",
    "is_cover_art",
    "mux_audio",
    "no_video_message",
    "parse_audio_bitrate",
    "picture_args",
    "probe_video",
    "start_mux",
]
