"""Shared foundations: key/instrument vocabulary, errors, file policy, types round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmb_agent.errors import (
    AccessDeniedError,
    InputError,
    OutOfRangeError,
    UnknownNameError,
    check_range,
)
from vmb_agent.files import PathPolicy, atomic_output, atomic_outputs
from vmb_agent.theory import (
    gm_program_to_instrument,
    instrument_program,
    normalize_instrument,
    parse_key,
)
from vmb_agent.types import MusicAttributes, MusicDescription, SourceInfo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A minor", "A minor"),
        ("am", "A minor"),
        ("F#", "F# major"),
        ("Bb minor", "Bb minor"),
        ("B flat minor", "Bb minor"),
        ("eb min", "Eb minor"),
        ("C#m", "C# minor"),
        ("Db major", "Db major"),
    ],
)
def test_parse_key_accepts_common_spellings(text: str, expected: str) -> None:
    assert parse_key(text).name == expected


@pytest.mark.parametrize("bad", ["H minor", "", "A dorian-ish", "12"])
def test_parse_key_rejects_with_one_line(bad: str) -> None:
    with pytest.raises(InputError) as info:
        parse_key(bad)
    assert "\n" not in str(info.value) and "A minor" in str(info.value)


def test_instrument_vocabulary() -> None:
    assert normalize_instrument("Sax") == "saxophone"
    assert normalize_instrument("Strings") == "strings"
    assert normalize_instrument("drum kit") == "drums"
    assert instrument_program("piano") == 0
    assert gm_program_to_instrument(41) == "viola"
    assert gm_program_to_instrument(100) == "synth pad"  # family default
    with pytest.raises(UnknownNameError, match="Did you mean 'violin'"):
        normalize_instrument("violn")


def test_check_range() -> None:
    assert check_range("tempo", 120, 30, 300) == 120
    with pytest.raises(OutOfRangeError, match="tempo=400 is out of range; allowed: 30 to 300"):
        check_range("tempo", 400, 30, 300)
    with pytest.raises(OutOfRangeError):
        check_range("tempo", float("nan"), 30, 300)


def test_path_policy_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "allowed"
    root.mkdir()
    inside = root / "a.txt"
    inside.write_text("x")
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    (root / "link.txt").symlink_to(outside)
    policy = PathPolicy(roots=[root])
    assert policy.check_read(inside) == inside.resolve()
    for escape in (outside, root / ".." / "secret.txt", root / "link.txt"):
        with pytest.raises(AccessDeniedError, match="outside the allowed roots"):
            policy.check_read(escape)
    with pytest.raises(InputError, match="not found"):
        policy.check_read(root / "missing.jpg")
    with pytest.raises(InputError, match="is a directory"):
        policy.check_read(root)
    (root / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        policy.check_read(root / "empty.jpg")


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_current_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_description_round_trips_through_json() -> None:
    description = MusicDescription(
        text="A calm piece.",
        attributes=MusicAttributes(genres=["ambient"], tempo_bpm=72, key="D minor"),
        source=SourceInfo(kind="text"),
    )
    again = MusicDescription.model_validate_json(description.model_dump_json())
    assert again == description


def _current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_outputs_appear_together_or_not_at_all(tmp_path: Path) -> None:
    """If a later rename fails (here the target is a folder), the files already renamed go too."""
    blocked = tmp_path / "b.png"
    blocked.mkdir()
    with pytest.raises(OSError), atomic_outputs([tmp_path / "a.wav", blocked]) as temps:
        for tmp in temps:
            tmp.write_bytes(b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"]  # a.wav was taken back
    with atomic_outputs([tmp_path / "a.wav", tmp_path / "c.mid"]) as temps:
        for tmp in temps:
            tmp.write_bytes(b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.png", "c.mid"]

