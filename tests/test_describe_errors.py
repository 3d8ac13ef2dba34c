"""Bad input: every case is a one-line VMBError, and exit code 2 without a traceback in the CLI."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_describe_helpers import photo, save_image

from vmb_agent.cli import cli
from vmb_agent.describe import describe_source
from vmb_agent.errors import InputError, UnknownNameError, UnsupportedFormatError, VMBError
from vmb_agent.files import PathPolicy


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def _bad_inputs(folder: Path) -> dict[str, tuple[Path | str, str]]:
    """name -> (source, a fragment the message must contain)."""
    from conftest import EXAMPLES

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a_folder").mkdir(exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    good = save_image(photo(), folder / "good.jpg", quality=90).read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "notes.jpg").write_text("these are my holiday notes, not a photo\n" * 5)
    (folder / "anim.gif").write_bytes(b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00" + b"\x00" * 40)
    video = (EXAMPLES / "city.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(video[: len(video) // 2])
    # A valid container whose video packets hold only zeros: opens, but nothing decodes.
    mdat = video.find(b"mdat")
    end = mdat - 4 + struct.unpack(">I", video[mdat - 4 : mdat])[0]
    (folder / "zeros.mp4").write_bytes(video[: mdat + 4] + bytes(end - mdat - 4) + video[end:])
    header = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    (folder / "junk.mp4").write_bytes(header + bytes(range(256)) * 8)
    _png_header_only(folder / "bomb.png", 30000, 30000)
    return {
        "missing": (folder / "missing.jpg", "not found"),
        "missing video": (folder / "nothing_here.mp4", "not found"),
        "directory": (folder / "a_folder", "directory"),
        "empty": (folder / "empty.jpg", "empty"),
        "truncated image": (folder / "truncated.jpg", "truncated"),
        "text renamed .jpg": (folder / "notes.jpg", "contains text"),
        "unsupported format": (folder / "anim.gif", "GIF"),
        "truncated video": (folder / "truncated.mp4", "video"),
        "no decodable frames": (folder / "zeros.mp4", "no decodable frames"),
        "junk video": (folder / "junk.mp4", "video"),
        "decompression bomb": (folder / "bomb.png", "900 MP"),
    }


CASES = [
    "missing", "missing video", "directory", "empty", "truncated image", "text renamed .jpg",
    "unsupported format", "truncated video", "no decodable frames", "junk video",
    "decompression bomb",
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path | str, str]]:
    cases = _bad_inputs(tmp_path_factory.mktemp("bad"))
    assert sorted(cases) == sorted(CASES)
    return cases


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_vmberror(case: str, bad_inputs: dict) -> None:
    source, fragment = bad_inputs[case]
    with pytest.raises(VMBError) as caught:
        describe_source(source, kind="auto", backend="analysis", policy=PathPolicy())
    message = str(caught.value)
    assert "\n" not in message and fragment.lower() in message.lower(), message
    assert str(Path(source).name) in message


@pytest.mark.parametrize("case", CASES)
def test_bad_input_in_cli_exits_2_without_traceback(case: str, bad_inputs: dict) -> None:
    source, _ = bad_inputs[case]
    result = CliRunner().invoke(cli, ["describe", str(source)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def test_bomb_is_refused_without_pillow_warning(
    bad_inputs: dict, recwarn: pytest.WarningsRecorder
) -> None:
    with pytest.raises(InputError, match="decompression bomb"):
        describe_source(bad_inputs["decompression bomb"][0], policy=PathPolicy())
    assert not [w for w in recwarn if "DecompressionBomb" in str(w.category)]


def test_text_renamed_jpg_is_unsupported_format(bad_inputs: dict) -> None:
    with pytest.raises(UnsupportedFormatError, match="allowed: images"):
        describe_source(bad_inputs["text renamed .jpg"][0], policy=PathPolicy())


def test_kind_rules(tmp_path: Path) -> None:
    image = save_image(photo(), tmp_path / "x.png")
    with pytest.raises(InputError, match="is a image|not a video"):
        describe_source(image, kind="video", policy=PathPolicy())
    with pytest.raises(InputError, match="not found"):
        describe_source("holiday/clip_01", policy=PathPolicy())  # a path, not words
    assert describe_source("rock/pop, 120 bpm", policy=PathPolicy()).source.kind == "text"
    assert describe_source(str(image), kind="auto", policy=PathPolicy()).source.kind == "image"
    with pytest.raises(InputError, match="empty"):
        describe_source("   ", kind="text", policy=PathPolicy())
    with pytest.raises(InputError, match="unknown kind"):
        describe_source("calm", kind="audio", policy=PathPolicy())  # type: ignore[arg-type]


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="analysis"):
        describe_source("calm piano", backend="gpt9", policy=PathPolicy())


def test_allowed_roots_are_enforced(tmp_path: Path) -> None:
    image = save_image(photo(), tmp_path / "x.png")
    with pytest.raises(VMBError, match="outside the allowed roots"):
        describe_source(image, policy=PathPolicy(roots=[tmp_path / "elsewhere"]))


def test_cli_in_a_real_process(bad_inputs: dict) -> None:
    from conftest import EXAMPLES

    def vmb(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vmb_agent", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    failed = vmb("describe", str(bad_inputs["missing"][0]))
    assert failed.returncode == 2 and failed.stderr.startswith("error: file not found")
    assert "Traceback" not in failed.stderr
    ok = vmb("describe", str(EXAMPLES / "harbour.jpg"), "--json")
    assert ok.returncode == 0, ok.stderr
    from vmb_agent.types import MusicDescription

    assert MusicDescription.model_validate_json(ok.stdout).source.kind == "image"
