"""Backends as plug-ins (issue 16, deliverable 1): a third-party package adds a describer and a
renderer through the ``vmb_agent.backends`` entry points, without editing VMB, and ``VMB`` runs
them end to end: the plugin's description comes back from ``describe``, the plugin's audio is
what ``generate`` masters, measures and writes. The plugin is a real installed distribution
(a ``.dist-info`` with ``entry_points.txt`` on the path of a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO

from vmb_agent.registry import Registry
from vmb_agent.rendering.renderers import SoundFontRenderer, renderers

PLUGIN = '''
"""A third-party VMB plugin: a fixed describer and a sine renderer."""
import numpy as np

from vmb_agent.types import MusicAttributes, MusicDescription, SourceInfo


class FixedDescriber:
    name = "fixed"

    def describe(self, source, context=None):
        return MusicDescription(
            text="plugin words: a slow sine in A",
            source=SourceInfo(path=str(source.path), kind=source.kind, backend=self.name),
            attributes=MusicAttributes(genres=["ambient"], moods=["calm"], instruments=["piano"],
                                       tempo_bpm=72.0, key="A minor", energy=0.3, valence=0.4),
        )


class SineRenderer:
    name = "sine"

    def parts(self, job):
        t = np.arange(job.n_samples) / job.sample_rate
        tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        yield "mix", job.fit(np.stack([tone, tone], axis=1))
'''

SCRIPT = '''
import json, sys
import numpy as np, soundfile
from vmb_agent.sdk import VMB
vmb = VMB()
description = vmb.describe(sys.argv[1])
result = vmb.generate(description, overrides={"duration_s": 4}, out_dir=sys.argv[2])
audio, sr = soundfile.read(result.audio_path)
spectrum = np.abs(np.fft.rfft(audio.mean(axis=1)))
print(json.dumps({"text": description.text, "backend": result.backend,
                  "peak_hz": float(np.argmax(spectrum) * sr / len(audio)),
                  "lufs": result.measured.loudness_lufs, "midi": result.midi_path}))
'''


def _install_plugin(site: Path) -> None:
    (site / "vmb_sine_plugin.py").write_text(PLUGIN)
    info = site / "vmb_sine_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vmb-sine-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[vmb_agent.backends]\n"
        "describe.fixed = vmb_sine_plugin:FixedDescriber\n"
        "render.sine = vmb_sine_plugin:SineRenderer\n"
    )


def test_a_plugin_describer_and_renderer_run_through_vmb(vmb_home: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "VMB_DESCRIBE_BACKEND": "fixed", "VMB_RENDER_BACKEND": "sine"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(EXAMPLES / "harbour.jpg"), str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["text"] == "plugin words: a slow sine in A"
    assert abs(result["peak_hz"] - 440.0) < 2.0  # the plugin's audio, not the SoundFont's
    assert abs(result["lufs"] - (-14.0)) < 1.0  # ... mastered like every other render
    assert Path(result["midi"]).is_file()  # the symbolic draft is still written


def test_an_unknown_backend_names_the_installed_ones() -> None:
    from vmb_agent.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="soundfont"):
        renderers.create("no-such-renderer")
    assert isinstance(renderers.create("soundfont"), SoundFontRenderer)


def test_a_built_in_name_wins_over_a_plugin_of_the_same_name() -> None:
    registry: Registry[str] = Registry("render")
    registry.add("soundfont", lambda: "built-in")
    registry._discover()
    assert registry.create("soundfont") == "built-in"


NO_SCORE_PLUGIN = '''
import numpy as np


class WordsOnlyGenerator:
    """Leaves everything to the renderer: no composition."""

    name = "words-only"

    def compose(self, conditions, *, seed, material):
        return None


class ChordRenderer:
    name = "chord"

    def parts(self, job):
        assert job.composition is None
        t = np.arange(job.n_samples) / job.sample_rate
        tone = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
        yield "mix", job.fit(np.stack([tone, tone], axis=1).astype(np.float32))
'''


def test_a_generator_without_a_composition_writes_audio_but_no_midi(
    vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliverable 1: MIDI and piano roll only when a composition exists; the audio is still
    mastered, measured and written; the SoundFont refuses to play no score in one line."""
    import numpy as np
    import soundfile

    from vmb_agent.errors import BackendUnavailableError
    from vmb_agent.generation.pipeline import generators
    from vmb_agent.sdk import VMB
    from vmb_agent.settings import get_settings

    namespace: dict = {}
    exec(NO_SCORE_PLUGIN, namespace)  # noqa: S102 - the plugin's source, as a third party writes it
    monkeypatch.setitem(generators._factories, "words-only", namespace["WordsOnlyGenerator"])
    monkeypatch.setitem(renderers._factories, "chord", namespace["ChordRenderer"])
    monkeypatch.setenv("VMB_GENERATE_BACKEND", "words-only")
    get_settings.cache_clear()
    out = tmp_path / "out"
    result = VMB().generate("calm", overrides={"duration_s": 3, "style": "ambient"},
                            out_dir=out, renderer="chord")  # fmt: skip
    assert result.midi_path is None and result.piano_roll_path is None
    assert result.backend == "words-only" and result.renderer == "chord"
    assert sorted(p.suffix for p in out.iterdir()) == [".wav"]
    audio, sr = soundfile.read(result.audio_path)
    assert audio.shape[0] == 3 * sr and np.abs(audio).max() > 0.1
    assert abs(result.measured.loudness_lufs - (-14.0)) < 1.0
    with pytest.raises(BackendUnavailableError, match="plays a score"):
        VMB().generate("calm", overrides={"duration_s": 3}, out_dir=tmp_path / "none")
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())
