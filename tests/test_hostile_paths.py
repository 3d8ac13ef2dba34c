"""Hostile files and paths: every way out of the allowed roots, and every file that would exhaust
memory or hang, replayed with real files (issue 13). Each case must end in one ``VMBError`` line
(or a per-file reason in an ingest report) with nothing read outside the roots.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from conftest import REPO

from vmb_agent.errors import AccessDeniedError, InputError, UnsupportedFormatError, VMBError
from vmb_agent.files import PathPolicy, check_root, effective_roots
from vmb_agent.settings import Settings

pytestmark = pytest.mark.timeout(240)


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message and message, message
    return message


# ----------------------------------------------------------------------------------------------
# hostile files, made for real
# ----------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(path: Path, side: int = 9999, colour: tuple[int, int, int] = (30, 90, 160)) -> Path:
    """A valid one-colour ``side`` x ``side`` RGB PNG of ~300 KB, written without ever holding
    its pixels: one compressed block of 99 rows (flushed, so it stands alone) is repeated."""
    row = b"\x00" + bytes(colour) * side
    block = row * 99
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(side // 99):
        adler = zlib.adler32(block, adler)
    rest = row * (side % 99)
    closer = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = closer.compress(rest) + closer.flush()
    adler = zlib.adler32(rest, adler)
    data = b"\x78\x01" + body * (side // 99) + tail + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data)
    path.write_bytes(png + _png_chunk(b"IEND", b""))
    return path


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def smf(events: bytes, ticks_per_beat: int = 480) -> bytes:
    """A one-track Standard MIDI File around raw ``events`` (a 120 BPM tempo first)."""
    track = b"\x00\xff\x51\x03\x07\xa1\x20" + events + b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def dense_midi(path: Path, notes: int = 200_000, gap_ticks: int = 1) -> Path:
    """``notes`` short notes ``gap_ticks`` apart (running status: 6 bytes a note)."""
    first = b"\x00\x90\x3c\x50" + _varlen(gap_ticks) + b"\x3c\x00"
    rest = b"\x00\x3c\x50" + _varlen(gap_ticks) + b"\x3c\x00"  # the status byte is implied
    path.write_bytes(smf(first + rest * (notes - 1)))
    return path


def huge_ticks_midi(path: Path) -> Path:
    """Eight notes, each held 2**28 ticks: 'stored with duration 9.0e9 s' before the fix."""
    events = b"".join(bytes([0, 0x90, 60 + i, 80]) + _varlen(0x0FFFFFFF) + bytes([0x80, 60 + i, 0])
                      for i in range(8))  # fmt: skip
    path.write_bytes(smf(events, ticks_per_beat=96))
    return path


def small_midi(path: Path, bpm: float = 100.0) -> Path:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    piano = pretty_midi.Instrument(program=0)
    beat = 60 / bpm
    for i, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 2):
        piano.notes.append(pretty_midi.Note(80, pitch, i * beat, (i + 0.9) * beat))
    pm.instruments.append(piano)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def small_png(path: Path) -> Path:
    from PIL import Image

    y, x = np.mgrid[0:60, 0:80]
    pixels = np.stack([x * 3, y * 4, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def private_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MPEG-TS video outside every root (remuxed from the bundled example)."""
    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("elsewhere") / "private.ts"
    example = REPO / "vmb_agent" / "examples" / "city.mp4"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i",
               str(example), "-t", "2", "-c", "copy", "-f", "mpegts", str(out)]  # fmt: skip
    subprocess.run(command, check=True, timeout=60)
    return out


# ----------------------------------------------------------------------------------------------
# 1. roots: never / or a system folder; client roots only narrow
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("root", ["/", "/etc", "/etc/ssl", "/proc", "/sys", "/dev", "/var", "/usr"])
def test_system_folders_are_never_roots(root: str) -> None:
    with pytest.raises(AccessDeniedError) as caught:
        PathPolicy(roots=[Path(root)])
    assert "cannot be an allowed root" in one_line(caught)


