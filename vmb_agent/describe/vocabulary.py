"""The text bridge's vocabulary, loaded from ``prompts/vocabulary.toml`` (data, not code).

The file maps words about scenes and music to what they suggest (genres, moods, instruments, an
energy/valence level, a tempo, a metre) and holds the visual profiles and colour names. It also
owns the one genre -> style table (``[genre_styles]``): :func:`style_for_genre` is how the
generator turns the genres the describer writes into one of its styles. It is validated on load:
every instrument must be one :mod:`vmb_agent.theory` knows, and every genre a term or a profile
writes must have a style.
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
    weak: bool = False  # a scene, occasion or modifier word: a genre named outright goes first


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
    genre_styles: dict[str, str] = field(default_factory=dict)  # genre word -> generator style
    phrase_pattern: re.Pattern[str] = field(repr=False, compare=False, default=re.compile("$^"))
    #: the genre words and the phrases of genre terms, to find a genre inside a longer name
    genre_pattern: re.Pattern[str] = field(repr=False, compare=False, default=re.compile("$^"))


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
            weak=bool(entry.get("weak", False)),
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
        genre_styles=_genre_styles(data, terms, profiles),
    )
    return _with_pattern(vocabulary)


def genre_key(word: str) -> str:
    """The form genre words are compared in: lower case, single spaces, ``_`` as a space."""
    return " ".join(str(word).lower().replace("_", " ").split())


def _genre_styles(
    data: dict, terms: dict[str, Term], profiles: tuple[Profile, ...]
) -> dict[str, str]:
    """The ``[genre_styles]`` table as genre word -> style, checked: known styles, each style's
    own name under it, no word under two styles, every genre written by a term or a profile
    listed, and a term's phrase listed only under the style its genres give."""
    from vmb_agent.generation.styles import STYLES

    where = f"{VOCABULARY_FILE} [genre_styles]"
    table: dict[str, str] = {}
    for style, words in data.get("genre_styles", {}).items():
        if style not in STYLES:
            raise VocabularyError(
                f"{where}: unknown style {style!r}; allowed: {', '.join(STYLES)}."
            )
        for word in words:
            key = genre_key(word)
            if table.setdefault(key, style) != style:
                raise VocabularyError(f"{where}: {word!r} is under both {table[key]} and {style}.")
    unnamed = [s for s in STYLES if table.get(s) != s]
    if unnamed:
        raise VocabularyError(
            f"{where}: list each style's own name under it: {', '.join(unnamed)}."
        )
    written = {g for t in terms.values() for g in t.genres} | {
        g for p in profiles for g in p.genres
    }
    missing = sorted(g for g in written if genre_key(g) not in table)
    if missing:
        raise VocabularyError(
            f"{where}: no style for the genre(s) {', '.join(missing)}; list each under the style "
            "a musician would pick."
        )
    for phrase, term in terms.items():
        key = genre_key(phrase)
        if term.genres and key in table and table[key] != table[genre_key(term.genres[0])]:
            raise VocabularyError(
                f"{where}: {phrase!r} is listed under {table[key]}, but the term "
                f"'{term.name}' writes {term.genres[0]!r} ({table[genre_key(term.genres[0])]})."
            )
    return table


def style_for_genre(word: str, *, exact: bool = False) -> str | None:
    """The generator's style for a genre word, or None when it names none.

    A word of ``[genre_styles]`` gives its style; the name or alias of a term with genres gives
    the style of the term's first genre ("retrowave" -> synthwave -> electronic). ``exact`` (what
    ``--style`` accepts) stops there and leaves out scene words (``weak`` terms); otherwise a scene
    word counts, and a longer name gives the style of the last genre phrase in it, its head noun
    ("melodic death metal" -> rock, "German folk" -> folk).
    """
    vocabulary = load_vocabulary()
    key = genre_key(word)
    for candidate in dict.fromkeys((key, key.replace("-", " "))):
        if candidate in vocabulary.genre_styles:
            return vocabulary.genre_styles[candidate]
        term = vocabulary.terms.get(candidate)
        if term is not None and term.genres and not (exact and term.weak):
            return vocabulary.genre_styles[genre_key(term.genres[0])]
    if exact:
        return None
    found = [m.group(1) for m in vocabulary.genre_pattern.finditer(key)]
    return style_for_genre(found[-1], exact=True) if found else None


def style_for_genres(genres: list[str]) -> str | None:
    """The style of the first genre that names one (genres are listed by priority)."""
    return next((s for g in genres if (s := style_for_genre(g)) is not None), None)


def _with_pattern(vocabulary: Vocabulary) -> Vocabulary:
    """Compile one regex of every phrase, longest first, so the longest phrase wins."""
    from vmb_agent.theory import INSTRUMENT_ALIASES, INSTRUMENTS

    phrases = {
        *vocabulary.terms, *vocabulary.tempo_words, *vocabulary.tempo_changes,
        *vocabulary.energy_changes, *vocabulary.valence_changes, *vocabulary.mode_words,
        *vocabulary.time_signature_words, *INSTRUMENTS, *INSTRUMENT_ALIASES,
    }  # fmt: skip
    genre_phrases = {
        *vocabulary.genre_styles,
        *(p for p, t in vocabulary.terms.items() if t.genres and not t.weak),
    }
    return Vocabulary(**{
        **vocabulary.__dict__,
        "phrase_pattern": _phrase_regex(phrases),
        "genre_pattern": _phrase_regex(genre_phrases),
    })  # fmt: skip


def _phrase_regex(phrases: set[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive, longest first, spaces matching hyphens, plurals allowed."""
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s-]+") for p in ordered)
    return re.compile(rf"(?<![\w&-])({body})(?:s|es)?(?![\w&])", re.IGNORECASE)


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """The packaged vocabulary (parsed once per process)."""
    text = resources.files("vmb_agent.prompts").joinpath(VOCABULARY_FILE).read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VocabularyError(f"{VOCABULARY_FILE} is not valid TOML: {exc}") from None
    return parse_vocabulary(data)
