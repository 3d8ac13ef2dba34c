"""Conditioning as data: resolve one :class:`~vmb_agent.types.Conditions` from both bridges.

Precedence, field by field: explicit overrides > text bridge (the description's attributes) >
music bridge (blended references) > style defaults. The video (when scoring) fixes the length
and may nudge the tempo so cuts land on beats; ``origins`` records where every value came from.

Instruments: explicit overrides are the exact ensemble. Instruments from the description or the
references are suggestions merged into the style's band: each takes the part its role matches
(``piano`` replaces a style's comping instrument, ``cello`` its bass line, ...).
"""

from __future__ import annotations

import math

import numpy as np

from vmb_agent.errors import OutOfRangeError, check_range, unknown_name
from vmb_agent.generation.form import TIME_SIGNATURES, scale_sections
from vmb_agent.generation.references import BlendedReferences, analyze_reference, blend
from vmb_agent.generation.styles import STYLES, normalize_style, roles_for, style_scores
from vmb_agent.theory import Key, normalize_instrument, parse_key
from vmb_agent.types import (
    ConditionOrigin,
    Conditions,
    GenerationOverrides,
    MusicDescription,
    Section,
    TrackInfo,
)

DEFAULT_DURATION_S = 30.0
MIN_DURATION_S = 0.5
MAX_DURATION_S = 600.0
MAX_INSTRUMENTS = 8
FULL_ENSEMBLE = 3  # this many described instruments are taken as the whole band
#: style when neither bridge names one: (energy band, valence band) -> style
_DEFAULT_STYLE = {
    ("low", "dark"): "piano", ("low", "bright"): "ambient",
    ("mid", "dark"): "cinematic", ("mid", "bright"): "folk",
    ("high", "dark"): "rock", ("high", "bright"): "pop",
}  # fmt: skip


def _band(energy: float, valence: float) -> tuple[str, str]:
    e = "low" if energy < 0.35 else "high" if energy > 0.7 else "mid"
    return e, "dark" if valence < 0.45 else "bright"


def choose_style(words: list[str], energy: float, valence: float) -> str | None:
    """The style whose keywords best match ``words`` (genres first), or None without a match."""
    scores = style_scores(words)
    best = max(scores, key=lambda s: scores[s])
    return best if scores[best] > 0 else None


def check_overrides(overrides: GenerationOverrides) -> None:
    """Validate what pydantic cannot: names (style, instruments, key, meter) and ranges."""
    if overrides.style is not None:
        normalize_style(overrides.style)
    for name in overrides.instruments or []:
        normalize_instrument(name)
    if overrides.key is not None:
        parse_key(overrides.key)
    if overrides.time_signature is not None and overrides.time_signature not in TIME_SIGNATURES:
        raise unknown_name("time signature", overrides.time_signature, TIME_SIGNATURES)
    if overrides.tempo_bpm is not None:
        check_range("tempo_bpm", overrides.tempo_bpm, 30, 300)
    if overrides.duration_s is not None:
        check_duration(overrides.duration_s)
    if overrides.instruments is not None and not overrides.instruments:
        raise OutOfRangeError("instruments is an empty list; name at least one instrument.")


def check_duration(duration_s: float) -> float:
    """A piece lasts 0.5 s to 10 minutes."""
    if math.isnan(duration_s) or not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise OutOfRangeError(
            f"duration_s={duration_s:g} is out of range; allowed: "
            f"{MIN_DURATION_S:g} to {MAX_DURATION_S:g} s."
        )
    return duration_s


