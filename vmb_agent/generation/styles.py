"""The style table: instrumentation, grooves, bass lines, comping, progressions — as data.

Every style the symbolic composer knows is one :class:`StyleSpec` row in :data:`STYLES`. A style
lists its *parts* (a role played by an instrument from ``theory.INSTRUMENTS`` with the pattern it
uses and the section energy at which it joins), its tempo range (energy picks the point inside
it), its chord progressions per mode and its feel (swing, humanisation, melody density).
Patterns are written for one 4/4 bar in beats; other meters use the part of the bar they cover.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmb_agent.errors import unknown_name

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


P = PartSpec

STYLES: dict[str, StyleSpec] = {
    s.name: s
    for s in (
        StyleSpec(
            "cinematic",
            (
                P("pad", "strings", "sustain", 0.0, 72, (48, 76)),
                P("melody", "french horn", "", 0.0, 88, (53, 77)),
                P("arp", "harp", "harp8", 0.25, 64, (48, 84)),
                P("bass", "cello", "whole", 0.15, 80, (36, 55)),
                P("counter", "choir", "", 0.7, 70, (55, 74)),
                P("drums", "drums", "epic", 0.6, 96),
            ),
            (68, 118),
            ("I V vi IV", "I vi IV V", "I IV vi V", "I iii IV V"),
            ("i VI III VII", "i iv VI V", "i VI iv V", "i III VII VI"),
            bars_per_chord=1.0,
            melody_density=1,
            chromatic=0.25,
            humanize_ms=10,
            keywords=(
                "cinematic",
                "orchestral",
                "epic",
                "film",
                "score",
                "soundtrack",
                "trailer",
                "dramatic",
                "heroic",
                "majestic",
                "adventure",
                "triumphant",
            ),
            reverb=0.3,
            room=0.8,
        ),
        StyleSpec(
            "ambient",
            (
                P("pad", "warm pad", "sustain", 0.0, 70, (48, 74)),
                P("arp", "electric piano", "slow4", 0.0, 80, (55, 84)),
                P("melody", "vibraphone", "", 0.3, 74, (60, 84)),
                P("bass", "fretless bass", "whole", 0.2, 70, (33, 52)),
                P("counter", "choir pad", "", 0.6, 60, (55, 74)),
            ),
            (60, 88),
            ("I vi IV V", "Imaj7 IVmaj7 I V", "I iii IV V", "I IV vi V"),
            ("i VI iv V", "i7 iv7 VI V", "i VI III V", "i iv i V"),
            bars_per_chord=2.0,
            melody_density=0,
            humanize_ms=12,
            keywords=(
                "ambient",
                "atmospheric",
                "drone",
                "meditative",
                "calm",
                "serene",
                "ethereal",
                "dreamy",
                "space",
                "peaceful",
                "floating",
                "still",
            ),
            reverb=0.4,
            room=0.9,
        ),
        StyleSpec(
            "lofi",
            (
                P("chords", "electric piano", "lofi", 0.0, 70, (50, 74)),
                P("bass", "acoustic bass", "lofi", 0.0, 84, (33, 52)),
                P("drums", "drums", "boom_bap", 0.15, 90),
                P("melody", "vibraphone", "", 0.3, 76, (62, 84)),
                P("pad", "warm pad", "sustain", 0.6, 50, (50, 72)),
            ),
            (70, 92),
            ("Imaj7 vi7 ii7 V7", "ii7 V7 Imaj7 vi7", "Imaj7 IVmaj7 iii7 V7", "Imaj7 iii7 ii7 V7"),
            ("i7 iv7 VII7 IIImaj7", "i7 VImaj7 iv7 V7", "ii° V7 i7 i7", "i7 iv7 i7 V7"),
            swing=0.6,
            melody_density=1,
            chromatic=0.2,
            humanize_ms=14,
            keywords=(
                "lo-fi",
                "lofi",
                "hip hop",
                "hip-hop",
                "chill",
                "chillhop",
                "study",
                "relaxed",
                "mellow",
                "beats",
                "nostalgic",
                "cozy",
                "rainy",
            ),
            reverb=0.2,
            room=0.4,
        ),
        StyleSpec(
            "pop",
            (
                P("chords", "piano", "pop", 0.0, 76, (48, 72)),
                P("bass", "bass", "pop", 0.0, 88, (33, 52)),
                P("drums", "drums", "pop", 0.2, 96),
                P("melody", "electric guitar", "", 0.0, 90, (60, 84)),
                P("pad", "synth strings", "sustain", 0.6, 58, (55, 76)),
            ),
            (96, 128),
            ("I V vi IV", "vi IV I V", "I vi IV V", "I IV V IV"),
            ("i VI III VII", "i VII VI VII", "VI VII i i", "i iv VI V"),
            melody_density=1,
            humanize_ms=6,
            keywords=(
                "pop",
                "upbeat",
                "happy",
                "catchy",
                "bright",
                "cheerful",
                "feel-good",
                "uplifting",
                "joyful",
                "summer",
                "fun",
                "party",
            ),
            reverb=0.16,
            room=0.45,
        ),
        StyleSpec(
            "rock",
            (
                P("chords", "distorted guitar", "rock8", 0.0, 84, (40, 64)),
                P("bass", "bass", "root8", 0.0, 92, (28, 48)),
                P("drums", "drums", "rock", 0.0, 104),
                P("melody", "overdriven guitar", "", 0.3, 92, (57, 81)),
                P("pad", "rock organ", "sustain", 0.7, 60, (52, 74)),
            ),
            (100, 150),
            ("I IV V IV", "I V vi IV", "I IV I V", "I V IV V"),
            ("i VI VII i", "i VII VI VII", "i iv VII III", "i VI III VII"),
            melody_density=1,
            humanize_ms=6,
            keywords=(
                "rock",
                "energetic",
                "aggressive",
                "guitar",
                "punk",
                "grunge",
                "metal",
                "driving",
                "powerful",
                "rebellious",
                "intense",
                "loud",
            ),
            reverb=0.12,
            room=0.4,
        ),
        StyleSpec(
            "electronic",
            (
                P("pad", "synth pad", "sustain", 0.0, 64, (52, 76)),
                P("bass", "synth bass", "offbeat", 0.0, 92, (33, 52)),
                P("drums", "drums", "four_floor", 0.25, 100),
                P("arp", "square lead", "up16", 0.4, 60, (60, 84)),
                P("melody", "synth lead", "", 0.5, 84, (62, 86)),
            ),
            (118, 132),
            ("I V vi IV", "vi IV I V", "I IV V vi", "I IV vi V"),
            ("i VI III VII", "i VI VII i", "i iv VI VII", "VI VII i i"),
            melody_density=1,
            humanize_ms=2,
            keywords=(
                "electronic",
                "edm",
                "dance",
                "techno",
                "house",
                "trance",
                "club",
                "synthwave",
                "futuristic",
                "neon",
                "electro",
                "pulsing",
            ),
            reverb=0.2,
            room=0.6,
        ),
        StyleSpec(
            "jazz",
            (
                P("chords", "piano", "charleston", 0.0, 70, (48, 70)),
                P("bass", "acoustic bass", "walking", 0.0, 86, (28, 52)),
                P("drums", "drums", "swing", 0.0, 80),
                P("melody", "tenor saxophone", "", 0.2, 88, (56, 80)),
            ),
            (100, 180),
            ("ii7 V7 Imaj7 vi7", "Imaj7 vi7 ii7 V7", "iii7 vi7 ii7 V7", "Imaj7 IVmaj7 iii7 V7"),
            ("iiø7 V7 i7 i7", "i7 iv7 iiø7 V7", "i7 VImaj7 iiø7 V7", "i7 iv7 VII7 V7"),
            swing=0.64,
            melody_density=2,
            chromatic=0.4,
            humanize_ms=10,
            keywords=(
                "jazz",
                "swing",
                "bebop",
                "smooth",
                "lounge",
                "bluesy",
                "blues",
                "sophisticated",
                "noir",
                "cafe",
                "bar",
                "elegant",
            ),
            reverb=0.16,
            room=0.5,
        ),
        StyleSpec(
            "folk",
            (
                P("chords", "acoustic guitar", "strum", 0.0, 74, (48, 72)),
                P("melody", "violin", "", 0.0, 84, (62, 86)),
                P("bass", "acoustic bass", "root_fifth", 0.2, 80, (33, 52)),
                P("drums", "drums", "folk", 0.55, 80),
                P("counter", "flute", "", 0.7, 70, (65, 86)),
            ),
            (80, 130),
            ("I IV I V", "I V IV I", "I vi IV V", "IV I V I"),
            ("i VII i v", "i VI VII i", "i iv VII i", "i III VII i"),
            melody_density=1,
            humanize_ms=10,
            keywords=(
                "folk",
                "acoustic",
                "country",
                "rustic",
                "pastoral",
                "warm",
                "americana",
                "celtic",
                "campfire",
                "nature",
                "countryside",
                "homely",
            ),
            reverb=0.15,
            room=0.45,
        ),
        StyleSpec(
            "piano",
            (
                P("melody", "piano", "", 0.0, 78, (60, 86)),
                P("arp", "piano", "alberti", 0.0, 58, (48, 67)),
                P("bass", "piano", "whole", 0.0, 66, (31, 50)),
            ),
            (60, 110),
            ("I IV V I", "I vi ii V", "I V vi iii IV I IV V", "I ii V I"),
            ("i iv V i", "i VI iv V", "i iv VII III", "i iiø7 V i"),
            melody_density=1,
            humanize_ms=9,
            keywords=(
                "piano",
                "classical",
                "solo piano",
                "romantic",
                "intimate",
                "gentle",
                "tender",
                "melancholic",
                "reflective",
                "nocturne",
                "elegy",
                "sad",
            ),
            reverb=0.22,
            room=0.7,
        ),
        StyleSpec(
            "chiptune",
            (
                P("melody", "square lead", "", 0.0, 84, (64, 88)),
                P("arp", "square lead", "chip16", 0.3, 54, (55, 79)),
                P("bass", "synth bass", "chip", 0.0, 88, (33, 52)),
                P("drums", "drums", "chip", 0.2, 92),
            ),
            (120, 170),
            ("I V vi IV", "I IV V I", "vi IV V I", "I vi IV V"),
            ("i VI VII i", "i iv V i", "i VII VI V", "i III VII VI"),
            melody_density=2,
            humanize_ms=0,
            keywords=(
                "chiptune",
                "8-bit",
                "8bit",
                "retro",
                "video game",
                "arcade",
                "playful",
                "pixel",
                "game",
                "nes",
                "gameboy",
                "quirky",
            ),
            reverb=0.08,
            room=0.3,
        ),
    )
}


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
#: kick lines for double time (composer.DOUBLE_TIME_BPM and up): a kick on 1 only, or a weak
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
    "normalize_style",
    "roles_for",
    "style_catalog",
    "style_scores",
]
