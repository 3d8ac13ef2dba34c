"""Warnings in the result (measured tempo/key against the request, silent instruments, unusable
references) and auto-references that fit the request, through the SDK, the CLI and MCP."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from vmb_agent.generation import generate_music
from vmb_agent.generation.composer import compose
from vmb_agent.generation.conditions import resolve_conditions
from vmb_agent.generation.pipeline import (
    key_warning,
    result_warnings,
    silent_instrument_warnings,
    tempo_warning,
)
from vmb_agent.sdk import MIN_SIMILARITY, VMB, genre_fit, reference_misfits
from vmb_agent.settings import Settings, get_settings
from vmb_agent.types import Conditions, GenerationOverrides, Measured, TrackInfo

pytestmark = pytest.mark.timeout(300)


def conditions(**values: object) -> Conditions:
    base: dict = {"style": "cinematic", "tempo_bpm": 90, "key": "C major", "duration_s": 8.0,
                  "energy": 0.5, "valence": 0.5,
                  "instruments": ["strings", "french horn", "harp", "cello", "choir", "drums"]}  # fmt: skip
    base.update(values)
    return Conditions(**base)


# -- the warning builders ----------------------------------------------------------------------


def test_tempo_warning_names_octave_and_other_readings() -> None:
    assert tempo_warning(90, 180) == (
        "measured tempo 180 BPM is double the requested 90 BPM (the beat may be felt at double time)"
    )
    assert tempo_warning(90, 45.2) == (
        "measured tempo 45.2 BPM is half the requested 90 BPM (the beat may be felt at half time)"
    )
    assert tempo_warning(90, 135).startswith("measured tempo 135 BPM is 3/2 of the requested 90")
    assert tempo_warning(90, 97) == (
        "measured tempo 97 BPM differs from the requested 90 BPM by +7.8 % (tolerance ±2 %)"
    )
    assert tempo_warning(90, 91.7) is None  # within 2 %
    assert tempo_warning(90, None) is None  # nothing measured: nothing to compare


def test_key_warning_names_the_relation() -> None:
    assert key_warning("C major", "C major") is None
    assert key_warning("C major", None) is None
    assert key_warning("C major", "A minor") == (
        "measured key A minor differs from the requested C major "
        "(its relative minor: same notes, another tonic)"
    )
    assert key_warning("A minor", "C major").endswith("(its relative major: same notes, another tonic)")
    assert key_warning("C major", "C minor").endswith("(its parallel minor: same tonic, other mode)")
    assert key_warning("F major", "C major").endswith("(a fifth away: the dominant)")
    assert key_warning("F major", "Bb major").endswith("(a fifth away: the subdominant)")
    assert key_warning("C major", "F# minor") == (
        "measured key F# minor differs from the requested C major"
    )


def test_result_warnings_from_a_measured_object() -> None:
    c = conditions()
    piece = compose(c, seed=1)
    exact = Measured(tempo_bpm=90.4, key="C major", duration_s=8.0)
    assert result_warnings(c, exact, piece) == []
    off = Measured(tempo_bpm=180.3, key="A minor", duration_s=8.0)
    lines = result_warnings(c, off, piece)
    assert len(lines) == 2
    assert lines[0].startswith("measured tempo 180.3 BPM is double the requested 90 BPM")
    assert lines[1].startswith("measured key A minor differs from the requested C major")
    assert all("\n" not in line for line in lines)


def test_silenced_instrument_is_named_with_the_reason() -> None:
    c = conditions(instruments=["strings", "french horn", "harp", "choir"])
    piece = compose(c, seed=2)
    played = {t.name for t in piece.midi.instruments if t.notes}
    assert set(c.instruments) <= played  # the composer plays every requested instrument
    assert silent_instrument_warnings(c, piece) == []

    # the section plan silences the choir: it joins above the loudest section's energy
    loudest = max(s.energy for s in piece.sections)
    piece.parts = [dataclasses.replace(p, min_energy=loudest + 0.2) if p.instrument == "choir"
                   else p for p in piece.parts]  # fmt: skip
    for track in piece.midi.instruments:
        if track.name in ("choir", "harp"):
            track.notes = []
    lines = silent_instrument_warnings(c.model_copy(update={"instruments": [*c.instruments,
                                                                            "banjo"]}), piece)
    assert lines[0].startswith("instrument 'harp' was requested but its part has no notes")
    assert lines[1].startswith("instrument 'choir' never plays: the section plan keeps it silent")
    assert f"the loudest section reaches {loudest:.2f}" in lines[1]
    assert lines[2] == "instrument 'banjo' was requested but the arrangement gave it no part"


# -- end to end: a tempo the measurer cannot read as asked -------------------------------------


def test_a_real_octave_tempo_reading_is_reported(tmp_path: Path) -> None:
    # the tempo analysis reads 40-240 BPM, so a 30 BPM piece can only be heard at another level
    result = generate_music(None, [], GenerationOverrides(style="piano", tempo_bpm=30, duration_s=6),
                            seed=1, out_dir=tmp_path, stems=False, video_path=None,
                            settings=get_settings())  # fmt: skip
    measured = result.measured.tempo_bpm
    assert measured is not None and abs(measured / 30 - 1) > 0.02
    assert tempo_warning(30, measured) in result.warnings
    if abs(measured / 60 - 1) <= 0.02:
        assert any("is double the requested 30 BPM" in w for w in result.warnings)
    assert len(result.warnings) == len(set(result.warnings))
    assert json.loads(result.model_dump_json())["warnings"] == result.warnings


# -- references that cannot be used -------------------------------------------------------------


def _midi_file(path: Path, style: str = "folk", tempo: float = 100) -> Path:
    piece = compose(conditions(style=style, tempo_bpm=tempo, key="G major", duration_s=8,
                               instruments=["flute", "acoustic guitar"]), seed=3)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    piece.midi.write(str(path))
    return path


def test_pipeline_leaves_out_an_unreadable_reference(tmp_path: Path) -> None:
    good = _midi_file(tmp_path / "good.mid")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06junk")
    gone = tmp_path / "gone.mid"
    refs = [TrackInfo(id="bad", title="bad", path=str(bad), format="midi"),
            TrackInfo(id="gone", title="gone", path=str(gone), format="midi"),
            TrackInfo(id="good", title="good", path=str(good), format="midi")]  # fmt: skip
    result = generate_music(None, refs, GenerationOverrides(style="folk", duration_s=3), seed=1,
                            out_dir=tmp_path / "out", stems=False, video_path=None,
                            settings=get_settings())  # fmt: skip
    assert result.requested.reference_ids == ["good"]
    bad_line, gone_line = [w for w in result.warnings if w.startswith("reference ")]
    assert bad_line.startswith("reference 'bad' not used: cannot read MIDI")
    assert gone_line.startswith("reference 'gone' not used:") and "not found" in gone_line
    assert Path(result.audio_path).is_file()


def test_a_reference_deleted_after_indexing_is_reported_not_fatal(tmp_path: Path) -> None:
    vmb = VMB(Settings(home=tmp_path / "home"))
    midi = _midi_file(tmp_path / "music" / "tune.mid")
    keep = _midi_file(tmp_path / "music" / "other.mid", tempo=120)
    report = vmb.add_to_library([midi, keep])
    assert len(report.added) == 2
    by_path = {vmb.get_track(i).path: i for i in report.added}
    deleted, kept = by_path[str(midi)], by_path[str(keep)]
    midi.unlink()
    result = vmb.generate("a warm folk tune", reference_ids=[deleted, kept],
                          overrides={"duration_s": 3}, seed=1, out_dir=tmp_path / "out")  # fmt: skip
    assert result.requested.reference_ids == [kept]
    assert result.warnings[0] == (
        f"reference {deleted!r} not used: its file {str(midi)!r} is missing "
        "(moved or deleted since it was indexed)"
    )
    # all of them gone: the generation still runs, without references
    keep.unlink()
    alone = vmb.generate("a warm folk tune", reference_ids=[kept], overrides={"duration_s": 2},
                         seed=1, out_dir=tmp_path / "out")  # fmt: skip
    assert alone.requested.reference_ids == [] and alone.warnings[0].startswith(f"reference {kept!r}")


# -- auto-references: the fit rule ----------------------------------------------------------


def _track(genres: list[str], tempo: float = 100, moods: tuple[str, ...] = ("warm", "bright"),
           **kw: object) -> TrackInfo:  # fmt: skip
    return TrackInfo(id="t", title="t", path="/x.mid", format="midi", tempo_bpm=tempo,
                     genres=genres, moods=list(moods), **kw)  # fmt: skip


def test_fit_rule_genre_tempo_mood_and_similarity() -> None:
    request = conditions(style="cinematic", tempo_bpm=100, valence=0.8, energy=0.7,
                         origins={"tempo_bpm": "description"})  # fmt: skip
    ok = 0.5
    reel = _track(["folk", "celtic", "dance"], 104)
    assert reference_misfits(reel, request, ok) == ["folk/celtic/dance, not cinematic"]
    quartet = _track(["classical", "chamber"], 108, ("happy", "energetic"))
    assert reference_misfits(quartet, request, ok) == []
    assert reference_misfits(quartet, request, MIN_SIMILARITY - 0.01) == [
        f"theme similarity {MIN_SIMILARITY - 0.01:.2f} < {MIN_SIMILARITY:.2f}"
    ]
    assert reference_misfits(_track(["classical"], 150), request, ok) == [
        "150 BPM outside 83-120"
    ]
    sad = _track(["classical"], 100, ("melancholic", "somber"))
    assert reference_misfits(sad, request, ok) == ["melancholic/somber mood opposes the request"]
    # a user's own tags: the genre names a style through the vocabulary
    assert genre_fit(["orchestral"], "cinematic") is True
    assert genre_fit(["punk rock"], "cinematic") is False
    # the corpus's Irish dance tunes are folk, not electronic dance music
    assert genre_fit(["folk", "celtic", "dance"], "electronic") is False
    assert genre_fit(["folk", "celtic", "dance"], "folk") is True
    # untagged or unknown genres: no objection (similarity, tempo and mood still judge)
    assert genre_fit([], "cinematic") is None and genre_fit(["my mixtape"], "jazz") is None
    # a tempo left to the references: the style's range (68-118 for cinematic), widened by 20 %
    loose = request.model_copy(update={"origins": {"tempo_bpm": "default"}})
    assert reference_misfits(_track(["classical"], 60), loose, ok) == []
    assert reference_misfits(_track(["classical"], 150), loose, ok) == ["150 BPM outside 57-142"]


# -- auto-references on the bundled library -----------------------------------------------------


@pytest.fixture(scope="module")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home with a small bundled library: Bach chorales, Essen folk songs, Irish and Scottish
    dance tunes, Palestrina, Monteverdi, a Beethoven quartet movement, a keyboard piece."""
    home = tmp_path_factory.mktemp("corpus-home")
    vmb = VMB(Settings(home=home))
    report = vmb.build_library(12)
    assert len(report.added) == 12, report
    vmb.library.close()
    yield home


