"""``render.stable-audio`` (issue 16, item 3): Stable Audio re-renders the symbolic draft.

A tiny random Stable Audio pipeline is built here (tests/tiny_models/stable_audio.py: the real
component classes, 8 kHz, a 2.048 s window), so the whole path runs offline in seconds: the
SDK's ``generate`` composes, the renderer runs the diffusers pipeline window by window on the
SoundFont draft, and the pipeline masters, measures and writes the result. The window joins
and the errors are tested on their own.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from vmb_agent.errors import BackendUnavailableError
from vmb_agent.neural import stable_audio
from vmb_agent.neural.stable_audio import (
    StableAudioRenderer,
    join_windows,
    plan_windows,
    render_in_windows,
)
from vmb_agent.settings import get_settings

# diffusers' Oobleck VAE still uses torch.nn.utils.weight_norm
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")

DURATION_S = 4.0  # 32,000 samples at the tiny model's 8 kHz: three 2.048 s windows
STEPS = 2


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tiny model's ops are microseconds long: a second torch thread only spins against
    the work (100x slower on the shared 2-core machine under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torchsde")  # Stable Audio's scheduler samples its noise with it
    from tiny_models.stable_audio import build

    return build(tmp_path_factory.mktemp("stable-audio") / "tiny")


def use_model(monkeypatch: pytest.MonkeyPatch, folder: Path | str | None) -> None:
    """Select the renderer and its weights for this test (settings re-read)."""
    monkeypatch.setenv("VMB_RENDER_BACKEND", "stable-audio")
    monkeypatch.setenv("VMB_DEVICE", "cpu")
    if folder is None:
        monkeypatch.delenv("VMB_STABLE_AUDIO_MODEL", raising=False)
    else:
        monkeypatch.setenv("VMB_STABLE_AUDIO_MODEL", str(folder))
    get_settings.cache_clear()


def spy_segments(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Few diffusion steps, and a record of every window the renderer generates."""
    calls: list[dict] = []
    generate = StableAudioRenderer._segment

    def segment(self, pipe, prompt: str, piece: np.ndarray, seed: int, *,
                from_draft: bool = True) -> np.ndarray:  # fmt: skip
        out = generate(self, pipe, prompt, piece, seed, from_draft=from_draft)
        calls.append({
            "prompt": prompt, "piece": piece.copy(), "seed": seed, "out": out,
            "from_draft": from_draft,
            "window": self.window_samples(pipe), "rate": pipe.vae.sampling_rate,
        })  # fmt: skip
        return out

    monkeypatch.setattr(StableAudioRenderer, "steps", STEPS)
    monkeypatch.setattr(StableAudioRenderer, "_segment", segment)
    return calls


# -- end to end ----------------------------------------------------------------------------------


