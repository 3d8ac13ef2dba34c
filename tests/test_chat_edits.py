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
        ("use 2", [("like", 2)]),
        ("piano only", [("only", ["piano"])]),
        ("use piano", [("only", ["piano"])]),
        ("only piano, cello and bass", [("only", ["piano", "cello", "bass"])]),
        ("swap piano for guitar", [("replace", "piano")]),
        ("no drums, bass", [("remove", "drums"), ("remove", "bass")]),
        ("no more drums", [("remove", "drums")]),
        ("use piano too", [("add", "piano")]),
        ("just a bit faster", [("tempo_scale", 1.075)]),
        ("shorter", [("duration_scale", 0.75)]),
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
    # "add piano" and "no drums" edit what would play (the folk band around the described
    # strings and drums), not only the instruments the description named
    assert o.instruments == [
        "acoustic guitar",
        "violin",
        "acoustic bass",
        "flute",
        "strings",
        "piano",
    ]
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


# -- the edit table: phrases -> the conditions the next generation would use ------------------

#: the session's description: a folk piece for four instruments (a named band of three or more
#: is kept as it is; the genre fixes the style, which the prose's words decide otherwise)
BAND = ["piano", "strings", "bass", "drums"]
#: what the fixture's description resolves to before any edit
START = {
    "instruments": BAND,
    "tempo_bpm": 80.0,
    "key": "A minor",
    "style": "folk",
    "duration_s": 30.0,
    "energy": 0.4,
    "valence": 0.5,
    "moods": [],
    "genres": ["folk"],
}

EDIT_TABLE: list[tuple[str, dict[str, object]]] = [
    # the instrument list, exactly as said
    ("use piano", {"instruments": ["piano"]}),
    ("piano only", {"instruments": ["piano"]}),
    ("only piano", {"instruments": ["piano"]}),
    ("solo piano", {"instruments": ["piano"]}),
    ("just piano and cello", {"instruments": ["piano", "cello"]}),
    ("piano and cello only", {"instruments": ["piano", "cello"]}),
    ("only piano, cello and bass", {"instruments": ["piano", "cello", "bass"]}),
    ("nothing but strings", {"instruments": ["strings"]}),
    ("use the violins and the cellos", {"instruments": ["violin", "cello"]}),
    ("no drums", {"instruments": ["piano", "strings", "bass"]}),
    ("without bass", {"instruments": ["piano", "strings", "drums"]}),
    ("drop the piano", {"instruments": ["strings", "bass", "drums"]}),
    ("lose the drums", {"instruments": ["piano", "strings", "bass"]}),
    ("take the drums out", {"instruments": ["piano", "strings", "bass"]}),
    ("no drums or bass", {"instruments": ["piano", "strings"]}),
    ("no drums, bass", {"instruments": ["piano", "strings"]}),
    ("add strings", {"instruments": BAND}),  # already playing: nothing changes
    ("add cello", {"instruments": [*BAND, "cello"]}),
    ("add a harp and a flute", {"instruments": [*BAND, "harp", "flute"]}),
    ("with a saxophone", {"instruments": [*BAND, "saxophone"]}),
    ("use cello too", {"instruments": [*BAND, "cello"]}),
    ("swap piano for guitar", {"instruments": ["acoustic guitar", "strings", "bass", "drums"]}),
    ("replace the bass with a cello", {"instruments": ["piano", "strings", "cello", "drums"]}),
    ("use violin instead of piano", {"instruments": ["violin", "strings", "bass", "drums"]}),
    ("no drums, add cello", {"instruments": ["piano", "strings", "bass", "cello"]}),
    ("no drums and add cello", {"instruments": ["piano", "strings", "bass", "cello"]}),
    ("piano only, then add cello", {"instruments": ["piano", "cello"]}),
    ("no piano, drums back", {"instruments": ["strings", "bass", "drums"]}),
    # tempo, key, length, levels
    ("faster", {"tempo_bpm": 92.0}),
    ("much slower", {"tempo_bpm": 61.5}),
    ("120 bpm", {"tempo_bpm": 120.0}),
    ("in D minor", {"key": "D minor"}),
    ("major", {"key": "A major"}),
    ("45 seconds", {"duration_s": 45.0}),
    ("1:30", {"duration_s": 90.0}),
    ("shorter", {"duration_s": 22.5}),
    ("darker", {"valence": 0.3}),
    ("more energetic", {"energy": 0.6}),
    # style, mood and genre (a genre word sets the style, not the genre's usual instruments)
    ("style jazz", {"style": "jazz", "genres": ["jazz", "folk"]}),
    ("make it jazz", {"style": "jazz", "genres": ["jazz", "folk"], "instruments": BAND,
                      "energy": 0.5, "valence": 0.6}),  # the genre word's levels
    ("melancholic", {"moods": ["melancholic"], "energy": 0.25, "valence": 0.15}),
    # several at once
    ("piano only, 100 bpm, in E minor, 20 seconds",
     {"instruments": ["piano"], "tempo_bpm": 100.0, "key": "E minor", "duration_s": 20.0}),
    ("no drums, faster and in D major",
     {"instruments": ["piano", "strings", "bass"], "tempo_bpm": 92.0, "key": "D major"}),
]  # fmt: skip


