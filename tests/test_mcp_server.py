"""The MCP server over stdio, driven by the real ``mcp`` client: every tool, resources, prompts,
progress, client roots, and a battery of hostile inputs after which the server still answers.

Helpers here (media files, server launch) are shared by the HTTP and chat tests.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import REPO

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

TOOL_NAMES = {
    "describe_visuals", "search_music", "generate_music", "index_music", "score_video", "get_track",
}  # fmt: skip
SHORT_S = 5.0


# ----------------------------------------------------------------------------------------------
# media and environment helpers (shared with the other MCP / chat tests)
# ----------------------------------------------------------------------------------------------


def make_media(folder: Path) -> dict[str, Path]:
    """Small real inputs: an image, a 2.5 s video with one cut, three MIDI files, corrupt files."""
    import av
    import numpy as np
    import pretty_midi
    from PIL import Image
    from test_rendering import make_audio_only_mp4

    folder.mkdir(parents=True, exist_ok=True)
    media: dict[str, Path] = {}
    y, x = np.mgrid[0:240, 0:320]
    pixels = np.stack([x * 255 // 320, y * 255 // 240, np.full_like(x, 90)], axis=-1)
    media["image"] = folder / "dusk.png"
    Image.fromarray(pixels.astype(np.uint8)).save(media["image"])

    media["video"] = folder / "clip.mp4"
    with av.open(str(media["video"]), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(30):
            frame = np.zeros((120, 160, 3), np.uint8)
            frame[:] = (200, 60, 30) if i < 15 else (20, 40, 180)
            frame[:, (i * 5) % 160] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    pieces = {
        "piano_c_major": (0, 120, [60, 62, 64, 65, 67, 69, 71, 72]),
        "strings_a_minor": (48, 70, [57, 60, 64, 62, 60, 59, 57, 52]),
        "organ_d_minor": (19, 90, [62, 65, 69, 67, 65, 64, 62, 61]),
    }
    for name, (program, bpm, notes) in pieces.items():
        pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
        inst = pretty_midi.Instrument(program=program)
        beat = 60 / bpm
        for repeat in range(4):
            for i, pitch in enumerate(notes):
                start = (repeat * len(notes) + i) * beat
                inst.notes.append(pretty_midi.Note(80, pitch, start, start + beat * 0.9))
                inst.notes.append(pretty_midi.Note(60, pitch - 12, start, start + beat * 0.9))
        pm.instruments.append(inst)
        media[name] = folder / "midi" / f"{name}.mid"
        media[name].parent.mkdir(exist_ok=True)
        pm.write(str(media[name]))

    garbage = os.urandom(4096)
    for suffix in ("jpg", "mp4", "wav", "mid"):
        media[f"corrupt_{suffix}"] = folder / f"corrupt.{suffix}"
        media[f"corrupt_{suffix}"].write_bytes(garbage)
    media["audio_only"] = make_audio_only_mp4(folder / "sound.mp4")  # no picture in it
    media["text"] = folder / "notes.txt"
    media["text"].write_text("not an image")
    media["escape"] = folder / "escape.png"
    media["escape"].symlink_to("/etc/hosts")
    return media


def server_env(home: Path, allowed: Path, **extra: str) -> dict[str, str]:
    env = {
        "VMB_HOME": str(home),
        "VMB_ALLOWED_ROOTS": str(allowed),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
        **extra,
    }
    return env


@asynccontextmanager
async def stdio_session(
    env: dict[str, str],
    args: tuple[str, ...] = ("-m", "vmb_agent.tools.server"),
    **session_kwargs: Any,
) -> AsyncIterator[Any]:
    """A real ``ClientSession`` on a server subprocess over stdio (default: the module entry)."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=list(args), env=env, cwd=str(REPO))
    with open(os.devnull, "w") as errlog:  # noqa: ASYNC230 - opening /dev/null does not block
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, **session_kwargs) as session,
        ):
            await session.initialize()
            yield session


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    # the text block carries the same JSON for text-only clients
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, f"expected a tool error, got {result.content[0].text[:200]}"
    text = result.content[0].text
    assert "\n" not in text, f"error message is not one line: {text!r}"
    return text


