"""The ``musicgen-melody`` renderer (issue 16) with a tiny random MusicGen-Melody built here
(tests/tiny_models/musicgen.py): nothing is downloaded and the audio is noise, so what is
checked is the plumbing: the pipeline masters, measures and writes what the model makes, long
pieces are continued window by window to the exact length, the melody condition follows the
draft, the text condition carries the conditions, and missing or broken weights are one-line
errors before anything is written."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import REPO

from vmb_agent.errors import BackendUnavailableError
from vmb_agent.neural import musicgen
from vmb_agent.neural.musicgen import Loaded, MusicGenMelodyRenderer
from vmb_agent.rendering.renderers import RenderJob
from vmb_agent.settings import Settings, get_settings
from vmb_agent.types import Conditions

SR = 44100
TINY_CHROMA_LENGTH = 24  # tests/tiny_models/musicgen.py, size "tiny"
CODEC_RATE, CODEC_HOP = 50, 640  # the tiny model's 32 kHz EnCodec


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import musicgen as tiny_musicgen

    return tiny_musicgen.build(tmp_path_factory.mktemp("tiny-musicgen"))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The tiny model's matrices are too small to share: with two threads on a busy two-core
    machine each decoder step waits for the other thread (10x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Recorded:
    windows: list[dict] = field(default_factory=list)  # each window's arguments
    texts: list[str] = field(default_factory=list)  # each render's text condition


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """2 s windows prompted with 1 s (the real 30 s / 10 s, scaled down), and every window's
    arguments and every text condition recorded."""
    monkeypatch.setattr(MusicGenMelodyRenderer, "window_s", 2.0)
    monkeypatch.setattr(MusicGenMelodyRenderer, "prompt_s", 1.0)
    monkeypatch.setattr(MusicGenMelodyRenderer, "crossfade_s", 0.25)
    record = Recorded()
    original, words = MusicGenMelodyRenderer.window, musicgen.prompt_text

    def window(self: MusicGenMelodyRenderer, loaded: Loaded, tokens: dict, features: Any,
               codes: Any, new: int) -> np.ndarray:  # fmt: skip
        record.windows.append({"features": features, "codes": codes, "new": new})
        return original(self, loaded, tokens, features, codes, new)

    def prompt_text(description: Any, conditions: Conditions) -> str:
        record.texts.append(words(description, conditions))
        return record.texts[-1]

    monkeypatch.setattr(MusicGenMelodyRenderer, "window", window)
    monkeypatch.setattr(musicgen, "prompt_text", prompt_text)
    return record


def _conditions(**values: object) -> Conditions:
    base: dict = {"style": "ambient", "tempo_bpm": 90, "key": "C major", "instruments": ["piano"],
                  "duration_s": 3.0, "energy": 0.4, "valence": 0.5}  # fmt: skip
    return Conditions(**{**base, **values})


def _job(conditions: Conditions, settings: Settings | None = None) -> RenderJob:
    from vmb_agent.generation.composer import compose
    from vmb_agent.generation.pipeline import fit_length

    composition = compose(conditions, seed=1)
    n = round(composition.duration_s * SR)
    return RenderJob(composition, conditions, None, settings or Settings(), SR, n,
                     fit=lambda audio: fit_length(audio, n, loop=conditions.loop))  # fmt: skip


def _use_weights(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    if folder is None:
        monkeypatch.delenv("VMB_MUSICGEN_MODEL", raising=False)
    else:
        monkeypatch.setenv("VMB_MUSICGEN_MODEL", str(folder))
    monkeypatch.setenv("VMB_RENDER_BACKEND", "musicgen-melody")
    get_settings.cache_clear()


# -- end to end ------------------------------------------------------------------------------


def test_generate_renders_masters_and_measures_the_model_audio(
    vmb_home: Path, tmp_path: Path, weights: Path, recorded: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import pretty_midi
    import soundfile

    from vmb_agent.dsp import integrated_loudness
    from vmb_agent.sdk import VMB
    from vmb_agent.theory import parse_key

    _use_weights(monkeypatch, weights)
    out = tmp_path / "out"
    result = VMB().generate("a calm piano piece for a rainy evening", seed=7, stems=True,
                            overrides={"duration_s": 5, "key": "C major", "tempo_bpm": 96},
                            out_dir=out)  # fmt: skip

    audio, sr = soundfile.read(result.audio_path)
    assert sr == SR and audio.shape == (5 * SR, 2)
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silent
    assert abs(result.measured.loudness_lufs - (-14.0)) < 1.0  # mastered like every render
    assert abs(integrated_loudness(audio, sr) - (-14.0)) < 1.0  # ... and the file says so
    assert result.measured.duration_s == 5.0
    # tempo and key measured on the model's audio (noise here: any reading, but a valid one)
    assert result.measured.tempo_bpm is None or 30 <= result.measured.tempo_bpm <= 300
    assert result.measured.key is None or parse_key(result.measured.key)
    # the symbolic draft is still written, and the one part is the stem
    assert pretty_midi.PrettyMIDI(result.midi_path).instruments
    assert [Path(p).name.split(".stem-")[1] for p in result.stems] == ["mix.wav"]

    # 5 s = 250 codec frames: a 100-frame window, then 3 continuations of 50 new frames,
    # each prompted with the last 50 frames (the 4 codebooks' codes) -- rendered once, though
    # the stems asked for the parts a second time
    windows = recorded.windows
    assert [call["new"] for call in windows] == [100, 50, 50, 50]
    assert windows[0]["codes"] is None
    assert all(tuple(call["codes"].shape) == (4, 50) for call in windows[1:])
    for call in windows:  # one-hot chroma over the model's chroma span
        assert call["features"].shape == (TINY_CHROMA_LENGTH, 12)
        assert np.array_equal(call["features"].sum(axis=1), np.ones(TINY_CHROMA_LENGTH))
    # the words: the description's prose (its own key and tempo dropped, the overrides won)
    # and the conditions
    [text] = recorded.texts
    assert "rainy evening" in text and "96 bpm, C major, 4/4 time" in text
    assert "F minor" not in text and "82 BPM" not in text


def test_rendering_is_seeded_exact_and_cached(weights: Path, recorded: Recorded) -> None:
    settings = Settings(musicgen_model=str(weights), device="cpu")
    job = _job(_conditions(duration_s=2.5))
    renderer = MusicGenMelodyRenderer(settings)
    first = dict(renderer.parts(job))
    assert list(first) == ["mix"] and first["mix"].shape == (job.n_samples, 2)
    assert first["mix"].dtype == np.float32 and np.abs(first["mix"]).max() > 0
    calls = len(recorded.windows)
    again = dict(renderer.parts(job))  # the stems' second request: the same audio, not re-made
    assert len(recorded.windows) == calls and np.array_equal(again["mix"], first["mix"])
    fresh = dict(MusicGenMelodyRenderer(settings).parts(job))  # the same request, the same seed
    assert np.array_equal(fresh["mix"], first["mix"])


def test_without_a_composition_the_words_alone_condition_it(
    weights: Path, recorded: Recorded
) -> None:
    from dataclasses import replace

    job = replace(_job(_conditions(duration_s=1.0)), composition=None)
    audio = dict(MusicGenMelodyRenderer(Settings(musicgen_model=str(weights))).parts(job))["mix"]
    assert audio.shape == (job.n_samples, 2)
    assert [call["features"] for call in recorded.windows] == [None]


# -- continuation ----------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.3, 2.0, 3.37])
def test_the_continuation_gives_exactly_the_frames_asked(
    weights: Path, recorded: Recorded, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = MusicGenMelodyRenderer(Settings(musicgen_model=str(weights)))
    loaded = renderer.load()
    assert (loaded.frame_rate, loaded.hop, loaded.delay) == (CODEC_RATE, CODEC_HOP, 3)
    decoded: list[tuple[int, int]] = []  # what the model gave, what the window needed
    exact = musicgen.exact_length
    monkeypatch.setattr(
        musicgen,
        "exact_length",
        lambda audio, n: decoded.append((audio.shape[-1], n)) or exact(audio, n),
    )
    audio = renderer.generate(loaded, "calm piano", None, seconds)
    frames = int(np.ceil(seconds * CODEC_RATE))
    assert audio.shape == (1, frames * CODEC_HOP)
    assert sum(call["new"] for call in recorded.windows) == frames
    # the delay pattern's arithmetic is right: each window decodes to exactly its frames
    assert decoded and all(got == needed for got, needed in decoded)


def test_crossfade_join_keeps_the_length_and_the_level() -> None:
    head, tail = np.ones((2, 1000), np.float32), np.full((2, 700), 3.0, np.float32)
    joined = musicgen.crossfade_join(head, tail, offset=600, fade=100)
    assert joined.shape == (2, 1300)
    # the 400-sample overlap switches in its middle: head up to 750, tail from 850
    assert np.all(joined[:, :750] == 1.0) and np.all(joined[:, 850:] == 3.0)
    assert np.all(np.diff(joined[0, 750:850]) > 0)  # a ramp, no dip or jump
    same = musicgen.crossfade_join(head, np.ones((2, 700), np.float32), 600, 100)
    assert np.all(same == 1.0)  # correlated material keeps its level through the fade
    # a fade longer than the overlap is cut to it
    assert musicgen.crossfade_join(head, tail, offset=950, fade=500).shape == (2, 1650)


# -- the melody condition --------------------------------------------------------------------


def _triad(freqs: tuple[float, ...], seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return sum(0.2 * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)


C_MAJOR = (261.63, 329.63, 392.00)  # C4 E4 G4
F_SHARP_MAJOR = (369.99, 466.16, 554.37)  # F#4 A#4 C#5


def test_melody_features_follow_the_draft_in_time() -> None:
    from vmb_agent.library.audio_features import chroma

    draft = np.concatenate([_triad(C_MAJOR, 2.0), _triad(F_SHARP_MAJOR, 2.0)])
    frames, hop_s = chroma(draft, SR)
    rate = musicgen.CHROMA_SR / musicgen.CHROMA_HOP  # 7.8125 frames/s
    features = musicgen.melody_features(frames, hop_s, 0.0, 40, rate)  # 0 - 5.1 s
    assert features.shape == (40, 12) and features.dtype == np.float32
    assert np.array_equal(features.sum(axis=1), np.ones(40))  # one-hot, as MusicGen's extractor
    pitch = features.argmax(axis=1)
    assert set(pitch[1:14]) <= {0, 4, 7}  # 0.1 - 1.7 s: C, E or G
    assert set(pitch[18:29]) <= {6, 10, 1}  # 2.3 - 3.6 s: F#, A# or C#
    assert set(pitch[33:]) == {0}  # after the end: silence, which MusicGen reads as C
    later = musicgen.melody_features(frames, hop_s, 2.0, 10, rate)  # a window starting at 2 s
    assert set(later.argmax(axis=1)[1:]) <= {6, 10, 1}


def test_the_melody_condition_comes_from_a_composed_draft_without_drums_and_bass() -> None:
    from vmb_agent.library.audio_features import chroma

    job = _job(_conditions(style="pop", instruments=["piano", "acoustic bass", "drums"],
                           duration_s=6.0, energy=0.8))  # fmt: skip
    roles = {part.role for part in job.composition.parts}
    assert {"drums", "bass"} & roles  # the mix has them, the melody condition does not
    draft = musicgen.melodic_draft(job)
    assert draft.shape == (job.n_samples,) and np.abs(draft).max() > 0
    frames, hop_s = chroma(draft, SR)
    features = musicgen.melody_features(frames, hop_s, 0.0, 40, 7.8125)
    in_key = np.isin(features.argmax(axis=1), [0, 2, 4, 5, 7, 9, 11])
    assert in_key.mean() > 0.85  # the draft's key, C major


# -- the text condition ----------------------------------------------------------------------


def test_the_prompt_has_the_prose_and_the_explicit_conditions() -> None:
    from vmb_agent.types import MusicDescription, Section, SourceInfo

    description = MusicDescription(
        text="Rain on a harbour at dusk.", source=SourceInfo(kind="text")
    )
    conditions = _conditions(style="jazz", tempo_bpm=132.4, key="D minor", time_signature="3/4",
                             instruments=["piano", "double bass"], energy=0.8, valence=0.2,
                             swing=0.66, loop=True,
                             sections=[Section(start_s=0, end_s=1, label="intro"),
                                       Section(start_s=1, end_s=3, label="verse")])  # fmt: skip
    text = musicgen.prompt_text(description, conditions)
    assert text.startswith("Rain on a harbour at dusk. jazz, 132 bpm, D minor, 3/4 time")
    for words in ("instruments: piano, double bass", "high energy", "dark", "swing feel",
                  "form: intro, verse", "seamless loop"):  # fmt: skip
        assert words in text
    assert musicgen.prompt_text(None, _conditions()).startswith("ambient, 90 bpm, C major")
    # the describer's own key, tempo or metre, changed since by an override, is left out
    prose = MusicDescription(text="A sad piece in F minor at about 82 BPM. Rain falls.",
                             source=SourceInfo(kind="text"))  # fmt: skip
    assert musicgen.prompt_text(prose, _conditions(key="F minor", tempo_bpm=84)).startswith(
        "A sad piece in F minor at about 82 BPM. Rain falls. ambient"
    )
    for changed in ({"key": "C major"}, {"tempo_bpm": 120}):
        text = musicgen.prompt_text(prose, _conditions(**{"key": "F minor", "tempo_bpm": 82,
                                                          **changed}))  # fmt: skip
        assert text.startswith("Rain falls. ambient")


# -- errors ----------------------------------------------------------------------------------


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_weights_fail_before_anything_is_written(
    vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmb_agent.generation import pipeline
    from vmb_agent.sdk import VMB

    composed: list[object] = []
    monkeypatch.setattr(pipeline.SymbolicGenerator, "compose",
                        lambda *args, **kw: composed.append(args))  # fmt: skip
    _use_weights(monkeypatch, None)
    out = tmp_path / "out"
    with pytest.raises(BackendUnavailableError) as error:
        VMB().generate("calm piano", overrides={"duration_s": 3}, out_dir=out)
    assert "VMB_MUSICGEN_MODEL" in _one_line(error) and "no weights" in str(error.value)
    assert not composed  # refused in the check step, before composing
    assert not out.exists() or not any(out.iterdir())


def test_a_folder_without_config_json_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "musicgen"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(BackendUnavailableError) as error:
        MusicGenMelodyRenderer(Settings(musicgen_model=str(folder)))
    assert _one_line(error).startswith("musicgen-melody: no weights at")
    assert "config.json" in str(error.value)


def test_weights_that_do_not_load_are_one_line_and_nothing_is_written(
    vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmb_agent.sdk import VMB

    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "musicgen_melody", "decoder": 3}')
    _use_weights(monkeypatch, folder)
    out = tmp_path / "out"
    with pytest.raises(BackendUnavailableError) as error:
        VMB().generate("calm piano", overrides={"duration_s": 2}, out_dir=out)
    assert "could not be loaded" in _one_line(error) and str(folder) in str(error.value)
    assert not out.exists() or not any(out.iterdir())


def test_importing_the_module_imports_no_torch() -> None:
    code = ("import sys, vmb_agent.neural.musicgen; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