def test_auto_references_fit_the_request(corpus_home: Path) -> None:
    vmb = VMB(Settings(home=corpus_home))
    none = GenerationOverrides()
    for text in ("epic cinematic adventure, heroic brass", "warm acoustic folk song around a campfire"):
        description = vmb.describe(text, kind="text")
        request = resolve_conditions(description, None, none)
        before = vmb.search(description=description, mode="dual", k=2).matches
        ids, notes = vmb.fitting_references(description, none, 2)
        for track_id in ids:  # every reference used fits; today's top matches may not
            assert genre_fit(vmb.get_track(track_id).genres, request.style) is not False
        if request.style == "cinematic":
            assert any("folk" in m.track.genres for m in before)  # what used to condition it
            assert not any("folk" in vmb.get_track(i).genres for i in ids)
        else:
            assert request.style == "folk" and ids and notes == []
        if not ids:
            assert notes[0].startswith(f"no library track fits a {request.style} request (closest: ")
            assert notes[0].endswith("; generated without references")
    vmb.library.close()


def test_nothing_fits_generates_without_references_and_says_so(
    corpus_home: Path, tmp_path: Path
) -> None:
    vmb = VMB(Settings(home=corpus_home))
    result = vmb.generate("punk rock for a skate clip", n_references=2,
                          overrides={"style": "rock", "duration_s": 2}, seed=1,
                          out_dir=tmp_path)  # fmt: skip
    assert result.requested.reference_ids == []
    line = result.warnings[0]
    assert line.startswith("no library track fits a rock request (closest: '")
    assert ", not rock" in line and line.endswith("; generated without references")
    vmb.library.close()


