"""The track store: a Chroma collection holding one embedding + flat metadata per track.

* One collection per embedder (:func:`collection_name`): vectors of different models never
  share an index. The default embedder (MiniLM) keeps the plain ``VMB_COLLECTION`` name
  (``vmb_tracks``) so libraries built before embedders were selectable keep working.

* Embedded ``chromadb.PersistentClient`` under ``settings.library_dir`` by default; a Chroma
  server (``chromadb.HttpClient``) when ``VMB_CHROMA_URL`` is set. Same code otherwise.
* Embeddings are always passed explicitly (Chroma's default embedding function downloads a model).
* Metadata is flattened for ``where`` filters: numbers (``tempo_bpm``, ``duration_s``), strings
  (``key``, ``mode``), string arrays (``instruments``, ``genres``, ``moods``, matched with
  ``$contains``); the caption is the document; free-form tags ride along as JSON.
* Several processes may write the same embedded database: writes take an exclusive file lock and
  bump a version stamp; a process that sees a newer stamp reopens its client before reading or
  writing, so nobody writes from a stale view of the index.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vmb_agent.errors import LibraryError, NotFoundError
from vmb_agent.settings import Settings
from vmb_agent.theory import parse_key
from vmb_agent.types import AudioTag, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library.index import AttributeIndex

T = TypeVar("T")

_LIST_FIELDS = ("instruments", "genres", "moods")
_NUMBER_FIELDS = ("duration_s", "tempo_bpm", "tempo_confidence", "key_confidence",
                  "loudness_lufs", "energy", "brightness", "percussiveness", "onset_density",
                  "note_density", "transcription_notes")
_TEXT_FIELDS = ("title", "path", "format", "key", "time_signature", "composer", "collection",
                "transcription_path")


#: the embedder whose collection keeps the plain ``settings.collection`` name
DEFAULT_EMBEDDER = "minilm"


def collection_name(base: str, embedder: str, dim: int) -> str:
    """The Chroma collection of ``embedder``'s ``dim``-d vectors: ``base`` for the default
    embedder, else ``<base>_<embedder>_<dim>`` (e.g. ``vmb_tracks_clap_512``), so switching
    ``VMB_EMBED_BACKEND`` never mixes vectors, nor do two models of one name but other sizes."""
    if embedder == DEFAULT_EMBEDDER:
        return base
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in embedder)
    return f"{base}_{safe}_{int(dim)}"


def track_to_metadata(track: TrackInfo) -> dict[str, Any]:
    """Flat, filterable metadata for Chroma (no ``None``s, no empty lists)."""
    meta: dict[str, Any] = {}
    if track.tags:
        meta["tags_json"] = json.dumps(track.tags, sort_keys=True)
    if track.audio_tags:
        meta["audio_tags_json"] = json.dumps([[t.tag, t.probability] for t in track.audio_tags])
    for name in _TEXT_FIELDS:
        value = getattr(track, name)
        if value:
            meta[name] = str(value)
    for name in _NUMBER_FIELDS:
        value = getattr(track, name)
        if value is not None:
            meta[name] = float(value)
    for name in _LIST_FIELDS:
        values = list(dict.fromkeys(v.lower() for v in getattr(track, name) if v))
        if values:
            meta[name] = values
    if track.key:
        key = parse_key(track.key)
        meta["key_tonic"] = key.tonic
        meta["mode"] = key.mode
    return meta


def metadata_to_track(track_id: str, meta: dict[str, Any], caption: str | None) -> TrackInfo:
    fields = {k: v for k, v in meta.items() if k in _TEXT_FIELDS or k in _NUMBER_FIELDS
              or k in _LIST_FIELDS}
    tags = json.loads(meta["tags_json"]) if meta.get("tags_json") else {}
    heard = json.loads(meta["audio_tags_json"]) if meta.get("audio_tags_json") else []
    audio_tags = [AudioTag(tag=tag, probability=p) for tag, p in heard]
    if "transcription_notes" in fields:  # Chroma keeps numbers as floats
        fields["transcription_notes"] = int(fields["transcription_notes"])
    return TrackInfo(id=track_id, **fields, tags=tags, audio_tags=audio_tags, caption=caption or "")


def _tracks(found: dict[str, Any]) -> list[TrackInfo]:
    """TrackInfos from a Chroma get() result (flat lists of ids/metadatas/documents)."""
    return [metadata_to_track(i, m, d) for i, m, d in
            zip(found["ids"], found["metadatas"], found["documents"], strict=True)]


def _serialised(method: Callable[..., T]) -> Callable[..., T]:
    """Run a store method under the store's lock: another thread may otherwise close the client
    (to reopen it after a write elsewhere) in the middle of a query."""

    @functools.wraps(method)
    def wrapper(self: TrackStore, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class TrackStore:
    """Thread-safe access to one Chroma collection of tracks (``name``; default: the
    settings' plain collection name, the default embedder's)."""

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or settings.collection
        self.server_url = settings.chroma_url
        self.path = settings.library_dir
        self._client: Any = None
        self._collection: Any = None
        self._seen_version: int | None = None
        self._index: AttributeIndex | None = None
        self._lock = threading.RLock()
        self._holding_file_lock = False

    # -- opening -------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self.server_url or str(self.path / "chroma")

    def _version_file(self) -> Path:
        return self.path / "chroma.version"

    def _read_version(self) -> int:
        if self.server_url:
            return 0
        try:
            return self._version_file().stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def _open(self) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self.server_url:
                from urllib.parse import urlparse

                url = urlparse(self.server_url)
                if not url.hostname:
                    raise LibraryError(
                        f"VMB_CHROMA_URL={self.server_url!r} is not a URL; "
                        "write it like http://127.0.0.1:8000."
                    )
                self._client = chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
            # Under the file lock: two processes creating a new database at once would both
            # run Chroma's schema migrations ("table collections already exists").
            with self._file_lock():
                if not self.server_url:
                    (self.path / "chroma").mkdir(parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(
                        path=str(self.path / "chroma"), settings=chroma_settings
                    )
                self._collection = self._client.get_or_create_collection(
                    self.name,
                    embedding_function=None,
                    metadata={"hnsw:space": "cosine"},
                )
        except LibraryError:
            raise
        except Exception as exc:  # noqa: BLE001 -- chromadb raises many kinds
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LibraryError(f"cannot open the music library at {self.location}: {first}") from None
        self._seen_version = self._read_version()

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = self._collection = None

    @property
    def collection(self) -> Any:
        """The Chroma collection, (re)opened when another process has written since."""
        with self._lock:
            if self._collection is not None and self._read_version() != self._seen_version:
                self._close()
            if self._collection is None:
                self._open()
            return self._collection

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[list[Callable[[], None]]]:
        """Hold the write lock; callbacks appended to the yielded list run after the write is
        stamped, still under the lock (to update the attribute index in step)."""
        after: list[Callable[[], None]] = []
        if self.server_url:  # the server serialises writes itself
            with self._lock:
                yield after
                for callback in after:
                    callback()
            return
        with self._lock, self._file_lock():
            _ = self.collection  # reopen if someone else wrote while we waited
            yield after
            stamp = self._version_file()
            stamp.write_text(f"{os.getpid()}\n")
            os.utime(stamp)
            self._seen_version = self._read_version()
            for callback in after:
                callback()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """The cross-process lock of the embedded database (re-entrant within this store: flock
        would deadlock against a second handle of the same process)."""
        if self.server_url or self._holding_file_lock:
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path / "chroma.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._holding_file_lock = True
            try:
                yield
            finally:
                self._holding_file_lock = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _index_follows(self, after: list[Callable[[], None]],
                       change: Callable[[AttributeIndex], None]) -> None:
        """If the attribute index is current now, apply ``change`` to it after the write instead
        of rebuilding it from scratch on the next search."""
        index = self._index
        if index is None or index.generation != self.generation():
            return

        def follow() -> None:
            change(index)
            index.generation = self.generation()

        after.append(follow)

    # -- reading -------------------------------------------------------------------------------

    @_serialised
    def count(self) -> int:
        return int(self.collection.count())

    @_serialised
    def collections(self) -> dict[str, int]:
        """Every collection in this database and its number of tracks (one per embedder)."""
        _ = self.collection  # opens (and reopens after another process's write)
        return {c.name: int(c.count()) for c in self._client.list_collections()}

    @_serialised
    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        unique = list(dict.fromkeys(ids))  # Chroma refuses a request naming an id twice
        found = self.collection.get(ids=unique, include=[])
        return set(found["ids"])

    @_serialised
    def get(self, track_id: str) -> TrackInfo:
        found = self.collection.get(ids=[str(track_id)], include=["metadatas", "documents"])
        if not found["ids"]:
            raise NotFoundError(
                f"no track with id {track_id!r} in the library; "
                "see `vmb library list` for the ids."
            )
        return _tracks(found)[0]

    @_serialised
    def list(self, *, limit: int, offset: int) -> list[TrackInfo]:
        found = self.collection.get(limit=limit, offset=offset,
                                    include=["metadatas", "documents"])
        return _tracks(found)

    def all_metadata(self, fields: Sequence[str], batch: int = 5000
                     ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(id, {field: value})`` for every track, read in pages."""
        offset = 0
        while True:
            found = self.collection.get(limit=batch, offset=offset, include=["metadatas"])
            for track_id, meta in zip(found["ids"], found["metadatas"], strict=True):
                yield track_id, {f: meta.get(f) for f in fields}
            if len(found["ids"]) < batch:
                return
            offset += batch

    def generation(self) -> tuple[int, int]:
        """Changes whenever the library does (a write here or elsewhere, a different size)."""
        return self.count(), self._read_version()

    def attribute_index(self) -> AttributeIndex:
        """The in-memory attribute index (see ``index.py``), rebuilt when the store changed."""
        from vmb_agent.library.index import FIELDS, AttributeIndex

        with self._lock:
            generation = self.generation()
            if self._index is None or self._index.generation != generation:
                self._index = AttributeIndex.build(self.all_metadata(FIELDS), generation)
            return self._index

    @_serialised
    def get_many(self, ids: Sequence[str]) -> list[TrackInfo]:
        """Tracks for ``ids`` in the given order (unknown ids are left out)."""
        if not ids:
            return []
        found = self.collection.get(ids=list(ids), include=["metadatas", "documents"])
        by_id = {t.id: t for t in _tracks(found)}
        return [by_id[i] for i in ids if i in by_id]

    @_serialised
    def query(self, embedding: np.ndarray, *, n: int, where: dict[str, Any] | None,
              ids: Sequence[str] | None = None) -> list[tuple[TrackInfo, float]]:
        """Nearest tracks to ``embedding`` (cosine similarity), optionally filtered by a
        ``where`` clause and/or restricted to candidate ``ids``."""
        total = len(ids) if ids is not None else self.count()
        if total == 0:
            return []
        found = self.collection.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32).tolist()],
            n_results=min(n, total),
            where=where or None,
            ids=list(ids) if ids is not None else None,
            include=["metadatas", "documents", "distances"],
        )
        tracks = _tracks({k: found[k][0] for k in ("ids", "metadatas", "documents")})
        return [(t, 1.0 - float(d)) for t, d in zip(tracks, found["distances"][0], strict=True)]

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, tracks: Sequence[TrackInfo], embeddings: np.ndarray) -> list[str]:
        """Write tracks not yet present; return the ids that were new. One atomic batch."""
        if not tracks:
            return []
        with self._write_lock() as after:
            present = self.existing_ids([t.id for t in tracks])
            fresh = [(t, e) for t, e in zip(tracks, embeddings, strict=True) if t.id not in present]
            unique: dict[str, tuple[TrackInfo, np.ndarray]] = {t.id: (t, e) for t, e in fresh}
            if unique:
                from vmb_agent.library.index import FIELDS

                items = list(unique.values())
                metadatas = [track_to_metadata(t) for t, _ in items]
                rows = [(t.id, {f: m.get(f) for f in FIELDS})
                        for (t, _), m in zip(items, metadatas, strict=True)]
                self._index_follows(after, lambda index: index.extend(rows))
                try:
                    self.collection.upsert(
                        ids=[t.id for t, _ in items],
                        embeddings=np.asarray([e for _, e in items], dtype=np.float32),
                        metadatas=metadatas,
                        documents=[t.caption for t, _ in items],
                    )
                except Exception as exc:  # noqa: BLE001 -- chromadb raises many kinds
                    raise LibraryError(
                        f"cannot write to the music library at {self.location}: {exc}"
                    ) from None
            return list(unique)

    def delete(self, track_id: str) -> TrackInfo:
        with self._write_lock() as after:
            track = self.get(track_id)
            self._index_follows(after, lambda index: index.remove(track.id))
            self.collection.delete(ids=[track.id])
            return track

    def close(self) -> None:
        with self._lock:
            self._close()

