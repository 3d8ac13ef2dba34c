"""The six VMB tools as plain functions over the SDK, shared by the MCP server and ``vmb chat``.

Each handler takes a ``VMB`` (already bound to the caller's path policy), the validated input
model and a ``progress(done, total, message)`` callback, and returns one of the shared result
models. Handlers only dispatch: every decision about music lives in the SDK and the engines.
The docstrings are what the calling model reads as the tool description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from vmb_agent.tools.models import (
    INPUT_MODELS,
    DescribeVisualsInput,
    GenerateMusicInput,
    GetTrackInput,
    IndexMusicInput,
    ScoreVideoInput,
    SearchMusicInput,
    ToolInput,
)

from vmb_agent.errors import InputError
from vmb_agent.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from vmb_agent.sdk import VMB
from vmb_agent.types import (
    GenerationOverrides,
    GenerationResult,
    IngestReport,
    MusicDescription,
    ProgressCallback,
    SearchResult,
    TrackInfo,
)


def describe_visuals(
    vmb: VMB, args: DescribeVisualsInput, progress: ProgressCallback
) -> MusicDescription:
    """Describe an image or a video as music: the text bridge.

    Use this first when the user gives you a picture or a clip to score. It returns a
    MusicDescription: prose (`text`), explicit `attributes` (genres, moods, instruments, tempo_bpm,
    key, energy, valence, duration_s), time `sections`, and `evidence` saying which measured visual
    feature led to which attribute. To refine it, edit the fields you want (e.g. set
    attributes.key to 'D minor', drop 'drums' from attributes.instruments, rewrite `text`) and pass
    the whole object to search_music(description=...) or generate_music(description=...).
    """
    path = vmb.policy.check_read(args.path, what="image or video")
    return vmb.describe(path, context=args.context, kind=_visual_kind(path),
                        backend=args.describer)


def search_music(vmb: VMB, args: SearchMusicInput, progress: ProgressCallback) -> SearchResult:
    """Find reference tracks in the music library: the music bridge.

    Give a free-text `query`, a `description` (the MusicDescription from describe_visuals, or
    prose), or both. mode='broad' ranks by theme, 'targeted' enforces hard constraints (`filters`
    or the description's tempo/key/instruments), 'dual' (default) does both. Each match has an `id`,
    its measured `track` facts and `reasons` it fits. Show the user the best few; pass the ids they
    like to generate_music(reference_ids=[...]). Read-only.
    """
    if not (args.query and args.query.strip()) and args.description is None:
        raise InputError("give a query, a description, or both; got neither.")
    return vmb.search(
        args.query, description=args.description, mode=args.mode, filters=args.filters, k=args.k,
        embedder=args.embedder,
    )


def generate_music(
    vmb: VMB, args: GenerateMusicInput, progress: ProgressCallback
) -> GenerationResult:
    """Generate new music explicitly conditioned on a description, references and overrides.

    `description` is the MusicDescription from describe_visuals (after any edits) or free text.
    `reference_ids` are library track ids from search_music whose tempo, key, instruments and
    harmony guide the result, blended by `reference_weights` if given. `overrides` (and the
    `duration_s` shortcut) win over both. Returns file paths (WAV audio, MIDI, piano-roll PNG,
    optional stems / muxed video), `requested` (the resolved conditions and where each came
    from) and `measured` (tempo, key, loudness of the audio actually rendered). Audio comes back as a path and a vmb://outputs/... resource link.
    `warnings` lists, one line each, where the result differs from the request (measured tempo or
    key, an instrument that never plays) or a reference that could not be used: tell the user.
    To iterate, change the description or overrides and call again; keep `seed` to vary one thing.
    """
    overrides = args.overrides or GenerationOverrides()
    if args.duration_s is not None:
        overrides = overrides.model_copy(update={"duration_s": args.duration_s})
    return vmb.generate(
        args.description,
        reference_ids=args.reference_ids,
        reference_weights=args.reference_weights,
        overrides=overrides,
        seed=args.seed,
        out_dir=args.out_dir,
        stems=args.stems,
        video_path=args.video_path,
        renderer=args.renderer,
        progress=progress,
    )


def index_music(vmb: VMB, args: IndexMusicInput, progress: ProgressCallback) -> IngestReport:
    """Add the user's own audio (WAV/FLAC/OGG/MP3) or MIDI files, or folders of them, to the
    music library so search_music can find them. Files already indexed are reported as unchanged;
    unreadable files are listed in `failed` with a reason. Idempotent.
    """
    return vmb.add_to_library(args.paths, tags=args.tags, progress=progress)


def score_video(vmb: VMB, args: ScoreVideoInput, progress: ProgressCallback) -> GenerationResult:
    """Score a video in one step: describe it, pick references from the library, generate music
    that lands on its cuts, and mux it into a new MP4 (returned as video_path). Use this when the
    user just wants a soundtrack; use describe_visuals -> search_music -> generate_music when they
    want to steer the description or choose references. Only library tracks that fit the request
    (style, tempo, mood, theme) are used; `warnings` says when none fit or the result differs from
    the request.
    """
    path = vmb.policy.check_read(args.path, what="video")
    return vmb.score(
        path,
        context=args.context,
        out_dir=args.out_dir,
        overrides=args.overrides,
        seed=args.seed,
        n_references=args.n_references,
        stems=args.stems,
        describer=args.describer,
        renderer=args.renderer,
        progress=progress,
    )


def get_track(vmb: VMB, args: GetTrackInput, progress: ProgressCallback) -> TrackInfo:
    """Look up one library track by id: title, path, duration, tempo, key, instruments, genres,
    moods and caption. Read-only."""
    return vmb.get_track(args.id)




def _visual_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    allowed = ", ".join(sorted({*IMAGE_SUFFIXES, *VIDEO_SUFFIXES}))
    raise InputError(f"{path.name!r} is not an image or video file; allowed types: {allowed}.")


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, input/output models, behaviour hints and handler."""

    name: str
    title: str
    input_model: type[ToolInput]
    output_model: type[BaseModel]
    handler: Callable[[VMB, ToolInput, ProgressCallback], BaseModel]
    read_only: bool = False
    idempotent: bool = False
    long_running: bool = False

    @property
    def description(self) -> str:
        return " ".join((self.handler.__doc__ or "").split())


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("describe_visuals", "Describe visuals as music", DescribeVisualsInput,
                 MusicDescription, describe_visuals, read_only=True, idempotent=True),
        ToolSpec("search_music", "Search the music library", SearchMusicInput, SearchResult,
                 search_music, read_only=True, idempotent=True),
        ToolSpec("generate_music", "Generate music", GenerateMusicInput, GenerationResult,
                 generate_music, long_running=True),
        ToolSpec("index_music", "Add music to the library", IndexMusicInput, IngestReport,
                 index_music, idempotent=True, long_running=True),
        ToolSpec("score_video", "Score a video", ScoreVideoInput, GenerationResult, score_video,
                 long_running=True),
        ToolSpec("get_track", "Get a library track", GetTrackInput, TrackInfo, get_track,
                 read_only=True, idempotent=True),
    )
}  # fmt: skip