# -- the CLI prints them; --json carries them ------------------------------------------------


def _vmb(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VMB_HOME": str(home)}
    env.pop("VMB_ALLOWED_ROOTS", None)
    return subprocess.run([sys.executable, "-m", "vmb_agent", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=180, check=False)  # fmt: skip


def test_cli_prints_warnings_and_json_carries_them(corpus_home: Path, tmp_path: Path) -> None:
    readable = _vmb("generate", "--style", "piano", "--tempo", "30", "--duration", "3",
                    "--seed", "1", "--out", str(tmp_path), home=tmp_path / "home", cwd=tmp_path)  # fmt: skip
    assert readable.returncode == 0, readable.stderr
    lines = [x for x in readable.stderr.splitlines() if x.startswith("warning: ")]
    assert any(x.startswith("warning: measured tempo ") and "requested 30 BPM" in x for x in lines)
    assert "warning:" not in readable.stdout

    as_json = _vmb("generate", "punk rock", "--style", "rock", "--duration", "2", "--seed", "1",
                   "--auto-references", "2", "--out", str(tmp_path), "--json",
                   home=corpus_home, cwd=tmp_path)  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)  # stdout stays pure JSON
    assert data["warnings"][0].startswith("no library track fits a rock request")
    assert [f"warning: {w}" for w in data["warnings"]] == [
        x for x in as_json.stderr.splitlines() if x.startswith("warning: ")
    ]


# -- MCP: structured output carries them ------------------------------------------------------


@pytest.mark.server
def test_mcp_generate_and_score_return_warnings(tmp_path: Path) -> None:
    from test_mcp_server import server_env, stdio_session, structured
    from test_rendering import make_video

    video = make_video(tmp_path / "clip.mp4", 2.0)
    env = server_env(tmp_path / "home", tmp_path)

    async def scenario() -> None:
        async with stdio_session(env) as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
            for name in ("generate_music", "score_video"):
                schema = tools[name].output_schema
                assert schema["properties"]["warnings"]["type"] == "array"
            result = structured(await session.call_tool("generate_music", {
                "description": "slow solo piano", "duration_s": 3, "seed": 1,
                "overrides": {"style": "piano", "tempo_bpm": 30},
            }))  # fmt: skip
            assert any(w.startswith("measured tempo ") and "requested 30 BPM" in w
                       for w in result["warnings"])  # fmt: skip
            scored = structured(await session.call_tool("score_video", {
                "path": str(video), "seed": 1, "overrides": {"style": "piano", "tempo_bpm": 30},
            }))  # fmt: skip
            # score_video asks for 2 references; this server's library is empty
            assert scored["warnings"][0].startswith("the library is empty")
            assert any(w.startswith("measured tempo ") for w in scored["warnings"])

    anyio.run(scenario)
