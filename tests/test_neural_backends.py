"""The neural backends as a whole (issue 16): `vmb backends` tells the truth, the default path
imports no torch, and missing extras or weights are one-line errors before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO

from vmb_agent.errors import BackendUnavailableError


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, cwd=REPO,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_the_default_path_imports_no_torch(vmb_home: Path, tmp_path: Path) -> None:
    """describe -> generate with the default engines, and `vmb backends`, never load torch,
    transformers or diffusers (they are imported only inside the neural backends)."""
    code = f"""
import sys
from vmb_agent.sdk import VMB
from vmb_agent.backends import list_backends
vmb = VMB()
d = vmb.describe({str(EXAMPLES / 'harbour.jpg')!r})
vmb.generate(d, overrides={{"duration_s": 2}}, out_dir={str(tmp_path / 'out')!r})
list_backends(vmb.settings)
print(sorted(m for m in ("torch", "transformers", "diffusers") if m in sys.modules))
"""
    out = _run(code, {"VMB_HOME": str(vmb_home)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_backends_lists_every_stage_and_says_why_not(vmb_home: Path, tmp_path: Path) -> None:
    weights = tmp_path / "musicgen"
    weights.mkdir()
    (weights / "config.json").write_text("{}")  # a transformers folder, not a diffusers one
    env = {"VMB_HOME": str(vmb_home), "VMB_MUSICGEN_MODEL": str(weights),
           "VMB_STABLE_AUDIO_MODEL": str(weights),
           "VMB_CLAP_MODEL": "laion/not-in-the-cache", "VMB_RENDER_BACKEND": "musicgen-melody"}
    out = subprocess.run([sys.executable, "-m", "vmb_agent", "backends", "--json"], env={
        **os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    rows = {(r["stage"], r["name"]): r for r in json.loads(out.stdout)}
    assert {stage for stage, _ in rows} == {"describe", "embed", "generate", "render"}
    assert rows[("describe", "analysis")]["available"] and rows[("embed", "minilm")]["available"]
    musicgen = rows[("render", "musicgen-melody")]
    assert musicgen["available"] and musicgen["selected"]
    assert musicgen["setting"] == "VMB_MUSICGEN_MODEL"
    assert not rows[("render", "soundfont")]["selected"]
    stable = rows[("render", "stable-audio")]
    assert not stable["available"] and "no model_index.json" in stable["reason"]
    assert "VMB_STABLE_AUDIO_MODEL" in stable["reason"]
    clap = rows[("embed", "clap")]
    assert "not in the local Hugging Face cache" in clap["reason"]
    assert "nothing is downloaded" in clap["reason"]
    vlm = rows[("describe", "vlm")]
    assert not vlm["available"] and "set VMB_VLM_MODEL" in vlm["reason"]


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from vmb_agent import backends
    from vmb_agent.neural.common import require
    from vmb_agent.settings import Settings

    monkeypatch.setitem(backends.NEEDS, ("render", "musicgen-melody"),
                        backends.Needs(("torch", "vmb_no_such_module"), "musicgen_model"))
    reason = backends.unavailable_reason("render", "musicgen-melody", Settings())
    assert reason.startswith("extra [neural] not installed") and "vmb_no_such_module" in reason
    with pytest.raises(BackendUnavailableError, match=r"pip install 'vmb-agent\[neural\]'"):
        require("musicgen-melody", ("vmb_no_such_module",))


def test_a_missing_extra_fails_the_call_before_any_work(
    vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check a backend runs when it is created (common.prepare) reads the same table."""
    from vmb_agent.neural import common
    from vmb_agent.sdk import VMB

    monkeypatch.setattr(common, "missing_modules", lambda modules=(): ["torch"])
    for call in (
        lambda: VMB().generate("calm", out_dir=tmp_path / "out", renderer="stable-audio"),
        lambda: VMB().describe(str(EXAMPLES / "harbour.jpg"), backend="vlm"),
        lambda: VMB().search("calm", embedder="clap"),
    ):
        with pytest.raises(BackendUnavailableError, match=r"extra \[neural\] not installed"):
            call()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [
    ["generate", "calm piano", "--renderer", "musicgen-melody", "--duration", "3"],
    ["generate", "calm piano", "--renderer", "stable-audio", "--duration", "3"],
    ["describe", str(EXAMPLES / "harbour.jpg"), "--describer", "vlm"],
    ["search", "calm piano", "--embedder", "clap"],
])  # fmt: skip
def test_missing_weights_are_one_line_errors_and_nothing_is_written(
    vmb_home: Path, tmp_path: Path, command: list[str]
) -> None:
    out_dir = tmp_path / "out"
    extra = ["--out", str(out_dir)] if command[0] == "generate" else []
    env = {**os.environ, "VMB_HOME": str(vmb_home)}
    for variable in ("VMB_MUSICGEN_MODEL", "VMB_STABLE_AUDIO_MODEL", "VMB_CLAP_MODEL",
                     "VMB_VLM_MODEL"):  # fmt: skip
        env.pop(variable, None)
    out = subprocess.run([sys.executable, "-m", "vmb_agent", *command, *extra], env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no weights" in lines[0]
    assert "nothing is downloaded" in lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_a_hub_id_is_found_in_the_local_cache_and_nothing_is_downloaded(
    vmb_home: Path, tmp_path: Path
) -> None:
    """VMB_MUSICGEN_MODEL=<org>/<name> resolves to the snapshot in the Hugging Face cache
    (HF_HUB_CACHE's layout: refs/main names the snapshot folder) and generates from it."""
    pytest.importorskip("transformers")
    from tiny_models import musicgen

    cache = tmp_path / "hub"
    repo = cache / "models--vmb-test--tiny-musicgen"
    commit = "0123456789abcdef0123456789abcdef01234567"
    musicgen.build(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "VMB_HOME": str(vmb_home), "HF_HUB_CACHE": str(cache),
           "VMB_MUSICGEN_MODEL": "vmb-test/tiny-musicgen", "VMB_DEVICE": "cpu",
           "VMB_MEASURE_TAGS": "0", "OMP_NUM_THREADS": "1"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "vmb_agent", "generate", "calm piano", "--duration", "2",
         "--renderer", "musicgen-melody", "--out", str(tmp_path / "out"), "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["renderer"] == "musicgen-melody"
    env["VMB_MUSICGEN_MODEL"] = "vmb-test/not-cached"
    out = subprocess.run([sys.executable, "-m", "vmb_agent", "backends", "--json"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    row = next(r for r in json.loads(out.stdout) if r["name"] == "musicgen-melody")
    assert not row["available"] and "not in the local Hugging Face cache" in row["reason"]