def test_generate_renders_the_draft_through_stable_audio(
    vmb_home: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pretty_midi
    import soundfile

    from vmb_agent.dsp import integrated_loudness
    from vmb_agent.rendering.master import TARGET_LUFS
    from vmb_agent.sdk import VMB

    use_model(monkeypatch, tiny_model)
    calls = spy_segments(monkeypatch)
    result = VMB().generate(
        "a calm piano piece for a rainy evening", seed=7, out_dir=tmp_path / "out",
        overrides={"duration_s": DURATION_S, "tempo_bpm": 90, "key": "A minor"},
    )  # fmt: skip

    # the WAV: exactly the requested length, not silent, mastered like every other render
    info = soundfile.info(result.audio_path)
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, int(DURATION_S * 44100))
    written, _ = soundfile.read(result.audio_path, dtype="float32")
    assert float(np.sqrt(np.mean(written**2))) > 0.01
    m = result.measured
    assert m.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    assert integrated_loudness(written, 44100) == pytest.approx(m.loudness_lufs, abs=0.05)
    assert m.true_peak_dbtp <= -1.0
    assert m.duration_s == result.duration_s == pytest.approx(DURATION_S)
    assert m.tempo_bpm is not None and m.key is not None  # measured on the model's audio
    # the symbolic draft is still written (the score the audio was conditioned on)
    notes = [n for i in pretty_midi.PrettyMIDI(result.midi_path).instruments for n in i.notes]
    assert notes

    # several windows, each started from its own slice of the (sounding) draft
    rate, window = calls[0]["rate"], calls[0]["window"]
    n_model = round(DURATION_S * rate)
    overlap = min(round(StableAudioRenderer.overlap_s * rate), window // 4)
    spans = plan_windows(n_model, window, overlap)
    assert len(calls) == len(spans) >= 2
    assert [c["piece"].shape[0] for c in calls] == [stop - start for start, stop in spans]
    assert all(np.abs(c["piece"]).max() > 0.01 for c in calls)
    assert all(c["out"].shape == c["piece"].shape for c in calls)
    assert not any(np.allclose(c["out"], c["piece"], atol=0.05) for c in calls)  # re-rendered
    assert len({c["seed"] for c in calls}) == len(calls)  # each window its own noise
    prompt = calls[0]["prompt"]
    assert prompt.startswith("piano music, 90 BPM, A minor")  # the facts first, then the words
    assert all(c["prompt"] == prompt for c in calls)


def test_without_a_composition_the_words_alone_make_the_audio(
    vmb_home: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator that makes no score: no initial audio (not a draft of silence), the
    scheduler's own start noise, audio that sounds, and no MIDI written."""
    import soundfile

    from vmb_agent.generation.pipeline import generators
    from vmb_agent.sdk import VMB

    class WordsOnly:
        name = "words-only"

        def compose(self, conditions, *, seed, material):
            return None

    use_model(monkeypatch, tiny_model)
    monkeypatch.setitem(generators._factories, "words-only", WordsOnly)
    monkeypatch.setenv("VMB_GENERATE_BACKEND", "words-only")
    get_settings.cache_clear()
    calls = spy_segments(monkeypatch)
    result = VMB().generate("rain on a tin roof", seed=5, out_dir=tmp_path / "out",
                            overrides={"duration_s": DURATION_S}, renderer="stable-audio")
    assert result.midi_path is None and calls and not any(c["from_draft"] for c in calls)
    written, rate = soundfile.read(result.audio_path, dtype="float32")
    assert written.shape == (int(DURATION_S * rate), 2)
    assert float(np.sqrt(np.mean(written**2))) > 0.01


def test_a_window_is_repeatable_and_starts_from_the_draft(
    vmb_home: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same seed, same audio; the draft steers the window at the renderer's start noise, and
    all but vanishes at the scheduler's own sigma_max (diffusers' plain initial audio)."""
    use_model(monkeypatch, tiny_model)
    renderer = StableAudioRenderer()
    monkeypatch.setattr(StableAudioRenderer, "steps", STEPS)
    pipe = renderer._pipeline()
    rate = pipe.vae.sampling_rate
    t = np.arange(renderer.window_samples(pipe)) / rate
    draft = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1)
    draft = (0.5 * draft).astype(np.float32)
    silence = np.zeros_like(draft)

    def window(piece: np.ndarray, seed: int = 3) -> np.ndarray:
        return renderer._segment(pipe, "calm piano", piece, seed)

    assert renderer.window_samples(pipe) == 256 * 64  # sample_size x the VAE's hop
    monkeypatch.setattr(renderer, "max_window_s", 0.5)
    assert renderer.window_samples(pipe) == rate // 2
    first = window(draft)
    assert first.shape == draft.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, window(draft))
    assert not np.allclose(first, window(draft, seed=4))
    steered = np.abs(first - window(silence)).mean() / np.abs(first).mean()
    monkeypatch.setattr(renderer, "init_noise_level", None)
    ignored = np.abs(window(draft) - window(silence)).mean() / np.abs(first).mean()
    assert not np.allclose(first, window(silence)) and ignored < steered / 20, (steered, ignored)


def test_importing_the_renderer_imports_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, vmb_agent.neural.stable_audio; "
        "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- errors: one line, before anything is written -----------------------------------------------


def _config_only(tmp_path: Path) -> Path:
    folder = tmp_path / "not-diffusers"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.mark.parametrize(
    ("make_folder", "pattern"),
    [
        (lambda tmp: None, "set VMB_STABLE_AUDIO_MODEL"),
        (lambda tmp: tmp / "absent", "(VMB_STABLE_AUDIO_MODEL): no such folder"),
        (_config_only, "has no model_index.json"),
    ],
)  # fmt: skip
def test_missing_weights_fail_before_composing(
    vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    make_folder: Callable[[Path], Path | None], pattern: str,
) -> None:  # fmt: skip
    from vmb_agent.generation.pipeline import SymbolicGenerator
    from vmb_agent.sdk import VMB

    def compose(*args: object, **kwargs: object) -> None:
        raise AssertionError("composed before the renderer's weights were checked")

    monkeypatch.setattr(SymbolicGenerator, "compose", compose)
    use_model(monkeypatch, make_folder(tmp_path))
    out = tmp_path / "out"
    with pytest.raises(BackendUnavailableError) as info:
        VMB().generate("calm piano", overrides={"duration_s": 4}, out_dir=out)
    message = str(info.value)
    assert message.startswith("stable-audio: ") and pattern in message and "\n" not in message
    assert not out.exists() or not any(out.iterdir())


def test_a_scheduler_that_needs_torchsde_says_so(
    vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "pipeline"
    folder.mkdir()
    index = {"_class_name": "StableAudioPipeline",
             "scheduler": ["diffusers", "CosineDPMSolverMultistepScheduler"]}  # fmt: skip
    (folder / "model_index.json").write_text(json.dumps(index))
    monkeypatch.setattr(stable_audio, "missing_modules", lambda modules: ["torchsde"])
    use_model(monkeypatch, folder)
    with pytest.raises(BackendUnavailableError, match=r"needs torchsde \(pip install torchsde\)"):
        StableAudioRenderer()


def test_weights_that_do_not_load_are_one_line(
    vmb_home: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model_index.json is there but a component is not: the load fails at render time as
    one line naming the folder, and no output file appears."""
    import shutil

    from vmb_agent.sdk import VMB

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    shutil.rmtree(broken / "transformer")
    use_model(monkeypatch, broken)
    out = tmp_path / "out"
    with pytest.raises(BackendUnavailableError) as info:
        VMB().generate("calm piano", overrides={"duration_s": 2}, out_dir=out)
    message = str(info.value)
    assert f"the weights at {broken} could not be loaded" in message and "\n" not in message
    assert not out.exists() or not any(out.iterdir())


# -- windows and joins ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "window", "overlap"),
                         [(10, 10, 2), (11, 10, 2), (64000, 32768, 8192), (100_003, 997, 240),
                          (5, 997, 240), (2_097_152 * 3 + 7, 2_097_152, 66150)])  # fmt: skip
def test_windows_cover_the_piece_exactly(n: int, window: int, overlap: int) -> None:
    spans = plan_windows(n, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(0 < stop - start <= window for start, stop in spans)
    for (_, stop), (start, _) in itertools.pairwise(spans):
        assert start == stop - overlap  # consecutive windows share exactly the crossfade
    if len(spans) > 1:
        assert spans[-1][1] - spans[-1][0] > overlap
    source = np.zeros((n, 2), dtype=np.float32)
    assert render_in_windows(source, window, overlap, lambda piece, i: piece).shape == (n, 2)


def test_joins_are_continuous() -> None:
    """Each window a different tone (frequency and phase): the crossfades leave no step larger
    than the tones' own, where cutting from one window to the next would jump."""
    rate, n, window, overlap = 16000, 40000, 12000, 2000
    spans = plan_windows(n, window, overlap)
    freqs = [220.0 * (1 + 0.17 * i) for i in range(len(spans))]

    def tone(i: int, start: int, stop: int) -> np.ndarray:
        t = np.arange(start, stop) / rate
        wave = 0.5 * np.sin(2 * np.pi * freqs[i] * t + 1.9 * i)
        return np.stack([wave, wave], axis=1).astype(np.float32)

    pieces = [tone(i, start, stop) for i, (start, stop) in enumerate(spans)]
    joined = join_windows(pieces, spans, overlap, n)
    assert joined.shape == (n, 2)
    typical = max(0.5 * 2 * np.pi * f / rate for f in freqs)  # a tone's largest step
    steps = np.abs(np.diff(joined[:, 0]))
    assert steps.max() < 1.5 * typical
    cuts = [start for start, _ in spans[1:]] + [n]  # each window until the next one starts
    hard = np.concatenate([piece[: cut - start] for piece, (start, _), cut
                           in zip(pieces, spans, cuts, strict=True)])  # fmt: skip
    assert np.abs(np.diff(hard[:, 0])).max() > 2 * typical  # what the crossfade removes


def test_joins_keep_the_level() -> None:
    """Identical windows join back into the source exactly (equal gain); unrelated noise keeps
    its level through the overlaps (equal power)."""
    rng = np.random.default_rng(0)
    n, window, overlap = 30000, 8000, 2000
    source = rng.standard_normal((n, 2)).astype(np.float32)
    same = render_in_windows(source, window, overlap, lambda piece, i: piece)
    np.testing.assert_allclose(same, source, atol=1e-5)
    noise = render_in_windows(
        source, window, overlap,
        lambda piece, i: rng.standard_normal(piece.shape).astype(np.float32),
    )  # fmt: skip
    spans = plan_windows(n, window, overlap)
    in_overlaps = np.concatenate([noise[start : start + overlap] for start, _ in spans[1:]])
    assert np.sqrt(np.mean(in_overlaps**2)) == pytest.approx(1.0, rel=0.05)
