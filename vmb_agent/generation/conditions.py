"""Conditioning as data: resolve one :class:`~vmb_agent.types.Conditions` from both bridges.

Precedence, field by field: explicit overrides > text bridge (the description's attributes) >
music bridge (blended references) > style defaults. The video (when scoring) fixes the length
and may nudge the tempo so cuts land on beats; ``origins`` records where every value came from.
Each field has one small resolver returning its value and origin; :data:`RESOLVERS` lists them
in the order they run (later fields read earlier ones: the style's tempo range needs the energy).

Style: a description's genres decide it through the vocabulary's one genre -> style table
(``prompts/vocabulary.toml`` ``[genre_styles]``), the first genre with a style winning, so the
describer's genres and the generated style never disagree. Only without such a genre do genre
words in the prose, then mood keywords and the prose's words, choose.

Instruments: explicit overrides are the exact ensemble. Instruments from the description or the
references are suggestions merged into the style's band: each takes the part its role matches
(``piano`` replaces a style's comping instrument, ``cello`` its bass line, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from vmb_agent.describe.vocabulary import style_for_genres
from vmb_agent.errors import OutOfRangeError, VMBError, check_range, unknown_name
from vmb_agent.generation.form import TIME_SIGNATURES, scale_sections
from vmb_agent.generation.references import BlendedReferences, analyze_reference, blend
from vmb_agent.generation.styles import (
    STYLES,
    StyleSpec,
    normalize_style,
    roles_for,
    style_scores,
)
from vmb_agent.theory import Key, normalize_instrument, parse_key
from vmb_agent.types import (
    ConditionOrigin,
    Conditions,
    GenerationOverrides,
    MusicAttributes,
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


def choose_style(words: list[str]) -> str | None:
    """The style whose genre words and keywords best match ``words``, or None without a match."""
    scores = style_scores(words)
    best = max(scores, key=lambda s: scores[s])
    return best if scores[best] > 0 else None


def description_style(description: MusicDescription) -> str | None:
    """The style a description asks for: its first genre with a style (the vocabulary's genre ->
    style table), else the first genre named in its prose (read as the describer reads words),
    else the best keyword match of its genres (twice) and moods, else of its prose's words."""
    attrs = description.attributes
    return (
        style_for_genres(attrs.genres)
        or _prose_genre_style(description.text)
        or choose_style([*attrs.genres, *attrs.genres, *attrs.moods])
        or choose_style(description.text.lower().replace(",", " ").split())
    )


def _prose_genre_style(text: str) -> str | None:
    from vmb_agent.describe.text import parse_text_attributes

    try:
        hints, _ = parse_text_attributes(text)
    except VMBError:  # e.g. "400 bpm" in hand-written prose: no genre to read there
        return None
    return style_for_genres(hints.genres)


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


# --------------------------------------------------------------------------------------------
# One resolver per field
# --------------------------------------------------------------------------------------------


class Resolved(NamedTuple):
    """A field's value and where it came from (``origin`` None: nothing to record)."""

    value: Any
    origin: ConditionOrigin | None


@dataclass
class _Context:
    """What the resolvers read: both bridges, the overrides and the fields resolved so far."""

    description: MusicDescription | None
    references: BlendedReferences | None
    overrides: GenerationOverrides
    seed: int
    video_duration_s: float | None
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, ConditionOrigin] = field(default_factory=dict)

    @property
    def attrs(self) -> MusicAttributes | None:
        return self.description.attributes if self.description is not None else None

    def described(self, name: str) -> Any:
        """A described attribute only when the description set it (a description that never
        set energy/valence carries the model's 0.5 default: not a choice)."""
        attrs = self.attrs
        return (
            getattr(attrs, name) if attrs is not None and name in attrs.model_fields_set else None
        )

    @property
    def spec(self) -> StyleSpec:
        return STYLES[self.values["style"]]


def _first(override: object, described: object, referenced: object, default: object) -> Resolved:
    """The precedence: the first given of override, description, reference, else the default."""
    for value, origin in ((override, "override"), (described, "description"),
                          (referenced, "reference")):  # fmt: skip
        if value is not None:
            return Resolved(value, origin)
    return Resolved(default, "default")


def _energy(c: _Context) -> Resolved:
    referenced = c.references.energy if c.references is not None else None
    value, origin = _first(c.overrides.energy, c.described("energy"), referenced, 0.5)
    return Resolved(float(value), origin)


def _valence(c: _Context) -> Resolved:
    value, origin = _first(c.overrides.valence, c.described("valence"), None, 0.5)
    return Resolved(float(value), origin)


def _style(c: _Context) -> Resolved:
    if c.overrides.style is not None:
        return Resolved(normalize_style(c.overrides.style), "override")
    if c.description is not None and (style := description_style(c.description)) is not None:
        return Resolved(style, "description")
    refs = c.references
    if refs is not None and refs.genres:
        style = style_for_genres(refs.genres) or choose_style(refs.genres)
        if style is not None:
            return Resolved(style, "reference")
    return Resolved(_DEFAULT_STYLE[_band(c.values["energy"], c.values["valence"])], "default")


