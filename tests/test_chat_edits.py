"""The offline edit grammar of ``vmb chat`` and how edits change the session state."""

from __future__ import annotations

import pytest

from vmb_agent.chat.edits import parse_line
from vmb_agent.chat.session import ChatSession
from vmb_agent.errors import InputError
from vmb_agent.sdk import VMB
from vmb_agent.types import MusicAttributes, MusicDescription, SourceInfo, TrackInfo, TrackMatch


def kinds(line: str) -> list[tuple[str, object]]:
    return [(a.kind, a.value) for a in parse_line(line)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("faster", [("tempo_scale", 1.15)]),
        ("in D minor", [("key", "D minor")]),
        ("add piano, no drums", [("add", "piano"), ("remove", "drums")]),
        ("add piano and cello", [("add", "piano"), ("add", "cello")]),
        ("more like 2", [("like", 2)]),
        ("more like 2 and 3", [("like", 2), ("like", 3)]),
        ("45 seconds", [("duration", 45.0)]),
        ("1:30", [("duration", 90)]),
        ("make it 2 minutes long", [("duration", 120.0)]),
        ("120 bpm", [("tempo", 120.0)]),
        ("generate", [("generate", None)]),
        ("play", [("play", None)]),
        ("open", [("play", None)]),
        ("quit", [("quit", None)]),
        ("help", [("help", None)]),
        ("search", [("search", None)]),
        ("search rainy jazz", [("search", "rainy jazz")]),
        ("describe /Some/Path.JPG", [("describe", "/Some/Path.JPG")]),
        ("style jazz", [("style", "jazz")]),
        ("seed 7", [("seed", 7)]),
        ("no references", [("unlike", None)]),
        ("minor", [("mode", "minor")]),
    ],
)
def test_parse_line(line: str, expected: list[tuple[str, object]]) -> None:
    assert kinds(line) == expected


def test_relative_words_scale_with_intensity() -> None:
    (faster,) = parse_line("much faster")
    (slower,) = parse_line("a bit slower")
    assert faster.value > 1.15 and 1 > slower.value > 1 / 1.15
    (darker,) = parse_line("darker")
    assert darker.kind == "level" and darker.value == "valence" and darker.extra["delta"] < 0


def test_unknown_words_name_the_clause_and_list_what_works() -> None:
    with pytest.raises(InputError, match="'blorp'.*faster.*in D minor"):
        parse_line("faster, blorp")


def _session(vmb_home) -> tuple[ChatSession, list[str]]:
    lines: list[str] = []
    session = ChatSession(VMB(), out=lines.append)
    session.state.description = MusicDescription(
        text="Slow warm strings under a grey sky.",
        attributes=MusicAttributes(
            tempo_bpm=80, key="A minor", instruments=["strings", "drums"], energy=0.4, valence=0.5
        ),
        source=SourceInfo(kind="text"),
    )
    return session, lines


def test_edits_update_the_explicit_conditions(vmb_home) -> None:
    session, lines = _session(vmb_home)
    session.handle("faster, in D minor, add piano, no drums, 45 seconds, darker")
    o = session.state.overrides
    assert o.tempo_bpm == pytest.approx(92.0)
    assert o.key == "D minor"
    assert o.instruments == ["strings", "piano"]
    assert o.duration_s == 45
    assert o.valence == pytest.approx(0.3)
    assert "tempo 80 -> 92 bpm" in lines
    # the description search sees carries the edits
    effective = session.state.effective_description()
    assert effective.attributes.key == "D minor" and "drums" not in effective.attributes.instruments
    session.handle("undo")  # takes back the last edit only ("darker")
    assert session.state.overrides.valence is None and session.state.overrides.key == "D minor"


def test_bad_edits_report_one_line_and_keep_state(vmb_home) -> None:
    session, lines = _session(vmb_home)
    session.handle("add kazoo-blaster")
    session.handle("more like 3")
    session.handle("500 bpm")
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 3
    assert "kazoo-blaster" in errors[0] and "run 'search' first" in errors[1]
    assert "500" in errors[2] and "30" in errors[2]
    assert session.state.overrides.model_dump(exclude_none=True) == {}


def test_more_like_n_picks_the_numbered_match(vmb_home) -> None:
    session, _ = _session(vmb_home)
    track = TrackInfo(id="t-2", title="Second", path="/x.mid", format="midi")
    first = TrackMatch(id="t-1", title="First", path="/y.mid", score=0.9, track=track)
    second = TrackMatch(id="t-2", title="Second", path="/x.mid", score=0.8, track=track)
    session.state.matches = [first, second]
    session.handle("more like 2")
    assert session.state.references == ["t-2"]
    session.handle("less like 2")
    assert session.state.references == []


def test_generate_and_play_need_something_first(vmb_home) -> None:
    lines: list[str] = []
    session = ChatSession(VMB(), out=lines.append)
    session.handle("generate")
    session.handle("play")
    assert lines[0].startswith("error: nothing to generate yet")
    assert lines[1] == "nothing generated yet; say 'generate' first."


def test_vocabulary_words_fall_back_to_the_describe_parser(vmb_home) -> None:
    session, lines = _session(vmb_home)
    session.handle("make it melancholic, lofi hip hop vibe")
    assert "melancholic" in session.state.description.attributes.moods
    assert "lo-fi hip hop" in session.state.description.attributes.genres
    assert session.state.overrides.tempo_bpm == 80  # the genre's suggested tempo
    assert any(line.startswith("understood melancholic") for line in lines)
    session.handle("undo")
    assert "lo-fi hip hop" not in session.state.description.attributes.genres
    assert "melancholic" in session.state.description.attributes.moods
