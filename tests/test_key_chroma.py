"""One owner per algorithm: key finding (``theory.estimate_key``), audio chroma
(``library.audio_features.chroma``) and the table of file suffixes (``files``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from vmb_agent import files, theory
from vmb_agent.errors import InputError
from vmb_agent.theory import KEY_PROFILES, Key, estimate_key, key_scores

REPO = Path(__file__).resolve().parents[1]
SR = 22050


def triads(tonic_hz: float, chords: list[tuple[int, ...]], chord_s: float,
           sr: int = SR) -> np.ndarray:  # fmt: skip
    """One chord per ``chord_s`` seconds, tones with three harmonics (semitones above the tonic)."""
    t = np.arange(int(chord_s * sr)) / sr
    out = []
    for chord in chords:
        tone = np.zeros_like(t)
        for semis in chord:
            f = tonic_hz * 2 ** (semis / 12)
            for h, amp in ((1, 1.0), (2, 0.4), (3, 0.2)):
                tone += amp * np.sin(2 * np.pi * f * h * t)
        out.append(0.1 * tone * np.minimum(1, t * 20) * np.exp(-t * 1.0))
    return np.concatenate(out).astype(np.float32)


# i-iv-V-i in a minor key, twice (semitones above the tonic)
MINOR_CADENCE = [(0, 3, 7), (5, 8, 12), (7, 11, 14), (0, 3, 7)] * 2


# -- key finding -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["major", "minor"])
@pytest.mark.parametrize("tonic", range(12))
def test_each_profile_names_its_own_key(tonic: int, mode: str) -> None:
    for name, (major, minor) in KEY_PROFILES.items():
        profile = np.roll(np.array(major if mode == "major" else minor), tonic)
        key, confidence = estimate_key(profile)
        assert key == Key(tonic, mode), name
        assert 0 < confidence <= 1


def test_key_scores_turn_with_the_profile() -> None:
    profile = np.random.default_rng(3).random(12)
    scores = key_scores(profile).reshape(2, 12)
    for shift in (1, 5, 7):
        turned = key_scores(np.roll(profile, shift)).reshape(2, 12)
        np.testing.assert_allclose(turned, np.roll(scores, shift, axis=1), atol=1e-12)
    assert np.all(np.abs(scores) <= 1 + 1e-12)


def test_key_scores_are_mean_pearson_correlations() -> None:
    profile = np.random.default_rng(4).random(12)
    scores = key_scores(profile)
    for index in (0, 9, 12, 21):  # C major, A major, C minor, A minor
        mode, tonic = divmod(index, 12)
        expected = np.mean([np.corrcoef(np.roll(profile, -tonic), pair[mode])[0, 1]
                            for pair in KEY_PROFILES.values()])  # fmt: skip
        assert scores[index] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("profile", [np.zeros(12), np.ones(12), np.full(12, 3.5),
                                     np.array([np.nan] + [1.0] * 11)])  # fmt: skip
def test_no_key_for_empty_flat_or_broken_profiles(profile: np.ndarray) -> None:
    assert estimate_key(profile) == (None, 0.0)


def test_a_profile_has_twelve_bins() -> None:
    with pytest.raises(InputError, match="12 bins"):
        estimate_key(np.ones(24))


def test_theory_imports_numpy_only_when_a_key_is_estimated() -> None:
    import subprocess
    import sys

    code = "import sys, vmb_agent.theory; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- chroma ------------------------------------------------------------------------------------


def test_chroma_holds_the_chord_tones() -> None:
    from vmb_agent.library.audio_features import CHROMA_HOP, CHROMA_SR, chroma

    frames, frame_s = chroma(triads(220.0, [(0, 4, 7)], 3.0), SR)  # A major: A C# E
    assert frames.shape[1] == 12 and frames.shape[0] == pytest.approx(3.0 / frame_s, abs=2)
    assert frame_s == pytest.approx(CHROMA_HOP / CHROMA_SR)
    top3 = set(np.argsort(frames.sum(axis=0))[-3:].tolist())
    assert top3 == {9, 1, 4}


@pytest.mark.parametrize("sr", [11025, 22050, 44100, 48000])
def test_chroma_key_does_not_depend_on_the_sample_rate(sr: int) -> None:
    from vmb_agent.library.audio_features import chroma, chroma_profile

    frames, _ = chroma(triads(220.0, MINOR_CADENCE, 1.0, sr=sr), sr)
    assert estimate_key(chroma_profile(frames))[0] == Key(9, "minor")


def test_chroma_profile_weighs_every_frame_alike() -> None:
    from vmb_agent.library.audio_features import chroma_profile

    frames = np.zeros((3, 12))
    frames[0, 0], frames[1, 4], frames[2, 7] = 100.0, 1.0, 1.0
    np.testing.assert_allclose(chroma_profile(frames)[[0, 4, 7]], [1.0, 1.0, 1.0])
    assert chroma_profile(np.zeros((0, 12))).size == 0


def test_analysis_and_audio_references_share_chroma_and_key(tmp_path: Path) -> None:
    import soundfile

    from vmb_agent.generation.references import analyze_reference
    from vmb_agent.library.audio_features import analyze_audio
    from vmb_agent.types import TrackInfo

    x = triads(220.0, MINOR_CADENCE, 1.0)
    wav = tmp_path / "cadence.wav"
    soundfile.write(str(wav), x, SR)
    assert analyze_audio(x, SR).key == "A minor"
    # 240 BPM: a four-beat bar lasts one second, one chord each; no key stored on the track.
    track = TrackInfo(id="cadence", title="cadence", path=str(wav), format="audio", tempo_bpm=240)
    features = analyze_reference(track)
    assert features.key == Key(9, "minor")
    names = [c.name for c in features.chords]
    assert names[:4] == ["Am", "Dm", "E", "Am"], names


# -- one owner ---------------------------------------------------------------------------------


def _defined_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_key_and_chroma_are_defined_once_and_imported_everywhere() -> None:
    from vmb_agent.generation import references
    from vmb_agent.library import audio_features, midi

    assert references.estimate_key is theory.estimate_key
    assert midi.estimate_key is theory.estimate_key
    assert audio_features.estimate_key is theory.estimate_key
    owners: dict[str, list[str]] = {}
    for path in sorted((REPO / "vmb_agent").rglob("*.py")):
        for name in _defined_functions(path):
            chroma_function = re.fullmatch(r"_?chroma(_\w+)?|\w+_chroma", name)
            if name in ("estimate_key", "key_scores", "key_from_profile") or chroma_function:
                owners.setdefault(name, []).append(path.relative_to(REPO).as_posix())
    assert owners.pop("chroma") == ["vmb_agent/library/audio_features.py"]
    assert owners.pop("chroma_profile") == ["vmb_agent/library/audio_features.py"]
    assert owners.pop("key_scores") == ["vmb_agent/theory.py"]
    assert "key_from_profile" not in owners
    # generation/harmony.py still carries the old Krumhansl-Kessler-only copy, unused by VMB,
    # until its owner removes it; nothing may add another.
    assert set(owners.pop("estimate_key")) <= {
        "vmb_agent/theory.py",
        "vmb_agent/generation/harmony.py",
    }
    assert not owners, owners


def test_suffix_tables_have_one_owner() -> None:
    from vmb_agent.describe import media
    from vmb_agent.library import audio_features, midi

    assert audio_features.AUDIO_SUFFIXES is files.AUDIO_SUFFIXES
    assert midi.MIDI_SUFFIXES is files.MIDI_SUFFIXES
    assert media.IMAGE_SUFFIXES is files.IMAGE_SUFFIXES
    assert media.VIDEO_SUFFIXES is files.VIDEO_SUFFIXES
    assert set(files.SCORED_VIDEO_SUFFIXES) <= set(files.VIDEO_SUFFIXES)
    every = [*files.AUDIO_SUFFIXES, *files.MIDI_SUFFIXES, *files.IMAGE_SUFFIXES,
             *files.VIDEO_SUFFIXES]  # fmt: skip
    assert len(every) == len(set(every)) and all(s == s.lower() and s[0] == "." for s in every)
