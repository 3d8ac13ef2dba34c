"""Audio transcription with Basic Pitch (vmb_agent.library.transcribe)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vmb_agent.library import transcribe as tr

SR = 44100


def _render(notes: list[tuple[float, float, int]], program: int = 0) -> np.ndarray:
    """``(start_s, end_s, pitch)`` notes rendered through the shipped SoundFont, mono."""
    import pretty_midi

    from vmb_agent.rendering.synth import render_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=program)
    inst.notes = [pretty_midi.Note(90, p, s, e) for s, e, p in notes]
    pm.instruments.append(inst)
    return render_midi(pm, sample_rate=SR).mean(axis=1)


def _held_pitches(result: tr.Transcription, min_s: float) -> set[int]:
    """Pitches heard for at least ``min_s`` seconds in all (a held note may come in pieces)."""
    held: dict[int, float] = {}
    for n in result.notes:
        held[n.pitch] = held.get(n.pitch, 0.0) + n.end_s - n.start_s
    return {pitch for pitch, seconds in held.items() if seconds >= min_s}


def test_220_hz_tone_is_midi_57() -> None:
    t = np.arange(3 * SR) / SR
    result = tr.transcribe(0.5 * np.sin(2 * np.pi * 220.0 * t), SR)
    assert result.available
    assert [n.pitch for n in result.notes] == [57]
    note = result.notes[0]
    assert note.start_s < 0.1 and note.end_s > 2.8
    assert 0.5 < note.confidence <= 1.0 and note.velocity > 60


def test_rendered_c_major_triad_and_arpeggio() -> None:
    triad = _render([(0.0, 2.0, 60), (0.0, 2.0, 64), (0.0, 2.0, 67)])
    # 2 s of chord: each chord tone for most of it; a piano's overtones (C5, C3) briefly at most
    assert _held_pitches(tr.transcribe(triad, SR), 1.0) == {60, 64, 67}
    arpeggio = [(0.5 * i, 0.5 * i + 0.45, p) for i, p in enumerate([60, 64, 67, 72])]
    result = tr.transcribe(_render(arpeggio), SR)
    assert _held_pitches(result, 0.3) == {60, 64, 67, 72}
    _, recall, _ = tr.note_f1(arpeggio, [(n.start_s, n.end_s, n.pitch) for n in result.notes])
    assert recall == 1.0  # every arpeggio note, on time (50 ms)


def _little_piece() -> list[tuple[float, float, int]]:
    """Eight bars of piano at 120 BPM: a C-Am-F-G melody in quarters and half-note bass."""
    melody = [64, 62, 60, 62, 64, 64, 64, 62, 60, 60, 57, 59, 60, 65, 64, 62,
              60, 64, 67, 64, 62, 62, 65, 69, 67, 64, 62, 60, 62, 59, 55, 60]  # fmt: skip
    bass = [48, 48, 45, 45, 41, 41, 43, 43, 48, 48, 45, 45, 41, 41, 43, 43]
    notes = [(0.5 * i, 0.5 * i + 0.45, p) for i, p in enumerate(melody)]
    notes += [(1.0 * i, 1.0 * i + 0.95, p) for i, p in enumerate(bass)]
    return sorted(notes)


def test_rendered_midi_note_f1_floor() -> None:
    """Measured here: F1 0.918 (precision 0.90, recall 0.94; 48 notes, 50 transcribed). The floor
    leaves room for onnxruntime/SoundFont differences; corpus figures: bench_transcription.py."""
    notes = _little_piece()
    result = tr.transcribe(_render(notes), SR)
    _, _, f1 = tr.note_f1(notes, [(n.start_s, n.end_s, n.pitch) for n in result.notes])
    assert f1 >= 0.85


@pytest.mark.parametrize(
    ("audio", "rate", "reason"),
    [
        (np.zeros(3 * SR), SR, "silent"),
        (np.full(3 * SR, 1e-6), SR, "silent"),
        (0.5 * np.sin(np.arange(SR // 2) * 0.06), SR, "shorter than 1 s"),
        (np.full(3 * SR, np.nan), SR, "NaN"),
        (np.zeros(3 * SR), 1000, "sample rate"),
    ],
)
def test_unusable_audio_is_unavailable_with_a_reason(audio: np.ndarray, rate: int,
                                                     reason: str) -> None:  # fmt: skip
    result = tr.transcribe(audio, rate)
    assert not result.available and result.notes == []
    assert reason in (result.reason or "")


def test_stereo_odd_rate_and_clipped_audio_transcribe() -> None:
    rate = 32000
    t = np.arange(2 * rate) / rate
    tone = np.clip(1.5 * np.sin(2 * np.pi * 220.0 * t), -1, 1)  # clipped
    stereo = np.stack([tone, tone], axis=1).astype(np.float32)
    heard = tr.transcribe(stereo, rate).notes
    assert 57 in {n.pitch for n in heard}
    pcm = (stereo * 32767).astype(np.int16).T  # (channels, n) 16-bit: scaled like the floats
    assert [n.pitch for n in tr.transcribe(pcm, rate).notes] == [n.pitch for n in heard]
    unsigned = np.round(128 + 100 * tone).astype(np.uint8)  # 8-bit WAV: silence is 128
    assert 57 in {n.pitch for n in tr.transcribe(unsigned, rate).notes}
    assert not tr.transcribe(np.full(2 * rate, 128, dtype=np.uint8), rate).available


def test_audio_over_the_length_limit_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "MAX_DURATION_S", 2.0)
    result = tr.transcribe(np.ones(3 * SR), SR)
    assert not result.available and "longer than" in (result.reason or "")


def test_model_loads_from_package_data_without_network() -> None:
    """The network is package data with its licence; loading it opens no socket, and importing
    the module does not import onnxruntime."""
    path = tr.model_path()
    assert path.is_file() and path.stat().st_size > 200_000
    assert (path.parent / "LICENSE").is_file() and (path.parent / "NOTICE").is_file()
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "import vmb_agent.library.transcribe as tr\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "s = tr._session()\n"
        "assert [i.name for i in s.get_inputs()] == [tr.MODEL_INPUT]\n"
        "assert tr._session() is s\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "ok", done.stderr


def test_windowing_and_unwrapping_cover_the_audio() -> None:
    n = 5 * tr.SAMPLE_RATE + 123
    windows = np.concatenate(list(tr.window_audio(np.ones(n, dtype=np.float32), batch=2)))
    assert windows.shape[1:] == (tr.AUDIO_N_SAMPLES, 1)
    assert (windows.shape[0] - 1) * tr.HOP_SIZE < n + tr.OVERLAP_LEN // 2
    assert windows[0, : tr.OVERLAP_LEN // 2, 0].sum() == 0  # the zeros in front
    fake = np.arange(windows.shape[0] * 172, dtype=np.float32).reshape(-1, 172, 1)
    frames = tr.unwrap(fake, n)
    assert frames.shape == (int(n * 86 / tr.SAMPLE_RATE), 1)
    assert frames[0, 0] == 15 and frames[142, 0] == 172 + 15  # 15 frames cut at each join


def test_transcription_round_trips_and_becomes_midi() -> None:
    note = tr.TranscribedNote(0.5, 1.25, 60, 0.5, 0.8)
    result = tr.Transcription([note], 2.0)
    again = tr.Transcription.from_dict(result.to_dict())
    assert again == result
    pm = result.to_pretty_midi(tempo_bpm=90.0)
    (inst,) = pm.instruments
    assert [(n.pitch, n.start, n.end, n.velocity) for n in inst.notes] == [(60, 0.5, 1.25, 64)]
    assert np.argmax(result.pitch_class_profile()) == 0


def test_reference_features_match_those_of_the_same_notes_as_midi(tmp_path) -> None:
    """The composer gets from a transcribed audio track what the same notes give as MIDI:
    chords per bar, motif, groove; instruments and moods stay the track's."""
    import pretty_midi

    from vmb_agent.generation.harmony import Chord
    from vmb_agent.generation.references import _analyze_midi
    from vmb_agent.types import TrackInfo

    notes = _little_piece()
    lead_in = 0.7  # silence before the first note in the audio: the bridge moves it to beat 1
    heard = tr.Transcription([tr.TranscribedNote(s + lead_in, e + lead_in, p, 0.7, 0.8)
                              for s, e, p in notes], 17.0)  # fmt: skip
    track = TrackInfo(id="a1", title="audio", path=str(tmp_path / "a.wav"), format="audio",
                      tempo_bpm=120.0, key="C major", time_signature="4/4",
                      instruments=["violin"], moods=["calm"])  # fmt: skip
    features = tr.reference_features(heard, track)

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(89, p, s, e) for s, e, p in notes]
    pm.instruments.append(inst)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    path = tmp_path / "same.mid"
    pm.write(str(path))
    midi_track = track.model_copy(update={"format": "midi", "path": str(path)})
    expected = _analyze_midi(midi_track, path)

    assert features.chords == expected.chords and len(features.chords) >= 6
    assert features.chords[0] == Chord(0, "maj") and features.chords[2] == Chord(5, "maj")
    assert features.motif == expected.motif and features.motif is not None
    assert (features.density, features.swing) == (expected.density, expected.swing)
    assert features.tempo_bpm == 120.0 and features.key is not None
    assert features.key.name == "C major" and features.time_signature == "4/4"
    assert features.instruments == ["violin"] and features.moods == ["calm"]


def test_reference_features_refuse_an_unavailable_transcription(tmp_path) -> None:
    from vmb_agent.errors import InputError
    from vmb_agent.types import TrackInfo

    track = TrackInfo(id="a2", title="quiet", path=str(tmp_path / "q.wav"), format="audio")
    with pytest.raises(InputError, match="silent"):
        tr.reference_features(tr.Transcription([], 3.0, available=False, reason="silent"), track)
