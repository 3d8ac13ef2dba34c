"""The SDK: ``VMB`` is the one place where the engines are wired together.

The CLI, the MCP tools and ``vmb chat`` are thin adapters over this class. Each method is one
stage of the paper's pipeline (describe -> search -> generate) or a library operation; heavy
engines (the embedder, the Chroma client, the SoundFont) load on first use and are reused.

``AsyncVMB`` exposes the same methods as coroutines that run the CPU-bound work in a worker
thread, so an event loop (the MCP server) keeps answering while music is generated.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, validate_call

from vmb_agent.errors import (
    AccessDeniedError,
    EnvironmentFailureError,
    InputError,
    NotFoundError,
    VMBError,
    check_path_text,
    check_range,
    error_text,
    location,
    os_failure,
    settings_error,
    shorten,
    validated,
)
from vmb_agent.files import PathPolicy
from vmb_agent.settings import Settings, get_settings
from vmb_agent.types import (
    MAX_CONTEXT_CHARS,
    MAX_NAME_CHARS,
    MAX_NAMES,
    Conditions,
    GenerationOverrides,
    GenerationResult,
    IngestReport,
    LibraryStats,
    MusicDescription,
    ProgressCallback,
    SearchFilters,
    SearchMode,
    SearchResult,
    Tags,
    TrackInfo,
)

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library import Library

DescribeKind = Literal["auto", "image", "video", "text"]
MAX_K = 200
#: what one second of output takes on disk at most: 24-bit stereo WAV at 44.1 kHz, plus slack
#: for the MIDI file and the piano roll (checked against the free space before any work)
OUTPUT_BYTES_PER_S = 44_100 * 2 * 3 + 4_000
OUTPUT_BYTES_MIN = 16 * 1024**2

# Argument types checked at the SDK's front door (besides the model types).
Context = Annotated[str, StringConstraints(max_length=MAX_CONTEXT_CHARS)]
TrackId = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)]
TrackIds = Annotated[Sequence[TrackId], Field(max_length=MAX_NAMES)]
Weights = Annotated[Sequence[float], Field(max_length=MAX_NAMES)]
Bitrate = Annotated[str, StringConstraints(max_length=20)] | int
BackendName = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)]

F = TypeVar("F", bound=Callable[..., Any])


def load_settings() -> Settings:
    """The settings from the environment; a bad ``VMB_*`` value is a one-line ``ConfigError``
    naming the variable and what is allowed (not pydantic's multi-line error)."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise settings_error(exc) from None


def argument_problems(exc: ValidationError, parameters: list[inspect.Parameter]) -> str:
    """One line naming each bad argument of a call, its value and what it should be. Errors are
    grouped by argument: a value that no member of a union takes (``source=123`` for
    ``str | Path``) is one problem naming the union, not one per member."""
    by_name: dict[str, list[Any]] = {}
    for err in exc.errors():
        head, *rest = err["loc"] or ("value",)
        # a positional argument's place counts ``self``, as the parameter list does
        positional = isinstance(head, int) and head < len(parameters)
        name = parameters[head].name if positional else str(head)
        by_name.setdefault(name, []).append((tuple(rest), err))
    annotations = {p.name: p.annotation for p in parameters}
    problems = []
    for name, errs in by_name.items():
        value = shorten(errs[0][1].get("input"))
        if len({loc[:1] for loc, _ in errs}) > 1:  # each union member refused it
            problems.append(f"{name}={value}: expected {annotations.get(name, 'another type')}")
            continue
        loc, err = errs[0]
        problems.append(f"{location([name, *loc])}={value}: {error_text(err)}")
    return "; ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else "")


def front_door(method: F) -> F:
    """Check a public SDK method's arguments against its type hints (pydantic), so a wrong type
    is a one-line ``InputError`` naming the argument instead of a TypeError from deep inside,
    and turn the operating system's refusals (no space, permission denied, name too long,
    read-only) into one-line ``EnvironmentFailureError`` naming the path."""
    checked = validate_call(config=ConfigDict(arbitrary_types_allowed=True))(method)
    title = method.__qualname__  # pydantic's title for errors in the arguments themselves
    parameters = list(inspect.signature(method).parameters.values())

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return checked(*args, **kwargs)
        except ValidationError as exc:
            if exc.title != title:  # raised inside: a bug, not the caller's arguments
                raise
            raise InputError(f"{title}: {argument_problems(exc, parameters)}.") from None
        except OSError as exc:
            failure = os_failure(exc)
            if failure is None:
                raise
            raise failure from exc

    return call  # type: ignore[return-value]


# -- auto-references: only library tracks that fit the request --------------------------------
#
# A track found by search may condition a generation (tempo, key, chords, motif, groove) only if
# it fits the request on four counts; docs/generation.md gives the measurements behind them.
#
# 1. genre: one of its genres suits the generator style. The bundled corpus's genres are judged
#    by CORPUS_GENRE_FIT alone (its Irish "dance" tunes are not electronic dance music); any other
#    genre word suits the style it names in the vocabulary (``normalize_style``). A track whose
#    genres name no style (or that has none: a user's untagged file) is not refused on genre.
# 2. tempo: within TEMPO_RATIO of the requested tempo, or of the style's tempo range when the
#    tempo is left to the references.
# 3. mood: not opposite: the request's valence/energy band and the track's mood words do not sit
#    on opposite sides of either axis (MOOD_AXES).
# 4. theme: the broad search's cosine similarity of the request to the track's caption is at
#    least MIN_SIMILARITY.

#: the bundled corpus's genres (library/corpus.py) that suit each generator style; the styles
#: left out (pop, rock, electronic, jazz, lofi, chiptune) have no fitting corpus collection
CORPUS_GENRE_FIT: dict[str, frozenset[str]] = {
    "cinematic": frozenset({"classical", "chamber", "romantic"}),  # quartets, character pieces
    "ambient": frozenset({"renaissance", "sacred", "choral", "chorale", "madrigal"}),
    "piano": frozenset({"piano", "romantic", "classical", "baroque", "chorale"}),
    "folk": frozenset({"folk", "traditional", "celtic", "scottish", "dance", "medieval",
                       "early music"}),
}  # fmt: skip
TEMPO_RATIO = 1.2
MIN_SIMILARITY = 0.40
#: mood word -> (valence, energy), each -1, 0 or +1 (the library's derived moods and common tags)
MOOD_AXES: dict[str, tuple[int, int]] = {
    "calm": (0, -1), "peaceful": (1, -1), "relaxed": (1, -1), "serene": (1, -1),
    "gentle": (0, -1), "dreamy": (0, -1), "reflective": (0, -1), "nostalgic": (0, -1),
    "melancholic": (-1, -1), "somber": (-1, -1), "sad": (-1, -1), "lonely": (-1, -1),
    "dark": (-1, 0), "serious": (-1, 0), "mysterious": (-1, 0), "brooding": (-1, 0),
    "warm": (1, 0), "bright": (1, 0), "hopeful": (1, 0), "romantic": (1, 0),
    "tense": (-1, 1), "angry": (-1, 1), "aggressive": (-1, 1), "menacing": (-1, 1),
    "dramatic": (0, 1), "epic": (0, 1), "energetic": (0, 1), "intense": (0, 1),
    "happy": (1, 1), "joyful": (1, 1), "uplifting": (1, 1), "playful": (1, 1),
    "triumphant": (1, 1), "adventurous": (1, 1),
}  # fmt: skip


@functools.cache
def _corpus_genres() -> frozenset[str]:
    from vmb_agent.library.corpus import COLLECTIONS

    return frozenset(g for c in COLLECTIONS.values() for g in c.genres)


def genre_fit(genres: Sequence[str], style: str) -> bool | None:
    """True if a genre suits ``style``, False if the genres are known and none does, None if
    none of them is a genre the rule knows (no objection)."""
    from vmb_agent.generation.styles import normalize_style

    verdict = None
    for genre in (g.strip().lower() for g in genres):
        if genre in _corpus_genres():
            suits = genre in CORPUS_GENRE_FIT.get(style, ())
        else:
            try:
                suits = normalize_style(genre) == style
            except InputError:  # names no style
                continue
        if suits:
            return True
        verdict = False
    return verdict


def _band(value: float) -> int:
    return -1 if value < 0.35 else 1 if value > 0.65 else 0


def _mood_signs(moods: Sequence[str]) -> tuple[int, int]:
    axes = [MOOD_AXES[m.strip().lower()] for m in moods if m.strip().lower() in MOOD_AXES]
    if not axes:
        return 0, 0
    means = [sum(a[i] for a in axes) / len(axes) for i in (0, 1)]
    valence, energy = (0 if abs(m) < 0.5 else 1 if m > 0 else -1 for m in means)
    return valence, energy


def reference_misfits(track: TrackInfo, request: Conditions, similarity: float | None) -> list[str]:
    """Why ``track`` does not fit ``request`` as a reference (empty: it fits); see above."""
    from vmb_agent.generation.styles import STYLES

    misfits = []
    if genre_fit(track.genres, request.style) is False:
        misfits.append(f"{'/'.join(track.genres)}, not {request.style}")
    if track.tempo_bpm:
        if request.origins.get("tempo_bpm") in ("override", "description", "video"):
            low, high = request.tempo_bpm / TEMPO_RATIO, request.tempo_bpm * TEMPO_RATIO
        else:
            slowest, fastest = STYLES[request.style].tempo_range
            low, high = slowest / TEMPO_RATIO, fastest * TEMPO_RATIO
        if not low <= track.tempo_bpm <= high:
            misfits.append(f"{track.tempo_bpm:.0f} BPM outside {low:.0f}-{high:.0f}")
    valence, energy = _mood_signs(track.moods)
    if valence * _band(request.valence) < 0 or energy * _band(request.energy) < 0:
        misfits.append(f"{'/'.join(track.moods)} mood opposes the request")
    if similarity is None or similarity < MIN_SIMILARITY:
        shown = "below" if similarity is None else f"{similarity:.2f} <"
        misfits.append(f"theme similarity {shown} {MIN_SIMILARITY:.2f}")
    return misfits


class VMB:
    """Describe visuals, search the music library and generate music — offline by default."""

    def __init__(self, settings: Settings | None = None, *, policy: PathPolicy | None = None):
        self.settings = settings or load_settings()
        roots = self.settings.allowed_roots or None
        self.policy = policy or PathPolicy(
            roots=[*roots, self.settings.home] if roots else None,
            max_input_bytes=int(self.settings.max_input_mb * 1024**2),
        )
        self._library: Library | None = None
        self._lock = threading.Lock()

    def with_policy(self, policy: PathPolicy) -> VMB:
        """A view of this SDK that checks paths with ``policy`` but shares the loaded engines
        (the MCP server binds each call to its client's roots this way)."""
        view = VMB.__new__(VMB)
        view.__dict__.update(self.__dict__)
        view.policy = policy
        view._parent = self  # the library is opened on (and cached by) the parent
        return view

    # -- 1. text bridge ------------------------------------------------------------------------

    @front_door
    def describe(
        self,
        source: str | Path,
        *,
        context: Context | None = None,
        kind: DescribeKind = "auto",
        backend: BackendName | None = None,
    ) -> MusicDescription:
        """Turn an image, a video or a text prompt into a :class:`MusicDescription`."""
        from vmb_agent.describe import describe_source

        if kind != "text":  # words are not a path; "~ dreamy" stays a text prompt
            check_path_text(source, "source")

        return describe_source(
            source,
            context=context,
            kind=kind,
            backend=backend or self.settings.describe_backend,
            policy=self.policy,
            settings=self.settings,
        )

    @staticmethod
    def _overrides(overrides: GenerationOverrides | dict | None) -> GenerationOverrides:
        """Validated overrides: pydantic's checks, then names and ranges (one-line errors)."""
        from vmb_agent.generation.conditions import check_overrides

        checked = validated(GenerationOverrides, overrides or {}, "overrides")
        check_overrides(checked)
        return checked

    def _as_description(
        self, description: MusicDescription | str | dict | None
    ) -> MusicDescription | None:
        if description is None or isinstance(description, MusicDescription):
            return description
        if isinstance(description, dict):
            return validated(MusicDescription, description, "description")
        if isinstance(description, str):
            if not description.strip():
                raise InputError("the description text is empty; describe the music in words.")
            return self.describe(description, kind="text")
        raise InputError(
            f"description must be text or a MusicDescription, not {type(description).__name__}."
        )

    # -- 2. music bridge -----------------------------------------------------------------------

    @property
    def library(self) -> Library:
        """The music library (opened on first use)."""
        parent = self.__dict__.get("_parent")
        if parent is not None:  # a with_policy() view shares its parent's library
            return parent.library
        with self._lock:
            if self._library is None:
                from vmb_agent.library import Library

                self._library = Library(self.settings)
            return self._library

    def library_for(self, embedder: str | None) -> Library:
        """The library as indexed by ``embedder`` (each embedder has its own collection; None:
        the settings' embedder). Opened once per embedder and reused."""
        if embedder is None or embedder == self.settings.embed_backend:
            return self.library
        parent = self.__dict__.get("_parent") or self
        with parent._lock:
            libraries = parent.__dict__.setdefault("_libraries", {})
            if embedder not in libraries:
                from vmb_agent.library import Library
                from vmb_agent.library.embed import embedders

                settings = parent.settings.model_copy(update={"embed_backend": embedder})
                embedders.factory(embedder)  # an unknown name fails here, listing the known ones
                libraries[embedder] = Library(settings)
            return libraries[embedder]

    @front_door
    def search(
        self,
        query: Context | None = None,
        *,
        description: MusicDescription | str | dict | None = None,
        mode: SearchMode = "dual",
        filters: SearchFilters | dict | None = None,
        k: int = 10,
        embedder: BackendName | None = None,
    ) -> SearchResult:
        """Find reference music: ``broad`` (theme), ``targeted`` (hard constraints) or ``dual``.
        ``embedder`` searches that embedder's index (default ``VMB_EMBED_BACKEND``)."""
        if mode not in ("broad", "targeted", "dual"):
            raise InputError(f"unknown search mode {mode!r}; allowed: broad, targeted, dual.")
        check_range("k", k, 1, MAX_K)
        if isinstance(filters, dict):
            filters = validated(SearchFilters, filters, "filters")
        return self.library_for(embedder).search(
            query=query,
            description=self._as_description(description),
            mode=mode,
            filters=filters or SearchFilters(),
            k=int(k),
        )

    @front_door
    def add_to_library(
        self,
        paths: Sequence[str | Path],
        *,
        tags: Tags | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Index audio (WAV/FLAC/OGG/Opus/MP3) and MIDI files or folders (recursively)."""
        if not paths:
            raise InputError("no paths given; name audio/MIDI files or folders to add.")
        checked = []
        for p in paths:
            check_path_text(p, "path")
            resolved = Path(p).expanduser()
            checked.append(
                self.policy.check_dir(p) if resolved.is_dir() else self.policy.check_read(p)
            )
        return self.library.add(checked, tags=tags or {}, progress=progress, policy=self.policy)

    @front_door
    def build_library(
        self, size: int = 500, *, progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Build the bundled reference library from the music21 corpus (no downloads)."""
        check_range("size", size, 1, 20000)
        return self.library.build(size=int(size), progress=progress)

    @front_door
    def reindex_library(
        self,
        embedder: BackendName,
        *,
        source: BackendName | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Copy the library's tracks into ``embedder``'s own index (each embedder has its own
        Chroma collection), embedding them with it; resumable. ``source``: the index to read
        the tracks from (default: the settings' embedder's, or minilm's when that is the one
        being built)."""
        from vmb_agent.library.store import DEFAULT_EMBEDDER

        if source is None:
            current = self.settings.embed_backend
            source = current if current != embedder else DEFAULT_EMBEDDER
        return self.library_for(source).reindex(embedder, progress=progress)

    @front_door
    def get_track(self, track_id: TrackId) -> TrackInfo:
        track = self.library.get(track_id)
        if self.policy.roots and not self.policy.allows(track.path):
            # indexed before the path gate (e.g. through a symlink): not shown to this caller
            raise NotFoundError(f"no track with id {track_id!r} in the allowed roots.")
        return track

    @front_door
    def list_tracks(self, *, limit: int = 50, offset: int = 0) -> list[TrackInfo]:
        check_range("limit", limit, 1, 100000)
        check_range("offset", offset, 0, 10**9)
        return self.library.list(limit=int(limit), offset=int(offset))

    @front_door
    def remove_track(self, track_id: TrackId) -> TrackInfo:
        return self.library.remove(track_id)

    @front_door
    def library_stats(self) -> LibraryStats:
        return self.library.stats()

    # -- 3. explicitly conditioned generation -------------------------------------------------

    @front_door
    def generate(
        self,
        description: MusicDescription | str | dict | None = None,
        *,
        reference_ids: TrackIds = (),
        reference_weights: Weights | None = None,
        n_references: int = 0,
        overrides: GenerationOverrides | dict | None = None,
        seed: int | None = None,
        out_dir: str | Path | None = None,
        stems: bool = False,
        video_path: str | Path | None = None,
        video_out: str | Path | None = None,
        overwrite: bool = False,
        audio_bitrate: Bitrate | None = None,
        renderer: BackendName | None = None,
        progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """Generate music conditioned on the text bridge, the references and explicit overrides.

        ``reference_ids`` pins the music bridge, blended by ``reference_weights`` (one per id;
        by default 1, 1/2, 1/3 ... by rank); with none given, ``n_references > 0`` fills it
        with the top dual-search matches for the description (the paper's full pipeline).

        With ``video_path`` the music lasts as long as the video (an explicit duration must be
        within 0.5 s of it), is described from the video when no ``description`` is given, and
        is muxed into a copy of the video: ``video_out`` if given (.mp4, .m4v, .mov, .mkv or
        .webm; an existing file is refused unless ``overwrite``), else beside the other outputs.
        ``audio_bitrate`` (e.g. ``"256k"``, 64k-320k) sets the muxed music's bitrate.
        ``renderer`` names the renderer for this call (default ``VMB_RENDER_BACKEND``; see
        ``vmb backends``).
        """
        from vmb_agent.generation import generate_music
        from vmb_agent.generation.pipeline import reference_warning
        from vmb_agent.generation.references import check_reference_weights

        overrides = self._overrides(overrides)
        settings = self._render_settings(renderer)
        check_range("n_references", n_references, 0, 10)
        if reference_weights is not None:
            if not reference_ids:
                raise InputError("reference_weights needs reference_ids: one weight per reference.")
            check_reference_weights(reference_weights, len(reference_ids))
        parsed = self._as_description(description)
        out, video, named_video = self._prepare_outputs(
            out_dir, video_path, video_out, overrides, parsed,
            stems=stems, overwrite=overwrite, audio_bitrate=audio_bitrate,
        )  # fmt: skip
        if parsed is None and video is not None:  # the picture decides the music, as in score
            parsed = self.describe(video, kind="video")
        warnings: list[str] = []
        auto = not reference_ids and n_references > 0 and parsed is not None
        if auto and self.library.count() == 0:
            warnings.append("the library is empty (`vmb library build` or `vmb library add`); "
                            "generated without references")  # fmt: skip
        elif auto:
            reference_ids, notes = self.fitting_references(parsed, overrides, int(n_references))
            warnings += notes
        references: list[TrackInfo] = []
        weights: list[float] | None = [] if reference_weights is not None else None
        for i, track_id in enumerate(reference_ids):
            ref = self.library.get(track_id)
            try:
                self.policy.check_read(ref.path, what="reference")
            except AccessDeniedError:
                if not auto:  # a pinned reference outside the roots is refused, not skipped
                    raise
                warnings.append(f"reference {ref.id!r} not used: its file is outside the "
                                "allowed roots")  # fmt: skip
                continue
            except InputError as exc:  # deleted or emptied since it was indexed: go on without
                missing = not Path(ref.path).expanduser().exists()
                warnings.append(f"reference {ref.id!r} not used: its file {ref.path!r} is missing "
                                "(moved or deleted since it was indexed)" if missing else
                                reference_warning(ref.id, exc))  # fmt: skip
                continue
            references.append(ref)
            if weights is not None:
                weights.append(float(reference_weights[i]))  # type: ignore[index]
        if references and weights is not None and sum(weights) <= 0:
            warnings.append("the references left have weight 0; generated without references")
            references, weights = [], None
        try:
            result = generate_music(
                parsed,
                references,
                overrides,
                reference_weights=weights,
                seed=seed,
                out_dir=out,
                stems=stems,
                video_path=video,
                video_out=named_video,
                overwrite=overwrite,
                audio_bitrate=audio_bitrate,
                settings=settings,
                progress=progress,
            )
        except OSError as exc:  # a write failed: a full disk's error names no file, so name out
            failure = os_failure(exc, where=named_video.parent if named_video else out)
            if failure is None:
                raise
            raise failure from exc
        if warnings:
            result.warnings = list(dict.fromkeys([*warnings, *result.warnings]))
        return result

    def _render_settings(self, renderer: str | None) -> Settings:
        """The settings with ``renderer`` chosen; the renderer is made once here so an unknown
        name, a missing extra or missing weights fail before any work."""
        from vmb_agent.rendering.renderers import renderers

        if renderer is None:
            return self.settings
        settings = self.settings.model_copy(update={"render_backend": renderer})
        renderers.create(renderer, settings=settings)
        return settings

    def _output_folder(self, out_dir: str | Path | None) -> Path:
        """The output folder, checked before any work: inside the allowed roots, a folder (or
        to be made inside one) that takes new files."""
        folder = Path(out_dir) if out_dir else self.settings.outputs_dir
        try:  # check_write checks a file's name: ask about one inside the folder
            out = self.policy.check_write(folder / "_probe").parent
        except VMBError as exc:
            raise type(exc)(str(exc).replace(f"{os.sep}_probe'", "'")) from None
        if out.exists() and not out.is_dir():
            raise InputError(f"output folder {shorten(str(out))} is a file; give a folder.")
        check_output_folder(out)
        return out

    def _prepare_outputs(
        self,
        out_dir: str | Path | None,
        video_path: str | Path | None,
        video_out: str | Path | None,
        overrides: GenerationOverrides,
        description: MusicDescription | None,
        *,
        stems: bool,
        overwrite: bool,
        audio_bitrate: str | int | None,
    ) -> tuple[Path, Path | None, Path | None]:
        """Everything about the inputs and outputs of a generation that can be checked before
        any work (describing a long video takes a while, generating longer): the paths, the
        output folders taking new files, the video, and the free space for the outputs.
        Returns the output folder, the video and the scored video's name."""
        named_paths = (("out_dir", out_dir), ("video_path", video_path), ("video_out", video_out))
        for name, value in named_paths:
            if value is not None:
                check_path_text(value, name)
        out = self._output_folder(out_dir)
        video, named, video_s = self._check_scoring(
            video_path, video_out, overrides, overwrite=overwrite, audio_bitrate=audio_bitrate
        )
        if named is not None:
            check_output_folder(named.parent)
        described = description.attributes.duration_s if description is not None else None
        seconds = overrides.duration_s or described or video_s
        check_free_space(out, _output_bytes(seconds, stems=stems, video=video))
        return out, video, named

    def _check_scoring(
        self,
        video_path: str | Path | None,
        video_out: str | Path | None,
        overrides: GenerationOverrides,
        *,
        overwrite: bool,
        audio_bitrate: str | int | None,
    ) -> tuple[Path | None, Path | None, float | None]:
        """The video, the scored video's name and the video's length, checked before any work:
        paths inside the roots, a free output name, the video's length."""
        if not video_path:
            return None, None, None
        from vmb_agent.rendering.video import check_scoring

        video = self.policy.check_read(video_path, what="video")
        named = self.policy.check_write(video_out) if video_out else None
        info, _ = check_scoring(video, out=named, overwrite=overwrite,
                                duration_s=overrides.duration_s,
                                audio_bitrate=audio_bitrate)  # fmt: skip
        return video, named, info.duration_s

    @front_door
    def fitting_references(
        self, description: MusicDescription, overrides: GenerationOverrides, n: int
    ) -> tuple[list[str], list[str]]:
        """Up to ``n`` library tracks that fit the request (see :func:`reference_misfits`), in
        dual-search order, and the warnings to report (none fit, fewer than ``n`` fit)."""
        from vmb_agent.generation.conditions import resolve_conditions

        request = resolve_conditions(description, None, overrides)
        ranked = self.search(description=description, mode="dual", k=min(MAX_K, max(30, 5 * n)))
        broad = self.search(description=description, mode="broad", k=MAX_K)
        similarity = {m.id: m.score for m in broad.matches}
        tracks = {m.id: m.track for m in [*broad.matches, *ranked.matches]}
        order = list(dict.fromkeys([*(m.id for m in ranked.matches), *similarity]))
        chosen: list[str] = []
        closest = ""
        for track_id in order:
            misfits = reference_misfits(tracks[track_id], request, similarity.get(track_id))
            if not misfits:
                chosen.append(track_id)
                if len(chosen) == n:
                    break
            elif not closest:
                closest = f"{tracks[track_id].title!r} ({track_id}): {', '.join(misfits)}"
        style = f"{'an' if request.style[0] in 'aeiou' else 'a'} {request.style}"
        if not chosen:
            shown = f" (closest: {closest})" if closest else ""
            note = f"no library track fits {style} request{shown}; generated without references"
            return [], [note]
        if len(chosen) < n:
            note = f"only {len(chosen)} of {n} library tracks fit {style} request; used those"
            return chosen, [note]
        return chosen, []

    @front_door
    def score(
        self,
        video: str | Path,
        *,
        context: Context | None = None,
        out_dir: str | Path | None = None,
        overrides: GenerationOverrides | dict | None = None,
        seed: int | None = None,
        n_references: int = 2,
        stems: bool = False,
        video_out: str | Path | None = None,
        overwrite: bool = False,
        audio_bitrate: Bitrate | None = None,
        renderer: BackendName | None = None,
        describer: BackendName | None = None,
        progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """Describe a video, retrieve references, generate music that lands on its cuts, mux
        (into ``video_out`` if given, else beside the other outputs; see :meth:`generate` for
        ``overwrite`` and ``audio_bitrate``)."""
        overrides = self._overrides(overrides)  # before the video's analysis, not after
        self._render_settings(renderer)
        check_path_text(video, "video")
        self._prepare_outputs(
            out_dir, video, video_out, overrides, None,
            stems=stems, overwrite=overwrite, audio_bitrate=audio_bitrate,
        )  # fmt: skip
        description = self.describe(video, context=context, kind="video", backend=describer)
        return self.generate(
            description,
            n_references=n_references,
            overrides=overrides,
            seed=seed,
            out_dir=out_dir,
            stems=stems,
            video_path=video,
            video_out=video_out,
            overwrite=overwrite,
            audio_bitrate=audio_bitrate,
            renderer=renderer,
            progress=progress,
        )


def check_output_folder(folder: Path) -> None:
    """Make sure ``folder`` can take new files before any work is done (a read-only or full file
    system, a folder without write permission): one line naming it, else. Nothing is created:
    a folder that does not exist yet is judged by the nearest one above it that does."""
    existing = next((f for f in (folder, *folder.parents) if f.exists()), folder)
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise os_failure(exc, where=folder) or InputError(
            f"output folder {shorten(str(folder))} cannot be written: {exc.strerror or exc}."
        ) from None


def check_free_space(folder: Path, need: int) -> None:
    """Refuse before any work when ``folder``'s file system has less room than the outputs need
    (a disk that fills while the files are written would fail after the whole generation)."""
    existing = next((f for f in (folder, *folder.parents) if f.exists()), folder)
    try:
        free = shutil.disk_usage(existing).free
    except OSError:  # not measurable (some network file systems): the writes will tell
        return
    if free < need:
        raise EnvironmentFailureError(
            f"no space left on the device (ENOSPC) at {str(folder)!r}: {free / 1e6:.0f} MB free, "
            f"the outputs need about {need / 1e6:.0f} MB; free some space or write elsewhere."
        )


def _output_bytes(seconds: float | None, *, stems: bool, video: Path | None) -> int:
    """About how much disk a generation's outputs take: the WAV (and one per stem), MIDI and
    piano roll for ``seconds`` of music (None: the default length), plus a copy of the video."""
    from vmb_agent.generation.conditions import DEFAULT_DURATION_S, MAX_DURATION_S, MAX_INSTRUMENTS

    seconds = min(seconds or DEFAULT_DURATION_S, MAX_DURATION_S)
    files = 1 + (MAX_INSTRUMENTS if stems else 0)
    picture = os.path.getsize(video) if video is not None else 0
    return int(max(OUTPUT_BYTES_MIN, seconds * OUTPUT_BYTES_PER_S * files + picture))


class AsyncVMB:
    """``VMB`` with coroutine methods; CPU-bound work runs in a worker thread."""

    def __init__(self, settings: Settings | None = None, *, policy: PathPolicy | None = None):
        self.sync = VMB(settings, policy=policy)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)
        if not callable(method):
            return method

        async def run(*args: Any, **kwargs: Any) -> Any:
            import anyio.to_thread

            return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))

        run.__name__ = name
        run.__doc__ = method.__doc__
        return run