assert set(TOOLS) == set(INPUT_MODELS)


def run_tool(
    vmb: VMB, name: str, arguments: dict, progress: ProgressCallback | None = None
) -> BaseModel:
    """Validate ``arguments`` for tool ``name`` and run it (used by ``vmb chat``'s LLM loop)."""
    from vmb_agent.errors import unknown_name

    if name not in TOOLS:
        raise unknown_name("tool", name, TOOLS)
    spec = TOOLS[name]
    args = validate_arguments(spec, arguments)
    return spec.handler(vmb, args, progress or _no_progress)


def validate_arguments(spec: ToolSpec, arguments: dict) -> ToolInput:
    """Validate raw arguments into the tool's input model; a bad value becomes an InputError."""
    from pydantic import ValidationError

    try:
        return spec.input_model.model_validate(arguments)
    except ValidationError as exc:
        raise InputError(validation_message(spec.name, exc)) from None


def validation_message(tool: str, exc: Exception) -> str:
    """One line naming each bad argument, its value and what is allowed."""
    from vmb_agent.errors import validation_problems

    problems = validation_problems(
        exc, model=INPUT_MODELS.get(tool), allowed_fields=spec_fields(tool)
    )
    return f"{tool}: " + problems.replace("unknown field", "unknown argument") + "."


def spec_fields(tool: str) -> list[str]:
    return list(INPUT_MODELS[tool].model_fields) if tool in INPUT_MODELS else []


def _no_progress(done: float, total: float | None = None, message: str | None = None) -> None:
    return None
