"""The style table: instrumentation, grooves, bass lines, comping, progressions — as data.

Every style the symbolic composer knows is one :class:`StyleSpec` row in :data:`STYLES`, loaded
once from ``prompts/styles.toml`` (package data of ``vmb_agent.prompts``) and checked on load. A
style lists its *parts* (a role played by an instrument from ``theory.INSTRUMENTS`` with the
pattern it uses and the section energy at which it joins), its tempo range (energy picks the
point inside it), its chord progressions per mode and its feel (swing, humanisation, melody
density).

The pattern tables the parts name (drum grooves and fills, bass, comping, arpeggio and melody
cells, role registers) stay here in Python: they are the composer's vocabulary, written as
beats and GM drum numbers and partly generated (``[(i * 0.5, 0.45, "R") for i in range(8)]``),
and the style file refers to them by name. Patterns are written for one 4/4 bar in beats; other
meters use the part of the bar they cover.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, fields
from importlib import resources
from typing import Any

from vmb_agent.errors import VMBError, unknown_name

ROLES = ("melody", "counter", "chords", "arp", "pad", "bass", "drums")


@dataclass(frozen=True)
class PartSpec:
    role: str  # one of ROLES
    instrument: str  # canonical name from theory.INSTRUMENTS
    pattern: str = ""  # name in the role's pattern table (bass, comp, arp, groove)
    min_energy: float = 0.0  # the part plays in sections whose energy reaches this
    velocity: int = 80
    register: tuple[int, int] | None = None  # MIDI pitch range; None = the role default


@dataclass(frozen=True)
class StyleSpec:
    name: str
    parts: tuple[PartSpec, ...]
    tempo_range: tuple[float, float]
    major: tuple[str, ...]  # progressions (roman numerals) for major keys
    minor: tuple[str, ...]  # ... and for minor keys
    bars_per_chord: float = 1.0  # harmonic rhythm (0.5 = two chords a bar)
    swing: float = 0.5  # share of the beat before the off-beat eighth (0.5 = straight)
    melody_density: int = 1  # 0 sparse, 1 medium, 2 busy
    #: share of weak melody notes before a strong beat sung as a chromatic approach tone
    chromatic: float = 0.0
    humanize_ms: float = 8.0
    #: mood and scene words that lean towards the style, for words no genre names (genre words
    #: and their style live in prompts/vocabulary.toml [genre_styles])
    keywords: tuple[str, ...] = ()
    reverb: float = 0.18  # wet level of the mastering reverb
    room: float = 0.5
    major_tonics: tuple[int, ...] = (0, 2, 5, 7, 9)  # preferred tonics when no key is asked
    minor_tonics: tuple[int, ...] = (9, 2, 4, 7, 0)


# STYLES, every style by name, is read from prompts/styles.toml at the end of this module, once
# the pattern tables its parts name (and are checked against) are defined.


def normalize_style(name: str) -> str:
    """Canonical style name for ``name``, else ``UnknownNameError``. Genre words are accepted
    through the vocabulary's genre -> style table ("EDM", "synthwave", "punk rock", "8-bit")."""
    from vmb_agent.describe.vocabulary import style_for_genre

    key = " ".join(str(name).lower().replace("_", " ").split())
    if key in STYLES:
        return key
    style = style_for_genre(key, exact=True)
    if style is not None:
        return style
    raise unknown_name("style", name, STYLES)


def style_catalog() -> dict[str, list[str]]:
    """Every style with its band (canonical instrument names, melody and harmony first)."""
    order = {"melody": 0, "chords": 1, "pad": 2, "arp": 3, "bass": 4, "counter": 5, "drums": 6}
    catalog = {}
    for style in STYLES.values():
        parts = sorted(style.parts, key=lambda p: order.get(p.role, 9))
        catalog[style.name] = list(dict.fromkeys(p.instrument for p in parts))
    return catalog


