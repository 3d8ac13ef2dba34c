"""The shared data model: the two bridges and everything that crosses a stage boundary.

One pydantic model per concept. The SDK, the CLI (``--json``), the MCP tools (structured output)
and the tests all speak these types, and every model round-trips through JSON so an agent can
edit a description or a set of references and hand it back.

    image / video / text --describe--> MusicDescription      (text bridge)
    MusicDescription --search--> list[TrackMatch]            (music bridge)
    both bridges + overrides --generate--> GenerationResult  (what was asked, what was measured)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SourceKind = Literal["image", "video", "text"]
SearchMode = Literal["broad", "targeted", "dual"]
Scale = Literal["major", "minor"]
ConditionOrigin = (
    Literal["override", "description", "reference", "default", "video", "loop"]
    # a value the composer took from an audio reference's transcription
    | Annotated[str, StringConstraints(pattern=r"^reference:[\w.:-]{1,200}:transcribed$")]
)

#: ``progress(done, total, message)`` — the callback every long operation accepts.
ProgressCallback = Callable[[float, float | None, str | None], None]

# Caps on what a caller can hand in (a description, filters, overrides): far above anything VMB
# or a person writes, low enough that one request cannot hold a worker for long (400,000 cuts
# took 80 s) or come back as a megabyte-long error. Results VMB makes stay far below them.
MAX_NAMES = 32  # genres, moods, instruments in one list
MAX_NAME_CHARS = 100  # one genre / mood / instrument / style / label / backend name
MAX_KEY_CHARS = 40  # "F# minor", "Eb major", ...
MAX_TEXT_CHARS = 10_000  # a description's prose (describe writes 40-150 words)
MAX_CONTEXT_CHARS = 4000  # a caller's hint, as describe accepts it
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux
MAX_SECTIONS = 200
MAX_CUTS = 5000  # 600 s of music at one cut per 0.12 s; a long film's shots
MAX_EVIDENCE = 100
MAX_FEATURES = 200  # measured features in one map
MAX_PALETTE = 64

MAX_TAGS = 32  # labels stored with an indexed track
MAX_TAG_CHARS = 200

Name = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)]
FeatureName = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)]
#: ``{"project": "x"}``: the labels ``index_music`` / ``vmb library add --tag`` store
Tags = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)],
        Annotated[str, StringConstraints(max_length=MAX_TAG_CHARS)],
    ],
    Field(max_length=MAX_TAGS),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------------------------
# Text bridge
# --------------------------------------------------------------------------------------------


class MusicAttributes(_Model):
    """Explicit, editable musical attributes: the structured half of the text bridge."""

    genres: list[Name] = Field(
        default_factory=list, max_length=MAX_NAMES, description="e.g. ['cinematic', 'ambient']"
    )
    moods: list[Name] = Field(
        default_factory=list, max_length=MAX_NAMES, description="e.g. ['calm', 'nostalgic']"
    )
    instruments: list[Name] = Field(
        default_factory=list, max_length=MAX_NAMES, description="e.g. ['piano', 'strings']"
    )
    tempo_bpm: float | None = Field(None, ge=30, le=300, description="beats per minute")
    key: str | None = Field(
        None, max_length=MAX_KEY_CHARS, description="tonic and mode, e.g. 'A minor' or 'Eb major'"
    )
    time_signature: str = Field("4/4", pattern=r"^\d{1,2}/\d{1,2}$")
    energy: float = Field(0.5, ge=0, le=1, description="0 = very calm, 1 = very intense")
    valence: float = Field(0.5, ge=0, le=1, description="0 = dark/sad, 1 = bright/happy")
    duration_s: float | None = Field(None, gt=0, le=600, description="length of the music")


class Section(_Model):
    """A span of the piece with its own role and energy (aligned to video segments)."""

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    label: str = Field(
        max_length=MAX_NAME_CHARS, description="intro, verse, build, climax, outro, ..."
    )
    energy: float = Field(0.5, ge=0, le=1)


class Evidence(_Model):
    """Why an attribute has its value: the measured features behind it and the rule used."""

    attribute: str = Field(
        max_length=MAX_NAME_CHARS, description="the attribute this explains, e.g. 'tempo_bpm'"
    )
    value: str = Field(max_length=MAX_CONTEXT_CHARS, description="the value it led to, as text")
    features: dict[FeatureName, float] = Field(
        default_factory=dict, max_length=MAX_FEATURES, description="measured inputs"
    )
    rule: str = Field(
        max_length=MAX_CONTEXT_CHARS, description="the documented mapping that was applied"
    )


class SourceInfo(_Model):
    """What was described and by which backend."""

    path: str | None = Field(None, max_length=MAX_PATH_CHARS)
    kind: SourceKind
    backend: str = Field("analysis", max_length=MAX_NAME_CHARS)
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    context: str | None = Field(
        None,
        max_length=MAX_CONTEXT_CHARS,
        description="the caller's hint, e.g. 'wedding, slow dance'",
    )


class MusicDescription(_Model):
    """The text bridge: prose a musician can work from plus explicit attributes and evidence."""

    text: str = Field(
        max_length=MAX_TEXT_CHARS, description="prose description of the music, 40-150 words"
    )
    attributes: MusicAttributes = Field(default_factory=MusicAttributes)
    sections: list[Section] = Field(default_factory=list, max_length=MAX_SECTIONS)
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)
    source: SourceInfo
    cuts_s: list[float] = Field(
        default_factory=list,
        max_length=MAX_CUTS,
        description="video shot cuts (s) that music should land on",
    )
    features: dict[FeatureName, float] = Field(
        default_factory=dict,
        max_length=MAX_FEATURES,
        description="summary of the measured visual features",
    )
    palette: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        default_factory=list, max_length=MAX_PALETTE, description="dominant colours as #rrggbb"
    )
    warnings: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=8,
        description="one line each: where the description is not what was asked for (e.g. the "
        "vlm describer's answer was unusable and the analysis's is given instead)",
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Music bridge
# --------------------------------------------------------------------------------------------


class AudioTag(_Model):
    """One tag of the audio tagger (musicnn) with its probability."""

    tag: str = Field(max_length=MAX_NAME_CHARS)
    probability: float = Field(ge=0, le=1)


class TrackInfo(_Model):
    """What the library knows about one track (measured + metadata + caption)."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    id: str
    title: str
    path: str
    format: Literal["audio", "midi"]
    duration_s: float = 0.0
    tempo_bpm: float | None = None
    tempo_confidence: float | None = None
    key: str | None = None
    key_confidence: float | None = None
    time_signature: str | None = None
    instruments: list[str] = Field(default_factory=list)
    genres: list[str] = Field(default_factory=list)
    moods: list[str] = Field(default_factory=list)
    composer: str | None = None
    collection: str | None = None
    loudness_lufs: float | None = None
    energy: float | None = None
    brightness: float | None = None
    percussiveness: float | None = None
    onset_density: float | None = None
    note_density: float | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    audio_tags: list[AudioTag] = Field(
        default_factory=list,
        description="audio only: the audio tagger's (musicnn) top tags, the source of genres, "
        "moods and instruments the user did not give",
    )
    transcription_path: str | None = Field(
        None, description="audio only: the stored transcription (Basic Pitch notes, JSON)"
    )
    transcription_notes: int | None = None
    caption: str = ""