def _duration(c: _Context) -> Resolved:
    """An explicit length wins, then the video's, then the description's."""
    attrs, source = c.attrs, c.description.source if c.description is not None else None
    if c.overrides.duration_s is not None:
        resolved = Resolved(float(c.overrides.duration_s), "override")
    elif c.video_duration_s is not None:
        resolved = Resolved(float(c.video_duration_s), "video")
    elif attrs is not None and attrs.duration_s is not None:
        resolved = Resolved(float(attrs.duration_s), "description")
    elif source is not None and source.duration_s:
        resolved = Resolved(float(source.duration_s), "description")
    else:
        resolved = Resolved(DEFAULT_DURATION_S, "default")
    check_duration(resolved.value)
    return resolved


def _tempo(c: _Context) -> Resolved:
    """Default: the style's tempo range, placed by energy."""
    low, high = c.spec.tempo_range
    default = round(low + (high - low) * c.values["energy"])
    described = c.attrs.tempo_bpm if c.attrs is not None else None
    referenced = c.references.tempo_bpm if c.references is not None else None
    value, origin = _first(c.overrides.tempo_bpm, described, referenced, default)
    return Resolved(float(np.clip(float(value), 30.0, 300.0)), origin)


def _key(c: _Context) -> Resolved:
    """Default: the mode from valence, a tonic from the style's list drawn by the seed."""
    refs = c.references
    referenced = refs.key.name if refs is not None and refs.key else None
    mode = "minor" if c.values["valence"] < 0.45 else "major"
    tonics = c.spec.minor_tonics if mode == "minor" else c.spec.major_tonics
    rng = np.random.default_rng(c.seed)
    default = Key(int(tonics[int(rng.integers(len(tonics)))]), mode).name
    described = c.attrs.key if c.attrs is not None else None
    value, origin = _first(c.overrides.key, described, referenced, default)
    return Resolved(parse_key(str(value)).name, origin)


def _meter(c: _Context) -> Resolved:
    """Unsupported meters from the bridges fall back to 4/4 (an explicit one is an error)."""
    described = c.described("time_signature")
    referenced = c.references.time_signature if c.references is not None else None
    value, origin = _first(
        c.overrides.time_signature,
        described if described in TIME_SIGNATURES else None,
        referenced if referenced in TIME_SIGNATURES else None,
        "4/4",
    )
    return Resolved(str(value), origin)


def _instruments(c: _Context) -> Resolved:
    """Overrides are the exact band; described or referenced ones join the style's band."""
    spec, attrs, refs = c.spec, c.attrs, c.references
    band = list(dict.fromkeys(p.instrument for p in spec.parts))
    if c.overrides.instruments is not None:
        named = dict.fromkeys(normalize_instrument(n) for n in c.overrides.instruments)
        return Resolved(list(named), "override")
    if attrs is not None and attrs.instruments:
        suggested = list(dict.fromkeys(normalize_instrument(n) for n in attrs.instruments))
        if len(suggested) >= FULL_ENSEMBLE:  # a whole band: keep it, add the style's drums
            drums = [p.instrument for p in spec.parts if p.role == "drums"]
            return Resolved(list(dict.fromkeys(suggested + drums))[:MAX_INSTRUMENTS], "description")
        return Resolved(merge_instruments(band, suggested), "description")
    if refs is not None and refs.instruments:
        return Resolved(merge_instruments(band, refs.instruments[:2]), "reference")
    return Resolved(band, "default")


def _loop(c: _Context) -> Resolved:
    value, origin = _first(c.overrides.loop, None, None, False)
    return Resolved(bool(value), origin)


def _loop_tempo(c: _Context) -> Resolved | None:
    """A loop is a whole number of bars long, so the meter runs on across the repeat: keep the
    length exact and move the tempo to the nearest whole-bar fit (origin "loop")."""
    if not c.values["loop"]:
        return None
    duration, tempo = c.values["duration_s"], c.values["tempo_bpm"]
    meter = c.values["time_signature"]
    bar_beats = int(meter.split("/")[0])
    bars = max(1, round(duration * tempo / 60.0 / bar_beats))
    fitted = bars * bar_beats * 60.0 / duration
    if not 30.0 <= fitted <= 300.0:
        raise OutOfRangeError(
            f"a {duration:g} s loop needs a tempo of {fitted:.1f} BPM to hold whole bars of "
            f"{meter}; allowed: 30 to 300 BPM. Choose a longer or shorter loop."
        )
    return Resolved(fitted, "loop") if abs(fitted - tempo) > 1e-6 else None


def _sections(c: _Context) -> Resolved:
    """The description's sections stretched to the length, else the references' energy arc."""
    d, refs, duration = c.description, c.references, c.values["duration_s"]
    if d is not None and d.sections:
        described_length = d.source.duration_s or d.attributes.duration_s
        return Resolved(scale_sections(d.sections, described_length, duration), "description")
    if refs is not None and refs.energy_curve and duration >= 20:
        return Resolved(_sections_from_curve(refs.energy_curve, duration), "reference")
    return Resolved([], "default")