def test_a_symlink_to_a_system_folder_is_no_root_either(tmp_path: Path) -> None:
    (tmp_path / "etc-link").symlink_to("/etc")
    with pytest.raises(AccessDeniedError, match="system folder /etc"):
        check_root(tmp_path / "etc-link")
    assert check_root(tmp_path) == tmp_path.resolve()  # an ordinary folder is fine


def test_client_roots_only_narrow_unless_trusted(tmp_path: Path) -> None:
    configured = tmp_path / "allowed"
    project = configured / "project"
    outside = tmp_path / "outside"
    for folder in (project, outside):
        folder.mkdir(parents=True)
    own = [tmp_path / "home"]
    # '/' and a folder outside widen nothing; with nothing inside, the configured roots stand
    assert effective_roots([configured], own, [Path("/"), outside], widen=False) == [
        configured, *own
    ]  # fmt: skip
    # a client root inside the configured roots narrows them to it
    assert effective_roots([configured], own, [project, outside], widen=False) == [project, *own]
    # a client root above a configured root keeps only the configured root
    assert effective_roots([configured], own, [tmp_path], widen=False) == [configured, *own]
    # trusted (stdio + VMB_TRUST_CLIENT_ROOTS=1): widened, but never by '/' or a system folder
    widened = effective_roots([configured], own, [Path("/"), Path("/etc"), outside], widen=True)
    assert widened == [configured, *own, outside]


def test_http_server_never_trusts_client_roots(tmp_path: Path) -> None:
    from vmb_agent.tools.server import build_server

    settings = Settings(home=tmp_path / "home", trust_client_roots=True)
    assert build_server(settings).state.trust_client_roots is False  # type: ignore[attr-defined]


def test_stdio_client_answering_root_of_disk_gains_nothing(tmp_path: Path) -> None:
    """A real MCP client on stdio answers roots/list with file:/// (and a folder outside): the
    server still refuses everything outside VMB_ALLOWED_ROOTS, reads and writes alike. With
    VMB_TRUST_CLIENT_ROOTS=1 the outside folder is added, '/' still is not."""
    import mcp_types
    from test_mcp_server import error_text, server_env, stdio_session

    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    inside_image = small_png(allowed / "in.png")
    outside_image = small_png(outside / "out.png")

    async def list_roots(context: Any) -> mcp_types.ListRootsResult:
        roots = [mcp_types.Root(uri="file:///", name="disk"),
                 mcp_types.Root(uri=outside.as_uri(), name="outside")]  # fmt: skip
        return mcp_types.ListRootsResult(roots=roots)

    async def scenario() -> None:
        env = server_env(tmp_path / "home", allowed)
        async with stdio_session(env, list_roots_callback=list_roots) as session:
            for path in (outside_image, "/etc/hosts"):
                denied = await session.call_tool("describe_visuals", {"path": str(path)})
                assert "outside the allowed roots" in error_text(denied)
            write = await session.call_tool(
                "generate_music", {"description": "calm piano", "out_dir": str(outside)}
            )
            assert "outside the allowed roots" in error_text(write)
            ok = await session.call_tool("describe_visuals", {"path": str(inside_image)})
            assert not ok.is_error, ok.content[0].text
        trusted = server_env(tmp_path / "home", allowed, VMB_TRUST_CLIENT_ROOTS="1")
        async with stdio_session(trusted, list_roots_callback=list_roots) as session:
            ok = await session.call_tool("describe_visuals", {"path": str(outside_image)})
            assert not ok.is_error, ok.content[0].text
            denied = await session.call_tool("describe_visuals", {"path": "/etc/hosts"})
            assert "outside the allowed roots" in error_text(denied)

    anyio.run(scenario)
    assert not list(outside.glob("*.wav"))


# ----------------------------------------------------------------------------------------------
# 2. playlists and concat lists never reach FFmpeg
# ----------------------------------------------------------------------------------------------


