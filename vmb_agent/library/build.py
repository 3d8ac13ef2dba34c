"""``Library.build``: parse corpus pieces on every core and index the MIDI they produce.

Each worker process parses one music21 piece, writes it as MIDI, measures it (the same
``analyze_file`` as ``vmb library add``) and leaves a JSON sidecar with the piece's metadata and
measured track next to the MIDI in ``<library_dir>/corpus/``. The main process only embeds the
captions and writes them to Chroma in batches, each one atomic.

Resumable: a re-run, or a run after an interruption (Ctrl-C, a kill, a crash), reuses every
sidecar whose MIDI is still there and skips pieces already in the index, so only what is missing
is parsed, and a killed build never leaves a half-written file or batch behind (MIDI and sidecars
are written atomically; a batch is one Chroma write).

:func:`reindex_library` (``vmb library reindex``) copies the indexed tracks into another
embedder's collection with that embedder's vectors, in the same resumable batches.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmb_agent.errors import VMBError
from vmb_agent.files import PathPolicy, atomic_output
from vmb_agent.library.corpus import (
    CorpusPiece,
    CorpusRef,
    corpus_root,
    piece_to_midi,
    select_pieces,
)
from vmb_agent.types import IngestReport, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library import Library, Progress

#: a piece's sidecar (metadata and measured track) is a few kilobytes
SIDECAR_BYTES = 1 << 20
#: tracks embedded and written to Chroma together (one atomic write each)
WRITE_BATCH = 16
#: tracks read from the source collection at a time when reindexing
REINDEX_PAGE = 256


@dataclass
class Parsed:
    """What a worker hands back for one piece: the piece and its track, or why it failed."""

    ref: CorpusRef
    piece: CorpusPiece | None = None
    track: TrackInfo | None = None
    error: str | None = None


def default_workers() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _worker_init() -> None:
    import warnings

    warnings.simplefilter("ignore")
    # Ctrl-C reaches the whole process group: the main process stops the build, so the workers
    # must not each print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import music21  # noqa: F401 -- loaded once per worker, while the main process starts up


def piece_tags(piece: CorpusPiece) -> dict[str, str]:
    ref = piece.ref
    tags = {
        "title": piece.title,
        "collection": piece.collection,
        "genre": ", ".join(piece.genres),
        "era": piece.era,
        "form": piece.form,
        "source": f"music21 corpus {ref.path}" + (f" #{ref.number}" if ref.number else ""),
    }
    if piece.composer:
        tags["composer"] = piece.composer
    return tags


def _measure(piece: CorpusPiece) -> TrackInfo:
    from vmb_agent.library.ingest import analyze_file, content_id

    path = Path(piece.midi_path)
    return analyze_file(path, content_id(path), piece_tags(piece))


def parse_piece(ref: CorpusRef, out_dir: str) -> Parsed:
    """Parse, write and measure one piece (in a worker process); failures come back as text,
    since music21 raises many kinds of exception and some do not pickle."""
    try:
        piece = piece_to_midi(ref, out_dir)
    except Exception as exc:  # noqa: BLE001 -- one bad piece must not stop the build
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Parsed(ref, error=f"cannot parse: {type(exc).__name__}: {first}"[:300])
    try:
        track = _measure(piece)
    except Exception as exc:  # noqa: BLE001 -- refused by the library's checks
        return Parsed(ref, piece=piece, error=str(exc)[:300])
    sidecar = Path(piece.midi_path).with_suffix(".json")
    with atomic_output(sidecar) as tmp:
        data = {**asdict(piece), "track": track.model_dump(mode="json")}
        tmp.write_text(json.dumps(data), encoding="utf-8")
    return Parsed(ref, piece=piece, track=track)


def load_sidecar(ref: CorpusRef, out_dir: Path) -> Parsed | None:
    """A piece parsed by an earlier run, or ``None`` if it must be parsed (again)."""
    from vmb_agent.library.ingest import content_id

    midi, sidecar = out_dir / f"{ref.slug}.mid", out_dir / f"{ref.slug}.json"
    if not (midi.is_file() and sidecar.is_file()):
        return None
    try:
        # Our own file, but read like any input: size-capped, depth-limited, never a FIFO.
        data: Any = PathPolicy().read_json(sidecar, what="corpus sidecar", max_bytes=SIDECAR_BYTES)
        stored = data.pop("track", None)
        data["ref"] = CorpusRef(**data["ref"])
        piece = CorpusPiece(**data)
        piece.midi_path = str(midi)
        if stored is None:  # a sidecar from before tracks were kept in it
            return Parsed(ref, piece=piece, track=_measure(piece))
        track = TrackInfo.model_validate(stored)
        if track.id != content_id(midi):  # the MIDI changed since: measure it again
            return Parsed(ref, piece=piece, track=_measure(piece))
        track.path = str(midi.resolve())  # VMB_HOME may have moved
        return Parsed(ref, piece=piece, track=track)
    except (VMBError, OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # parsed again


def _expected_cost(ref: CorpusRef) -> int:
    """A rough parse cost, so the slowest pieces start first and none is left running alone at
    the end: compressed MusicXML parses ~10x slower per byte; one tune of a multi-tune ABC file
    is cheap whatever the file's size."""
    if ref.number is not None:
        return 0
    try:
        size = (corpus_root() / ref.path).stat().st_size
    except OSError:
        return 0
    return size * 10 if ref.path.endswith(".mxl") else size