def style_scores(words: list[str]) -> dict[str, float]:
    """How well free words (genres, moods) match each style: 3 for a genre word of the style
    (the vocabulary's genre -> style table), 1 for a keyword, 0.5 for a word containing one."""
    from vmb_agent.describe.vocabulary import style_for_genre

    scores = dict.fromkeys(STYLES, 0.0)
    for word in words:
        w = word.lower().strip()
        if not w:
            continue
        named = style_for_genre(w, exact=True)
        for style in STYLES.values():
            if w == style.name or named == style.name:
                scores[style.name] += 3.0
            elif w in style.keywords:
                scores[style.name] += 1.0
            elif any(k in w for k in style.keywords if len(k) > 3):
                scores[style.name] += 0.5
    return scores


# --------------------------------------------------------------------------------------------
# Patterns, one 4/4 bar each (beats)
# --------------------------------------------------------------------------------------------

#: drum groove -> GM drum note -> 16 sixteenth steps: 'x' accent, 'o' normal, '.' ghost, '-' rest
GROOVES: dict[str, dict[int, str]] = {
    "pop": {36: "x-------x-x-----", 38: "----x-------x---", 42: "o-o-o-o-o-o-o-o-"},
    "rock": {36: "x-----x-x-------", 38: "----x-------x---", 42: "x-o-x-o-x-o-x-o-"},
    "four_floor": {
        36: "x---x---x---x---", 39: "----o-------o---", 46: "--o---o---o---o-",
        42: "o-.-o-.-o-.-o-.-",
    },
    "boom_bap": {36: "x-----o--x------", 38: "----x-------x---", 42: "o-.-o-.-o-.-o-.-"},
    # spang-a-lang accented on 2 and 4 with the hi-hat, bass drum feathered on all four beats:
    # accenting 1 and 3 instead gave fast swing (160-180 BPM) a half-time feel
    "swing": {51: "o---x-.-o---x-.-", 44: "----o-------o---", 36: ".---.---.---.---"},
    "folk": {36: "x-------o-------", 37: "----o-------o---", 54: "--.---.---.---.-"},
    "epic": {36: "x-----o-x-------", 41: "----o-------o-o-", 38: "------------x---"},
    "chip": {36: "x-------x-------", 38: "----x-------x---", 42: "o-o-o-o-o-o-o-o-"},
}  # fmt: skip
#: the last beat of a section before a new one: a fill replaces the groove there
FILLS: dict[str, dict[int, str]] = {
    "default": {38: "------------o.ox", 36: "x---------------"},
    "toms": {45: "------------oo--", 41: "--------------ox", 36: "x---------------"},
    "swing": {38: "------------.-o-", 51: "x---o-.-x-------"},
}
#: kick lines for double time (composer.context.DOUBLE_TIME_BPM and up): a kick on 1 only, or a weak
#: one on 3, makes a 150-180 BPM groove repeat by the bar and feel half time; even kicks on 1
#: and 3 under the backbeat keep the beat where it was asked for
DOUBLE_TIME_KICK = {"boom_bap": "x-------x-------", "folk": "x-------x-------"}
GROOVE_FILL = {"epic": "toms", "swing": "swing"}
CRASH = 49
KICK = 36
ACCENT_VELOCITY = {"x": 1.0, "o": 0.78, ".": 0.45}

#: bass pattern -> (onset beat, length beats, tone): R root, 5 fifth, 8 octave, 3 third,
#: A approach (a scale step into the next chord's root)
BASS_PATTERNS: dict[str, list[tuple[float, float, str]]] = {
    "whole": [(0, 4, "R")],
    "half": [(0, 2, "R"), (2, 2, "5")],
    "pulse4": [(float(i), 0.9, "R") for i in range(4)],
    "root8": [(i * 0.5, 0.45, "R") for i in range(8)],
    "pop": [(0, 1.5, "R"), (1.5, 0.5, "R"), (2, 1, "5"), (3, 0.5, "8"), (3.5, 0.5, "A")],
    "offbeat": [(0, 0.4, "R"), (0.5, 0.4, "R"), (1.5, 0.4, "R"), (2.5, 0.4, "8"),
                (3, 0.4, "R"), (3.5, 0.4, "R")],
    "root_fifth": [(0, 1, "R"), (1, 1, "5"), (2, 1, "R"), (3, 1, "5")],
    "lofi": [(0, 1.5, "R"), (1.75, 0.5, "R"), (2.5, 1, "5"), (3.5, 0.5, "A")],
    "chip": [(i * 0.5, 0.4, "R" if i % 2 == 0 else "8") for i in range(8)],
    "walking": [(0, 1, "R"), (1, 1, "3"), (2, 1, "5"), (3, 1, "A")],
}  # fmt: skip

