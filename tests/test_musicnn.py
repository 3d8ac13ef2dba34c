"""The numpy port of musicnn against the original, and the tagger built on it.

tests/data/musicnn/*.flac are 6 s, 16 kHz excerpts of pieces VMB generated ("slow classical solo
piano nocturne", "fast techno ...", "smooth jazz ...", "ambient soundscape ..."); reference.npz
holds the original musicnn's taggrams of them (TensorFlow 2.21 reading the TF1 checkpoints,
numpy 1.26, librosa 0.9.2), written by ``benchmarks/convert_musicnn.py reference``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vmb_agent.library import musicnn
from vmb_agent.library.tagger import TAG_MAP, map_tags, tag_audio

DATA = Path(__file__).parent / "data" / "musicnn"
EXCERPTS = ("piano", "techno", "jazz", "ambient")
#: the port's target: max absolute difference of tag probabilities per patch (measured: < 1e-5)
TOLERANCE = 1e-3


def _excerpt(name: str) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(DATA / f"{name}.flac", dtype="float32")
    return audio, sr


@pytest.fixture(scope="module")
def taggrams() -> dict[str, np.ndarray]:
    out = {}
    for model in musicnn.MODELS:
        for name in EXCERPTS:
            audio, sr = _excerpt(name)
            out[f"{model}/{name}"] = musicnn.taggram(audio, sr, model)
    return out


def test_port_matches_the_original_reference(taggrams: dict[str, np.ndarray]) -> None:
    reference = np.load(DATA / "reference.npz")
    assert sorted(reference.files) == sorted(taggrams)
    for key, ours in taggrams.items():
        assert ours.shape == reference[key].shape == (2, 50), key
        assert np.abs(ours - reference[key]).max() <= TOLERANCE, key


@pytest.mark.skipif(
    importlib.util.find_spec("musicnn") is None or importlib.util.find_spec("tensorflow") is None,
    reason="the original musicnn (and TensorFlow) is not installed",
)
def test_port_matches_the_original_live(taggrams: dict[str, np.ndarray], tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    import convert_musicnn

    out = tmp_path / "reference.npz"
    convert_musicnn.reference(out, [DATA / f"{name}.flac" for name in EXCERPTS])
    reference = np.load(out)
    for key, ours in taggrams.items():
        assert np.abs(ours - reference[key]).max() <= TOLERANCE, key


def test_different_inputs_give_different_tags(taggrams: dict[str, np.ndarray]) -> None:
    # the NumPy 2 overflow in the original made every loud patch give one constant taggram
    for model in musicnn.MODELS:
        firsts = [taggrams[f"{model}/{name}"][0] for name in EXCERPTS]
        for i in range(len(firsts)):
            for j in range(i):
                assert np.abs(firsts[i] - firsts[j]).max() > 0.05, (model, i, j)


@pytest.mark.parametrize(
    ("name", "model", "tag", "rank"),
    [
        ("piano", "MTT_musicnn", "piano", 1),
        ("techno", "MTT_musicnn", "techno", 1),
        ("techno", "MTT_musicnn", "electronic", 3),
        ("jazz", "MSD_musicnn", "jazz", 1),
        ("ambient", "MSD_musicnn", "ambient", 2),  # after "instrumental"
    ],
)
def test_tags_make_sense(name: str, model: str, tag: str, rank: int) -> None:
    audio, sr = _excerpt(name)
    tags = tag_audio(audio, sr, model)
    assert tag in [t for t, _ in tags.top(rank)], tags.top(5)


def test_tag_audio_maps_to_vmb_names() -> None:
    audio, sr = _excerpt("techno")
    tags = tag_audio(audio, sr, "MTT_musicnn", keep_taggram=True)
    assert tags.available and tags.patches == 2 and tags.taggram is not None
    assert len(tags.tags) == 50 and tags.tags[0][1] >= tags.tags[-1][1]
    assert tags.genres[0][0] == "techno"
    assert "synth lead" in dict(tags.instruments)
    assert tags.probability("techno") == tags.genres[0][1]


def test_tag_map_uses_vmb_vocabulary() -> None:
    from vmb_agent.describe.vocabulary import genre_key, load_vocabulary
    from vmb_agent.theory import normalize_instrument

    vocabulary = load_vocabulary()
    moods = {m for t in vocabulary.terms.values() for m in t.moods}
    moods |= {m for p in vocabulary.profiles for m in p.moods}
    all_tags = set()
    for model in musicnn.MODELS:
        all_tags |= set(json.loads((musicnn.DATA_DIR / f"{model}.tags.json").read_text()))
    for tag, targets in TAG_MAP.items():
        assert tag in all_tags, tag
        for kind, name in targets:
            if kind == "genre":
                assert genre_key(name) in vocabulary.genre_styles, name
            elif kind == "mood":
                assert name in moods, name
            else:
                assert kind == "instrument" and normalize_instrument(name) == name, name
    mapped = map_tags((("beat", 0.2), ("drums", 0.5), ("sad", 0.1), ("80s", 0.9)))
    assert mapped == {"genre": (), "mood": (("melancholic", 0.1),), "instrument": (("drums", 0.5),)}


def test_stereo_and_other_rates() -> None:
    from scipy.signal import resample_poly

    mono, sr = _excerpt("piano")
    reference = tag_audio(mono, sr, "MTT_musicnn")
    at_44k = resample_poly(mono, 441, 160).astype(np.float32)
    for audio, rate in [(np.stack([at_44k, at_44k], axis=1), 44100), (at_44k[None, :], 44100)]:
        tags = tag_audio(audio, rate, "MTT_musicnn")
        assert tags.tags[0][0] == "piano"
        diff = max(abs(p - tags.probability(t)) for t, p in reference.tags)
        # resampled twice: kaiser_best's roll-off (above 7.3 kHz) changes the top mel bands
        assert diff < 0.05


@pytest.mark.parametrize(
    ("audio", "rate", "reason"),
    [
        (np.zeros(48000, np.float32), 16000, "silent"),
        (np.full(48000, np.nan, np.float32), 16000, "NaN"),
        (np.ones(8000, np.float32) * 0.1, 16000, "at least"),
        (np.zeros(0, np.float32), 16000, "no audio"),
        (np.ones(48000, np.float32), 0, "not positive"),
    ],
)
def test_bad_input_is_unavailable(audio: np.ndarray, rate: int, reason: str) -> None:
    tags = tag_audio(audio, rate)
    assert not tags.available and reason in (tags.reason or "")
    assert tags.tags == () and tags.probability("piano") == 0.0


def test_short_and_clipped_input_is_tagged() -> None:
    audio, sr = _excerpt("piano")
    short = tag_audio(audio[: int(1.5 * sr)], sr)  # under one 3 s patch: repeated to one
    assert short.available and short.patches == 1
    clipped = tag_audio(np.clip(audio * 20, -1, 1), sr)
    assert clipped.available and np.isfinite([p for _, p in clipped.tags]).all()
    as_pcm = tag_audio((audio * 32767).astype(np.int16), sr)
    assert abs(as_pcm.probability("piano") - tag_audio(audio, sr).probability("piano")) < 0.01
    too_loud = tag_audio(audio * 100, sr)  # scaled back to peak 1, no float16 overflow
    assert too_loud.available and too_loud.tags[0][0] == "piano"
    with pytest.raises(ValueError, match="unknown"):
        tag_audio(audio, sr, "MTT_vgg")


def test_import_is_light() -> None:
    code = (
        "import sys, vmb_agent.library.tagger, vmb_agent.library.musicnn; "
        "print(sorted(m for m in ('scipy', 'tensorflow', 'torch', 'librosa') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
