"""Text as a source, the text parser the chat reuses, the vocabulary data and light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vmb_agent.describe import apply_hints, describe_source, parse_text_attributes
from vmb_agent.describe.vocabulary import load_vocabulary
from vmb_agent.errors import OutOfRangeError
from vmb_agent.theory import INSTRUMENTS
from vmb_agent.types import MusicAttributes


def test_parser_reads_numbers_keys_and_words() -> None:
    hints, evidence = parse_text_attributes("fast synthwave in D minor, 45 seconds, no drums")
    assert hints.tempo_bpm == 140 and hints.key == "D minor" and hints.duration_s == 45
    assert hints.genres == ["synthwave"] and hints.removed_instruments == ["drums"]
    assert "drums" not in hints.instruments and "synth bass" in hints.instruments
    assert {e.attribute for e in evidence} >= {
        "tempo_bpm",
        "key",
        "duration_s",
        "genres",
        "instruments",
    }


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("at 128 bpm please", "tempo_bpm", 128),
        ("tempo 96", "tempo_bpm", 96),
        ("in the key of Eb", "key", "Eb major"),
        ("play it in F# minor", "key", "F# minor"),
        ("in Am", "key", "A minor"),
        ("in a minor key", "mode", "minor"),
        ("in a minor key", "key", None),
        ("a waltz", "time_signature", "3/4"),
        ("in 6/8", "time_signature", "6/8"),
        ("2 minutes long", "duration_s", 120),
        ("1:30", "duration_s", 90),
        ("faster", "tempo_scale", 1.15),
        ("much slower", "tempo_scale", 0.75),
        ("more energetic", "energy_delta", 0.15),
        ("darker", "valence_delta", -0.15),
        ("sad and slow", "valence", 0.15),
        ("rock/pop", "genres", ["rock", "pop"]),
    ],
)
def test_parser_cases(text: str, field: str, expected: object) -> None:
    hints, _ = parse_text_attributes(text)
    assert getattr(hints, field) == (
        pytest.approx(expected) if isinstance(expected, float) else expected
    )


def test_negation_covers_a_list_and_stops_at_the_clause() -> None:
    hints, _ = parse_text_attributes("no drums, bass or piano. Add strings and a flute")
    assert hints.removed_instruments == ["drums", "bass", "piano"]
    assert hints.instruments == ["strings", "flute"]
    hints, _ = parse_text_attributes("add piano, without the cellos")
    assert hints.instruments == ["piano"] and hints.removed_instruments == ["cello"]


def test_out_of_range_numbers_are_refused() -> None:
    with pytest.raises(OutOfRangeError, match="400"):
        parse_text_attributes("at 400 bpm")
    with pytest.raises(OutOfRangeError, match="1200"):
        parse_text_attributes("20 minutes of music")


def test_apply_hints_edits_existing_attributes() -> None:
    before = MusicAttributes(
        genres=["ambient"], moods=["calm"], instruments=["piano", "drums", "strings"],
        tempo_bpm=100, key="C major", energy=0.4, valence=0.6,
    )  # fmt: skip
    hints, _ = parse_text_attributes("faster and darker, in a minor key, add a cello, no drums")
    after = apply_hints(before, hints)
    assert after.tempo_bpm == pytest.approx(115)
    assert after.valence == pytest.approx(0.45)
    assert after.key == "A minor"  # the relative minor
    assert after.instruments == ["cello", "piano", "strings"]
    assert before.tempo_bpm == 100  # the input is not modified


def test_text_prompt_as_source() -> None:
    result = describe_source("slow melancholic piano in D minor, 45 seconds, no drums", kind="auto")
    a = result.attributes
    assert result.source.kind == "text" and result.source.path is None
    assert a.tempo_bpm == 70 and a.key == "D minor" and a.duration_s == 45
    assert a.instruments[0] == "piano" and "drums" not in a.instruments
    assert "melancholic" in a.moods and a.valence < 0.4
    assert 40 <= len(result.text.split()) <= 150
    assert describe_source("happy upbeat pop").attributes.key.endswith("major")


def test_text_without_known_words_still_gives_a_full_description() -> None:
    result = describe_source("something for my grandmother's birthday slideshow")
    assert result.attributes.instruments and result.attributes.tempo_bpm
    assert 40 <= len(result.text.split()) <= 150


def test_vocabulary_instruments_are_canonical() -> None:
    vocabulary = load_vocabulary()
    for term in vocabulary.terms.values():
        assert all(i in INSTRUMENTS for i in term.instruments), term.name
    for profile in vocabulary.profiles:
        assert all(i in INSTRUMENTS for i in profile.instruments), profile.name
        assert 0 <= profile.valence <= 1 and 0 <= profile.energy <= 1


def test_importing_describe_is_light() -> None:
    code = (
        "import sys, vmb_agent.describe, vmb_agent.cli.describe;"
        "print(','.join(m for m in ('numpy', 'PIL', 'av', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