#: comping pattern -> (onset beat, length beats); 'strum' spreads the chord like a guitar
COMP_PATTERNS: dict[str, list[tuple[float, float]]] = {
    "sustain": [(0, 4)],
    "halves": [(0, 2), (2, 2)],
    "quarters": [(0, 1), (1, 1), (2, 1), (3, 1)],
    "pop": [(0, 1.5), (1.5, 1.0), (2.5, 1.5)],
    "rock8": [(i * 0.5, 0.45) for i in range(8)],
    "charleston": [(0, 1.0), (1.5, 0.5), (3.5, 0.5)],
    "lofi": [(0, 2.5), (2.5, 1.5)],
    "strum": [(0, 1), (1, 0.5), (1.5, 1), (2.5, 0.5), (3, 1)],
}
STRUMMED = {"strum", "rock8"}
POWER_CHORDS = {"rock8"}

#: arpeggio pattern -> (onset beat, length beats, index into the voicing, low to high)
ARP_PATTERNS: dict[str, list[tuple[float, float, int]]] = {
    "up8": [(i * 0.5, 0.5, i % 4) for i in range(8)],
    "rock8": [(i * 0.5, 0.5, (0, 2)[i % 2]) for i in range(8)],  # the same figure every beat
    "alberti": [(i * 0.5, 0.5, (0, 2, 1, 2)[i % 4]) for i in range(8)],
    "harp8": [(i * 0.5, 1.0, (0, 1, 2, 3, 4, 3, 2, 1)[i]) for i in range(8)],
    "slow4": [(i * 1.0, 2.0, (0, 2, 1, 3)[i]) for i in range(4)],
    "up16": [(i * 0.25, 0.25, (0, 1, 2, 3)[i % 4]) for i in range(16)],
    "chip16": [(i * 0.25, 0.2, (0, 1, 2)[i % 3]) for i in range(16)],
}

#: melody rhythm cells by density (onset, length) for one 4/4 bar
MELODY_CELLS: dict[int, list[list[tuple[float, float]]]] = {
    0: [
        [(0, 3), (3, 1)],
        [(0, 2), (2, 2)],
        [(0, 1.5), (1.5, 2.5)],
        [(0, 2), (2, 1), (3, 1)],
    ],
    1: [
        [(0, 1), (1, 1), (2, 2)],
        [(0, 1.5), (1.5, 0.5), (2, 2)],
        [(0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)],
        [(0, 2), (2, 1), (3, 1)],
        [(0, 0.5), (0.5, 0.5), (1, 1), (2, 1.5), (3.5, 0.5)],
    ],
    2: [
        [(0, 0.5), (0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)],
        [(0, 0.75), (0.75, 0.75), (1.5, 0.5), (2, 1), (3, 0.5), (3.5, 0.5)],
        [(0, 1), (1, 0.5), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 0.5), (3.5, 0.5)],
        [(0, 0.5), (0.5, 1), (1.5, 0.5), (2, 1), (3, 1)],
    ],
    3: [  # a note on every beat: double-time melodies without drums (see the composer)
        [(0, 1), (1, 1), (2, 1), (3, 1)],
        [(0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)],
        [(0, 1), (1, 1), (2, 1), (3, 0.5), (3.5, 0.5)],
        [(0, 0.5), (0.5, 0.5), (1, 1), (2, 1), (3, 1)],
    ],
}
CADENCE_CELLS: list[list[tuple[float, float]]] = [[(0, 1), (1, 1), (2, 2)], [(0, 2), (2, 2)]]

