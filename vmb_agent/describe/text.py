"""A deterministic parser of free text into musical hints (no model, no network).

Used three ways: a text prompt as a source (``vmb describe "slow piano in D minor"``), the
caller's ``context`` blended into a visual description, and (by ``vmb chat``) edits of an existing
description such as ``"faster"``, ``"in D minor"``, ``"add piano, no drums"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vmb_agent.describe.vocabulary import Term, Vocabulary, load_vocabulary
from vmb_agent.errors import OutOfRangeError
from vmb_agent.theory import INSTRUMENT_ALIASES, INSTRUMENTS, normalize_instrument, parse_key
from vmb_agent.types import Evidence, MusicAttributes

_BPM_RE = re.compile(
    r"(\d{1,3}(?:\.\d+)?)\s*(?:bpm|b\.p\.m\.?|beats\s+(?:per|a)\s+minute)\b"
    r"|\btempo\s*(?:of|at|=|:)?\s*(\d{1,3}(?:\.\d+)?)\b",
    re.IGNORECASE,
)
_KEY_RE = re.compile(
    r"(?:\b(?:in(?:\s+the\s+key\s+of)?|key\s*(?:of|:|=)?)\s+)"
    r"([A-Ga-g](?:\s*(?:#|♯|♭|b(?![a-z])|-?sharp|-?flat))?)\s*(major|minor|maj|min|m)?(?![\w#])"
    r"|\b([A-G](?:#|♯|♭|b)?)\s*(major|minor)\b",
)
_DURATION_RE = re.compile(
    r"\b(\d{1,4}(?:\.\d+)?)\s*-?\s*(seconds?|secs?|s|minutes?|mins?)(?![\w])"
    r"|\b(\d{1,2}):([0-5]\d)\b(?!\s*(?:am|pm))",
    re.IGNORECASE,
)
_METER_RE = re.compile(r"(?<![\d/])(\d{1,2})/(2|4|8|16)(?![\d/])")
_LIST_GLUE = {"", "the", "a", "an", "any", "and", "or", "nor", "all", "of", "more", "its", "their"}


@dataclass
class TextHints:
    """What a piece of text says about the music. Every field is ``None``/empty when the text
    does not mention it, so hints can be layered over an existing description.

    Absolute values: ``tempo_bpm`` (a number like "120 bpm" or a word like "fast"), ``key``
    ("in D minor" -> "D minor"), ``mode`` ("in a minor key" -> "minor", no tonic),
    ``time_signature`` ("3/4", "waltz"), ``energy`` / ``valence`` (0..1, mean of the levels of
    the mood/genre/scene words found), ``duration_s`` ("45 seconds", "2 minutes", "1:30").
    Relative edits: ``tempo_scale`` ("faster" -> 1.15, "much slower" -> 0.75), ``energy_delta``
    ("more energetic" -> +0.15), ``valence_delta`` ("darker" -> -0.15).
    Lists (canonical names, in order of mention, no duplicates): ``genres``, ``moods``,
    ``instruments`` (to use or add) and ``removed_instruments`` ("no drums", "without the
    piano"). ``genres`` lists the genres named outright first (``named_genres``: "synthwave",
    "punk"), then those scene and modifier words suggest ("chase" -> action score), so a named
    genre decides the generator's style. ``suggested_tempo_bpm`` / ``suggested_time_signature`` come from scene or genre
    words ("slow dance" -> 72, "waltz" -> 3/4) and are weaker than explicit values.
    ``matched`` lists the phrases recognised, in order.
    """

    genres: list[str] = field(default_factory=list)
    named_genres: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)
    removed_instruments: list[str] = field(default_factory=list)
    tempo_bpm: float | None = None
    suggested_tempo_bpm: float | None = None
    tempo_scale: float | None = None
    key: str | None = None
    mode: str | None = None
    time_signature: str | None = None
    suggested_time_signature: str | None = None
    energy: float | None = None
    valence: float | None = None
    energy_delta: float = 0.0
    valence_delta: float = 0.0
    duration_s: float | None = None
    matched: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.matched


def parse_text_attributes(text: str) -> tuple[TextHints, list[Evidence]]:
    """Parse free text into :class:`TextHints` plus one :class:`Evidence` per recognised phrase.

    Deterministic and offline: numbers and keys by regular expressions, words by the vocabulary
    in ``prompts/vocabulary.toml`` (longest phrase wins; plurals accepted). Examples::

        parse_text_attributes("fast synthwave in D minor, 45 seconds, no drums")
        # -> tempo_bpm=140, key="D minor", genres=["synthwave"], duration_s=45,
        #    removed_instruments=["drums"], instruments=["synth lead", "synth bass", ...]
        parse_text_attributes("faster and darker, add piano")
        # -> tempo_scale=1.15, valence_delta=-0.15, instruments=["piano"]

    Raises ``OutOfRangeError`` for an explicit tempo outside 30-300 BPM or a duration outside
    (0, 600] s. Apply the result to existing attributes with :func:`apply_hints`.
    """
    vocabulary = load_vocabulary()
    hints = TextHints()
    evidence: list[Evidence] = []
    lowered = " ".join(text.split())
    taken: list[tuple[int, int]] = []

    for match in _BPM_RE.finditer(lowered):
        value = float(match.group(1) or match.group(2))
        if not 30 <= value <= 300:
            raise OutOfRangeError(
                f"tempo {value:g} BPM in the text is out of range; allowed: 30 to 300."
            )
        hints.tempo_bpm = value
        taken.append(match.span())
        evidence.append(_said("tempo_bpm", f"{value:g}", match.group(0), "explicit tempo in BPM"))

    for match in _KEY_RE.finditer(lowered):
        if _overlaps(match.span(), taken):
            continue
        tonic = match.group(1) or match.group(3)
        mode = match.group(2) or match.group(4)
        prefix = match.group(0)[: match.start(1) - match.start()] if match.group(1) else ""
        if tonic == "a" and (mode in (None, "m") or lowered[match.end() :].startswith(" key")):
            continue  # "in a ...", "in a minor key": an article, not the note A
        if mode is None and "key" not in prefix:
            continue  # "in D" alone is too ambiguous; "in the key of D" is fine
        if tonic == tonic.lower() and "key" not in prefix and mode in ("m", None):
            continue
        key = parse_key(f"{tonic} {mode or 'major'}".replace("- ", "")).name
        hints.key = key
        taken.append(match.span())
        evidence.append(_said("key", key, match.group(0).strip(), "explicit key"))

    for match in _DURATION_RE.finditer(lowered):
        if _overlaps(match.span(), taken):
            continue
        if match.group(3):
            seconds = int(match.group(3)) * 60 + int(match.group(4))
        else:
            unit = match.group(2).lower()
            seconds = float(match.group(1)) * (60 if unit.startswith("m") else 1)
        if not 0 < seconds <= 600:
            raise OutOfRangeError(
                f"duration {seconds:g} s in the text is out of range; allowed: up to 600 s."
            )
        hints.duration_s = float(seconds)
        taken.append(match.span())
        evidence.append(_said("duration_s", f"{seconds:g}", match.group(0), "explicit duration"))

    for match in _METER_RE.finditer(lowered):
        if _overlaps(match.span(), taken):
            continue
        hints.time_signature = match.group(0)
        taken.append(match.span())
        evidence.append(_said("time_signature", match.group(0), match.group(0), "explicit metre"))

    _match_phrases(lowered, vocabulary, hints, evidence, taken)
    return hints, evidence


def _match_phrases(
    text: str,
    vocabulary: Vocabulary,
    hints: TextHints,
    evidence: list[Evidence],
    taken: list[tuple[int, int]],
) -> None:
    energies: list[float] = []
    valences: list[float] = []
    last_end = 0
    negated_run = False
    for match in vocabulary.phrase_pattern.finditer(text):
        if _overlaps(match.span(), taken):
            continue
        phrase = " ".join(match.group(1).lower().replace("-", " ").split())
        raw = match.group(1).lower()
        gap = text[last_end : match.start()].lower()
        last_end = match.end()
        hints.matched.append(raw)
        instrument = _instrument(raw) or _instrument(phrase)
        term = vocabulary.terms.get(raw) or vocabulary.terms.get(phrase)
        if instrument and (term is None or len(raw.split()) > 1 or raw in INSTRUMENTS):
            negated_run = _negates(gap, vocabulary.negations) or (
                negated_run and _is_list_glue(gap)
            )
            target = hints.removed_instruments if negated_run else hints.instruments
            if instrument not in target:
                target.append(instrument)
            if negated_run and instrument in hints.instruments:
                hints.instruments.remove(instrument)
            rule = "removed by negation" if negated_run else "instrument named in text"
            evidence.append(_said("instruments", instrument, raw, rule))
            continue
        negated_run = False
        if raw in vocabulary.tempo_words:
            hints.tempo_bpm = hints.tempo_bpm or vocabulary.tempo_words[raw]
            evidence.append(
                _said("tempo_bpm", f"{vocabulary.tempo_words[raw]:g}", raw, "tempo word")
            )
        elif raw in vocabulary.tempo_changes:
            hints.tempo_scale = (hints.tempo_scale or 1.0) * vocabulary.tempo_changes[raw]
            evidence.append(
                _said("tempo_bpm", f"x{vocabulary.tempo_changes[raw]:g}", raw, "tempo change")
            )
        elif raw in vocabulary.energy_changes:
            hints.energy_delta += vocabulary.energy_changes[raw]
            evidence.append(
                _said("energy", f"{vocabulary.energy_changes[raw]:+g}", raw, "energy change")
            )
        elif raw in vocabulary.valence_changes:
            hints.valence_delta += vocabulary.valence_changes[raw]
            evidence.append(
                _said("valence", f"{vocabulary.valence_changes[raw]:+g}", raw, "valence change")
            )
        elif raw in vocabulary.mode_words:
            hints.mode = vocabulary.mode_words[raw]
            evidence.append(_said("key", hints.mode, raw, "mode word"))
        elif raw in vocabulary.time_signature_words:
            hints.time_signature = hints.time_signature or vocabulary.time_signature_words[raw]
            evidence.append(_said("time_signature", hints.time_signature, raw, "metre word"))
        elif term is not None:
            _add_term(term, raw, hints, evidence, energies, valences)
    if energies:
        hints.energy = round(sum(energies) / len(energies), 3)
    if valences:
        hints.valence = round(sum(valences) / len(valences), 3)


def _add_term(
    term: Term,
    raw: str,
    hints: TextHints,
    evidence: list[Evidence],
    energies: list[float],
    valences: list[float],
) -> None:
    rule = f"vocabulary term '{term.name}'"
    for attribute, values, target in (
        ("genres", term.genres, hints.genres),
        ("moods", term.moods, hints.moods),
        ("instruments", term.instruments, hints.instruments),
    ):
        added = [v for v in values if v not in target and v not in hints.removed_instruments]
        target.extend(added)
        if added:
            evidence.append(_said(attribute, ", ".join(added), raw, rule))
    if not term.weak:  # a named genre goes before the genres scene words suggest
        hints.named_genres.extend(g for g in term.genres if g not in hints.named_genres)
        hints.genres[:] = order_genres(hints.genres, hints.named_genres)
    if term.energy is not None:
        energies.append(term.energy)
        evidence.append(_said("energy", f"{term.energy:g}", raw, rule))
    if term.valence is not None:
        valences.append(term.valence)
        evidence.append(_said("valence", f"{term.valence:g}", raw, rule))
    if term.tempo_bpm is not None and hints.suggested_tempo_bpm is None:
        hints.suggested_tempo_bpm = term.tempo_bpm
        evidence.append(_said("tempo_bpm", f"{term.tempo_bpm:g}", raw, rule))
    if term.time_signature and hints.suggested_time_signature is None:
        hints.suggested_time_signature = term.time_signature
        evidence.append(_said("time_signature", term.time_signature, raw, rule))


def apply_hints(attributes: MusicAttributes, hints: TextHints) -> MusicAttributes:
    """Return a copy of ``attributes`` edited by ``hints`` (an edit such as "faster, in D minor,
    add piano, no drums"): explicit values replace, relative changes scale or shift, named
    genres/moods/instruments go first, removed instruments are dropped."""
    updated = attributes.model_copy(deep=True)
    tempo = hints.tempo_bpm or updated.tempo_bpm or hints.suggested_tempo_bpm
    if tempo is not None and hints.tempo_scale:
        tempo = tempo * hints.tempo_scale
    if tempo is not None:
        updated.tempo_bpm = round(min(max(tempo, 30.0), 300.0), 1)
    if hints.key:
        updated.key = hints.key
    elif hints.mode and updated.key:
        tonic = parse_key(updated.key)
        updated.key = (tonic if tonic.mode == hints.mode else tonic.relative).name
    updated.time_signature = (
        hints.time_signature or hints.suggested_time_signature or updated.time_signature
    )
    energy = hints.energy if hints.energy is not None else updated.energy
    valence = hints.valence if hints.valence is not None else updated.valence
    updated.energy = round(min(max(energy + hints.energy_delta, 0.0), 1.0), 3)
    updated.valence = round(min(max(valence + hints.valence_delta, 0.0), 1.0), 3)
    if hints.duration_s:
        updated.duration_s = hints.duration_s
    updated.genres = list(dict.fromkeys([*hints.genres, *updated.genres]))
    updated.moods = list(dict.fromkeys([*hints.moods, *updated.moods]))
    instruments = list(dict.fromkeys([*hints.instruments, *updated.instruments]))
    updated.instruments = [i for i in instruments if i not in hints.removed_instruments]
    return updated


def order_genres(genres: list[str], named: list[str]) -> list[str]:
    """``genres`` with the ``named`` ones first (each group in its own order, no duplicates)."""
    return list(dict.fromkeys([*(g for g in named if g in genres), *genres]))


def _instrument(phrase: str) -> str | None:
    if phrase in INSTRUMENTS or phrase in INSTRUMENT_ALIASES:
        return normalize_instrument(phrase)
    return None


def _negates(gap: str, negations: tuple[str, ...]) -> bool:
    """Whether the words just before an instrument end with a negation ("no", "without the")."""
    words = re.findall(r"[a-z']+", gap)
    while words and words[-1] in _LIST_GLUE and words[-1] not in negations:
        words.pop()
    tail = " ".join(words[-3:])
    return any(tail == n or tail.endswith(" " + n) for n in negations)


def _is_list_glue(gap: str) -> bool:
    """A gap between two instruments that keeps a negated list going ("no drums, bass or piano")."""
    words = re.findall(r"[a-z']+", gap)
    return all(w in _LIST_GLUE for w in words) and "." not in gap and ";" not in gap


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def _said(attribute: str, value: str, phrase: str, rule: str) -> Evidence:
    return Evidence(attribute=attribute, value=value, features={}, rule=f"text '{phrase}': {rule}")