class TrackMatch(_Model):
    """One retrieved reference: the track, how well it fits, and why."""

    id: str
    title: str
    path: str
    score: float
    track: TrackInfo
    reasons: list[str] = Field(default_factory=list)


class SearchFilters(_Model):
    """Hard attribute constraints for the targeted track. ``None`` means unconstrained."""

    tempo_min: float | None = Field(None, ge=30, le=300)
    tempo_max: float | None = Field(None, ge=30, le=300)
    key: str | None = Field(
        None,
        max_length=MAX_KEY_CHARS,
        description="e.g. 'D minor' (exact key) or 'D' (either mode)",
    )
    mode: Scale | None = None
    instruments: list[Name] = Field(
        default_factory=list, max_length=MAX_NAMES, description="all must be present"
    )
    genre: str | None = Field(None, max_length=MAX_NAME_CHARS)
    mood: str | None = Field(None, max_length=MAX_NAME_CHARS)
    duration_min: float | None = Field(None, ge=0)
    duration_max: float | None = Field(None, ge=0)


class IngestReport(_Model):
    """Outcome of adding files to the library: what went in, what was skipped and why."""

    added: list[str] = Field(default_factory=list, description="ids of new tracks")
    unchanged: list[str] = Field(default_factory=list, description="ids already in the library")
    failed: dict[str, str] = Field(default_factory=dict, description="path -> one-line reason")
    seconds: float = 0.0


