"""Chords: roman numerals in a key, chord names, templates for recognition and voice leading.

A progression is written in roman numerals relative to the key (``"i iv V i"``): upper case is a
major triad, lower case minor, ``°`` diminished, ``ø7`` half-diminished; ``7`` adds a minor
seventh (dominant on upper case), ``maj7`` a major seventh; a leading ``b`` lowers the root
(``bVII``). Minor-key roots come from the natural minor scale, so ``V`` in minor is the
harmonic-minor dominant with its raised leading tone — the strongest cue for the mode.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from vmb_agent.errors import InputError
from vmb_agent.theory import MAJOR_NAMES, MINOR_NAMES, Key

#: chord quality -> intervals above the root
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
}
_NAME_SUFFIX = {
    "maj": "", "min": "m", "dim": "dim", "aug": "aug", "7": "7", "maj7": "maj7", "m7": "m7",
    "m7b5": "m7b5", "sus2": "sus2", "sus4": "sus4",
}  # fmt: skip
_ROMAN = {"i": 0, "ii": 1, "iii": 2, "iv": 3, "v": 4, "vi": 5, "vii": 6}
_ROMAN_RE = re.compile(r"^(b|#)?(vii|vi|v|iv|iii|ii|i)(°|ø|\+)?(maj7|7)?$", re.IGNORECASE)
_NAME_RE = re.compile(r"^([A-G])(#|b)?(maj7|m7b5|m7|7|dim|aug|sus2|sus4|m)?$")


@dataclass(frozen=True)
class Chord:
    root: int  # pitch class 0-11
    quality: str  # key of QUALITIES

    @property
    def pitch_classes(self) -> list[int]:
        return [(self.root + i) % 12 for i in QUALITIES[self.quality]]

    @property
    def triad(self) -> list[int]:
        return self.pitch_classes[:3]

    @property
    def name(self) -> str:
        return (
            f"{MINOR_NAMES[self.root] if self.root in (1, 8) else MAJOR_NAMES[self.root]}"
            + (_NAME_SUFFIX[self.quality])
        )


def roman_to_chord(numeral: str, key: Key) -> Chord:
    """``"V7"`` in A minor -> E7; ``"bVII"`` in C major -> Bb."""
    m = _ROMAN_RE.match(numeral.strip())
    if not m:
        raise InputError(f"cannot read roman numeral {numeral!r}; e.g. 'I', 'vi', 'V7', 'bVII'.")
    accidental, roman, mark, seventh = m.groups()
    degree = _ROMAN[roman.lower()]
    root = key.scale[degree] + (-1 if accidental == "b" else 1 if accidental == "#" else 0)
    upper = roman[0].isupper()
    if mark == "°":
        quality = "dim"
    elif mark == "ø":
        quality = "m7b5"
    elif mark == "+":
        quality = "aug"
    elif seventh == "maj7":
        quality = "maj7"
    elif seventh == "7":
        quality = "7" if upper else "m7"
    else:
        quality = "maj" if upper else "min"
    if mark == "°" and seventh == "7":
        quality = "m7b5"
    return Chord(root % 12, quality)


def progression(numerals: str, key: Key) -> list[Chord]:
    return [roman_to_chord(n, key) for n in numerals.split()]


def parse_chord_name(name: str) -> Chord:
    """``"Am"``, ``"F#7"``, ``"Bbmaj7"`` -> :class:`Chord`."""
    m = _NAME_RE.match(name.strip())
    if not m:
        raise InputError(f"cannot read chord {name!r}; e.g. 'Am', 'F', 'G7', 'Cmaj7'.")
    letter, accidental, suffix = m.groups()
    root = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter]
    root += 1 if accidental == "#" else -1 if accidental == "b" else 0
    quality = {None: "maj", "m": "min"}.get(suffix, suffix)
    return Chord(root % 12, str(quality))


def transpose(chord: Chord, semitones: int) -> Chord:
    return Chord((chord.root + semitones) % 12, chord.quality)


# --------------------------------------------------------------------------------------------
# Recognition (references): 24 triad templates matched against a pitch-class profile
# --------------------------------------------------------------------------------------------

_TEMPLATE_CHORDS = [Chord(r, q) for q in ("maj", "min") for r in range(12)]
_TEMPLATES = np.array(
    [[1.0 if pc in c.triad else 0.0 for pc in range(12)] for c in _TEMPLATE_CHORDS]
)
_TEMPLATES[:, :] /= np.linalg.norm(_TEMPLATES, axis=1, keepdims=True)


def match_chord(profile: np.ndarray) -> Chord | None:
    """The major/minor triad whose template best matches a 12-bin pitch-class profile."""
    norm = float(np.linalg.norm(profile))
    if norm <= 1e-9:
        return None
    scores = _TEMPLATES @ (np.asarray(profile, dtype=float) / norm)
    return _TEMPLATE_CHORDS[int(np.argmax(scores))]


# --------------------------------------------------------------------------------------------
# Voicing
# --------------------------------------------------------------------------------------------


MAX_VOICING_SPAN = 19  # an octave and a fifth: wider voicings sound thin in the middle


def voice_chord(
    chord: Chord, low: int, high: int, previous: list[int] | None, n_voices: int = 4,
    double_third: bool = False,
) -> list[int]:  # fmt: skip
    """The voicing of ``chord`` inside [low, high] that moves least from ``previous``.

    Candidates are all sets of ``n_voices`` chord-tone pitches spanning at most an octave and a
    fifth that sound every essential tone (a seventh chord in three voices drops its fifth).
    Doubling prefers the root, or the third with ``double_third`` (in minor it names the mode).
    Smooth voice leading = least summed motion, voice by voice.
    """
    key = (chord, low, high, tuple(sorted(previous)) if previous else None, n_voices, double_third)
    return list(_voice_chord(*key))


@functools.lru_cache(maxsize=4096)
def _voice_chord(chord: Chord, low: int, high: int, previous: tuple[int, ...] | None,
                 n_voices: int, double_third: bool) -> tuple[int, ...]:  # fmt: skip
    pcs = chord.pitch_classes
    if len(pcs) > n_voices:  # drop the fifth first, then the upper tones
        essential = [pcs[0], pcs[1], *pcs[3:]][:n_voices]
    else:
        essential = pcs
    required = set(essential)
    doubled = pcs[1] if double_third else pcs[0]
    pitches = [p for p in range(low, high + 1) if p % 12 in set(pcs)]
    best: tuple[int, ...] | None = None
    best_cost = float("inf")
    middle = (low + high) / 2
    for combo in combinations(pitches, n_voices):
        if combo[-1] - combo[0] > MAX_VOICING_SPAN:
            continue
        classes = [p % 12 for p in combo]
        if not required <= set(classes):
            continue
        cost = 0.0
        if len(set(classes)) < n_voices and classes.count(doubled) < 2:
            cost += 1.5  # double the preferred tone
        if previous and len(previous) == n_voices:
            cost += sum(abs(a - b) for a, b in zip(combo, previous, strict=True))
            cost += 0.25 * abs(sum(combo) / n_voices - sum(previous) / n_voices)
        else:
            cost += abs(sum(combo) / n_voices - middle) + 0.2 * (combo[-1] - combo[0])
        if cost < best_cost:
            best, best_cost = combo, cost
    if best is None:  # range too narrow: stack from the bottom anyway
        return tuple(sorted(low + ((pc - low) % 12) for pc in essential))
    return best


def nearest_pitch(pitch_classes: list[int], target: float, low: int, high: int) -> int:
    """The pitch in [low, high] whose class is in ``pitch_classes`` nearest to ``target``."""
    best, best_d = low, 1e9
    for p in range(low, high + 1):
        if p % 12 in pitch_classes:
            d = abs(p - target)
            if d < best_d:
                best, best_d = p, d
    return best


__all__ = [
    "QUALITIES",
    "Chord",
    "match_chord",
    "nearest_pitch",
    "parse_chord_name",
    "progression",
    "roman_to_chord",
    "transpose",
    "voice_chord",
]