def resolve_conditions(
    description: MusicDescription | None,
    references: BlendedReferences | list[TrackInfo] | None,
    overrides: GenerationOverrides,
    *,
    seed: int = 0,
    video_duration_s: float | None = None,
) -> Conditions:
    """Resolve explicit conditions with provenance (see the module docstring)."""
    check_overrides(overrides)
    if isinstance(references, list):
        references = blend([analyze_reference(t) for t in references])
    attrs = description.attributes if description is not None else None
    given = attrs.model_fields_set if attrs is not None else set()
    origins: dict[str, ConditionOrigin] = {}
    rng = np.random.default_rng(seed)

    # energy / valence first: the defaults of other fields depend on them
    def pick(name: str, override: object, described: object, referenced: object, default: object):
        if override is not None:
            origins[name] = "override"
            return override
        if described is not None:
            origins[name] = "description"
            return described
        if referenced is not None:
            origins[name] = "reference"
            return referenced
        origins[name] = "default"
        return default

    # (a description that never set energy/valence carries the model's 0.5 default: not a choice)
    def described(name: str) -> object:
        return getattr(attrs, name) if attrs is not None and name in given else None

    energy = float(pick("energy", overrides.energy, described("energy"),
                        references.energy if references else None, 0.5))  # fmt: skip
    valence = float(pick("valence", overrides.valence, described("valence"), None, 0.5))

    # style
    if overrides.style is not None:
        style, origins["style"] = normalize_style(overrides.style), "override"
    else:
        style = None
        if attrs is not None:
            words = [*attrs.genres, *attrs.genres, *attrs.moods]
            style = choose_style(words, energy, valence)
            if style is None and description is not None:
                style = choose_style(
                    description.text.lower().replace(",", " ").split(), energy, valence
                )
            if style is not None:
                origins["style"] = "description"
        if style is None and references is not None and references.genres:
            style = choose_style(references.genres, energy, valence)
            if style is not None:
                origins["style"] = "reference"
        if style is None:
            style, origins["style"] = _DEFAULT_STYLE[_band(energy, valence)], "default"
    spec = STYLES[style]

    # duration: an explicit length wins, then the video's, then the description's
    if overrides.duration_s is not None:
        duration, origins["duration_s"] = float(overrides.duration_s), "override"
    elif video_duration_s is not None:
        duration, origins["duration_s"] = float(video_duration_s), "video"
    elif attrs is not None and attrs.duration_s is not None:
        duration, origins["duration_s"] = float(attrs.duration_s), "description"
    elif description is not None and description.source.duration_s:
        duration, origins["duration_s"] = float(description.source.duration_s), "description"
    else:
        duration, origins["duration_s"] = DEFAULT_DURATION_S, "default"
    check_duration(duration)

    # tempo
    low, high = spec.tempo_range
    tempo = float(pick("tempo_bpm", overrides.tempo_bpm, attrs.tempo_bpm if attrs else None,
                       references.tempo_bpm if references else None,
                       round(low + (high - low) * energy)))  # fmt: skip
    tempo = float(np.clip(tempo, 30.0, 300.0))

    # key
    ref_key = references.key.name if references is not None and references.key else None
    default_mode = "minor" if valence < 0.45 else "major"
    tonics = spec.minor_tonics if default_mode == "minor" else spec.major_tonics
    default_key = Key(int(tonics[int(rng.integers(len(tonics)))]), default_mode).name
    key = parse_key(
        str(pick("key", overrides.key, attrs.key if attrs else None, ref_key, default_key))
    ).name

    # meter: unsupported meters from the bridges fall back to 4/4 (an explicit one is an error)
    described_ts = attrs.time_signature if attrs is not None and "time_signature" in given else None
    ref_ts = references.time_signature if references is not None else None
    time_signature = str(pick("time_signature", overrides.time_signature,
                              described_ts if described_ts in TIME_SIGNATURES else None,
                              ref_ts if ref_ts in TIME_SIGNATURES else None, "4/4"))  # fmt: skip

    # instruments
    style_band = list(dict.fromkeys(p.instrument for p in spec.parts))
    if overrides.instruments is not None:
        instruments = list(dict.fromkeys(normalize_instrument(n) for n in overrides.instruments))
        origins["instruments"] = "override"
    elif attrs is not None and attrs.instruments:
        suggested = list(dict.fromkeys(normalize_instrument(n) for n in attrs.instruments))
        if len(suggested) >= FULL_ENSEMBLE:  # a whole band: keep it, add the style's drums
            drums = [p.instrument for p in spec.parts if p.role == "drums"]
            instruments = list(dict.fromkeys(suggested + drums))[:MAX_INSTRUMENTS]
        else:
            instruments = merge_instruments(style_band, suggested)
        origins["instruments"] = "description"
    elif references is not None and references.instruments:
        instruments = merge_instruments(style_band, references.instruments[:2])
        origins["instruments"] = "reference"
    else:
        instruments, origins["instruments"] = style_band, "default"

    loop = bool(pick("loop", overrides.loop, None, None, False))
    if loop:
        # a loop is a whole number of bars long, so the meter runs on across the repeat: keep
        # the length exact and move the tempo to the nearest whole-bar fit (origin "loop")
        bar_beats = int(time_signature.split("/")[0])
        bars = max(1, round(duration * tempo / 60.0 / bar_beats))
        fitted = bars * bar_beats * 60.0 / duration
        if not 30.0 <= fitted <= 300.0:
            raise OutOfRangeError(
                f"a {duration:g} s loop needs a tempo of {fitted:.1f} BPM to hold whole bars of "
                f"{time_signature}; allowed: 30 to 300 BPM. Choose a longer or shorter loop."
            )
        if abs(fitted - tempo) > 1e-6:
            tempo, origins["tempo_bpm"] = fitted, "loop"

    sections: list[Section] = []
    if description is not None and description.sections:
        described_length = description.source.duration_s or description.attributes.duration_s
        sections = scale_sections(description.sections, described_length, duration)
        origins["sections"] = "description"
    elif references is not None and references.energy_curve and duration >= 20:
        sections = _sections_from_curve(references.energy_curve, duration)
        origins["sections"] = "reference"
    else:
        origins["sections"] = "default"
    cuts = [
        float(c)
        for c in (description.cuts_s if description is not None else [])
        if 0 < c < duration
    ]
    if cuts:
        origins["cuts_s"] = (
            "video" if description and description.source.kind == "video" else "description"
        )

    chords = references.chords_in(parse_key(key)) if references is not None else []
    if chords:
        origins["chords"] = "reference"

    # groove: swing and melody density from the references (the style's feel otherwise), and
    # the reference whose opening motif the main theme quotes
    material = references.material if references is not None else None
    referenced_swing = material.swing if material is not None else None
    if referenced_swing is not None:
        referenced_swing = float(np.clip(referenced_swing, 0.5, 0.75))
    swing = float(pick("swing", overrides.swing, None, referenced_swing, spec.swing))
    density = material.density if material is not None else None
    if density is not None:
        origins["melody_density"] = "reference"
    motif_source = references.motif_source if material is not None and material.motif else None
    if motif_source is not None:
        origins["motif_source"] = "reference"

    return Conditions(
        style=style,
        tempo_bpm=round(tempo, 3),
        key=key,
        time_signature=time_signature,
        instruments=instruments,
        duration_s=round(duration, 4),
        energy=round(energy, 3),
        valence=round(valence, 3),
        loop=loop,
        sections=sections,
        cuts_s=cuts,
        chords=chords,
        swing=round(swing, 3),
        melody_density=None if density is None else round(float(density), 3),
        motif_source=motif_source,
        reference_ids=list(references.ids) if references is not None else [],
        reference_weights=list(references.weights) if references is not None else [],
        origins=origins,
    )


