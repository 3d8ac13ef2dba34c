"""The music bridge: a Chroma-backed library of reference music with dual-track retrieval.

    from vmb_agent.library import Library
    lib = Library(settings)                 # cheap; Chroma opens on first use
    lib.build(size=500, progress=None)      # the bundled corpus (music21 -> MIDI)
    lib.add([Path("songs/")], tags={"genre": "jazz"}, progress=None)
    lib.search(query="calm harp", description=None, mode="dual", filters=SearchFilters(), k=5)
    lib.reindex("clap", progress=None)      # copy the tracks into CLAP's own collection

Each embedder (``VMB_EMBED_BACKEND``) has its own Chroma collection (``store.collection_name``);
a ``Library`` reads and writes the one of its settings' embedder.

Modules: ``audio_features`` (tempo/key/loudness from audio), ``midi`` (MIDI analysis),
``embed`` (MiniLM in numpy), ``ingest`` (file -> TrackInfo + caption), ``store`` (Chroma),
``search`` (broad / targeted / dual), ``corpus`` (the bundled library).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vmb_agent.errors import InputError, NotFoundError, OutOfRangeError, check_range
from vmb_agent.settings import Settings
from vmb_agent.types import (
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
    import numpy as np

    from vmb_agent.files import PathPolicy
    from vmb_agent.library.embed import Embedder
    from vmb_agent.library.store import TrackStore

Progress = ProgressCallback
WRITE_BATCH = 16
MAX_K = 200

__all__ = ["Library"]


class Library:
    """The reference-music library (its embedder's Chroma collection) and its search."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: TrackStore | None = None
        self._embedder: Embedder | None = None

    # -- engines (lazy) ------------------------------------------------------------------------

    @property
    def store(self) -> TrackStore:
        if self._store is None:
            from vmb_agent.library.store import TrackStore

            self._store = TrackStore(self.settings, self.collection_name)
        return self._store

    @property
    def collection_name(self) -> str:
        """The Chroma collection of this library's embedder (the default one's needs no
        model loaded to be named)."""
        from vmb_agent.library.store import DEFAULT_EMBEDDER, collection_name

        name = self.settings.embed_backend
        if name == DEFAULT_EMBEDDER:
            return self.settings.collection
        return collection_name(self.settings.collection, name, self.embedder.dim)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from vmb_agent.library.embed import get_embedder

            self._embedder = get_embedder(self.settings.embed_backend, settings=self.settings)
        return self._embedder

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    # -- ingestion -----------------------------------------------------------------------------

    def add(self, paths: Sequence[Path], *, tags: dict[str, str] | None = None,
            progress: Progress | None = None, policy: PathPolicy | None = None) -> IngestReport:
        """Analyse and index audio/MIDI files or folders (recursively).

        A file that cannot be read is reported in ``failed`` and skipped. Tracks are written in
        batches of 16, so an interrupted run keeps what it finished and a re-run completes the
        rest; ids are content hashes, so nothing is added twice.
        """
        from vmb_agent.library.ingest import analyze_file, content_id, expand_paths

        started = time.perf_counter()
        tags = _check_tags(tags or {})
        files, failed = expand_paths([Path(p) for p in paths], policy=policy)
        report = IngestReport(failed=failed)
        if not files and not failed:
            raise InputError(
                f"no audio or MIDI files found in {', '.join(str(p) for p in paths)}."
            )
        pending: list[TrackInfo] = []
        batch_ids: set[str] = set()

        def flush() -> None:
            self._write(pending, report)
            batch_ids.clear()

        for done, path in enumerate(files):
            if progress:
                progress(done, len(files), path.name)
            try:
                track_id = content_id(path)
            except OSError as exc:
                report.failed[str(path)] = f"cannot read: {exc.strerror or exc}"
                continue
            if track_id in batch_ids or self.store.existing_ids([track_id]):
                report.unchanged.append(track_id)
                continue
            try:
                track = analyze_file(path, track_id, tags, library_dir=self.settings.library_dir)
            except InputError as exc:
                report.failed[str(path)] = str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 -- a decoder bug must not abort the batch
                report.failed[str(path)] = f"cannot analyse: {type(exc).__name__}: {exc}"[:300]
                continue
            pending.append(track)
            batch_ids.add(track_id)
            if len(pending) >= WRITE_BATCH:
                flush()
        flush()
        if progress:
            progress(len(files), len(files), "done")
        report.seconds = round(time.perf_counter() - started, 3)
        return report

    def _write(self, pending: list[TrackInfo], report: IngestReport) -> None:
        """Embed and store a batch (one atomic write), recording added/unchanged ids."""
        if not pending:
            return
        from vmb_agent.library.embed import track_vectors

        vectors = track_vectors(self.embedder, pending, soundfont=self.settings.soundfont)
        new = set(self.store.upsert(pending, vectors))
        report.added.extend(t.id for t in pending if t.id in new)
        report.unchanged.extend(t.id for t in pending if t.id not in new)
        pending.clear()

    def build(self, *, size: int = 500, progress: Progress | None = None,
              workers: int | None = None) -> IngestReport:
        """Build the bundled reference library from the music21 corpus (no downloads)."""
        from vmb_agent.library.build import build_corpus_library

        check_range("size", size, 1, 20000)
        return build_corpus_library(self, size=int(size), progress=progress, workers=workers)

    def reindex(self, embedder: str, *, progress: Progress | None = None) -> IngestReport:
        """Copy this library's tracks (metadata, captions, paths) into ``embedder``'s own
        collection with that embedder's vectors. Resumable and idempotent: tracks already there
        are skipped, and every batch is one atomic write. Weights that are missing fail before
        anything is written (no collection is created)."""
        from vmb_agent.library.build import reindex_library

        target = Library(self.settings.model_copy(update={"embed_backend": embedder}))
        try:
            return reindex_library(self, target, progress=progress)
        finally:
            target.close()

    # -- reading -------------------------------------------------------------------------------

    def list(self, *, limit: int = 50, offset: int = 0) -> list[TrackInfo]:
        check_range("limit", limit, 1, 100000)
        check_range("offset", offset, 0, 10**9)
        return self.store.list(limit=int(limit), offset=int(offset))

    def get(self, track_id: str) -> TrackInfo:
        _check_id(track_id)
        return self.store.get(track_id.strip())

    def remove(self, track_id: str) -> TrackInfo:
        _check_id(track_id)
        return self.store.delete(track_id.strip())

    def count(self) -> int:
        """Number of tracks (cheap; ``stats()`` reads every track's metadata)."""
        return self.store.count()

    def stats(self) -> LibraryStats:
        by_format: dict[str, int] = {}
        by_collection: dict[str, int] = {}
        total = 0.0
        count = 0
        for _, meta in self.store.all_metadata(("format", "collection", "duration_s")):
            count += 1
            by_format[meta["format"] or "?"] = by_format.get(meta["format"] or "?", 0) + 1
            name = meta["collection"] or "(none)"
            by_collection[name] = by_collection.get(name, 0) + 1
            total += float(meta["duration_s"] or 0.0)
        return LibraryStats(tracks=count, by_format=by_format, by_collection=by_collection,
                            total_duration_s=round(total, 1), location=self.store.location,
                            **self.index_info())

    def index_info(self) -> dict[str, str]:
        """Which embedder's vectors this library searches, and in which Chroma collection."""
        return {"embedder": self.settings.embed_backend, "index": self.store.name}

    def indexes(self) -> dict[str, int]:
        """Every embedder's collection in this database and its number of tracks."""
        return self.store.collections()

    # -- search --------------------------------------------------------------------------------

    def search(self, *, query: str | None = None, description: MusicDescription | None = None,
               mode: SearchMode = "dual", filters: SearchFilters | None = None,
               k: int = 10) -> SearchResult:
        """Broad (theme), targeted (hard constraints) or dual (fused) retrieval."""
        from vmb_agent.library.search import run_search

        if mode not in ("broad", "targeted", "dual"):
            raise InputError(f"unknown search mode {mode!r}; allowed: broad, targeted, dual.")
        if isinstance(k, bool) or not isinstance(k, int):
            raise OutOfRangeError(f"k={k!r} must be a whole number from 1 to {MAX_K}.")
        check_range("k", k, 1, MAX_K)
        result = run_search(self.store, self.embed, query=query, description=description,
                            mode=mode, filters=filters or SearchFilters(), k=k)
        name = self.settings.embed_backend
        if not result.matches and name != "minilm" and self.store.count() == 0:
            note = (f"the {name} index ({self.store.name}) is empty; run `vmb library reindex "
                    f"--embedder {name}` to index the library's tracks with it.")
            result.notes = [note]
        return result

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _check_id(track_id: str) -> None:
    if not isinstance(track_id, str) or not track_id.strip():
        raise NotFoundError("no track id given; see `vmb library list` for the ids.")


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in tags.items():
        name = str(key).strip().lower()
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"tag name {key!r} is not valid; use letters, digits, '_' or '-'.")
        clean[name] = " ".join(str(value).split())[:200]
    return clean
