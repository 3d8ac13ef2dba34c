"""Audio references conditioned through their transcription (issue 15): an audio track with a
stored transcription gives melody, chords and motif like a MIDI file, with provenance
``reference:<id>:transcribed``; a damaged or missing transcription falls back to the audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_transcription import SR, _little_piece, _render

from vmb_agent.generation.conditions import resolve_conditions
from vmb_agent.generation.references import analyze_reference
from vmb_agent.library.transcribe import transcribe
from vmb_agent.types import GenerationOverrides, TrackInfo


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> TrackInfo:
    """A real recording (the little piano piece rendered to WAV) with its stored transcription."""
    import soundfile

    folder = tmp_path_factory.mktemp("recorded")
    audio = _render(_little_piece())
    wav = folder / "piece.wav"
    soundfile.write(str(wav), audio, SR)
    transcription = transcribe(audio, SR)
    sidecar = folder / "piece.transcription.json"
    sidecar.write_text(json.dumps(transcription.to_dict()))
    return TrackInfo(
        id="rec01", title="piece", path=str(wav), format="audio", duration_s=16.0,
        tempo_bpm=120.0, key="C major", time_signature="4/4", instruments=["piano"],
        transcription_path=str(sidecar), transcription_notes=len(transcription.notes),
    )  # fmt: skip


def test_a_transcribed_audio_reference_gives_motif_and_chords(recorded: TrackInfo) -> None:
    features = analyze_reference(recorded)
    assert features.transcribed
    assert features.motif is not None and features.density is not None
    # the piece is C - Am - F - G twice: the transcription's chords say so
    names = [c.name for c in features.chords[:4]]
    assert names[0].startswith("C") and "F" in "".join(names), names


def test_conditions_name_the_transcribed_reference(recorded: TrackInfo) -> None:
    conditions = resolve_conditions(
        None, [recorded], GenerationOverrides(style="piano", duration_s=20), seed=1
    )
    origins = conditions.origins
    assert origins["motif_source"] == "reference:rec01:transcribed"
    assert origins["chords"] == "reference:rec01:transcribed"
    assert conditions.motif_source == "rec01"


def test_a_damaged_transcription_falls_back_to_the_audio(
    recorded: TrackInfo, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for sidecar in (broken, tmp_path / "missing.json"):
        track = recorded.model_copy(update={"transcription_path": str(sidecar)})
        features = analyze_reference(track)
        assert not features.transcribed and features.motif is None
        assert features.tempo_bpm == 120.0 and features.energy_curve
    assert np.isfinite(analyze_reference(recorded).energy or 0.0)


def test_listen_hears_notes_and_tags_and_stores_the_notes(tmp_path: Path) -> None:
    from vmb_agent.library.recording import listen, store_transcription
    from vmb_agent.library.transcribe import Transcription

    heard = listen(_render(_little_piece()), SR)
    assert len(heard.transcription.notes) >= 30
    assert heard.tags and heard.tags == sorted(heard.tags, key=lambda t: -t[1])
    assert heard.tags_missing_reason is None
    assert any(name == "piano" for name, _ in heard.suggested["instrument"]), heard.suggested
    path = store_transcription(heard.transcription, tmp_path, "rec01")
    again = Transcription.from_dict(json.loads(path.read_text()))
    assert len(again.notes) == len(heard.transcription.notes)
    assert [p.name for p in path.parent.iterdir()] == ["rec01.json"]  # no temporary left


def test_silence_has_no_tags_and_says_why() -> None:
    from vmb_agent.library.recording import listen

    heard = listen(np.zeros(SR * 3, dtype=np.float32), SR)
    assert not heard.transcription.notes and not heard.tags
    assert "could not judge" in (heard.tags_missing_reason or "")


def test_library_add_tags_transcribes_and_the_track_conditions_as_notes(
    vmb_home: Path, tmp_path: Path
) -> None:
    """End to end through the SDK: `library add` of a recording stores its notes and tags;
    targeted search finds it by a tagged instrument and says so; generating with it as the
    reference marks the values taken from its notes."""
    import soundfile

    from vmb_agent.sdk import VMB
    from vmb_agent.types import SearchFilters

    wav = tmp_path / "my piano take.wav"
    soundfile.write(str(wav), _render(_little_piece()), SR)
    vmb = VMB()
    report = vmb.add_to_library([wav])
    track = vmb.get_track(report.added[0])
    assert track.audio_tags and track.transcription_notes and track.transcription_notes >= 30
    assert Path(track.transcription_path).is_file()
    assert "piano" in track.instruments  # given by the tagger: the file had no tags
    found = vmb.search(filters=SearchFilters(instruments=["piano"]), mode="targeted", k=3)
    match = next(m for m in found.matches if m.id == track.id)
    assert any(r.startswith("tagged piano") and "audio tagger" in r for r in match.reasons)
    result = vmb.generate(
        None, reference_ids=[track.id], overrides=GenerationOverrides(style="piano", duration_s=8),
        out_dir=tmp_path / "out",
    )  # fmt: skip
    assert result.requested.origins["motif_source"] == f"reference:{track.id}:transcribed"
