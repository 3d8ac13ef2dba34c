"""All four neural backends together, on tiny random models built here (issue 16, deliverable 7):
describe (vlm) -> search (clap) -> generate (musicgen-melody, stable-audio), through the CLI
and through a real MCP client over stdio, each a process of its own as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import numpy as np
import pytest
import soundfile
from conftest import EXAMPLES, REPO
from test_mcp_server import make_media, server_env, stdio_session, structured

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

IMAGE = EXAMPLES / "harbour.jpg"
ANSWER = {
    "genres": ["jazz"],
    "moods": ["dreamy"],
    "instruments": ["piano", "double bass"],
    "text": "A slow jazz ballad under harbour lights: soft piano over a walking double bass.",
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tiny_models import clap, musicgen, stable_audio, vlm

    root = tmp_path_factory.mktemp("neural")
    return {
        "VMB_VLM_MODEL": str(vlm.build(root / "vlm", answer=json.dumps(ANSWER))),
        "VMB_CLAP_MODEL": str(clap.build(root / "clap")),
        "VMB_MUSICGEN_MODEL": str(musicgen.build(root / "musicgen")),
        "VMB_STABLE_AUDIO_MODEL": str(stable_audio.build(root / "stable-audio")),
    }


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory, weights: dict[str, str]) -> dict[str, Path]:
    """A home, an allowed folder with three MIDI files and the image, and the environment."""
    root = tmp_path_factory.mktemp("e2e")
    media = make_media(root / "media")
    image = root / "media" / IMAGE.name
    image.write_bytes(IMAGE.read_bytes())
    return {"home": root / "home", "allowed": root, "midi": media["piano_c_major"].parent,
            "image": image}  # fmt: skip


def environment(place: dict[str, Path], weights: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **server_env(place["home"], place["allowed"]), **weights,
            "VMB_DEVICE": "cpu", "VMB_MEASURE_TAGS": "0", "VMB_STABLE_AUDIO_STEPS": "2",
            "OMP_NUM_THREADS": "1"}  # fmt: skip


def vmb(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "vmb_agent", *args, "--json"], env=env,
                         capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def assert_audio(path: str, seconds: float) -> None:
    audio, rate = soundfile.read(path)
    assert audio.shape == (round(seconds * rate), 2)
    assert np.abs(audio).max() > 0.01


def test_describe_search_generate_through_the_cli(
    place: dict[str, Path], weights: dict[str, str]
) -> None:
    env = environment(place, weights)
    description = vmb(env, "describe", str(place["image"]), "--describer", "vlm")
    assert description["source"]["backend"] == "vlm"
    assert description["attributes"]["genres"] == ["jazz"] and description["text"] == ANSWER["text"]
    described = place["allowed"] / "description.json"
    described.write_text(json.dumps(description))

    vmb(env, "library", "add", str(place["midi"]))
    report = vmb(env, "library", "reindex", "--embedder", "clap")
    assert len(report["added"]) == 3
    found = vmb(env, "search", "--description", str(described), "--embedder", "clap",
                "--mode", "broad", "-k", "2")  # fmt: skip
    assert len(found) == 2  # `vmb search --json` prints the matches
    reference = found[0]["id"]

    for renderer in ("musicgen-melody", "stable-audio"):
        out = place["allowed"] / f"out-{renderer}"
        result = vmb(env, "generate", "--description", str(described), "--reference", reference,
                     "--renderer", renderer, "--duration", "3", "--seed", "7", "--out", str(out))
        assert result["renderer"] == renderer and result["backend"] == "symbolic"
        assert_audio(result["audio_path"], 3.0)
        assert Path(result["midi_path"]).is_file()  # the symbolic draft it was conditioned on
        assert abs(result["measured"]["loudness_lufs"] - (-14.0)) < 1.5


def test_describe_search_generate_through_mcp(
    place: dict[str, Path], weights: dict[str, str]
) -> None:
    env = {**environment(place, weights), "VMB_HOME": str(place["home"]) + "-mcp"}
    vmb(env, "library", "add", str(place["midi"]))  # the operator builds the clap index
    vmb(env, "library", "reindex", "--embedder", "clap")

    async def scenario() -> None:
        async with stdio_session(env) as session:
            backends = await session.read_resource("vmb://backends")
            rows = json.loads(backends.contents[0].text)
            ready = {(r["stage"], r["name"]) for r in rows if r["available"]}
            assert {("describe", "vlm"), ("embed", "clap"), ("render", "musicgen-melody"),
                    ("render", "stable-audio")} <= ready  # fmt: skip

            description = structured(await session.call_tool(
                "describe_visuals", {"path": str(place["image"]), "describer": "vlm"}))
            assert description["source"]["backend"] == "vlm"
            found = structured(await session.call_tool("search_music", {
                "description": description, "embedder": "clap", "mode": "broad", "k": 2}))
            assert len(found["matches"]) == 2

            result = structured(await session.call_tool("generate_music", {
                "description": description, "duration_s": 3, "seed": 3,
                "reference_ids": [found["matches"][0]["id"]],
                "renderer": "stable-audio", "out_dir": str(place["allowed"] / "mcp-out")}))
            assert result["renderer"] == "stable-audio"
            assert_audio(result["audio_path"], 3.0)

    anyio.run(scenario)