# ----------------------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def test_every_tool_over_stdio(tmp_path: Path, media: dict[str, Path]) -> None:
    env = server_env(tmp_path / "home", media["image"].parent)

    async def scenario() -> None:
        async with stdio_session(env) as session:
            listed = await session.list_tools()
            tools = {t.name: t for t in listed.tools}
            assert set(tools) == TOOL_NAMES
            for tool in tools.values():
                assert tool.output_schema and tool.description and tool.annotations
            assert tools["search_music"].annotations.read_only_hint is True
            assert tools["get_track"].annotations.idempotent_hint is True
            assert tools["generate_music"].annotations.read_only_hint is False
            assert "filters" in tools["search_music"].input_schema["properties"]

            progress: list[tuple[float, float | None]] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append((done, total))

            described = structured(
                await session.call_tool(
                    "describe_visuals",
                    {"path": str(media["image"]), "context": "quiet evening"},
                    progress_callback=on_progress,
                )
            )
            assert described["source"]["kind"] == "image"
            assert len(described["text"].split()) >= 10
            assert progress and progress[-1] == (100.0, 100.0)

            midi_folder = str(media["piano_c_major"].parent)
            report = structured(await session.call_tool("index_music", {"paths": [midi_folder]}))
            assert len(report["added"]) == 3 and not report["failed"]
            again = structured(await session.call_tool("index_music", {"paths": [midi_folder]}))
            assert sorted(again["unchanged"]) == sorted(report["added"])

            # hand the (edited) description back, as an agent would
            described["attributes"]["key"] = "A minor"
            found = structured(
                await session.call_tool(
                    "search_music", {"description": described, "mode": "dual", "k": 3}
                )
            )
            assert 1 <= len(found["matches"]) <= 3
            first = found["matches"][0]
            assert first["id"] in report["added"] and first["reasons"] is not None
            targeted = structured(
                await session.call_tool(
                    "search_music",
                    {"query": "organ", "mode": "targeted", "filters": {"instruments": ["organ"]}},
                )
            )
            assert all("organ" in m["track"]["instruments"] for m in targeted["matches"])

            track = structured(await session.call_tool("get_track", {"id": first["id"]}))
            assert track["id"] == first["id"] and track["path"].endswith(".mid")

            progress.clear()
            generated = await session.call_tool(
                "generate_music",
                {
                    "description": described,
                    "reference_ids": [first["id"]],
                    "duration_s": SHORT_S,
                    "overrides": {"tempo_bpm": 96},
                    "seed": 3,
                },
                progress_callback=on_progress,
            )
            result = structured(generated)
            assert Path(result["audio_path"]).is_file()
            assert result["requested"]["tempo_bpm"] == 96
            assert result["requested"]["reference_ids"] == [first["id"]]
            assert abs(result["duration_s"] - SHORT_S) < 1.5
            assert progress and progress[-1] == (100.0, 100.0)
            links = [c for c in generated.content if c.type == "resource_link"]
            audio_link = next(c for c in links if c.mime_type == "audio/wav")
            assert str(audio_link.uri).startswith("vmb://outputs/")
            if result["piano_roll_path"]:
                assert any(c.type == "image" for c in generated.content)
            assert not any(c.type == "audio" for c in generated.content)  # previews are opt-in

            read = await session.read_resource(str(audio_link.uri))
            blob = read.contents[0]
            assert blob.mime_type == "audio/wav"
            assert Path(result["audio_path"]).stat().st_size == len(
                __import__("base64").b64decode(blob.blob)
            )
            track_json = await session.read_resource(f"vmb://tracks/{first['id']}")
            assert json.loads(track_json.contents[0].text)["id"] == first["id"]

            scored = structured(
                await session.call_tool(
                    "score_video", {"path": str(media["video"]), "seed": 1, "n_references": 1}
                )
            )
            assert scored["video_path"] and Path(scored["video_path"]).is_file()

            prompts = {p.name for p in (await session.list_prompts()).prompts}
            assert prompts == {"score_this_video", "music_for_this_image"}
            prompt = await session.get_prompt("score_this_video", {"path": "clip.mp4"})
            assert "describe_visuals" in prompt.messages[0].content.text
            templates = {
                t.uri_template for t in (await session.list_resource_templates()).resource_templates
            }
            assert {"vmb://outputs/{+name}", "vmb://tracks/{id}"} <= templates

    anyio.run(scenario)