#: role -> default pitch range when a part gives none
ROLE_REGISTER = {
    "melody": (60, 84),
    "counter": (55, 76),
    "chords": (52, 76),
    "arp": (55, 84),
    "pad": (50, 76),
    "bass": (33, 52),
}

#: instrument -> the roles it plays well, best first (used to place requested instruments)
_ROLE_AFFINITY: dict[str, tuple[str, ...]] = {
    "drums": ("drums",),
    "bass": ("bass",), "acoustic bass": ("bass",), "fretless bass": ("bass",),
    "slap bass": ("bass",), "synth bass": ("bass",), "contrabass": ("bass",),
    "tuba": ("bass",), "cello": ("bass", "counter"), "bassoon": ("bass", "counter"),
    "timpani": ("bass",), "baritone saxophone": ("bass", "melody"),
    "strings": ("pad", "counter"), "slow strings": ("pad",), "synth strings": ("pad",),
    "tremolo strings": ("pad",), "choir": ("pad", "counter"), "synth pad": ("pad",),
    "warm pad": ("pad",), "choir pad": ("pad",), "bowed pad": ("pad",), "sweep pad": ("pad",),
    "organ": ("pad", "chords"), "electric organ": ("chords", "pad"), "rock organ": ("pad", "chords"),
    "accordion": ("chords", "melody"), "brass": ("pad", "counter"), "synth brass": ("pad",),
    "french horn": ("melody", "counter"), "trombone": ("counter", "bass"),
    "piano": ("chords", "melody", "arp"), "bright piano": ("chords", "melody"),
    "electric piano": ("chords", "arp"), "harpsichord": ("arp", "chords"),
    "clavinet": ("chords",), "acoustic guitar": ("chords", "arp"), "nylon guitar": ("arp", "chords"),
    "electric guitar": ("chords", "melody"), "muted guitar": ("chords", "arp"),
    "overdriven guitar": ("melody", "chords"), "distorted guitar": ("chords", "melody"),
    "harp": ("arp",), "celesta": ("arp", "melody"), "glockenspiel": ("arp", "melody"),
    "music box": ("arp", "melody"), "vibraphone": ("melody", "arp"), "marimba": ("arp", "melody"),
    "xylophone": ("arp", "melody"), "bells": ("arp",), "kalimba": ("arp", "melody"),
    "koto": ("arp", "melody"), "steel drums": ("melody", "arp"), "pizzicato strings": ("arp",),
    "square lead": ("melody", "arp"), "synth lead": ("melody", "arp"),
}  # fmt: skip
_ROLE_FALLBACK = {"bass": "whole", "chords": "halves", "arp": "up8", "pad": "sustain"}


def roles_for(instrument: str) -> tuple[str, ...]:
    """The roles an instrument plays well, best first (melody for anything not listed)."""
    return _ROLE_AFFINITY.get(instrument, ("melody", "counter"))


def default_pattern(role: str, style: StyleSpec) -> str:
    """The style's own pattern for ``role`` if it has one, else a neutral default."""
    for part in style.parts:
        if part.role == role and part.pattern:
            return part.pattern
    return _ROLE_FALLBACK.get(role, "")


# --------------------------------------------------------------------------------------------
# The table, loaded from prompts/styles.toml
# --------------------------------------------------------------------------------------------

STYLES_FILE = "styles.toml"
#: role -> the pattern table its part's ``pattern`` names (melody and counter name none)
_PATTERN_TABLES: dict[str, dict] = {
    "bass": BASS_PATTERNS, "chords": COMP_PATTERNS, "pad": COMP_PATTERNS, "arp": ARP_PATTERNS,
    "drums": GROOVES, "melody": {"": None}, "counter": {"": None},
}  # fmt: skip