def merge_instruments(style_band: list[str], suggested: list[str]) -> list[str]:
    """Put suggested instruments into the style's band: each replaces the band member playing
    its best role (keeping drums and bass unless the suggestion is one), extras are added."""
    band = list(style_band)
    for name in suggested:
        if name in band:
            continue
        role = roles_for(name)[0]
        replace = next(
            (i for i, member in enumerate(band)
             if roles_for(member)[0] == role and member not in suggested),
            None,
        )  # fmt: skip
        if replace is not None:
            band[replace] = name
        else:
            band.append(name)
    return list(dict.fromkeys(band))[:MAX_INSTRUMENTS]


def _sections_from_curve(curve: list[float], duration: float) -> list[Section]:
    """The reference's energy curve as sections: intro, theme, contrast, climax, outro."""
    labels = ["intro", "theme", "contrast", "climax", "outro"]
    bounds = np.linspace(0.0, duration, len(labels) + 1)
    xs = np.linspace(0, 1, len(curve))
    sections = []
    for i, label in enumerate(labels):
        mid = (bounds[i] + bounds[i + 1]) / 2 / duration
        level = float(np.interp(mid, xs, curve))
        sections.append(Section(start_s=float(bounds[i]), end_s=float(bounds[i + 1]), label=label,
                                energy=round(float(np.clip(0.15 + 0.85 * level, 0, 1)), 3)))  # fmt: skip
    return sections


__all__ = [
    "check_duration",
    "check_overrides",
    "choose_style",
    "merge_instruments",
    "resolve_conditions",
]
