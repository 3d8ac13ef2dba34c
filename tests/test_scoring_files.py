"""The scored video the user asked for: container by name, copy or re-encode, no silent
overwrite, length checked first, awkward inputs (VFR, rotation, odd sizes, no picture)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmb_agent.errors import InputError, OutOfRangeError
from vmb_agent.files import SCORED_VIDEO_SUFFIXES
from vmb_agent.rendering.video import (
    CONTAINERS,
    check_video,
    mux_audio,
    parse_audio_bitrate,
    probe_video,
)

SR = 44100


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args]
    subprocess.run(command, check=True, capture_output=True)


def pattern_clip(path: Path, *codec: str, size: str = "160x120", rate: int = 10, seconds: float = 2,
            before: tuple[str, ...] = ()) -> Path:  # fmt: skip
    ffmpeg(*before, "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}",
           *codec, str(path))  # fmt: skip
    return path


def h264(path: Path, **kw: object) -> Path:
    return pattern_clip(path, "-c:v", "libx264", "-pix_fmt", "yuv420p", **kw)  # type: ignore[arg-type]


def music(path: Path, seconds: float = 1.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}", "-ar", str(SR), "-ac",
           "2", str(path))  # fmt: skip
    return path


def streams(path: Path) -> dict:
    """Container format, video codec, size, rotation and audio codec, read with PyAV."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frame = next(container.decode(video))
        return {
            "format": container.format.name,
            "video": video.codec_context.name,
            "size": (frame.width, frame.height),
            "rotation": frame.rotation,
            "audio": [a.codec_context.name for a in container.streams.audio],
            "audio_bit_rate": [a.bit_rate for a in container.streams.audio],
            "packets": [p.size for p in container.demux(video) if p.size],
        }


def top_level_boxes(path: Path) -> list[str]:
    """The ISO-BMFF (MP4/MOV) top-level box names in file order."""
    data = path.read_bytes()
    names, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        names.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:  # 64-bit size follows the name
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return names