def _cuts(c: _Context) -> Resolved:
    d = c.description
    cuts = [float(x) for x in (d.cuts_s if d is not None else []) if 0 < x < c.values["duration_s"]]
    if not cuts or d is None:
        return Resolved(cuts, None)
    return Resolved(cuts, "video" if d.source.kind == "video" else "description")


def _chords(c: _Context) -> Resolved:
    refs = c.references
    chords = refs.chords_in(parse_key(c.values["key"])) if refs is not None else []
    return Resolved(chords, "reference" if chords else None)


def _swing(c: _Context) -> Resolved:
    """The references' swing when they swing, else the style's feel."""
    material = c.references.material if c.references is not None else None
    referenced = material.swing if material is not None else None
    if referenced is not None:
        referenced = float(np.clip(referenced, 0.5, 0.75))
    value, origin = _first(c.overrides.swing, None, referenced, c.spec.swing)
    return Resolved(float(value), origin)


def _melody_density(c: _Context) -> Resolved:
    material = c.references.material if c.references is not None else None
    density = material.density if material is not None else None
    if density is None:
        return Resolved(None, None)
    return Resolved(float(density), "reference")


def _motif_source(c: _Context) -> Resolved:
    """The reference whose opening motif the main theme quotes."""
    material = c.references.material if c.references is not None else None
    source = c.references.motif_source if material is not None and material.motif else None
    return Resolved(source, "reference" if source is not None else None)


Resolver = Callable[[_Context], Resolved | None]
#: (field, resolver) in the order they run; a resolver returning None leaves the field as it is
RESOLVERS: tuple[tuple[str, Resolver], ...] = (
    ("energy", _energy),  # first: the defaults of other fields depend on energy and valence
    ("valence", _valence),
    ("style", _style),
    ("duration_s", _duration),
    ("tempo_bpm", _tempo),
    ("key", _key),
    ("time_signature", _meter),
    ("instruments", _instruments),
    ("loop", _loop),
    ("tempo_bpm", _loop_tempo),  # a loop refits the tempo to whole bars
    ("sections", _sections),
    ("cuts_s", _cuts),
    ("chords", _chords),
    ("swing", _swing),
    ("melody_density", _melody_density),
    ("motif_source", _motif_source),
)


def resolve_conditions(
    description: MusicDescription | None,
    references: BlendedReferences | list[TrackInfo] | None,
    overrides: GenerationOverrides,
    *,
    seed: int = 0,
    video_duration_s: float | None = None,
) -> Conditions:
    """Resolve explicit conditions with provenance (see the module docstring): each field's
    resolver in :data:`RESOLVERS`, in order, gives its value and where it came from."""
    check_overrides(overrides)
    if isinstance(references, list):
        references = blend([analyze_reference(t) for t in references])
    c = _Context(description, references, overrides, seed, video_duration_s)
    for name, resolver in RESOLVERS:
        resolved = resolver(c)
        if resolved is None:
            continue
        c.values[name] = resolved.value
        if resolved.origin is not None:
            c.origins[name] = resolved.origin
    _mark_transcribed(c.origins, references)
    v = c.values
    return Conditions(
        style=v["style"],
        tempo_bpm=round(v["tempo_bpm"], 3),
        key=v["key"],
        time_signature=v["time_signature"],
        instruments=v["instruments"],
        duration_s=round(v["duration_s"], 4),
        energy=round(v["energy"], 3),
        valence=round(v["valence"], 3),
        loop=v["loop"],
        sections=v["sections"],
        cuts_s=v["cuts_s"],
        chords=v["chords"],
        swing=round(v["swing"], 3),
        melody_density=None if v["melody_density"] is None else round(v["melody_density"], 3),
        motif_source=v["motif_source"],
        reference_ids=list(references.ids) if references is not None else [],
        reference_weights=list(references.weights) if references is not None else [],
        origins=c.origins,
    )


#: fields a reference gives from its notes, and the reference each came from
_NOTE_FIELDS = {
    "chords": lambda refs: refs.chords_source,
    "motif_source": lambda refs: refs.motif_source,
    "swing": lambda refs: refs.ids[0] if refs.ids else None,
    "melody_density": lambda refs: refs.ids[0] if refs.ids else None,
}


def _mark_transcribed(origins: dict, references: BlendedReferences | None) -> None:
    """Provenance: a value taken from an audio reference's transcription is marked
    ``reference:<id>:transcribed`` instead of plain ``reference``."""
    if references is None or not references.transcribed_ids:
        return
    for name, source in _NOTE_FIELDS.items():
        track_id = source(references)
        if origins.get(name) == "reference" and track_id in references.transcribed_ids:
            origins[name] = f"reference:{track_id}:transcribed"


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
    "RESOLVERS",
    "Resolved",
    "check_duration",
    "check_overrides",
    "choose_style",
    "description_style",
    "merge_instruments",
    "resolve_conditions",
]
