"""The style table is data (prompts/styles.toml), checked on load and naming what is wrong."""

from __future__ import annotations

import tomllib

import pytest
from conftest import REPO

from vmb_agent.generation.composer import WRITERS
from vmb_agent.generation.styles import (
    ROLES,
    STYLES,
    PartSpec,
    StyleSpec,
    StyleTableError,
    load_styles,
    parse_styles,
)

GOOD = """
[styles.demo]
tempo_range = [90, 120]
major = ["I V vi IV"]
minor = ["i VI III VII"]
parts = [
  { role = "melody", instrument = "piano", min_energy = 0.0, velocity = 80, register = [60, 84] },
  { role = "bass",   instrument = "bass",  pattern = "root8" },
  { role = "drums",  instrument = "drums", pattern = "rock", min_energy = 0.2 },
]
"""


def test_packaged_table_loads_into_frozen_rows_in_catalogue_order() -> None:
    assert list(STYLES) == ["cinematic", "ambient", "lofi", "pop", "rock", "electronic", "jazz",
                            "folk", "piano", "chiptune"]  # fmt: skip
    assert load_styles() == STYLES
    jazz = STYLES["jazz"]
    assert jazz.swing == 0.64 and jazz.tempo_range == (100, 180) and jazz.chromatic == 0.4
    assert jazz.parts[1] == PartSpec("bass", "acoustic bass", "walking", 0.0, 86, (28, 52))
    assert STYLES["cinematic"].parts[-1].register is None  # drums keep the role default
    with pytest.raises(AttributeError):
        jazz.swing = 0.5  # type: ignore[misc]


def test_every_role_a_style_names_has_a_writer() -> None:
    assert set(WRITERS) == set(ROLES)
    assert {p.role for s in STYLES.values() for p in s.parts} <= set(WRITERS)


def test_a_minimal_row_takes_the_defaults() -> None:
    demo = parse_styles(GOOD)["demo"]
    assert isinstance(demo, StyleSpec) and demo.name == "demo"
    assert demo.swing == 0.5 and demo.keywords == () and demo.major == ("I V vi IV",)
    assert demo.parts[1] == PartSpec("bass", "bass", "root8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "tempo_range = [90, 120]",
            "tempo_range = [90, 120]\nswung = 0.6",
            "unknown field 'swung'",
        ),
        ('major = ["I V vi IV"]\n', "", "missing field 'major'"),
        ('instrument = "piano"', 'instrument = "grand piano"', "'grand piano' is not a canonical"),
        ('pattern = "root8"', 'pattern = "walkin"', "no bass pattern 'walkin'; allowed: 'whole'"),
        ('role = "drums"', 'role = "percussion"', "unknown role 'percussion'"),
        ("register = [60, 84]", "register = [84, 60]", "register [84, 60] must be"),
        ("tempo_range = [90, 120]", "tempo_range = [120, 90]", "tempo_range [120, 90] must rise"),
        ("[styles.demo]", "[styles.demo", "not valid TOML"),
    ],
)
def test_a_malformed_row_is_named(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(StyleTableError, match=message.replace("[", r"\[")) as info:
        parse_styles(GOOD.replace(old, new, 1))
    if "TOML" not in message:
        assert "styles.toml [styles.demo]" in str(info.value)


def test_the_table_ships_as_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "*.toml" in config["tool"]["setuptools"]["package-data"]["vmb_agent.prompts"]
    assert (REPO / "prompts" / "styles.toml").is_file()
