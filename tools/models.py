"""One pydantic input model per MCP tool.

The field descriptions and bounds are the JSON schema the calling model reads, so they say what a
value means and which values are allowed. Results reuse the shared types in ``vmb_agent.types``
(``MusicDescription``, ``SearchResult``, ``GenerationResult``, ...), so an agent can hand a result
back to the next tool unchanged.

The models derive from the MCP SDK's ``ArgModelBase`` so the server validates a call's arguments
straight into them (flat arguments, one model); ``extra="forbid"`` turns a misspelled argument
into an error instead of a silently ignored value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from vmb_agent.errors import path_problem
from vmb_agent.types import (
    MAX_NAME_CHARS,
    MAX_PATH_CHARS,
    GenerationOverrides,
    MusicDescription,
    SearchFilters,
    SearchMode,
    Tags,
)

MAX_TEXT_CHARS = 4000
MAX_INDEX_PATHS = 500
MAX_REFERENCES = 8
MAX_K = 50
MAX_SEED = 2**31 - 1


def _usable_path(value: str) -> str:
    """A path the operating system can take: no NUL byte, no ``~user`` naming nobody (checked
    here so the caller hears what was wrong, not that the tool crashed)."""
    problem = path_problem(value)
    if problem:
        raise ValueError(problem)
    return value


PathText = Annotated[
    str, StringConstraints(max_length=MAX_PATH_CHARS), AfterValidator(_usable_path)
]
#: free text where a description may be given (prose, as generate_music and search_music take it)
DescriptionText = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
TrackId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
BackendName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
BACKENDS_HINT = "the resource vmb://backends lists each one and whether it can run here"


def _backend_field(stage: str, names: str) -> object:
    return Field(None, description=f"The {stage} for this call: {names}; default: the server's "
                 f"setting ({BACKENDS_HINT}).")  # fmt: skip


class ToolInput(ArgModelBase):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, object]:
        # The handler receives the whole validated model as one argument.
        return {"args": self}


class DescribeVisualsInput(ToolInput):
    path: PathText = Field(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        description="Image (jpg/png/webp/...) or video (mp4/mov/webm/...) file to describe, "
        "inside an allowed root.",
    )
    context: str | None = Field(
        None,
        max_length=MAX_TEXT_CHARS,
        description="Optional hint about what the visuals are for, e.g. 'wedding, slow dance' "
        "or 'product teaser, upbeat'. It steers the description.",
    )
    describer: BackendName | None = _backend_field("describer", "analysis or vlm")


class SearchMusicInput(ToolInput):
    query: str | None = Field(
        None,
        max_length=MAX_TEXT_CHARS,
        description="Free-text theme, e.g. 'calm piano at dusk'. Give this, a description, "
        "or both.",
    )
    description: MusicDescription | DescriptionText | None = Field(
        None,
        description="A MusicDescription returned by describe_visuals (edited or not), or prose.",
    )
    mode: SearchMode = Field(
        "dual",
        description="broad = thematic similarity only; targeted = hard attribute constraints "
        "(filters, or the description's tempo/key/instruments); dual = both (recommended).",
    )
    filters: SearchFilters | None = Field(
        None, description="Hard constraints: tempo range, key, mode, instruments, genre, mood."
    )
    k: int = Field(5, ge=1, le=MAX_K, description="How many matches to return.")
    embedder: BackendName | None = _backend_field(
        "embedder (each has its own index: `vmb library reindex --embedder NAME`)",
        "minilm (captions) or clap (words matched against the audio)")  # fmt: skip


class GenerateMusicInput(ToolInput):
    description: MusicDescription | DescriptionText = Field(
        description="What to generate: a MusicDescription (typically the one describe_visuals "
        "returned, with your edits to text/attributes) or free text such as "
        "'slow melancholic piano and strings in D minor'.",
    )
    reference_ids: list[TrackId] = Field(
        default_factory=list,
        max_length=MAX_REFERENCES,
        description="Ids of library tracks (from search_music matches[].id) whose tempo, key, "
        "instrumentation and harmony should guide the result.",
    )
    reference_weights: list[float] | None = Field(
        None,
        max_length=MAX_REFERENCES,
        description="One weight per reference_ids entry, in the same order: its share of the "
        "blend (e.g. [3, 1]). Default 1, 1/2, 1/3 ... by order.",
    )
    duration_s: float | None = Field(
        None, ge=0.5, le=600, description="Length in seconds (shortcut for overrides.duration_s)."
    )
    overrides: GenerationOverrides | None = Field(
        None,
        description="Explicit controls that win over the description and references: style, "
        "tempo_bpm, key, instruments, energy, valence, loop, ...",
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Random seed; the same inputs and seed repeat."
    )
    video_path: PathText | None = Field(
        None,
        max_length=MAX_PATH_CHARS,
        description="Optional video to mux the music into (an .mp4 comes back as video_path).",
    )
    out_dir: PathText | None = Field(
        None,
        max_length=MAX_PATH_CHARS,
        description="Folder for the files (inside an allowed root); default VMB_HOME/outputs.",
    )
    stems: bool = Field(False, description="Also write one WAV per instrument.")
    renderer: BackendName | None = _backend_field(
        "renderer", "soundfont, musicgen-melody or stable-audio")


class IndexMusicInput(ToolInput):
    paths: list[PathText] = Field(
        min_length=1,
        max_length=MAX_INDEX_PATHS,
        description="Audio (wav/flac/ogg/mp3) or MIDI files, or folders to scan recursively.",
    )
    tags: Tags = Field(
        default_factory=dict,
        description="Optional labels stored with every track, e.g. {'project': 'x'}.",
    )


class ScoreVideoInput(ToolInput):
    path: PathText = Field(
        min_length=1, max_length=MAX_PATH_CHARS, description="The video file to score."
    )
    context: str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="Optional hint, e.g. 'travel vlog, joyful'."
    )
    overrides: GenerationOverrides | None = Field(
        None, description="Explicit controls that win over what is inferred from the video."
    )
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Random seed.")
    n_references: int = Field(
        2,
        ge=0,
        le=MAX_REFERENCES,
        description="At most this many library tracks to use as references; only tracks that "
        "fit the request (style, tempo, mood, theme) are used, and `warnings` says when none do.",
    )
    out_dir: PathText | None = Field(
        None,
        max_length=MAX_PATH_CHARS,
        description="Folder for the files; default VMB_HOME/outputs.",
    )
    stems: bool = Field(False, description="Also write one WAV per instrument.")
    describer: BackendName | None = _backend_field("describer", "analysis or vlm")
    renderer: BackendName | None = _backend_field(
        "renderer", "soundfont, musicgen-melody or stable-audio")


class GetTrackInput(ToolInput):
    id: TrackId = Field(description="A track id from search_music or index_music.")


ToolName = Literal[
    "describe_visuals", "search_music", "generate_music", "index_music", "score_video", "get_track"
]

INPUT_MODELS: dict[str, type[ToolInput]] = {
    "describe_visuals": DescribeVisualsInput,
    "search_music": SearchMusicInput,
    "generate_music": GenerateMusicInput,
    "index_music": IndexMusicInput,
    "score_video": ScoreVideoInput,
    "get_track": GetTrackInput,
}