class LibraryStats(_Model):
    tracks: int
    by_format: dict[str, int] = Field(default_factory=dict)
    by_collection: dict[str, int] = Field(default_factory=dict)
    total_duration_s: float = 0.0
    location: str = ""
    embedder: str = Field("", description="the embedder whose index (collection) this is")
    index: str = Field("", description="the Chroma collection searched")


class BackendInfo(_Model):
    """One engine of one stage, and whether it can run on this machine (``vmb backends``)."""

    stage: Literal["describe", "embed", "generate", "render"]
    name: str
    selected: bool = Field(False, description="the one the settings choose for this stage")
    available: bool
    reason: str = Field("", description="why it cannot run here ('' when it can)")
    origin: str = Field("built-in", description="built-in, or the plugin distribution")
    setting: str = Field("", description="the VMB_* variable naming its weights, if any")


class SearchResult(_Model):
    """The music bridge: ranked matches plus notes (e.g. which constraint could not be met)."""

    mode: SearchMode
    query: str = ""
    filters: SearchFilters = Field(default_factory=SearchFilters)
    matches: list[TrackMatch] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


class GenerationOverrides(_Model):
    """Explicit controls from the user or agent; they win over both bridges."""

    style: str | None = Field(None, max_length=MAX_NAME_CHARS)
    tempo_bpm: float | None = Field(None, ge=30, le=300)
    key: str | None = Field(None, max_length=MAX_KEY_CHARS)
    # checked against the supported meters (with the list in the error) by check_overrides
    time_signature: str | None = Field(None, max_length=8, description="2/4, 3/4 or 4/4")
    instruments: list[Name] | None = Field(None, max_length=MAX_NAMES)
    duration_s: float | None = Field(None, ge=0.5, le=600)
    energy: float | None = Field(None, ge=0, le=1)
    valence: float | None = Field(None, ge=0, le=1)
    loop: bool | None = Field(
        None, description="a seamless loop: whole bars, no ending (the tempo moves to fit)"
    )
    swing: float | None = Field(
        None, ge=0.5, le=0.75,
        description="where the off-beat eighth falls in the beat: 0.5 straight, 0.67 triplet swing",
    )  # fmt: skip


class TempoMapBar(_Model):
    """One bar of the cue's click track."""

    bar: int = Field(description="the composed bar's number (0 = the first bar)")
    start_s: float
    tempo_bpm: float
    beats: float = Field(
        description="beats it plays: the meter, or fewer (a 2/4 or 3/4 bar, a pickup)"
    )
    first_beat: float = Field(0.0, description="beats of the bar left out before it (a pickup)")


class TempoMap(_Model):
    """The tempo map of a cue scored to picture: base tempo, range and every bar."""

    base_bpm: float
    min_bpm: float
    max_bpm: float
    beats_per_bar: int
    hits_s: list[float] = Field(default_factory=list, description="cuts set on downbeats")
    bars: list[TempoMapBar] = Field(default_factory=list)