def test_hls_playlist_inside_a_root_is_never_opened(tmp_path: Path, private_ts: Path) -> None:
    from vmb_agent.describe.media import open_media
    from vmb_agent.rendering.video import mux_audio, probe_video
    from vmb_agent.sdk import VMB

    root = tmp_path / "root"
    root.mkdir()
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\n{private_ts}\n#EXT-X-ENDLIST\n"
    concat = f"ffconcat version 1.0\nfile '{private_ts}'\n"
    cases = {"x.m3u8": playlist, "renamed.mp4": playlist, "list.mp4": concat}
    for name, text in cases.items():
        (root / name).write_text(text)
    vmb = VMB(Settings(home=tmp_path / "home"), policy=PathPolicy(roots=[root, tmp_path / "home"]))
    for name in cases:
        video = root / name
        for attempt in (
            partial(probe_video, video),
            partial(open_media, video, kinds=("video",)),
            partial(mux_audio, video, video, root / "out.mp4", 2.0),
            partial(vmb.generate, "calm piano", video_path=video),
            partial(vmb.describe, video, kind="video"),
        ):
            with pytest.raises(VMBError) as caught:
                attempt()
            message = one_line(caught)
            assert name in message and ("playlist" in message or "concat" in message
                                        or "not a video" in message), message  # fmt: skip
    assert not (root / "out.mp4").exists() and not list((tmp_path / "home").rglob("*.mp4"))


def test_real_videos_open_with_their_demuxer_forced(private_ts: Path) -> None:
    from vmb_agent.describe.media import open_media

    example = REPO / "vmb_agent" / "examples" / "city.mp4"
    with open_media(example, kinds=("video",)) as container:
        assert container.format.name == "mov" and container.streams.video
    with open_media(private_ts, kinds=("video",)) as container:
        assert container.format.name == "mpegts"
    with pytest.raises(UnsupportedFormatError, match="image"):
        open_media(REPO / "vmb_agent" / "examples" / "harbour.jpg", kinds=("video", "audio"))


# ----------------------------------------------------------------------------------------------
# 3. symlinked files never enter the library
# ----------------------------------------------------------------------------------------------


def test_symlinked_file_in_an_indexed_folder_is_refused(tmp_path: Path) -> None:
    from vmb_agent.library.ingest import content_id, expand_paths
    from vmb_agent.sdk import VMB

    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    good = small_midi(root / "tune.mid")
    secret = small_midi(elsewhere / "secret.mid", bpm=140)
    (root / "a.mid").symlink_to(secret)
    (root / "inside-link.mid").symlink_to(good)  # a symlink that stays inside is fine
    home = tmp_path / "home"
    vmb = VMB(Settings(home=home), policy=PathPolicy(roots=[root, home]))
    report = vmb.add_to_library([root])
    assert str(root / "a.mid") in report.failed
    reason = report.failed[str(root / "a.mid")]
    assert "outside" in reason and "secret" not in reason and "\n" not in reason
    assert [vmb.get_track(i).path for i in report.added] == [str(good.resolve())]
    with pytest.raises(VMBError):
        vmb.get_track(content_id(secret))
    assert all("secret" not in t.path for t in vmb.list_tracks())
    # the same with a policy: inside its roots, a symlink may point to another root
    files, refused = expand_paths([root], policy=PathPolicy(roots=[root, elsewhere]))
    assert root / "a.mid" in files and not refused
    files, refused = expand_paths([root], policy=PathPolicy(roots=[root]))
    assert (
        root / "a.mid" not in files and "outside the allowed roots" in refused[str(root / "a.mid")]
    )


# ----------------------------------------------------------------------------------------------
# 4. FIFOs, devices, folders: refused before anything opens them
# ----------------------------------------------------------------------------------------------