def hostile_calls(media: dict[str, Path], home: Path) -> list[tuple[str, dict[str, Any]]]:
    """(tool, arguments) pairs that must each come back as a one-line tool error."""
    outside = "/etc/hosts"
    traversal = str(media["image"].parent / ".." / ".." / ".." / ".." / "etc" / "passwd")
    return [
        ("describe_visuals", {}),
        ("describe_visuals", {"path": ""}),
        ("describe_visuals", {"path": 5}),
        ("describe_visuals", {"path": str(media["image"].parent / "missing.png")}),
        ("describe_visuals", {"path": outside}),
        ("describe_visuals", {"path": traversal}),
        ("describe_visuals", {"path": "../../etc/passwd"}),
        ("describe_visuals", {"path": str(media["escape"])}),
        ("describe_visuals", {"path": str(media["corrupt_jpg"])}),
        ("describe_visuals", {"path": str(media["corrupt_mp4"])}),
        ("describe_visuals", {"path": str(media["text"])}),
        ("describe_visuals", {"path": str(media["image"].parent)}),
        ("describe_visuals", {"path": str(media["image"]), "context": "x" * 5000}),
        ("describe_visuals", {"path": str(media["image"]), "colour": "red"}),
        ("search_music", {}),
        ("search_music", {"query": "calm", "k": 0}),
        ("search_music", {"query": "calm", "k": 1000}),
        ("search_music", {"query": "calm", "mode": "sideways"}),
        ("search_music", {"query": "calm", "filters": {"tempo_min": 5}}),
        ("search_music", {"query": "calm", "filters": "fast"}),
        ("search_music", {"description": {"text": 1}}),
        ("generate_music", {}),
        ("generate_music", {"description": ""}),
        ("generate_music", {"description": "calm piano", "duration_s": -5}),
        ("generate_music", {"description": "calm piano", "duration_s": 10000}),
        ("generate_music", {"description": "calm piano", "seed": -1}),
        ("generate_music", {"description": "calm piano", "reference_ids": ["no-such-track"]}),
        ("generate_music", {"description": "calm piano", "video_path": outside}),
        ("generate_music", {"description": "calm piano", "out_dir": "/etc"}),
        ("generate_music", {"description": "calm piano", "overrides": {"tempo_bpm": 1000}}),
        ("generate_music", {"description": "calm piano", "overrides": {"key": "H major"}}),
        (
            "generate_music",
            {"description": "calm", "overrides": {"instruments": ["kazoo-blaster"]}},
        ),
        ("generate_music", {"description": "calm piano", "overrides": {"style": "no-such-style"}}),
        ("generate_music", {"description": "calm piano", "overrides": {"time_signature": "foo"}}),
        ("generate_music", {"description": "calm piano", "overrides": {"duration_s": 0.2}}),
        ("generate_music", {"description": "calm", "overrides": {"loop": True, "duration_s": 0.6,
                                                                 "tempo_bpm": 60}}),
        ("generate_music", {"description": "calm piano", "reference_weights": [1.0]}),
        ("generate_music", {"description": "calm piano", "reference_ids": ["a", "b"],
                            "reference_weights": [1.0, -2.0]}),
        ("generate_music", {"description": "calm piano", "video_path": str(media["audio_only"])}),
        ("index_music", {"paths": []}),
        ("index_music", {"paths": [outside]}),
        ("index_music", {"paths": ["../../etc/passwd"]}),
        ("index_music", {"paths": "not-a-list"}),
        ("score_video", {"path": str(media["corrupt_mp4"])}),
        ("score_video", {"path": outside}),
        ("score_video", {"path": str(media["video"]), "n_references": 100}),
        ("score_video", {"path": str(media["audio_only"])}),
        ("score_video", {"path": str(media["video"]), "overrides": {"style": "polka"}}),
        ("get_track", {"id": "no-such-track"}),
        ("get_track", {"id": ""}),
        ("get_track", {"id": 5}),
        ("no_such_tool", {}),
    ]