class StyleTableError(VMBError):
    """The style table data file is malformed (a packaging bug, reported clearly)."""


def load_styles() -> dict[str, StyleSpec]:
    """The packaged style table, in the file's order."""
    text = resources.files("vmb_agent.prompts").joinpath(STYLES_FILE).read_text("utf-8")
    return parse_styles(text)


def parse_styles(text: str) -> dict[str, StyleSpec]:
    """Style rows from the TOML text of a style table; ``StyleTableError`` names what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StyleTableError(f"{STYLES_FILE} is not valid TOML: {exc}") from None
    rows = data.get("styles")
    if not isinstance(rows, dict) or not rows:
        raise StyleTableError(f"{STYLES_FILE}: no [styles.NAME] tables.")
    return {name: _style_row(name, row) for name, row in rows.items()}


def _style_row(name: str, row: dict[str, Any]) -> StyleSpec:
    where = f"{STYLES_FILE} [styles.{name}]"
    _check_fields(row, StyleSpec, where, exclude=frozenset({"name"}))
    parts = tuple(_part_row(p, f"{where} parts[{i}]") for i, p in enumerate(row["parts"]))
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in row.items() if k != "parts"}
    style = StyleSpec(name=name, parts=parts, **values)
    slowest, fastest = style.tempo_range
    if not 30 <= slowest <= fastest <= 300:
        raise StyleTableError(
            f"{where}: tempo_range {list(style.tempo_range)} must rise within 30-300 BPM."
        )
    if not style.major or not style.minor:
        raise StyleTableError(f"{where}: needs progressions for both modes (major, minor).")
    return style


def _part_row(row: Any, where: str) -> PartSpec:
    from vmb_agent.theory import INSTRUMENTS

    if not isinstance(row, dict):
        raise StyleTableError(f"{where}: expected a table {{ role = ..., instrument = ... }}.")
    _check_fields(row, PartSpec, where)
    part = PartSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()})
    if part.role not in ROLES:
        raise StyleTableError(f"{where}: unknown role {part.role!r}; allowed: {', '.join(ROLES)}.")
    if part.instrument not in INSTRUMENTS:
        raise StyleTableError(f"{where}: {part.instrument!r} is not a canonical instrument name.")
    patterns = _PATTERN_TABLES[part.role]
    if part.pattern not in patterns:
        allowed = ", ".join(repr(p) for p in patterns)
        raise StyleTableError(
            f"{where}: no {part.role} pattern {part.pattern!r}; allowed: {allowed}."
        )
    register = part.register
    if register is not None and not (len(register) == 2 and register[0] < register[1]):
        raise StyleTableError(f"{where}: register {list(register)} must be [lowest, highest].")
    return part


def _check_fields(row: dict[str, Any], kind: type, where: str,
                  exclude: frozenset[str] = frozenset()) -> None:  # fmt: skip
    """Every key is a field of ``kind`` and every field without a default is given."""
    known = {f.name for f in fields(kind)} - exclude
    required = {
        f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING
    } - exclude
    unknown = sorted(set(row) - known)
    if unknown:
        allowed = ", ".join(sorted(known))
        raise StyleTableError(f"{where}: unknown field {unknown[0]!r}; allowed: {allowed}.")
    missing = sorted(required - set(row))
    if missing:
        raise StyleTableError(f"{where}: missing field {missing[0]!r}.")


#: every style, by name, in the table's order
STYLES: dict[str, StyleSpec] = load_styles()


__all__ = [
    "ARP_PATTERNS",
    "BASS_PATTERNS",
    "COMP_PATTERNS",
    "DOUBLE_TIME_KICK",
    "GROOVES",
    "MELODY_CELLS",
    "ROLES",
    "STYLES",
    "PartSpec",
    "StyleSpec",
    "StyleTableError",
    "load_styles",
    "normalize_style",
    "parse_styles",
    "roles_for",
    "style_catalog",
    "style_scores",
]
