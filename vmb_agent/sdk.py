"""The SDK: ``VMB`` is the one place where the engines are wired together.

The CLI, the MCP tools and ``vmb chat`` are thin adapters over this class. Each method is one
stage of the paper's pipeline (describe -> search -> generate) or a library operation; heavy
engines (the embedder, the Chroma client, the SoundFont) load on first use and are reused.

``AsyncVMB`` exposes the same methods as coroutines that run the CPU-bound work in a worker
thread, so an event loop (the MCP server) keeps answering while music is generated.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vmb_agent.errors import InputError, check_range, validated
from vmb_agent.files import PathPolicy
from vmb_agent.settings import Settings, get_settings
from vmb_agent.types import (
    GenerationOverrides,
    GenerationResult,
    IngestReport,
    LibraryStats,
    MusicDescription,
    ProgressCallback,
    SearchFilters,
    SearchMode,
    SearchResult,
    TrackInfo,
)

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library import Library

DescribeKind = Literal["auto", "image", "video", "text"]
MAX_K = 200


class VMB:
    """Describe visuals, search the music library and generate music — offline by default."""

    def __init__(self, settings: Settings | None = None, *, policy: PathPolicy | None = None):
        self.settings = settings or get_settings()
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

    def describe(
        self,
        source: str | Path,
        *,
        context: str | None = None,
        kind: DescribeKind = "auto",
        backend: str | None = None,
    ) -> MusicDescription:
        """Turn an image, a video or a text prompt into a :class:`MusicDescription`."""
        from vmb_agent.describe import describe_source

        return describe_source(
            source,
            context=context,
            kind=kind,
            backend=backend or self.settings.describe_backend,
            policy=self.policy,
        )

    @staticmethod
    def _overrides(overrides: GenerationOverrides | dict | None) -> GenerationOverrides:
        """Validated overrides: pydantic's checks, then names and ranges (one-line errors)."""
        from vmb_agent.generation.conditions import check_overrides

        checked = validated(GenerationOverrides, overrides or {}, "overrides")
        check_overrides(checked)
        return checked

    def _as_description(self, description: MusicDescription | str | dict | None) -> MusicDescription | None:
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

    def search(
        self,
        query: str | None = None,
        *,
        description: MusicDescription | str | dict | None = None,
        mode: SearchMode = "dual",
        filters: SearchFilters | dict | None = None,
        k: int = 10,
    ) -> SearchResult:
        """Find reference music: ``broad`` (theme), ``targeted`` (hard constraints) or ``dual``."""
        if mode not in ("broad", "targeted", "dual"):
            raise InputError(f"unknown search mode {mode!r}; allowed: broad, targeted, dual.")
        check_range("k", k, 1, MAX_K)
        if isinstance(filters, dict):
            filters = validated(SearchFilters, filters, "filters")
        return self.library.search(
            query=query,
            description=self._as_description(description),
            mode=mode,
            filters=filters or SearchFilters(),
            k=int(k),
        )

    def add_to_library(
        self,
        paths: Sequence[str | Path],
        *,
        tags: dict[str, str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Index audio (WAV/FLAC/OGG/Opus/MP3) and MIDI files or folders (recursively)."""
        if not paths:
            raise InputError("no paths given; name audio/MIDI files or folders to add.")
        checked = []
        for p in paths:
            resolved = Path(p).expanduser()
            checked.append(self.policy.check_dir(p) if resolved.is_dir() else self.policy.check_read(p))
        return self.library.add(checked, tags=tags or {}, progress=progress)

    def build_library(self, size: int = 500, *, progress: ProgressCallback | None = None) -> IngestReport:
        """Build the bundled reference library from the music21 corpus (no downloads)."""
        check_range("size", size, 1, 20000)
        return self.library.build(size=int(size), progress=progress)

    def get_track(self, track_id: str) -> TrackInfo:
        return self.library.get(track_id)

    def list_tracks(self, *, limit: int = 50, offset: int = 0) -> list[TrackInfo]:
        check_range("limit", limit, 1, 100000)
        check_range("offset", offset, 0, 10**9)
        return self.library.list(limit=int(limit), offset=int(offset))

    def remove_track(self, track_id: str) -> TrackInfo:
        return self.library.remove(track_id)

    def library_stats(self) -> LibraryStats:
        return self.library.stats()

    # -- 3. explicitly conditioned generation -------------------------------------------------

    def generate(
        self,
        description: MusicDescription | str | dict | None = None,
        *,
        reference_ids: Sequence[str] = (),
        reference_weights: Sequence[float] | None = None,
        n_references: int = 0,
        overrides: GenerationOverrides | dict | None = None,
        seed: int | None = None,
        out_dir: str | Path | None = None,
        stems: bool = False,
        video_path: str | Path | None = None,
        video_out: str | Path | None = None,
        progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """Generate music conditioned on the text bridge, the references and explicit overrides.

        ``reference_ids`` pins the music bridge, blended by ``reference_weights`` (one per id;
        by default 1, 1/2, 1/3 ... by rank); with none given, ``n_references > 0`` fills it
        with the top dual-search matches for the description (the paper's full pipeline).
        With ``video_path`` the music is muxed into a copy of the video, named ``video_out`` if
        given (its suffix follows the input's container).
        """
        from vmb_agent.generation import generate_music
        from vmb_agent.generation.references import check_reference_weights

        overrides = self._overrides(overrides)
        check_range("n_references", n_references, 0, 10)
        if reference_weights is not None:
            if not reference_ids:
                raise InputError("reference_weights needs reference_ids: one weight per reference.")
            check_reference_weights(reference_weights, len(reference_ids))
        parsed = self._as_description(description)
        wants_references = not reference_ids and n_references > 0 and parsed is not None
        if wants_references and self.library.count() > 0:
            found = self.search(description=parsed, mode="dual", k=int(n_references))
            reference_ids = [m.id for m in found.matches]
        references = [self.library.get(track_id) for track_id in reference_ids]
        for ref in references:
            self.policy.check_read(ref.path, what="reference")
        video = self.policy.check_read(video_path, what="video") if video_path else None
        named_video = self.policy.check_write(video_out) if video_out and video else None
        out = Path(out_dir) if out_dir else self.settings.outputs_dir
        out = self.policy.check_write(out / "_probe").parent
        return generate_music(
            parsed,
            references,
            overrides,
            reference_weights=list(reference_weights) if reference_weights is not None else None,
            seed=seed,
            out_dir=out,
            stems=stems,
            video_path=video,
            video_out=named_video,
            settings=self.settings,
            progress=progress,
        )

    def score(
        self,
        video: str | Path,
        *,
        context: str | None = None,
        out_dir: str | Path | None = None,
        overrides: GenerationOverrides | dict | None = None,
        seed: int | None = None,
        n_references: int = 2,
        stems: bool = False,
        video_out: str | Path | None = None,
        progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """Describe a video, retrieve references, generate music that lands on its cuts, mux
        (into ``video_out`` if given, else beside the other outputs)."""
        overrides = self._overrides(overrides)  # before the video's analysis, not after
        description = self.describe(video, context=context, kind="video")
        return self.generate(
            description,
            n_references=n_references,
            overrides=overrides,
            seed=seed,
            out_dir=out_dir,
            stems=stems,
            video_path=video,
            video_out=video_out,
            progress=progress,
        )


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
