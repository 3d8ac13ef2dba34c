"""The documented mapping from measured visual features to music attributes.

All numbers live here, named, with the finding behind them (docs/describe.md explains each):

* **Valence** (pleasure) follows Valdez & Mehrabian (1994), who found pleasure = 0.69 brightness +
  0.22 saturation (standardised), plus warmth: Palmer et al. (2013, PNAS) found lighter, more
  saturated and yellower/warmer colours matched to happier, major-mode music.
* **Energy** (arousal) follows Valdez & Mehrabian's saturation -> arousal (0.60) with contrast,
  colourfulness and visual complexity (more edges read as busier, e.g. Berlyne's arousal
  potential). Their weak brightness -> arousal term (-0.31) is left out because for *music*
  Palmer et al. found lighter colours matched to faster music, and we follow the music study.
  For video, motion and cutting pace dominate (Lipscomb & Kendall 1994; Kim & Iwamiya 2008:
  faster visual motion and cutting match faster, more intense music; Eitan & Granot 2006).
* **Tempo** rises with energy and, less, with valence; **mode** is major when valence >= 0.5
  (Gabrielsson & Lindstroem 2010: fast tempo <-> activity, major mode <-> happiness).
* **Tonic**: the dominant hue picks a key around the circle of fifths (Scriabin's colour
  keyboard: red C, orange G, yellow D, green A, ...). An artistic convention, not a finding.
* **Genres, moods, instruments** come from the nearest profiles of ``prompts/vocabulary.toml`` in
  the valence/energy plane (Russell's circumplex), then the caller's context words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from vmb_agent.describe.features import ColourFeatures
from vmb_agent.describe.text import TextHints, order_genres, parse_text_attributes
from vmb_agent.describe.vocabulary import Profile, Vocabulary, load_vocabulary
from vmb_agent.theory import Key, parse_key
from vmb_agent.types import Evidence, MusicAttributes, Section

# Typical values of the features over everyday photos (mean, spread), used to standardise.
# Saturation is reliability-weighted (features.colour_reliability): that leaves well-exposed
# mid-tones as plain HSV saturation and only fades shadows and highlights, so its norm stands
# (re-checked on the bundled examples and stock photos in docs/describe.md).
NORMS: dict[str, tuple[float, float]] = {
    "brightness": (0.45, 0.15),
    "saturation": (0.35, 0.15),
    "warmth": (0.06, 0.22),
    "colourfulness": (0.30, 0.15),
    "contrast": (0.22, 0.07),
    "complexity": (0.30, 0.15),
}
# Valdez & Mehrabian (1994) pleasure weights, plus Palmer et al. (2013) warmth.
VALENCE_WEIGHTS = {"brightness": 0.69, "saturation": 0.22, "warmth": 0.35}
# Valdez & Mehrabian (1994) arousal from saturation, plus contrast, colourfulness and complexity.
AROUSAL_WEIGHTS = {"saturation": 0.60, "contrast": 0.25, "colourfulness": 0.20, "complexity": 0.35}
# Video energy: the picture's arousal, its motion and its cutting pace.
VIDEO_ENERGY_WEIGHTS = {"picture": 0.35, "motion": 0.40, "pace": 0.25}
MOTION_REFERENCE = 0.004  # luma change per 1/30 s (above the noise floor) that counts as medium
MOTION_SPREAD_DECADES = 0.4
PACE_REFERENCE_CPM = 12.0  # cuts per minute of a typically edited film (shots of ~5 s)
PACE_SPREAD_CPM = 8.0
TEMPO_BASE, TEMPO_PER_ENERGY, TEMPO_PER_VALENCE = 60.0, 90.0, 30.0
CONTEXT_WEIGHT = 0.4  # how far context words pull energy/valence towards their own level
MIN_HUE_STRENGTH = 0.15  # below this the picture has no dominant hue: C major / A minor
MAX_INSTRUMENTS = 5
MIN_SECTION_S = 2.0
MAX_SECTIONS = 8
LONG_SHOT_S = 24.0
#: Section energy = the piece's energy + these x (the span's value - the whole video's): motion
#: level leads (Eitan & Granot 2006: musical intensification <-> faster motion); brightness
#: (mean luma, 0..1) seasons it, so a darker stretch is calmer and a brighter one livelier
#: (Palmer et al. 2013: lighter colours <-> faster, more active music). A 0.3 luma swing, day to
#: night, moves a section by 0.09, a sixth of what the motion range (0.6) can.
SECTION_MOTION_WEIGHT = 0.6
SECTION_BRIGHTNESS_WEIGHT = 0.3
CIRCLE_OF_FIFTHS = [(i * 7) % 12 for i in range(12)]  # C G D A E B F# Db Ab Eb Bb F


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def standardise(name: str, value: float) -> float:
    mean, spread = NORMS[name]
    return (value - mean) / spread


@dataclass
class Mapping:
    """The attributes, their evidence and the sections for one source."""

    attributes: MusicAttributes
    evidence: list[Evidence]
    sections: list[Section]
    profile: Profile
    context_hints: TextHints | None = None


def picture_valence(colour: ColourFeatures) -> tuple[float, dict[str, float]]:
    z = {name: standardise(name, getattr(colour, name)) for name in VALENCE_WEIGHTS}
    score = sum(VALENCE_WEIGHTS[name] * z[name] for name in VALENCE_WEIGHTS)
    return logistic(score), {name: round(getattr(colour, name), 4) for name in VALENCE_WEIGHTS}


def picture_arousal(colour: ColourFeatures) -> tuple[float, dict[str, float]]:
    z = {name: standardise(name, getattr(colour, name)) for name in AROUSAL_WEIGHTS}
    score = sum(AROUSAL_WEIGHTS[name] * z[name] for name in AROUSAL_WEIGHTS)
    return logistic(score), {name: round(getattr(colour, name), 4) for name in AROUSAL_WEIGHTS}


def motion_level(motion: float) -> float:
    """0..1 level of a motion energy (log scale: perception of speed is roughly logarithmic)."""
    decades = (math.log10(max(motion, 1e-5)) - math.log10(MOTION_REFERENCE)) / MOTION_SPREAD_DECADES
    return logistic(decades)


def pace_level(cuts_per_minute: float) -> float:
    return logistic((cuts_per_minute - PACE_REFERENCE_CPM) / PACE_SPREAD_CPM)


def tempo_for(energy: float, valence: float) -> float:
    return TEMPO_BASE + TEMPO_PER_ENERGY * energy + TEMPO_PER_VALENCE * (valence - 0.5)


def key_for(colour: ColourFeatures | None, valence: float, profile: Profile) -> tuple[Key, str]:
    """Tonic from the dominant hue (circle of fifths), mode from valence."""
    mode = "major" if valence >= 0.5 else "minor"
    if colour is None:
        tonic = parse_key(profile.key).tonic
        return Key(tonic, mode), f"profile '{profile.name}' default tonic; mode from valence"
    if colour.hue_strength < MIN_HUE_STRENGTH:
        tonic = 0 if mode == "major" else 9
        return Key(tonic, mode), "no dominant hue -> C major / A minor; mode from valence"
    tonic = CIRCLE_OF_FIFTHS[round(colour.hue_deg / 30.0) % 12]
    rule = "dominant hue -> circle of fifths (Scriabin); mode: valence >= 0.5 major"
    return Key(tonic, mode), rule


def nearest_profiles(vocabulary: Vocabulary, valence: float, energy: float) -> list[Profile]:
    return sorted(
        vocabulary.profiles,
        key=lambda p: (math.hypot(p.valence - valence, p.energy - energy), p.name),
    )


def map_attributes(
    *,
    valence: float,
    energy: float,
    valence_features: dict[str, float],
    energy_features: dict[str, float],
    valence_rule: str,
    energy_rule: str,
    colour: ColourFeatures | None,
    duration_s: float | None,
    duration_rule: str,
    context: str | None,
    base_hints: TextHints | None = None,
    base_evidence: list[Evidence] | None = None,
) -> Mapping:
    """Turn a measured (valence, energy) point into attributes, blending in text hints.

    ``base_hints`` are hints from a text *source* (they are the description itself);
    ``context`` is the caller's hint for a picture (it shifts the measured values part-way).
    """
    vocabulary = load_vocabulary()
    evidence: list[Evidence] = list(base_evidence or [])
    hints = base_hints or TextHints()
    context_hints = None
    if context and context.strip():
        context_hints, context_evidence = parse_text_attributes(context)
        evidence.extend(
            e.model_copy(update={"rule": e.rule.replace("text '", "context '", 1)})
            for e in context_evidence
        )
        # Context words season a picture; a text source's own words outrank its context.
        hints = (
            _merge_hints(context_hints, hints) if base_hints else _merge_hints(hints, context_hints)
        )
        if context_hints.energy is not None:
            energy = (1 - CONTEXT_WEIGHT) * energy + CONTEXT_WEIGHT * context_hints.energy
            energy_rule += (
                f"; pulled {CONTEXT_WEIGHT:g} towards context level {context_hints.energy:g}"
            )
        if context_hints.valence is not None:
            valence = (1 - CONTEXT_WEIGHT) * valence + CONTEXT_WEIGHT * context_hints.valence
            valence_rule += (
                f"; pulled {CONTEXT_WEIGHT:g} towards context level {context_hints.valence:g}"
            )
    if hints.energy_delta:
        energy_rule += f"; {hints.energy_delta:+g} from the words"
    if hints.valence_delta:
        valence_rule += f"; {hints.valence_delta:+g} from the words"
    energy = _clip01(energy + hints.energy_delta)
    valence = _clip01(valence + hints.valence_delta)

    profiles = nearest_profiles(vocabulary, valence, energy)
    profile, second = profiles[0], profiles[1]
    place = {"valence": round(valence, 3), "energy": round(energy, 3)}
    profile_rule = (
        f"nearest profile '{profile.name}' (then '{second.name}') in the valence/energy plane"
    )

    genres = _first([*hints.genres[:2], *profile.genres], 3)
    moods = _first([*hints.moods[:2], *profile.moods[:2], second.moods[0]], 4)
    from_words = hints.instruments[: MAX_INSTRUMENTS if base_hints else 3]
    instruments = _first(
        [i for i in [*from_words, *profile.instruments] if i not in hints.removed_instruments],
        MAX_INSTRUMENTS,
    )
    if not instruments:  # everything was removed: keep one neutral voice
        instruments = _first(
            [i for i in ("piano", "strings", "synth pad") if i not in hints.removed_instruments]
            or ["piano"],
            1,
        )

    tempo, tempo_rule = _tempo(energy, valence, hints)
    key, key_rule = key_for(colour, valence, profile)
    if hints.key:
        key, key_rule = parse_key(hints.key), "named in the words"
    elif hints.mode and key.mode != hints.mode:
        key, key_rule = (
            Key(key.tonic, hints.mode),
            key_rule + f"; mode '{hints.mode}' from the words",
        )
    metre = hints.time_signature or hints.suggested_time_signature or "4/4"
    metre_rule = (
        "from the words"
        if metre != "4/4" or hints.time_signature
        else ("default common time: no visual cue for metre")
    )
    if hints.duration_s:
        duration_s, duration_rule = hints.duration_s, "named in the words"

    attributes = MusicAttributes(
        genres=genres,
        moods=moods,
        instruments=instruments,
        tempo_bpm=tempo,
        key=key.name,
        time_signature=metre,
        energy=round(energy, 3),
        valence=round(valence, 3),
        duration_s=round(duration_s, 3) if duration_s else None,
    )
    tempo_features = {**place}
    if hints.tempo_bpm or hints.suggested_tempo_bpm:
        tempo_features["word_tempo"] = float(hints.tempo_bpm or hints.suggested_tempo_bpm or 0)
    evidence.extend([
        Evidence(attribute="valence", value=f"{attributes.valence:.2f}",
                 features=valence_features, rule=valence_rule),
        Evidence(attribute="energy", value=f"{attributes.energy:.2f}",
                 features=energy_features, rule=energy_rule),
        Evidence(attribute="tempo_bpm", value=f"{tempo:g}", features=tempo_features,
                 rule=tempo_rule),
        Evidence(attribute="key", value=key.name, features=_key_features(colour, valence),
                 rule=key_rule),
        Evidence(attribute="time_signature", value=metre, features={}, rule=metre_rule),
        Evidence(attribute="genres", value=", ".join(genres), features=place, rule=profile_rule),
        Evidence(attribute="moods", value=", ".join(moods), features=place, rule=profile_rule),
        Evidence(attribute="instruments", value=", ".join(instruments), features=place,
                 rule=profile_rule + ("; words first, removals dropped" if hints.matched else "")),
        Evidence(attribute="duration_s",
                 value=f"{attributes.duration_s:g}" if attributes.duration_s else "none",
                 features={"duration_s": float(attributes.duration_s or 0.0)}, rule=duration_rule),
    ])  # fmt: skip
    return Mapping(attributes, evidence, [], profile, context_hints)


def _tempo(energy: float, valence: float, hints: TextHints) -> tuple[float, str]:
    formula = tempo_for(energy, valence)
    rule = (
        f"{TEMPO_BASE:g} + {TEMPO_PER_ENERGY:g} x energy + {TEMPO_PER_VALENCE:g} x (valence - 0.5) "
        "(Gabrielsson & Lindstroem: tempo tracks arousal, then valence)"
    )
    if hints.tempo_bpm:
        tempo, rule = hints.tempo_bpm, "named in the words"
    elif hints.suggested_tempo_bpm:
        tempo = 0.5 * formula + 0.5 * hints.suggested_tempo_bpm
        rule = (
            f"mean of the formula ({formula:.0f}) and the words' typical tempo "
            f"({hints.suggested_tempo_bpm:g})"
        )
    else:
        tempo = formula
    if hints.tempo_scale:
        tempo *= hints.tempo_scale
        rule += f"; x{hints.tempo_scale:g} from the words"
    return float(round(min(max(tempo, 30.0), 300.0))), rule


def _key_features(colour: ColourFeatures | None, valence: float) -> dict[str, float]:
    features = {"valence": round(valence, 3)}
    if colour is not None:
        features.update(
            hue_deg=round(colour.hue_deg, 1), hue_strength=round(colour.hue_strength, 3)
        )
    return features


def _merge_hints(first: TextHints, second: TextHints) -> TextHints:
    """Hints of a text source with a context on top (the context wins where both speak)."""
    merged = TextHints(**first.__dict__)
    for name in ("genres", "named_genres", "moods", "instruments", "removed_instruments",
                 "matched"):  # fmt: skip
        setattr(merged, name, _first([*getattr(second, name), *getattr(first, name)], 99))
    merged.genres = order_genres(merged.genres, merged.named_genres)  # named genres lead
    for name in ("tempo_bpm", "suggested_tempo_bpm", "key", "mode", "time_signature",
                 "suggested_time_signature", "duration_s"):  # fmt: skip
        if getattr(second, name) is not None:
            setattr(merged, name, getattr(second, name))
    if second.tempo_scale:
        merged.tempo_scale = (first.tempo_scale or 1.0) * second.tempo_scale
    merged.energy_delta = first.energy_delta + second.energy_delta
    merged.valence_delta = first.valence_delta + second.valence_delta
    merged.instruments = [i for i in merged.instruments if i not in merged.removed_instruments]
    return merged


@dataclass(frozen=True)
class SectionCurve:
    """What one section's energy follows: the video's measured curve over that span."""

    motion_level: float  # motion_level() of the span's mean motion energy
    brightness: float  # mean luma of the span's frames, 0..1
    value: float  # the energy offset from the piece's: see video_sections


def video_sections(
    duration_s: float,
    cuts_s: list[float],
    energy: float,
    motion_in: Callable[[float, float], float],
    global_motion_level: float,
    brightness_in: Callable[[float, float], float] | None = None,
    global_brightness: float = 0.0,
) -> tuple[list[Section], list[SectionCurve]]:
    """Sections aligned to the video's segments: boundaries at cuts that leave at least
    ``MIN_SECTION_S`` on both sides, long shots split evenly, energy following the video's
    measured curve (local motion, then brightness); the section where that curve peaks is the
    climax.

    ``motion_in(start, end)`` returns the raw motion energy inside a span, ``brightness_in`` its
    mean luma (0..1). Returns the sections and, for the evidence, the curve values behind them.
    """
    bounds = [0.0, *[c for c in cuts_s if 0.0 < c < duration_s], duration_s]
    spans = [(a, b) for a, b in pairwise(bounds) if b > a]
    spans = _merge_short(spans)
    spans = _split_long(spans)
    while len(spans) > MAX_SECTIONS:
        spans = _merge_shortest(spans)
    curve = []
    for start, end in spans:
        local = motion_level(motion_in(start, end))
        bright = brightness_in(start, end) if brightness_in else global_brightness
        value = SECTION_MOTION_WEIGHT * (local - global_motion_level) + (
            SECTION_BRIGHTNESS_WEIGHT * (bright - global_brightness)
        )
        curve.append(SectionCurve(round(local, 4), round(bright, 4), round(value, 4)))
    energies = [_clip01(energy + c.value, low=0.05) for c in curve]
    labels = _labels([c.value for c in curve])
    sections = [
        Section(start_s=round(a, 3), end_s=round(b, 3), label=label, energy=round(e, 3))
        for (a, b), label, e in zip(spans, labels, energies, strict=True)
    ]
    return sections, curve


def _merge_short(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Grow each section shot by shot until it lasts ``MIN_SECTION_S``; a short tail joins the
    section before it. Boundaries therefore stay on cuts."""
    merged: list[tuple[float, float]] = []
    current: tuple[float, float] | None = None
    for start, end in spans:
        current = (current[0], end) if current else (start, end)
        if current[1] - current[0] >= MIN_SECTION_S:
            merged.append(current)
            current = None
    if current is not None:
        if merged:
            merged[-1] = (merged[-1][0], current[1])
        else:
            merged.append(current)
    return merged


