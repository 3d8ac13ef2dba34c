"""Video helpers: probe a video's stream and length, and mux music into it with ffmpeg.

The video stream is copied (``-c:v copy``, never re-encoded); the music becomes AAC and is
padded or trimmed to the video's length. ffmpeg is the static binary inside ``imageio-ffmpeg``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from vmb_agent.errors import BackendUnavailableError, InputError
from vmb_agent.files import SCORED_VIDEO_SUFFIXES

#: containers that take a copied video stream plus AAC audio; others are written as .mkv


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int
    height: int
    fps: float | None


def probe_video(path: Path) -> VideoInfo:
    """Length and frame size of a video; ``InputError`` if it has no video stream or is corrupt."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                raise InputError(
                    f"{str(path)!r} has no video stream; give a video file (e.g. .mp4)."
                )
            stream = streams[0]
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            if not duration and container.duration:
                duration = container.duration / 1_000_000
            if not duration:
                duration = _decode_length(container)
            fps = float(stream.average_rate) if stream.average_rate else None
            return VideoInfo(float(duration), int(stream.width or 0), int(stream.height or 0), fps)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many error types for unreadable files
        raise InputError(f"cannot read video {str(path)!r}: {exc}") from None


def _decode_length(container) -> float:  # type: ignore[no-untyped-def]
    last = 0.0
    for frame in container.decode(video=0):
        if frame.time is not None:
            last = float(frame.time)
    return last


def output_suffix(video: Path) -> str:
    suffix = video.suffix.lower()
    return suffix if suffix in SCORED_VIDEO_SUFFIXES else ".mkv"


def mux_audio(video: Path, audio: Path, output: Path, duration_s: float) -> None:
    """Write ``output``: ``video``'s picture (copied) with ``audio`` as AAC, cut to the video."""
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # noqa: BLE001 - a missing binary surfaces as various errors
        raise BackendUnavailableError(
            f"ffmpeg is not available ({exc}); pip install imageio-ffmpeg"
        ) from None
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-i", str(video), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
        "-af", "apad", "-t", f"{duration_s:.3f}",
        "-f", {".mkv": "matroska", ".mov": "mov"}.get(output_suffix(video), "mp4"),
        str(output),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = " ".join(result.stderr.strip().splitlines()[-2:]) or f"exit {result.returncode}"
        raise InputError(f"could not mux music into {str(video)!r}: {message}")


__all__ = ["VideoInfo", "mux_audio", "output_suffix", "probe_video"]