@pytest.fixture
def no_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the video would be analysed: the checks must come first."""
    from vmb_agent.sdk import VMB

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the video was analysed before the inputs were checked")

    monkeypatch.setattr(VMB, "describe", refuse)


# -- the container table ----------------------------------------------------------------------


def test_container_table_covers_the_scored_suffixes() -> None:
    assert tuple(CONTAINERS) == SCORED_VIDEO_SUFFIXES
    for suffix, container in CONTAINERS.items():
        assert ("h264" in container.copies) == (suffix != ".webm"), suffix
        assert "cinepak" not in container.copies and "rawvideo" not in container.copies
    assert CONTAINERS[".mp4"].faststart and CONTAINERS[".mov"].faststart
    assert CONTAINERS[".webm"].audio == "libopus" and CONTAINERS[".mp4"].audio == "aac"


def test_audio_bitrate_is_validated() -> None:
    assert parse_audio_bitrate(None) == 192
    assert parse_audio_bitrate("256k") == 256 and parse_audio_bitrate(128) == 128
    with pytest.raises(OutOfRangeError, match="allowed: 64k to 320k"):
        parse_audio_bitrate("999k")
    with pytest.raises(InputError, match="not a bitrate"):
        parse_audio_bitrate("loud")


# -- the file the user asked for ---------------------------------------------------------------


def test_cinepak_avi_scored_to_mp4_is_an_h264_mp4(tmp_path: Path, vmb_home: Path) -> None:
    from vmb_agent.sdk import VMB

    tree = pattern_clip(tmp_path / "tree.avi", "-c:v", "cinepak")
    target = tmp_path / "out" / "tree_scored.mp4"
    result = VMB().score(tree, video_out=target, n_references=0, seed=1,
                         overrides={"style": "ambient"})  # fmt: skip
    assert result.video_path == str(target) and target.is_file()
    assert not list(target.parent.glob("*.mkv")) and not list(target.parent.glob("*.part*"))
    info = streams(target)
    assert "mp4" in info["format"] and info["video"] == "h264" and info["audio"] == ["aac"]
    # index first (faststart): the moov box comes before the media data
    boxes = top_level_boxes(target)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat"), boxes


def test_mp4_is_copied_and_never_overwritten_without_force(
    tmp_path: Path, vmb_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmb_agent.sdk import VMB

    clip = h264(tmp_path / "clip.mp4")
    target = tmp_path / "clip-scored.mp4"
    call = {"video_path": clip, "video_out": target, "seed": 1, "out_dir": tmp_path / "o",
            "overrides": {"style": "piano"}}  # fmt: skip
    VMB().generate("calm piano", **call, audio_bitrate="256k")  # type: ignore[arg-type]
    scored, original = streams(target), streams(clip)
    assert scored["video"] == "h264" and scored["packets"] == original["packets"]  # copied
    assert scored["audio_bit_rate"][0] > 224_000  # asked 256k, not the 192k default

    before = (target.stat().st_mtime_ns, sorted((tmp_path / "o").iterdir()))
    monkeypatch.setattr(
        "vmb_agent.generation.generate_music",
        lambda *a, **k: pytest.fail("generated although the output exists"),
    )
    with pytest.raises(InputError) as refused:
        VMB().generate("calm piano", **call)  # type: ignore[arg-type]
    message = str(refused.value)
    assert str(target) in message and "--force" in message and "overwrite=True" in message
    assert "\n" not in message
    assert (target.stat().st_mtime_ns, sorted((tmp_path / "o").iterdir())) == before
    monkeypatch.undo()

    VMB().generate("calm piano", **call, overwrite=True)  # type: ignore[arg-type]
    assert target.stat().st_mtime_ns != before[0]
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_score_refuses_an_existing_output_before_analysing(
    tmp_path: Path, vmb_home: Path, no_describe: None
) -> None:
    from vmb_agent.sdk import VMB

    clip = h264(tmp_path / "clip.mp4")
    target = tmp_path / "clip.mov"
    target.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists; pass --force"):
        VMB().score(clip, video_out=target)
    assert target.read_bytes() == b"keep me"
    with pytest.raises(InputError, match=r"cannot write the scored video .*allowed: \.mp4"):
        VMB().score(clip, video_out=tmp_path / "clip.avi")


def test_odd_size_rotated_mjpeg_is_reencoded_upright_and_even(tmp_path: Path) -> None:
    odd = pattern_clip(tmp_path / "odd.avi", "-c:v", "mjpeg", size="321x241")
    rotated = tmp_path / "rotated.mkv"
    ffmpeg("-display_rotation", "90", "-i", str(odd), "-c", "copy", str(rotated))
    assert streams(rotated)["rotation"] == 90
    wav = music(tmp_path / "music.wav")
    out = tmp_path / "upright.mp4"
    mux_audio(rotated, wav, out, probe_video(rotated).duration_s)
    info = streams(out)
    # re-encoded: rotation applied (241x321 on screen), each side padded to an even size
    assert info["video"] == "h264" and info["size"] == (242, 322) and info["rotation"] == 0
    plain = tmp_path / "plain.webm"
    mux_audio(odd, wav, plain, 2.0)
    assert streams(plain)["video"] == "vp9" and streams(plain)["audio"] == ["opus"]


def test_rotation_survives_a_stream_copy(tmp_path: Path) -> None:
    clip = h264(tmp_path / "clip.mp4")
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip), "-c", "copy", str(rotated))
    wav = music(tmp_path / "music.wav")
    for suffix in (".mp4", ".mkv"):
        out = tmp_path / f"scored{suffix}"
        mux_audio(rotated, wav, out, 2.0)
        info = streams(out)
        assert info["video"] == "h264" and info["rotation"] == 90 and info["size"] == (160, 120)


# -- generate --video ---------------------------------------------------------------------------


def test_generate_with_a_video_describes_it_and_fits_its_length(
    tmp_path: Path, vmb_home: Path
) -> None:
    from vmb_agent.sdk import VMB

    clip = h264(tmp_path / "clip.mp4", seconds=3)
    # 3.3 s is within the 0.5 s tolerance: the music still ends with the picture
    result = VMB().generate(video_path=clip, overrides={"duration_s": 3.3}, seed=2,
                            out_dir=tmp_path / "o")  # fmt: skip
    assert result.duration_s == pytest.approx(3.0, abs=0.01)
    assert result.requested.origins["duration_s"] == "video"
    assert result.requested.origins["energy"] == "description"  # described from the video
    assert Path(result.video_path or "").suffix == ".mp4"


def test_cli_generate_rejects_a_duration_that_does_not_fit_the_video(
    tmp_path: Path, vmb_home: Path
) -> None:
    clip = h264(tmp_path / "clip.mp4", seconds=3)
    cases = [
        (["generate", "--video", str(clip), "--duration", "20"],
         "duration 20 s does not match the video's length 3.0 s"),
        (["generate", "--out", str(tmp_path / "x.mp4")], "add --video"),
        (["score", str(clip), "--out", str(tmp_path / "x.avi")], "allowed: .mp4, .m4v"),
        (["score", str(clip), "--audio-bitrate", "1000k"], "allowed: 64k to 320k"),
    ]  # fmt: skip
    for args, pattern in cases:
        out = subprocess.run([sys.executable, "-m", "vmb_agent", *args], capture_output=True,
                             text=True, cwd=tmp_path, timeout=120, check=False)  # fmt: skip
        assert out.returncode == 2 and out.stderr.startswith("error: "), out.stderr
        assert pattern in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert not list(tmp_path.glob("**/*.wav"))


def test_cli_score_force_replaces_the_named_video(tmp_path: Path, vmb_home: Path) -> None:
    clip = h264(tmp_path / "clip.mp4")
    target = tmp_path / "clip-scored.mp4"
    target.write_bytes(b"old")
    args = [sys.executable, "-m", "vmb_agent", "score", str(clip), "--out", str(target),
            "--references", "0", "--seed", "1", "--json"]  # fmt: skip
    refused = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = subprocess.run([*args, "--force"], capture_output=True, text=True, cwd=tmp_path,
                            check=False)  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["video_path"] == str(target)
    assert streams(target)["video"] == "h264"


# -- long and awkward videos ----------------------------------------------------------------------


def test_a_long_video_is_refused_before_analysis(
    tmp_path: Path, vmb_home: Path, no_describe: None
) -> None:
    from vmb_agent.sdk import VMB

    long = h264(tmp_path / "long.mp4", size="16x16", rate=1, seconds=700)
    with pytest.raises(OutOfRangeError, match=r"lasts 700 s; the limit is 600 s"):
        VMB().score(long, out_dir=tmp_path / "o")
    with pytest.raises(OutOfRangeError, match=r"the limit is 600 s"):
        VMB().generate(video_path=long, out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_long_video_that_declares_no_length_is_measured_only_past_the_limit(
    tmp_path: Path,
) -> None:
    # piped Matroska has no length in its header: the packets' timestamps are read instead
    import imageio_ffmpeg

    path = tmp_path / "streamed.mkv"
    with open(path, "wb") as handle:
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi",
                        "-i", "testsrc=size=16x16:rate=1:duration=700", "-c:v", "libx264",
                        "-f", "matroska", "-"], stdout=handle, check=True)  # fmt: skip
    info = probe_video(path)
    assert 600 < info.duration_s < 700 and info.cut_short
    with pytest.raises(OutOfRangeError, match="lasts over 600 s"):
        check_video(path)


@pytest.mark.parametrize(
    ("kind", "holds"),
    [("audio", "only audio"), ("subtitles", "only subtitles"), ("data", "only data streams")],
)
def test_files_without_a_picture_are_refused_in_one_line(
    tmp_path: Path, vmb_home: Path, no_describe: None, kind: str, holds: str
) -> None:
    from vmb_agent.sdk import VMB

    path = tmp_path / ("clip.mov" if kind == "data" else "clip.mp4")
    if kind == "audio":
        ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path))
    elif kind == "subtitles":
        srt = tmp_path / "s.srt"
        srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
        ffmpeg("-i", str(srt), "-c:s", "mov_text", str(path))
    else:  # a QuickTime timecode track alone
        timed = pattern_clip(tmp_path / "timed.mov", "-c:v", "libx264", "-timecode", "01:00:00:00")
        ffmpeg("-i", str(timed), "-map", "0:d", "-c", "copy", "-f", "mov", str(path))
    with pytest.raises(InputError) as refused:
        VMB().score(path, out_dir=tmp_path / "o")
    message = str(refused.value)
    assert "has no video stream" in message and holds in message and "\n" not in message


def test_variable_frame_rate_length_comes_from_timestamps(tmp_path: Path) -> None:
    from vmb_agent.describe import describe_source
    from vmb_agent.files import PathPolicy

    # 20 frames 40 ms apart, then 10 frames 400 ms apart: the last starts at 4.4 s
    # (frames / average fps would say 3.72 s)
    vfr = pattern_clip(tmp_path / "vfr.mp4", "-vf", "setpts='if(lt(N,20),N/25,0.8+(N-20)*0.4)/TB'",
                  "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                  rate=25, size="64x48", seconds=1.2)  # fmt: skip
    info = probe_video(vfr)
    assert info.duration_s == pytest.approx(4.44, abs=0.05)
    described = describe_source(vfr, kind="video", policy=PathPolicy())
    assert described.source.duration_s == pytest.approx(4.5, abs=0.1)


# -- speed: the mux fed from memory, probes reused -------------------------------------------


def test_music_fed_through_a_pipe_is_the_music_in_the_file(tmp_path: Path) -> None:
    """start_mux encodes samples handed over in memory (no WAV first): the file's audio is the
    music (AAC, so within its noise), as long as the picture, with the picture copied."""
    import av
    import numpy as np

    from vmb_agent.rendering.video import start_mux

    clip = h264(tmp_path / "clip.mp4")
    t = np.arange(int(1.5 * SR)) / SR
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    samples = np.stack([tone, 0.5 * tone], axis=1)
    out = tmp_path / "scored.mp4"
    start_mux(clip, samples, SR, out, 2.0).wait()
    info = streams(out)
    assert info["video"] == "h264" and info["audio"] == ["aac"]
    with av.open(str(out)) as container:
        decoded = np.concatenate(
            [f.to_ndarray() for f in container.decode(container.streams.audio[0])], axis=1
        ).T
        assert container.duration / 1e6 == pytest.approx(2.0, abs=0.05)
    n = samples.shape[0]
    error = decoded[:n] - samples
    assert 10 * np.log10((samples**2).sum() / (error**2).sum()) > 20  # dB; AAC at 192 kb/s
    assert np.abs(decoded[n + 2048 :]).max() < 1e-3  # padded with silence to the picture's end


def test_a_failed_or_cancelled_mux_says_so_and_leaves_no_process(tmp_path: Path) -> None:
    import numpy as np

    from vmb_agent.rendering.video import start_mux

    clip = h264(tmp_path / "clip.mp4")
    samples = np.zeros((SR * 20, 2), np.float32)  # more than a pipe holds: the feeder blocks
    job = start_mux(clip, samples, SR, tmp_path / "cancelled.mp4", 2.0)
    job.cancel()
    assert job._process.poll() is not None and not job._feeder.is_alive()
    job = start_mux(clip, samples, SR, tmp_path / "missing" / "x.mp4", 2.0)  # no such folder
    with pytest.raises(InputError, match="could not mux music into"):
        job.wait()
    assert job._process.poll() is not None and not job._feeder.is_alive()


def test_a_probe_is_reused_until_the_file_changes(tmp_path: Path) -> None:
    import os

    from vmb_agent.rendering import video

    clip = h264(tmp_path / "clip.mp4", seconds=2)
    first = probe_video(clip)
    assert probe_video(clip) is first  # the same file: no second read
    h264(tmp_path / "clip.mp4", seconds=3)  # replaced in place
    os.utime(clip, ns=(os.stat(clip).st_atime_ns, os.stat(clip).st_mtime_ns + 1000))
    assert probe_video(clip).duration_s == pytest.approx(3.0, abs=0.01)
    for i in range(video._MAX_PROBES + 2):  # the cache stays small
        probe_video(clip, limit_s=100.0 + i)
    assert len(video._PROBES) <= video._MAX_PROBES