def _split_long(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Split shots longer than ``LONG_SHOT_S`` so a long take still gets an arc."""
    out: list[tuple[float, float]] = []
    for start, end in spans:
        parts = max(1, math.ceil((end - start) / LONG_SHOT_S))
        if len(spans) == 1 and end - start >= 4 * MIN_SECTION_S:
            parts = max(parts, min(4, int((end - start) // (2 * MIN_SECTION_S))))
        step = (end - start) / parts
        out.extend((start + i * step, start + (i + 1) * step) for i in range(parts))
    return out


def _merge_shortest(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    lengths = [b - a for a, b in spans]
    i = lengths.index(min(lengths))
    j = i - 1 if i == len(spans) - 1 or (i > 0 and lengths[i - 1] <= lengths[i + 1]) else i + 1
    lo, hi = min(i, j), max(i, j)
    return [*spans[:lo], (spans[lo][0], spans[hi][1]), *spans[hi + 1 :]]


def _labels(curve: list[float]) -> list[str]:
    """Section roles from the measured curve (before energies are clipped to 0..1, so ties at the
    ends cannot move it): its peak is the climax (when it stands out), the span just before it
    the build, the first the intro and the last the outro."""
    n = len(curve)
    if n == 1:
        return ["main"]
    peak = max(range(n), key=lambda i: (curve[i], -i))
    stands_out = curve[peak] - min(curve) >= 0.05
    labels = []
    for i, value in enumerate(curve):
        if i == peak and stands_out:
            labels.append("climax")
        elif i == 0:
            labels.append("intro")
        elif i == n - 1:
            labels.append("outro")
        elif i == peak - 1 and stands_out:
            labels.append("build")
        elif i > peak and stands_out and value < curve[peak] - 0.1:
            labels.append("breakdown")
        else:
            labels.append("verse")
    return labels


def _first(items: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(items))[:limit]


def _clip01(value: float, low: float = 0.0) -> float:
    return min(max(value, low), 1.0)
