"""Videos -> music: cuts, motion, pace and sections, on small generated clips."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from test_describe_helpers import cutting_video, panning_video

from vmb_agent.describe import describe_source
from vmb_agent.files import PathPolicy
from vmb_agent.types import MusicDescription

POLICY = PathPolicy()


def describe(path: Path, context: str | None = None) -> MusicDescription:
    return describe_source(path, context=context, kind="auto", backend="analysis", policy=POLICY)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "still": panning_video(folder / "still.mp4", 0),
        "slow": panning_video(folder / "slow.mp4", 1),
        "fast": panning_video(folder / "fast.mp4", 6),
        "cuts0": cutting_video(folder / "cuts0.mp4", 0),
        "cuts2": cutting_video(folder / "cuts2.mp4", 2),
        "cuts5": cutting_video(folder / "cuts5.mp4", 5),
    }


def test_more_motion_means_more_energy_and_tempo(clips: dict[str, Path]) -> None:
    results = [describe(clips[name]) for name in ("still", "slow", "fast")]
    motion = [r.features["motion"] for r in results]
    energies = [r.attributes.energy for r in results]
    tempos = [r.attributes.tempo_bpm for r in results]
    assert motion[0] < motion[1] < motion[2], motion
    assert energies[0] < energies[1] < energies[2], energies
    assert tempos == sorted(tempos) and tempos[2] > tempos[0], tempos
    assert all(r.cuts_s == [] for r in results)  # fast panning is not cutting


def test_more_cuts_mean_faster_pace_more_energy(clips: dict[str, Path]) -> None:
    results = [describe(clips[name]) for name in ("cuts0", "cuts2", "cuts5")]
    assert [len(r.cuts_s) for r in results] == [0, 2, 5]
    pace = [r.features["cuts_per_minute"] for r in results]
    energies = [r.attributes.energy for r in results]
    tempos = [r.attributes.tempo_bpm for r in results]
    assert pace[0] < pace[1] < pace[2]
    assert energies[0] < energies[1] < energies[2], energies
    assert tempos == sorted(tempos) and tempos[2] > tempos[0], tempos


def test_cuts_are_found_where_they_are(clips: dict[str, Path]) -> None:
    result = describe(clips["cuts2"])
    assert result.cuts_s == pytest.approx([2.0, 4.0], abs=0.1)
    assert result.source.kind == "video"
    assert result.source.duration_s == pytest.approx(6.0, abs=0.1)
    assert result.attributes.duration_s == pytest.approx(6.0, abs=0.1)


def test_sections_cover_the_video_and_start_at_major_cuts(clips: dict[str, Path]) -> None:
    result = describe(clips["cuts2"])
    sections = result.sections
    assert len(sections) == 3
    assert sections[0].start_s == 0.0
    assert sections[-1].end_s == pytest.approx(result.source.duration_s, abs=0.01)
    for before, after in pairwise(sections):
        assert before.end_s == after.start_s
    assert [s.start_s for s in sections[1:]] == pytest.approx(result.cuts_s)
    # Five cuts a second apart are too close for sections of >= 2 s: sections merge them.
    many = describe(clips["cuts5"])
    assert 1 < len(many.sections) < 6
    assert all(s.end_s - s.start_s >= 1.9 for s in many.sections)
    assert {s.start_s for s in many.sections[1:]} <= set(many.cuts_s)


def test_video_description_is_complete_and_deterministic(clips: dict[str, Path]) -> None:
    first = describe(clips["cuts2"], context="night drive through the city")
    again = describe(clips["cuts2"], context="night drive through the city")
    assert first.model_dump() == again.model_dump()
    assert 40 <= len(first.text.split()) <= 150
    assert {"sections", "energy", "tempo_bpm", "key", "instruments"} <= {
        e.attribute for e in first.evidence
    }
    assert first.features["frames_analysed"] > 0


def test_bundled_example_video() -> None:
    from conftest import EXAMPLES

    path = EXAMPLES / "city.mp4"
    assert path.stat().st_size < 1_500_000
    result = describe(path)
    assert (result.source.width, result.source.height) == (640, 360)
    assert 8.0 <= result.source.duration_s <= 10.0
    assert result.cuts_s == pytest.approx([3.5, 6.5], abs=0.1)
    assert [s.start_s for s in result.sections] == pytest.approx([0.0, 3.5, 6.5], abs=0.1)
    # The busy street (middle shot) moves most; the sunset (last) least.
    energies = [s.energy for s in result.sections]
    assert energies[1] == max(energies) and energies[2] == min(energies)


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mov", "libx264"), (".mkv", "libx264"), (".webm", "libvpx-vp9"), (".avi", "mpeg4")],
)
def test_every_supported_container(tmp_path: Path, suffix: str, codec: str) -> None:
    path = cutting_video(tmp_path / f"clip{suffix}", 1, seconds=3.0, codec=codec)
    result = describe(path)
    assert result.source.kind == "video"
    assert result.cuts_s == pytest.approx([1.5], abs=0.1)
    assert result.source.duration_s == pytest.approx(3.0, abs=0.15)


def test_a_flash_is_not_a_cut(tmp_path: Path) -> None:
    import numpy as np
    from test_describe_helpers import scene, write_video

    still = scene(3)[:, :192]
    white = np.full_like(still, 250)
    frames = [white if i == 18 else still for i in range(36)]
    result = describe(write_video(tmp_path / "flash.mp4", frames))
    assert result.cuts_s == []


def test_an_mp4_without_a_picture_says_what_it_holds(tmp_path: Path) -> None:
    from test_rendering import make_audio_only_mp4

    from vmb_agent.errors import InputError

    sound = make_audio_only_mp4(tmp_path / "sound.mp4")
    with pytest.raises(InputError, match=r"has no video stream \(it holds only audio\)"):
        describe(sound)


@pytest.mark.parametrize("size", [(192, 108), (480, 270), (854, 480), (1280, 720)])
def test_a_still_picture_reads_the_same_as_a_video(tmp_path: Path, size: tuple[int, int]) -> None:
    """Chroma is sampled where its luma is, at every frame size (odd steps and step 1 once
    paired each pixel with colour from elsewhere in the frame)."""
    import numpy as np
    from test_describe_helpers import photo, save_image, write_video

    picture = photo(*size, seed=3)
    image = describe(save_image(picture, tmp_path / "still.png"))
    pixels = (np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8)
    video = describe(write_video(tmp_path / "still.mp4", [pixels] * 12))
    for name, tolerance in (("hue_deg", 5.0), ("brightness", 0.015), ("saturation", 0.02)):
        assert video.features[name] == pytest.approx(image.features[name], abs=tolerance), name


def test_section_energy_follows_the_measured_curve(tmp_path: Path) -> None:
    """A slow pan, a busy fast pan, then a still dark shot: the busy part is the climax, and the
    still dark part is calm although the piece around it is energetic."""
    import numpy as np
    from test_describe_helpers import scene, write_video

    fps, width = 12, 192
    pan, busy = scene(1), scene(2)
    dark = (scene(3)[:, :width] * 0.35).astype(np.uint8)
    frames = [pan[:, i : i + width] for i in range(36)]
    frames += [busy[:, (9 * i) % width : (9 * i) % width + width] for i in range(36)]
    frames += [dark] * 36
    result = describe(write_video(tmp_path / "arc.mp4", frames, fps))
    assert result.cuts_s == pytest.approx([3.0, 6.0], abs=1.5 / fps)
    energies = [s.energy for s in result.sections]
    assert [s.label for s in result.sections] == ["intro", "climax", "outro"]
    assert energies[2] < energies[1] - 0.3, energies
    assert energies[2] < result.attributes.energy - 0.15, (energies, result.attributes.energy)
    evidence = next(e for e in result.evidence if e.attribute == "sections")
    assert evidence.features["section2_motion_level"] > evidence.features["section3_motion_level"]
    assert evidence.features["section3_brightness"] < evidence.features["brightness"]


def test_darker_sections_are_calmer_at_equal_motion() -> None:
    from vmb_agent.describe.model import video_sections

    brightness = {0.0: 0.7, 4.0: 0.2, 8.0: 0.5}
    sections, curve = video_sections(
        12.0, [4.0, 8.0], 0.5, lambda a, b: 0.004, 0.5, lambda a, b: brightness[a], 0.47
    )
    energies = [s.energy for s in sections]
    assert energies[1] < energies[2] < energies[0], energies
    assert sections[0].label == "climax"
    assert curve[0].value > curve[2].value > curve[1].value
    assert curve[1].brightness == 0.2 and curve[1].motion_level == pytest.approx(0.5)


def test_cuts_are_frame_exact_when_frames_between_analysed_ones_are_skipped(
    tmp_path: Path,
) -> None:
    """At 30 fps only every other frame is measured; a cut on a skipped frame is still found at
    its own frame, and a one-frame flash is still no cut."""
    from test_describe_helpers import scene, write_video

    shots = [scene(20 + k)[:, :192] for k in range(3)]
    frames = [shots[0]] * 31 + [shots[1]] * 30 + [shots[2]] * 29
    result = describe(write_video(tmp_path / "odd.mp4", frames, fps=30))
    assert result.cuts_s == pytest.approx([31 / 30, 61 / 30], abs=1e-3)
    for flash_at in (40, 41):
        white = shots[0] * 0 + 250
        flashed = [white if i == flash_at else shots[0] for i in range(90)]
        assert (
            describe(write_video(tmp_path / f"flash{flash_at}.mp4", flashed, fps=30)).cuts_s == []
        )


def _analyse(path: Path, monkeypatch: pytest.MonkeyPatch, *, threaded: bool) -> object:
    from vmb_agent.describe import video

    monkeypatch.setattr(video, "_core_is_spare", lambda cores: threaded)
    return video.analyse_video(path)


def test_decoding_in_a_worker_thread_measures_exactly_the_same(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import numpy as np

    for name in ("cuts5", "fast"):
        alone = _analyse(clips[name], monkeypatch, threaded=False)
        beside = _analyse(clips[name], monkeypatch, threaded=True)
        assert beside.cuts_s == alone.cuts_s and beside.colour == alone.colour
        for field in ("times_s", "motion", "cut_distance", "brightness"):
            assert np.array_equal(getattr(beside, field), getattr(alone, field)), field
    assert not [t for t in threading.enumerate() if t.name == "vmb-decode"]


def test_the_decoding_thread_stops_when_the_analysis_fails_or_the_file_is_damaged(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import imageio_ffmpeg

    from vmb_agent.describe import video
    from vmb_agent.errors import InputError

    whole = tmp_path / "whole.mkv"  # Matroska: a cut-off file still opens and decodes
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i",
                    str(clips["cuts5"]), "-c", "copy", str(whole)], check=True)  # fmt: skip
    data = whole.read_bytes()
    outcomes = []
    for share in (0.4, 0.8):
        damaged = tmp_path / f"damaged{share}.mkv"
        damaged.write_bytes(data[: int(len(data) * share)] + bytes(range(256)) * 8)
        for threaded in (False, True):
            try:
                outcomes.append(_analyse(damaged, monkeypatch, threaded=threaded).cuts_s)
            except InputError as exc:
                outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1] and outcomes[2] == outcomes[3], outcomes

    def fail(self: object, frame: object) -> None:
        raise RuntimeError("analysis failed")

    monkeypatch.setattr(video._Pass, "add", fail)
    with pytest.raises(RuntimeError, match="analysis failed"):
        _analyse(clips["cuts5"], monkeypatch, threaded=True)
    assert not [t for t in threading.enumerate() if t.name == "vmb-decode"]