def _conditions(session: ChatSession) -> dict[str, object]:
    planned = session.state.planned()
    effective = session.state.effective_description()
    return {
        "instruments": planned.instruments, "tempo_bpm": planned.tempo_bpm, "key": planned.key,
        "style": planned.style, "duration_s": planned.duration_s, "energy": planned.energy,
        "valence": planned.valence, "moods": effective.attributes.moods,
        "genres": effective.attributes.genres,
    }  # fmt: skip


def _band_session() -> tuple[ChatSession, list[str]]:
    from vmb_agent.describe.prose import compose

    lines: list[str] = []
    session = ChatSession(VMB(), out=lines.append)
    attributes = MusicAttributes(tempo_bpm=80, key="A minor", instruments=BAND, energy=0.4,
                                 valence=0.5, genres=["folk"])  # fmt: skip
    text = compose(attributes, kind="text", features={}, palette=[], sections=[], cuts_s=[],
                   context=None, text="a warm piece for a small band")  # fmt: skip
    session.state.description = MusicDescription(
        text=text, attributes=attributes, source=SourceInfo(kind="text")
    )
    return session, lines


def test_the_fixture_starts_from_four_instruments(vmb_home) -> None:
    session, _ = _band_session()
    assert _conditions(session) == START


@pytest.mark.parametrize(("line", "changes"), EDIT_TABLE, ids=[row[0] for row in EDIT_TABLE])
def test_edit_table(vmb_home, line: str, changes: dict[str, object]) -> None:
    """Each phrase changes exactly the conditions it names; everything else stays."""
    assert len(EDIT_TABLE) >= 30
    session, lines = _band_session()
    session.handle(line)
    assert not any(out.startswith("error:") for out in lines), lines
    got = _conditions(session)
    expected = {**START, **changes}
    for name in ("tempo_bpm", "duration_s", "energy", "valence"):
        assert got.pop(name) == pytest.approx(expected.pop(name)), (name, line)
    assert got == expected


def test_a_line_with_a_bad_edit_changes_nothing(vmb_home) -> None:
    session, lines = _band_session()
    for line in (
        "no piano, kazoo",
        "add piano and kazoo",
        "swap piano for kazoo",
        "no piano, strings, bass, drums",
        "faster, style blorp",
    ):
        session.handle(line)
        assert lines[-1].startswith("error:"), (line, lines[-1])
        assert session.state.overrides.model_dump(exclude_none=True) == {}, line
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 5 and all("kazoo" in e for e in errors[:3])
    assert "leaves no instruments" in errors[3] and "blorp" in errors[4]
    session.handle("undo")
    assert lines[-1] == "nothing to undo"


def test_the_prose_follows_every_edit(vmb_home) -> None:
    session, lines = _band_session()
    start = session.state.effective_description().text
    assert "80 BPM" in start and "A minor" in start
    session.handle("140 bpm, in D major, piano only")
    text = session.state.effective_description().text
    assert "140 BPM" in text and "D major" in text and "80 BPM" not in text
    assert "The piano carries the melody, unaccompanied." in text
    lines.clear()
    session.handle("show")
    shown = "\n".join(lines)
    assert "140 BPM" in shown and "A minor" not in shown and "80 BPM" not in shown
    assert "instruments piano;" in shown
    session.handle("undo")  # the prose follows undo too
    assert "D major" in session.state.effective_description().text
    assert "unaccompanied" not in session.state.effective_description().text


# -- wrapping: lines break between words, never inside one --------------------------------------

PROSE = (
    "A mysterious, brooding and nostalgic cinematic piece in D minor at about 112 BPM (upbeat), "
    "in 4/4. The piano carries the melody over harp and strings. wrote "
    "/tmp/home/outputs/vmb-cinematic-20261202-170531-e5dcf1.wav (45.0 s)"
)


@pytest.mark.parametrize("width", [24, 40, 61])
def test_wrapped_lines_fit_and_keep_every_word(width: int) -> None:
    from vmb_agent.chat.wrap import StreamWrapper, wrap_text

    wrapped = wrap_text(PROSE, width)
    streamed: list[str] = []
    wrapper = StreamWrapper(streamed.append, width=lambda: width)
    for start in range(0, len(PROSE), 7):  # the model's tokens arrive in pieces
        wrapper.write(PROSE[start : start + 7])
    wrapper.write("\n")
    for text in (wrapped, "".join(streamed)):
        lines = text.rstrip("\n").split("\n")
        assert len(lines) > 1
        assert [w for line in lines for w in line.split()] == PROSE.split()  # no word cut
        path = "/tmp/home/outputs/vmb-cinematic-20261202-170531-e5dcf1.wav"
        # only a word longer than the line (the path) may pass the edge, alone on its line
        assert all(len(line) <= width or line.strip() == path for line in lines), lines