def test_hostile_inputs_are_one_line_tool_errors_and_the_server_keeps_serving(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    env = server_env(home, media["image"].parent)

    async def scenario() -> None:
        async with stdio_session(env) as session:
            crashes = []
            for tool, arguments in hostile_calls(media, home):
                result = await session.call_tool(tool, arguments)
                text = error_text(result)  # an error, on one line
                if text.strip() == f"Error executing tool {tool}":  # an unexpected exception
                    crashes.append((tool, arguments))
            assert not crashes, f"these inputs crashed instead of a clear error: {crashes}"
            # ... and the message says what was wrong and what is allowed
            said = {
                "Allowed: 2/4, 3/4, 4/4": ("generate_music", {"description": "calm", "overrides":
                                           {"time_signature": "foo"}}),
                "allowed: 0.5 to 600": ("generate_music", {"description": "calm", "overrides":
                                          {"duration_s": 0.2}}),
                "whole bars": ("generate_music", {"description": "calm", "overrides": {
                               "loop": True, "duration_s": 0.6, "tempo_bpm": 60}}),
                "needs reference_ids": ("generate_music", {"description": "calm",
                                        "reference_weights": [1.0]}),
                "no video stream": ("score_video", {"path": str(media["audio_only"])}),
                "Did you mean 'folk'": ("score_video", {"path": str(media["video"]),
                                        "overrides": {"style": "polka"}}),
            }  # fmt: skip
            for expected, (tool, arguments) in said.items():
                text = error_text(await session.call_tool(tool, arguments))
                assert expected in text, (expected, text)
            outputs = home / "outputs"  # nothing half-written (or whole) by a refused call
            assert not outputs.exists() or list(outputs.iterdir()) == []
            # a corrupt audio file is reported per file, not as a crash
            report = structured(
                await session.call_tool("index_music", {"paths": [str(media["corrupt_wav"])]})
            )
            assert str(media["corrupt_wav"]) in json.dumps(report["failed"])
            with pytest.raises(Exception, match="outputs"):
                await session.read_resource("vmb://outputs/../../etc/passwd")
            # ... and the server still answers normally
            assert len((await session.list_tools()).tools) == 6
            ok = await session.call_tool("describe_visuals", {"path": str(media["image"])})
            assert not ok.is_error

    anyio.run(scenario)


def test_client_roots_extend_the_allowed_roots(tmp_path: Path, media: dict[str, Path]) -> None:
    """A file outside VMB_ALLOWED_ROOTS is readable once the client offers its folder as a root."""
    import mcp_types

    elsewhere = tmp_path / "client-project"
    elsewhere.mkdir()
    image = elsewhere / "photo.png"
    image.write_bytes(media["image"].read_bytes())
    env = server_env(tmp_path / "home", media["image"].parent, VMB_TRUST_CLIENT_ROOTS="1")

    async def list_roots(context: Any) -> mcp_types.ListRootsResult:
        return mcp_types.ListRootsResult(roots=[mcp_types.Root(uri=elsewhere.as_uri(), name="p")])

    serve = ("-m", "vmb_agent", "serve")  # the `vmb serve` command this time

    async def scenario() -> None:
        async with stdio_session(env, serve) as session:
            denied = await session.call_tool("describe_visuals", {"path": str(image)})
            assert "outside the allowed roots" in error_text(denied)
        async with stdio_session(env, serve, list_roots_callback=list_roots) as session:
            allowed = await session.call_tool("describe_visuals", {"path": str(image)})
            assert not allowed.is_error, allowed.content[0].text

    anyio.run(scenario)


def test_async_sdk_runs_work_off_the_event_loop(vmb_home: Path, media: dict[str, Path]) -> None:
    from vmb_agent import AsyncVMB, MusicDescription
    from vmb_agent.files import PathPolicy

    vmb = AsyncVMB(policy=PathPolicy())
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await anyio.sleep(0.001)

    async def scenario() -> MusicDescription:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ticker)
            description = await vmb.describe(media["image"])
            tasks.cancel_scope.cancel()
        return description

    description = anyio.run(scenario)
    assert isinstance(description, MusicDescription) and description.source.kind == "image"
    assert len(ticks) > 1  # the loop kept running while the description was computed