class Conditions(_Model):
    """The resolved, explicit conditions the generator actually used, with provenance.

    Precedence: explicit overrides > text bridge > music bridge (references) > style defaults.
    ``origins`` maps each field name to where its value came from.
    """

    style: str
    tempo_bpm: float = Field(ge=30, le=300)
    key: str
    time_signature: str = "4/4"
    instruments: list[str]
    duration_s: float = Field(gt=0, le=600)
    energy: float = Field(ge=0, le=1)
    valence: float = Field(ge=0, le=1)
    loop: bool = False
    sections: list[Section] = Field(default_factory=list)
    cuts_s: list[float] = Field(default_factory=list)
    pickup_s: float = Field(
        0.0, ge=0, le=2, description="silence before the music starts (at most 0.1 s on a video)"
    )
    tempo_map: TempoMap | None = Field(
        None, description="scored to picture: every bar's tempo and length, hits on downbeats"
    )
    chords: list[str] = Field(default_factory=list, description="progression from references")
    swing: float | None = Field(
        None, ge=0.5, le=0.75, description="off-beat eighth position (0.5 straight); None: style's"
    )
    melody_density: float | None = Field(
        None, ge=0, le=16, description="melody notes per beat (from references); None: style's"
    )
    motif_source: str | None = Field(
        None, description="the reference whose opening motif the main theme quotes and varies"
    )
    reference_ids: list[str] = Field(default_factory=list)
    reference_weights: list[float] = Field(
        default_factory=list, description="each reference's share of the blend (sums to 1)"
    )
    origins: dict[str, ConditionOrigin] = Field(default_factory=dict)


class Measured(_Model):
    """What the rendered audio actually is, measured with VMB's own analysis."""

    tempo_bpm: float | None = None
    key: str | None = None
    duration_s: float
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None
    tags: list[AudioTag] = Field(
        default_factory=list, max_length=MAX_NAMES,
        description="the audio tagger's top tags for the rendered audio (musicnn MTT and MSD "
        "models, 15 s spread over the piece); empty when VMB_MEASURE_TAGS=0",
    )  # fmt: skip
    style_rank: int | None = Field(
        None, ge=1,
        description="where the requested style's tags rank among the 10 styles' (1 = first)",
    )  # fmt: skip


class CutAlignment(_Model):
    """Where one video cut fell in the music: the beat nearest to it in the rendered audio."""

    cut_s: float
    nearest_beat_s: float = Field(description="that beat's time, measured in the audio if possible")
    error_ms: float = Field(description="cut - beat, in ms")
    on_downbeat: bool
    hit: bool = Field(False, description="the cut starts a section (set on a downbeat)")
    measured: bool = Field(
        False, description="the beat was found in the rendered audio (else: the MIDI's grid)"
    )


class GenerationResult(_Model):
    """Everything a generation produced, what it was asked for and what was measured."""

    audio_path: str
    midi_path: str | None = None
    stems: list[str] = Field(default_factory=list)
    piano_roll_path: str | None = None
    video_path: str | None = None
    duration_s: float
    requested: Conditions
    measured: Measured
    seed: int
    backend: str = Field("symbolic", description="the generator that composed")
    renderer: str = Field("soundfont", description="the renderer that made the audio")
    cut_alignment: list[CutAlignment] = Field(default_factory=list)
    tempo_map: TempoMap | None = Field(
        None, description="scored to picture: the tempo map and meter changes that set the hits"
    )
    timings: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(
        default_factory=list,
        description="one line each: measured tempo/key different from the request, a requested "
        "instrument that never plays, a reference that could not be used or that did not fit",
    )

    @field_validator("audio_path", "midi_path", "piano_roll_path", "video_path", mode="before")
    @classmethod
    def _path_to_str(cls, v: object) -> object:
        return str(v) if isinstance(v, Path) else v

    @field_validator("stems", mode="before")
    @classmethod
    def _paths_to_str(cls, v: object) -> object:
        return [str(p) for p in v] if isinstance(v, list) else v


__all__ = [
    "Conditions",
    "CutAlignment",
    "Evidence",
    "GenerationOverrides",
    "GenerationResult",
    "IngestReport",
    "LibraryStats",
    "Measured",
    "MusicAttributes",
    "MusicDescription",
    "ProgressCallback",
    "SearchFilters",
    "SearchMode",
    "SearchResult",
    "Section",
    "SourceInfo",
    "TempoMap",
    "TempoMapBar",
    "TrackInfo",
    "TrackMatch",
]
