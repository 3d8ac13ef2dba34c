"""The text bridge's vocabulary, loaded from ``prompts/vocabulary.toml`` (data, not code).

The file maps words about scenes and music to what they suggest (genres, moods, instruments, an
energy/valence level, a tempo, a metre) and holds the visual profiles and colour names. It is
validated on load: every instrument must be one :mod:`vmb_agent.theory` knows.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from vmb_agent.errors import VMBError
from vmb_agent.theory import normalize_instrument, parse_key

VOCABULARY_FILE = "vocabulary.toml"


@dataclass(frozen=True)
class Term:
    """What one word or phrase suggests."""

    name: str
    genres: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    energy: float | None = None
    valence: float | None = None
    tempo_bpm: float | None = None
    time_signature: str | None = None


@dataclass(frozen=True)
class Profile:
    """A region of the valence/energy plane and the music that usually goes with it."""

    name: str
    valence: float
    energy: float
    genres: tuple[str, ...]
    moods: tuple[str, ...]
    instruments: tuple[str, ...]
    key: str


@dataclass(frozen=True)
class Vocabulary:
    terms: dict[str, Term]  # phrase (lower case; aliases included) -> term
    tempo_words: dict[str, float]
    tempo_changes: dict[str, float]
    energy_changes: dict[str, float]
    valence_changes: dict[str, float]
    mode_words: dict[str, str]
    time_signature_words: dict[str, str]
    negations: tuple[str, ...]
    profiles: tuple[Profile, ...]
    colours: dict[str, tuple[int, int, int]]
    phrase_pattern: re.Pattern[str] = field(repr=False, compare=False, default=re.compile("$^"))


class VocabularyError(VMBError):
    """The vocabulary data file is malformed (a packaging bug, reported clearly)."""


def _instruments(names: list[str], where: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(normalize_instrument(n) for n in names))
    except VMBError as exc:
        raise VocabularyError(f"{VOCABULARY_FILE} [{where}]: {exc}") from None


def _level(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise VocabularyError(f"{VOCABULARY_FILE} [{where}]: level {value!r} is not in 0..1.")
    return float(value)


def parse_vocabulary(data: dict) -> Vocabulary:
    """Build and validate a :class:`Vocabulary` from the parsed TOML tables."""
    terms: dict[str, Term] = {}
    for name, entry in data.get("terms", {}).items():
        where = f"terms.{name}"
        term = Term(
            name=name,
            genres=tuple(entry.get("genres", [])),
            moods=tuple(entry.get("moods", [])),
            instruments=_instruments(entry.get("instruments", []), where),
            energy=_level(entry.get("energy"), where),
            valence=_level(entry.get("valence"), where),
            tempo_bpm=float(entry["tempo_bpm"]) if "tempo_bpm" in entry else None,
            time_signature=entry.get("time_signature"),
        )
        for phrase in [name, *entry.get("aliases", [])]:
            terms[phrase.lower()] = term
    profiles = tuple(
        Profile(
            name=p["name"],
            valence=float(p["valence"]),
            energy=float(p["energy"]),
            genres=tuple(p["genres"]),
            moods=tuple(p["moods"]),
            instruments=_instruments(p["instruments"], f"profiles.{p['name']}"),
            key=parse_key(p["key"]).name,
        )
        for p in data.get("profiles", [])
    )
    if not profiles:
        raise VocabularyError(f"{VOCABULARY_FILE} has no [[profiles]].")
    colours = {
        name: (int(hex_[1:3], 16), int(hex_[3:5], 16), int(hex_[5:7], 16))
        for name, hex_ in data.get("colours", {}).items()
    }
    vocabulary = Vocabulary(
        terms=terms,
        tempo_words={k.lower(): float(v) for k, v in data.get("tempo_words", {}).items()},
        tempo_changes={k.lower(): float(v) for k, v in data.get("tempo_changes", {}).items()},
        energy_changes={k.lower(): float(v) for k, v in data.get("energy_changes", {}).items()},
        valence_changes={k.lower(): float(v) for k, v in data.get("valence_changes", {}).items()},
        mode_words={k.lower(): v for k, v in data.get("mode_words", {}).items()},
        time_signature_words={
            k.lower(): v for k, v in data.get("time_signature_words", {}).items()
        },
        negations=tuple(n.lower() for n in data.get("negations", [])),
        profiles=profiles,
        colours=colours,
    )
    return _with_pattern(vocabulary)


def _with_pattern(vocabulary: Vocabulary) -> Vocabulary:
    """Compile one regex of every phrase, longest first, so the longest phrase wins."""
    from vmb_agent.theory import INSTRUMENT_ALIASES, INSTRUMENTS

    phrases = {
        *vocabulary.terms, *vocabulary.tempo_words, *vocabulary.tempo_changes,
        *vocabulary.energy_changes, *vocabulary.valence_changes, *vocabulary.mode_words,
        *vocabulary.time_signature_words, *INSTRUMENTS, *INSTRUMENT_ALIASES,
    }  # fmt: skip
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in ordered)
    pattern = re.compile(rf"(?<![\w&-])({body})(?:s|es)?(?![\w&])", re.IGNORECASE)
    return Vocabulary(**{**vocabulary.__dict__, "phrase_pattern": pattern})


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """The packaged vocabulary (parsed once per process)."""
    text = resources.files("vmb_agent.prompts").joinpath(VOCABULARY_FILE).read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VocabularyError(f"{VOCABULARY_FILE} is not valid TOML: {exc}") from None
    return parse_vocabulary(data)
