"""``Library.build``: parse corpus pieces in worker processes and index the MIDI they produce.

MIDI files and a JSON sidecar of each piece's metadata go to ``<library_dir>/corpus/``. A re-run
(or a run after an interruption) reuses what is there, so only missing pieces are parsed again.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from vmb_agent.errors import VMBError
from vmb_agent.files import PathPolicy, atomic_output
from vmb_agent.library.corpus import CorpusPiece, CorpusRef, piece_to_midi, select_pieces
from vmb_agent.types import IngestReport, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library import Library, Progress

#: a piece's metadata sidecar is a few hundred bytes
SIDECAR_BYTES = 1 << 20


def _worker_init() -> None:
    import warnings

    warnings.simplefilter("ignore")


def _parse_piece(ref: CorpusRef, out_dir: str) -> CorpusPiece:
    piece = piece_to_midi(ref, out_dir)
    sidecar = Path(piece.midi_path).with_suffix(".json")
    with atomic_output(sidecar) as tmp:
        tmp.write_text(json.dumps(asdict(piece)), encoding="utf-8")
    return piece


def _load_sidecar(ref: CorpusRef, out_dir: Path) -> CorpusPiece | None:
    midi, sidecar = out_dir / f"{ref.slug}.mid", out_dir / f"{ref.slug}.json"
    if not (midi.is_file() and sidecar.is_file()):
        return None
    try:
        # Our own file, but read like any input: size-capped, depth-limited, never a FIFO.
        data = PathPolicy().read_json(sidecar, what="corpus sidecar", max_bytes=SIDECAR_BYTES)
        data["ref"] = CorpusRef(**data["ref"])  # type: ignore[index,call-overload]
        return CorpusPiece(**data)  # type: ignore[arg-type]
    except (VMBError, ValueError, TypeError, KeyError):
        return None  # parsed again


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


def build_corpus_library(
    library: Library, *, size: int, progress: Progress | None, workers: int | None = None
) -> IngestReport:
    from vmb_agent.library.ingest import analyze_file, content_id

    started = time.perf_counter()
    out_dir = library.settings.library_dir / "corpus"
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = select_pieces(size + max(10, size // 10))  # spares replace pieces that fail
    report = IngestReport()
    pending: list[TrackInfo] = []
    seen: set[str] = set()  # a few corpus files hold the same music: count it once
    done = 0

    def ingest(piece: CorpusPiece) -> bool:
        nonlocal done
        path = Path(piece.midi_path)
        try:
            track_id = content_id(path)
            if track_id in seen:
                return False
            seen.add(track_id)
            if library.store.existing_ids([track_id]):
                report.unchanged.append(track_id)
            else:
                pending.append(analyze_file(path, track_id, piece_tags(piece)))
                if len(pending) >= 16:
                    library._write(pending, report)
        except Exception as exc:  # noqa: BLE001 -- one bad piece must not stop the build
            report.failed[f"{piece.ref.path}#{piece.ref.number}"] = str(exc)[:300]
            return False
        done += 1
        if progress:
            progress(done, size, piece.title[:40])
        return True

    queue: list[CorpusRef] = []
    for ref in candidates:
        if done >= size:
            break
        piece = _load_sidecar(ref, out_dir)
        if piece is None:
            queue.append(ref)
        else:
            ingest(piece)
    if progress:
        progress(done, size, "parsing the music21 corpus")
    if done < size and queue:
        n_workers = workers or max(1, min(2, os.cpu_count() or 1))
        context = multiprocessing.get_context("spawn")  # no fork of Chroma's threads
        with ProcessPoolExecutor(n_workers, mp_context=context, initializer=_worker_init) as pool:
            # Keep a bounded window in flight so spares are only parsed when needed.
            in_flight: list[tuple[CorpusRef, Future[CorpusPiece]]] = []
            remaining = iter(queue)
            window = n_workers * 4

            def top_up() -> None:
                while len(in_flight) < window and done + len(in_flight) < size:
                    ref = next(remaining, None)
                    if ref is None:
                        return
                    in_flight.append((ref, pool.submit(_parse_piece, ref, str(out_dir))))

            top_up()
            while in_flight:
                ref, future = in_flight.pop(0)
                try:
                    piece = future.result()
                except Exception as exc:  # noqa: BLE001 -- music21 raises many kinds
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    report.failed[f"{ref.path}#{ref.number}"] = (
                        f"cannot parse: {type(exc).__name__}: {first}"[:300]
                    )
                else:
                    ingest(piece)
                top_up()
    library._write(pending, report)
    report.seconds = round(time.perf_counter() - started, 3)
    return report