def build_corpus_library(
    library: Library, *, size: int, progress: Progress | None, workers: int | None = None
) -> IngestReport:
    """Index ``size`` corpus pieces (spares replace pieces that fail), reusing earlier work.

    ``progress(done, size, message)`` is called after each piece, ``done`` counting pieces in
    the library (added now or already there)."""
    started = time.perf_counter()
    out_dir = library.settings.library_dir / "corpus"
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = select_pieces(size + max(10, size // 10))
    report = IngestReport()
    pending: list[TrackInfo] = []
    seen: set[str] = set()  # a few corpus files hold the same music: count it once
    done = 0

    def accept(result: Parsed) -> bool:
        """Count one parsed piece in; False if it failed or is a duplicate."""
        nonlocal done
        name = f"{result.ref.path}#{result.ref.number}"
        if result.track is None:
            report.failed[name] = result.error or "cannot parse"
            return False
        if result.track.id in seen:
            return False
        seen.add(result.track.id)
        pending.append(result.track)
        if len(pending) >= WRITE_BATCH:
            library._write(pending, report)
        done += 1
        if progress:
            title = result.piece.title if result.piece else result.ref.slug
            progress(done, size, title[:40])
        return True

    def reuse(results: list[Parsed]) -> None:
        """Take pieces an earlier run parsed; those already indexed are only counted."""
        nonlocal done
        indexed = library.store.existing_ids([r.track.id for r in results if r.track])
        for result in results:
            track = result.track
            if track is not None and track.id in indexed and track.id not in seen:
                seen.add(track.id)
                report.unchanged.append(track.id)
                done += 1
            else:
                accept(result)

    # 1. What earlier runs left: sidecars, and pieces already indexed (skipped, not re-written).
    queue: list[CorpusRef] = []
    reused: list[Parsed] = []
    for ref in candidates[:size]:
        found = load_sidecar(ref, out_dir)
        if found is None:
            queue.append(ref)
        else:
            reused.append(found)
    reuse(reused)
    if progress:
        progress(done, size, f"{done} already in the library" if done else "starting")

    # 2. The rest on every core, largest scores first; spares only for pieces that failed or
    # turned out to be duplicates.
    spares = iter(candidates[size:])
    pool: ProcessPoolExecutor | None = None
    running: set[Future[Parsed]] = set()

    def parse(refs: list[CorpusRef]) -> None:
        nonlocal pool
        if pool is None:
            n_workers = max(1, min(workers or default_workers(), len(refs)))
            context = multiprocessing.get_context("spawn")  # no fork of Chroma's threads
            pool = ProcessPoolExecutor(n_workers, mp_context=context, initializer=_worker_init)
        for ref in refs:
            running.add(pool.submit(parse_piece, ref, str(out_dir)))

    def top_up() -> None:
        while done + len(running) < size:
            ref = next(spares, None)
            if ref is None:
                return
            found = load_sidecar(ref, out_dir)
            if found is None:
                parse([ref])
            else:
                reuse([found])

    try:
        if queue:
            parse(sorted(queue, key=_expected_cost, reverse=True))
        top_up()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            running.difference_update(finished)
            for future in finished:
                accept(future.result())
            top_up()
    except BaseException:
        if pool is not None:
            stop_workers(pool)  # Ctrl-C: do not wait for the pieces being parsed
        raise
    if pool is not None:
        pool.shutdown(wait=True)
    library._write(pending, report)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool at once: pending pieces are cancelled and running ones terminated (each
    writes its files atomically, so nothing half-written is left behind)."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()


def reindex_library(source: Library, target: Library, *,
                    progress: Progress | None = None) -> IngestReport:
    """Write ``source``'s tracks (metadata, caption, path) into ``target``'s collection with
    ``target``'s embedder's vectors (audio when an audio embedder can hear the track, see
    ``embed.track_vectors``). Tracks already in ``target`` are skipped, so an interrupted run
    resumes and a repeated one changes nothing; each batch of :data:`WRITE_BATCH` is one write.
    ``target``'s embedder is created first: missing weights fail before any collection exists."""
    started = time.perf_counter()
    _ = target.embedder  # a one-line BackendUnavailableError here, before anything is written
    report = IngestReport()
    total = source.count()
    if target.collection_name == source.collection_name:  # already indexed by that embedder
        report.unchanged = [t.id for t in _pages(source)]
    else:

        def tick(title: str) -> None:
            if progress:
                progress(len(report.added) + len(report.unchanged), total, title[:40])

        for page in _page_lists(source):
            _reindex_page(page, target, report, tick)
    if progress:
        progress(total, total, "done")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _page_lists(library: Library) -> Iterator[list[TrackInfo]]:
    """The library's tracks, :data:`REINDEX_PAGE` at a time."""
    offset = 0
    while True:
        page = library.store.list(limit=REINDEX_PAGE, offset=offset)
        if page:
            yield page
        if len(page) < REINDEX_PAGE:
            return
        offset += REINDEX_PAGE


def _pages(library: Library) -> Iterator[TrackInfo]:
    for page in _page_lists(library):
        yield from page


def _reindex_page(page: list[TrackInfo], target: Library, report: IngestReport,
                  tick: Callable[[str], None]) -> None:
    """Embed and write the tracks of ``page`` that ``target`` lacks, in atomic batches;
    ``tick(title)`` after each."""
    from vmb_agent.library.embed import track_vectors

    present = target.store.existing_ids([t.id for t in page])
    report.unchanged.extend(t.id for t in page if t.id in present)
    todo = [t for t in page if t.id not in present]
    if present:
        tick(f"{len(present)} already indexed")
    for start in range(0, len(todo), WRITE_BATCH):
        batch = todo[start:start + WRITE_BATCH]
        vectors = track_vectors(target.embedder, batch, soundfont=target.settings.soundfont)
        new = set(target.store.upsert(batch, vectors))
        report.added.extend(t.id for t in batch if t.id in new)
        report.unchanged.extend(t.id for t in batch if t.id not in new)
        tick(batch[-1].title)
