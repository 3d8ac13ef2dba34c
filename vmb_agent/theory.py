"""Small music-theory vocabulary shared by every stage: keys, note names and instruments.

Keys are written ``"<tonic> <mode>"`` (``"A minor"``, ``"Eb major"``); :func:`parse_key` accepts
the usual spellings (``"Am"``, ``"f#"``, ``"B flat minor"``). :func:`estimate_key` is VMB's one
key finder: audio chroma (``library.audio_features``), MIDI notes (``library.midi``) and
references (``generation.references``) all hand it a 12-bin pitch-class profile. Instruments
have one friendly canonical name each (``"piano"``, ``"strings"``, ``"drums"``) mapped to a
General MIDI program; ``"drums"`` is the GM percussion channel.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmb_agent.errors import InputError, unknown_name

if TYPE_CHECKING:  # pragma: no cover - numpy is imported where a key is estimated
    import numpy as np

PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
MAJOR_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MINOR_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
MODES = ("major", "minor")


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11 (C = 0)
    mode: str  # "major" | "minor"

    @property
    def name(self) -> str:
        names = MAJOR_NAMES if self.mode == "major" else MINOR_NAMES
        return f"{names[self.tonic]} {self.mode}"

    def __str__(self) -> str:
        return self.name

    @property
    def scale(self) -> list[int]:
        """Pitch classes of the scale (natural minor for minor keys)."""
        steps = [0, 2, 4, 5, 7, 9, 11] if self.mode == "major" else [0, 2, 3, 5, 7, 8, 10]
        return [(self.tonic + s) % 12 for s in steps]

    @property
    def relative(self) -> Key:
        if self.mode == "major":
            return Key((self.tonic + 9) % 12, "minor")
        return Key((self.tonic + 3) % 12, "major")


_KEY_RE = re.compile(
    r"^\s*([a-g])\s*(#|b|sharp|flat|♯|♭|-)?\s*(major|minor|maj|min|m|dur|moll)?\s*$", re.IGNORECASE
)


def parse_key(text: str, default_mode: str | None = "major") -> Key:
    """Parse ``"A minor"``, ``"Am"``, ``"F#"``, ``"B flat minor"``, ``"eb min"`` into a :class:`Key`.

    A bare tonic gets ``default_mode``; with ``default_mode=None`` a mode is required.
    """
    cleaned = str(text).strip().replace(" flat", "b").replace(" sharp", "#")
    m = _KEY_RE.match(cleaned)
    if not m:
        raise InputError(
            f"cannot parse key {text!r}; write a tonic A-G with optional #/b and a mode, "
            "e.g. 'A minor', 'Eb major', 'F#m'."
        )
    letter, accidental, mode = m.group(1), m.group(2) or "", (m.group(3) or "")
    pc = PITCH_CLASSES[letter.lower()]
    if accidental.lower() in ("#", "sharp", "♯"):
        pc += 1
    elif accidental.lower() in ("b", "flat", "♭", "-"):
        pc -= 1
    mode_l = mode.lower()
    if mode_l in ("minor", "min", "moll") or mode == "m":
        resolved = "minor"
    elif mode_l in ("major", "maj", "dur") or mode == "M":
        resolved = "major"
    elif default_mode is None:
        raise InputError(f"key {text!r} has no mode; add 'major' or 'minor'.")
    else:
        resolved = default_mode
    return Key(pc % 12, resolved)


def normalize_key(text: str | None) -> str | None:
    """Canonical spelling of a key name (``"am"`` -> ``"A minor"``); ``None`` stays ``None``."""
    return None if text is None else parse_key(text).name


def note_name(midi_pitch: int) -> str:
    """MIDI number to a name with octave, e.g. 60 -> 'C4'."""
    return f"{MINOR_NAMES[midi_pitch % 12]}{midi_pitch // 12 - 1}"


# --------------------------------------------------------------------------------------------
# Key finding (Krumhansl-Schmuckler): the one owner, for audio chroma, MIDI and references
# --------------------------------------------------------------------------------------------

#: Key profiles (C major, C minor) whose correlations with a pitch-class profile are averaged.
#: Albrecht & Shanahan (2013), tuned on classical repertoire; Krumhansl & Kessler (1982) probe
#: tones; Bellman-Budge (Bellman 2005), counted from chords in common-practice music.
#: AS + KK + BB replaced AS + Temperley: 83.3 % vs 79.2 % on the bench_tempo_key.py tuning sets,
#: 95.0 % vs 96.7 % on the generation grid (target 90 %). Krumhansl-Kessler alone (the copy
#: references used) was right for 70.3 % of audio and 71.4 % of MIDI excerpts where the three
#: averaged are right for 84.9 % and 88.0 % (bench_tempo_key.py sets 48 30 0, 48 30 60 and
#: 96 30 250).
KEY_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "albrecht-shanahan": (
        (0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081),
        (0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052),
    ),
    "krumhansl-kessler": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    "bellman-budge": (
        (16.80, 0.86, 12.95, 1.41, 13.49, 11.93, 1.25, 20.28, 1.80, 8.04, 0.62, 10.57),
        (18.16, 0.69, 12.99, 13.34, 1.07, 11.15, 1.38, 21.07, 7.49, 1.53, 0.92, 10.21),
    ),
}  # fmt: skip


@functools.cache
def _key_templates() -> np.ndarray:
    """The profiles standardised (zero mean, unit spread): shape (2 modes, n profiles, 12)."""
    import numpy as np

    t = np.array([[KEY_PROFILES[name][mode] for name in KEY_PROFILES] for mode in (0, 1)])
    return (t - t.mean(axis=2, keepdims=True)) / t.std(axis=2, keepdims=True)


def key_scores(profile: Sequence[float] | np.ndarray) -> np.ndarray:
    """Correlation of a 12-bin pitch-class profile (C = 0) with each of the 24 keys, averaged over
    :data:`KEY_PROFILES`; index ``mode * 12 + tonic`` (mode 0 = major, 1 = minor). All zeros for
    a flat profile, which fits every key equally."""
    import numpy as np

    x = np.asarray(profile, dtype=np.float64).reshape(12)
    # Row t: the profile seen from tonic t (index 0 = the tonic), standardised like the templates.
    rotated = np.stack([np.roll(x, -tonic) for tonic in range(12)])
    spread = rotated.std(axis=1, keepdims=True)
    if float(spread[0, 0]) <= 1e-12 * max(float(np.abs(x).max()), 1e-300):
        return np.zeros(24)
    z = (rotated - rotated.mean(axis=1, keepdims=True)) / spread
    # (modes, profiles, 12) x (tonics, 12) -> (modes, tonics): mean correlation over profiles
    return (np.einsum("mpk,tk->mt", _key_templates(), z) / (12 * len(KEY_PROFILES))).reshape(24)


def estimate_key(profile: Sequence[float] | np.ndarray) -> tuple[Key | None, float]:
    """The key of a 12-bin pitch-class profile (C = 0) and a 0-1 confidence (the best key's
    correlation and its margin over the runner-up; a heuristic, not a probability).

    ``profile``: non-negative weights per pitch class, e.g. chroma energy summed over frames or
    note durations. ``(None, 0.0)`` for an empty, flat or non-finite profile.
    """
    import numpy as np

    x = np.asarray(profile, dtype=np.float64)
    if x.shape != (12,):
        raise InputError(f"a pitch-class profile has 12 bins; got shape {x.shape}.")
    if not np.all(np.isfinite(x)) or x.sum() <= 0:
        return None, 0.0
    scores = key_scores(x)
    if not np.any(scores):
        return None, 0.0
    order = np.argsort(scores)[::-1]
    best = int(order[0])
    margin = float(scores[best] - scores[order[1]])
    confidence = float(np.clip(0.5 * max(scores[best], 0.0) + 4.0 * margin, 0, 1))
    return Key(best % 12, MODES[best // 12]), confidence


# --------------------------------------------------------------------------------------------
# Instruments
# --------------------------------------------------------------------------------------------

DRUMS = "drums"

#: canonical instrument name -> General MIDI program (0-based). "drums" uses the drum channel.
INSTRUMENTS: dict[str, int] = {
    "piano": 0,
    "bright piano": 1,
    "electric piano": 4,
    "harpsichord": 6,
    "clavinet": 7,
    "celesta": 8,
    "glockenspiel": 9,
    "music box": 10,
    "vibraphone": 11,
    "marimba": 12,
    "xylophone": 13,
    "bells": 14,
    "electric organ": 16,
    "rock organ": 18,
    "organ": 19,
    "accordion": 21,
    "harmonica": 22,
    "nylon guitar": 24,
    "acoustic guitar": 25,
    "electric guitar": 27,
    "muted guitar": 28,
    "overdriven guitar": 29,
    "distorted guitar": 30,
    "acoustic bass": 32,
    "bass": 33,
    "fretless bass": 35,
    "slap bass": 36,
    "synth bass": 38,
    "violin": 40,
    "viola": 41,
    "cello": 42,
    "contrabass": 43,
    "tremolo strings": 44,
    "pizzicato strings": 45,
    "harp": 46,
    "timpani": 47,
    "strings": 48,
    "slow strings": 49,
    "synth strings": 50,
    "choir": 52,
    "voice": 53,
    "orchestra hit": 55,
    "trumpet": 56,
    "trombone": 57,
    "tuba": 58,
    "muted trumpet": 59,
    "french horn": 60,
    "brass": 61,
    "synth brass": 62,
    "soprano saxophone": 64,
    "saxophone": 65,
    "tenor saxophone": 66,
    "baritone saxophone": 67,
    "oboe": 68,
    "english horn": 69,
    "bassoon": 70,
    "clarinet": 71,
    "piccolo": 72,
    "flute": 73,
    "recorder": 74,
    "pan flute": 75,
    "whistle": 78,
    "ocarina": 79,
    "square lead": 80,
    "synth lead": 81,
    "synth pad": 88,
    "warm pad": 89,
    "choir pad": 91,
    "bowed pad": 92,
    "sweep pad": 95,
    "sitar": 104,
    "banjo": 105,
    "shamisen": 106,
    "koto": 107,
    "kalimba": 108,
    "bagpipe": 109,
    "fiddle": 110,
    "steel drums": 114,
    "taiko": 116,
    DRUMS: -1,
}

#: other names people use -> canonical name
INSTRUMENT_ALIASES: dict[str, str] = {
    "grand piano": "piano",
    "acoustic piano": "piano",
    "keys": "electric piano",
    "rhodes": "electric piano",
    "e-piano": "electric piano",
    "guitar": "acoustic guitar",
    "classical guitar": "nylon guitar",
    "steel guitar": "acoustic guitar",
    "clean guitar": "electric guitar",
    "bass guitar": "bass",
    "electric bass": "bass",
    "double bass": "acoustic bass",
    "upright bass": "acoustic bass",
    "string bass": "contrabass",
    "string ensemble": "strings",
    "string section": "strings",
    "orchestra": "strings",
    "pizzicato": "pizzicato strings",
    "horn": "french horn",
    "horns": "french horn",
    "brass section": "brass",
    "sax": "saxophone",
    "alto sax": "saxophone",
    "alto saxophone": "saxophone",
    "tenor sax": "tenor saxophone",
    "pad": "synth pad",
    "pads": "synth pad",
    "synth": "synth lead",
    "synthesizer": "synth lead",
    "lead": "synth lead",
    "chiptune": "square lead",
    "chip": "square lead",
    "8-bit": "square lead",
    "vocals": "choir",
    "vocal": "voice",
    "voices": "choir",
    "drum kit": DRUMS,
    "drum": DRUMS,
    "percussion": DRUMS,
    "beat": DRUMS,
    "beats": DRUMS,
    "church organ": "organ",
    "pipe organ": "organ",
    "hammond": "rock organ",
    "violins": "violin",
    "cellos": "cello",
    "flutes": "flute",
    "trumpets": "trumpet",
    "glock": "glockenspiel",
    "vibes": "vibraphone",
    "mallets": "marimba",
    "tubular bells": "bells",
    "chimes": "bells",
    "lute": "nylon guitar",
    "mandolin": "acoustic guitar",
    "ukulele": "nylon guitar",
}

# GM family ranges (8 programs each) -> canonical name used for programs we don't name exactly.
_FAMILY_DEFAULT = [
    "piano", "vibraphone", "organ", "acoustic guitar", "bass", "strings", "strings", "brass",
    "saxophone", "flute", "synth lead", "synth pad", "synth pad", "sitar", "drums", "synth pad",
]  # fmt: skip
_PROGRAM_TO_NAME = {p: n for n, p in INSTRUMENTS.items() if p >= 0}


def normalize_instrument(name: str) -> str:
    """Canonical instrument name for ``name`` (case/alias tolerant), or an ``UnknownNameError``
    that lists the valid names and suggests the closest."""
    key = " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())
    if key in INSTRUMENTS:
        return key
    if key in INSTRUMENT_ALIASES:
        return INSTRUMENT_ALIASES[key]
    dashed = str(name).lower().strip()
    if dashed in INSTRUMENT_ALIASES:
        return INSTRUMENT_ALIASES[dashed]
    if key.endswith("s") and key[:-1] in INSTRUMENTS:
        return key[:-1]
    raise unknown_name("instrument", name, INSTRUMENTS, also_accepted=INSTRUMENT_ALIASES)


def instrument_program(name: str) -> int:
    """GM program (0-127) for an instrument name; -1 for drums."""
    return INSTRUMENTS[normalize_instrument(name)]


def gm_program_to_instrument(program: int, is_drum: bool = False) -> str:
    """Canonical instrument name for a GM program (exact where we name it, else its family)."""
    if is_drum:
        return DRUMS
    if not 0 <= program <= 127:
        raise InputError(f"GM program {program} is out of range; allowed: 0 to 127.")
    return _PROGRAM_TO_NAME.get(program) or _FAMILY_DEFAULT[program // 8]