def _within(seconds: float, call: Any) -> Any:
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it does not return."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung (a FIFO or device was opened)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_and_devices_are_refused_without_opening(tmp_path: Path) -> None:
    from vmb_agent.library.ingest import expand_paths
    from vmb_agent.sdk import VMB

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    (tmp_path / "music").mkdir()
    os.mkfifo(tmp_path / "music" / "song.mid")
    (tmp_path / "music" / "zero.wav").symlink_to("/dev/zero")
    policy = PathPolicy()
    vmb = VMB(Settings(home=tmp_path / "home"), policy=policy)
    cases = [
        (lambda: policy.check_read(fifo), "FIFO"),
        (lambda: policy.read_json(fifo, what="description file"), "FIFO"),
        (lambda: policy.read_json("/dev/zero", what="description file"), "character device"),
        (lambda: vmb.describe(fifo), "FIFO"),
        (lambda: vmb.describe("/dev/zero"), "character device"),
        (lambda: vmb.add_to_library([fifo]), "FIFO"),
        (lambda: policy.check_read(tmp_path), "directory"),
    ]
    for call, fragment in cases:
        with pytest.raises(VMBError) as caught:
            _within(10, call)
        assert fragment in one_line(caught)
    files, refused = _within(10, lambda: expand_paths([tmp_path / "music"]))
    assert files == [] and len(refused) == 2
    assert all("regular file" in reason or "outside" in reason for reason in refused.values())


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "deep", "big"])
def test_cli_description_file_is_bounded(tmp_path: Path, source: str) -> None:
    """`vmb search --description X`: /dev/zero reached 8.5 GB, a FIFO hung, deep JSON gave
    'internal error: RecursionError'; each is now one `error:` line and exit 2, at once."""
    path = source if source.startswith("/") else str(tmp_path / f"{source}.json")
    if source == "fifo":
        os.mkfifo(path)
    elif source == "deep":
        Path(path).write_text("[" * 100_000 + "]" * 100_000)
    elif source == "big":
        Path(path).write_text(json.dumps({"text": "x" * (17 * 1024**2)}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "VMB_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "vmb_agent", "search", "--description", path]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr
    expected = {"/dev/zero": "character device", "fifo": "FIFO", "deep": "nests over 1000 levels deep; the limit is 64",
                "big": "larger than the 16 MB limit"}[source]  # fmt: skip
    assert expected in lines[0], lines[0]


def test_odd_paths_are_one_line_errors(tmp_path: Path) -> None:
    policy = PathPolicy()
    for path in ("bad\x00name.png", str(tmp_path / ("x" * 300 + ".png"))):
        with pytest.raises(InputError) as caught:
            policy.check_read(path)
        one_line(caught)
    for out in ("/proc/x.wav", "/sys/kernel/x.wav", "/etc/x.wav"):
        with pytest.raises(AccessDeniedError, match="system folder") as caught:
            policy.check_write(out)
        one_line(caught)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        policy.check_write(tmp_path / "a-file" / "out.wav")


# ----------------------------------------------------------------------------------------------
# 5. decoded-pixel budget
# ----------------------------------------------------------------------------------------------

_RSS_SCRIPT = """
import resource, sys
from vmb_agent.sdk import VMB
vmb = VMB()
vmb.describe(sys.argv[2])  # warm: imports and first-use allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
description = vmb.describe(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024, description.source.kind)
"""


def test_huge_one_colour_png_is_described_within_budget(tmp_path: Path) -> None:
    """A 300 KB 9999x9999 PNG cost 632-1140 MB per describe; now well under 200 MB extra."""
    png = huge_png(tmp_path / "huge.png")
    small = small_png(tmp_path / "small.png")
    env = {**os.environ, "PYTHONPATH": str(REPO), "VMB_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-c", _RSS_SCRIPT, str(png), str(small)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=True)
    extra_mb, kind = out.stdout.split()
    assert kind == "image"
    assert float(extra_mb) < 150, f"describing the 9999x9999 PNG took {extra_mb} MB extra"


def test_strip_decoding_matches_a_whole_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each PNG colour type decoded in strips gives exactly the whole image's reduction."""
    from PIL import Image

    import vmb_agent.describe.image as image_module

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:301, 0:517]
    rgb = np.stack([x % 256, y % 256, (x * y) % 256], -1).astype(np.uint8)
    rgb = np.clip(rgb + rng.integers(-30, 30, rgb.shape), 0, 255).astype(np.uint8)
    alpha = ((x // 20 + y // 20) % 2 * 180 + 60).astype(np.uint8)
    palette = Image.fromarray(rgb).quantize(64)
    images = {
        "RGB": Image.fromarray(rgb), "RGBA": Image.fromarray(np.dstack([rgb, alpha])),
        "L": Image.fromarray(rgb[..., 0]), "LA": Image.fromarray(np.dstack([rgb[..., 1], alpha])),
        "P": palette,
    }  # fmt: skip
    monkeypatch.setattr(image_module, "STRIP_PIXELS", 517 * 7)  # 7-row strips: many seams
    for mode, img in images.items():
        path = tmp_path / f"{mode}.png"
        img.save(path, optimize=False)
        with Image.open(path) as whole:
            whole.load()
            expected = np.asarray(image_module._flatten(whole).reduce((3, 3)))
        with Image.open(path) as opened, open(path, "rb") as handle:
            assert image_module._png_streamable(opened), mode
            got = np.asarray(image_module._png_strips(handle, opened, (3, 3)))
        assert got.shape == expected.shape and np.array_equal(got, expected), mode


def test_images_that_must_decode_whole_have_a_lower_cap(tmp_path: Path) -> None:
    """A 16-bit PNG header claiming 6000x6000 is refused from its header alone."""
    from vmb_agent.describe import describe_source

    ihdr = struct.pack(">IIBBBBB", 6000, 6000, 16, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path = tmp_path / "deep.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))  # fmt: skip
    with pytest.raises(InputError, match="decoded whole, so the limit is 24 MP") as caught:
        describe_source(path, policy=PathPolicy())
    one_line(caught)


# ----------------------------------------------------------------------------------------------
# 6. a clean library: outliers refused with reasons; poisoned references skipped
# ----------------------------------------------------------------------------------------------


def test_outlier_midis_are_refused_with_reasons(tmp_path: Path) -> None:
    import time

    from vmb_agent.sdk import VMB

    folder = tmp_path / "music"
    folder.mkdir()
    dense = dense_midi(folder / "dense.mid")  # 200,000 notes
    ticks = huge_ticks_midi(folder / "ticks.mid")  # 9e9 s long
    crowded = dense_midi(folder / "crowded.mid", notes=3000, gap_ticks=4)  # 120 onsets a beat
    fake = folder / "fake.mid"
    fake.write_text("#EXTM3U\n/etc/passwd\n")
    good = small_midi(folder / "good.mid")
    vmb = VMB(Settings(home=tmp_path / "home"))
    started = time.perf_counter()
    report = vmb.add_to_library([folder])
    assert time.perf_counter() - started < 30
    reasons = {Path(path).name: reason for path, reason in report.failed.items()}
    assert "over 50000 notes" in reasons[dense.name]
    assert "over 1 h" in reasons[ticks.name]
    assert "note onsets a beat" in reasons[crowded.name]
    assert "cannot read MIDI" in reasons[fake.name] and "playlist" in reasons[fake.name]
    assert all("\n" not in r for r in reasons.values())
    assert [vmb.get_track(i).path for i in report.added] == [str(good.resolve())]
    assert vmb.library_stats().total_duration_s < 3600


def test_a_poisoned_reference_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A track indexed before the limits (melody density 240 a beat) used to fail every
    request with 'internal error: ValidationError'; now it is left out with a warning."""
    from vmb_agent.generation.pipeline import generate_music
    from vmb_agent.generation.references import analyze_reference
    from vmb_agent.types import GenerationOverrides, TrackInfo

    crowded = dense_midi(tmp_path / "crowded.mid", notes=3000, gap_ticks=2)
    dense = dense_midi(tmp_path / "dense.mid")
    good = small_midi(tmp_path / "good.mid")
    refs = [TrackInfo(id=p.stem, title=p.stem, path=str(p), format="midi")
            for p in (crowded, dense, good)]  # fmt: skip
    for ref in refs[:2]:
        with pytest.raises(InputError) as caught:
            analyze_reference(ref)
        one_line(caught)
    result = generate_music(None, refs, GenerationOverrides(style="folk", duration_s=3), seed=1,
                            out_dir=tmp_path / "out", stems=False, video_path=None,
                            settings=Settings(home=tmp_path / "home"))  # fmt: skip
    assert result.requested.reference_ids == ["good"]
    skipped = [w for w in result.warnings if w.startswith("reference ")]
    assert len(skipped) == 2 and "notes a beat" in skipped[0] and "50000 notes" in skipped[1]
