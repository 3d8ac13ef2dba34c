"""Turning files into library tracks: content-hash ids, analysis, moods and a caption.

What is stored is checked first, so a poisoned file never reaches search or generation. A file
is refused, with its reason listed in the ingest report, when:

* its real path (symlinks followed) lies outside the allowed roots, or, with no policy given,
  outside the folder being indexed (``root/a.mid -> /elsewhere/secret.mid`` is never indexed);
* it is not a regular file (FIFO, device, socket), is empty, or is over the size limit;
* its content is not the format its name claims (a text file named ``.wav``, a playlist);
* it is out of range: longer than :data:`MAX_DURATION_S` (1 h), more than :data:`MAX_NOTES`
  notes (50,000) or :data:`MAX_ONSETS_PER_BEAT` note onsets a beat (16, the most a reference's
  melody may carry), a tempo outside :data:`TEMPO_RANGE` (20-400 BPM), a sample rate outside
  :data:`SAMPLE_RATE_RANGE` (8-192 kHz), a key that is not a key name, or a MIDI file over
  :data:`MAX_MIDI_BYTES` (16 MB).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.errors import InputError, UnsupportedFormatError
from vmb_agent.files import PathPolicy, open_regular
from vmb_agent.library.audio_features import AUDIO_SUFFIXES
from vmb_agent.library.midi import MIDI_SUFFIXES
from vmb_agent.theory import normalize_instrument, parse_key
from vmb_agent.types import AudioTag, IngestReport, ProgressCallback, TrackInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library import Library
    from vmb_agent.library.recording import Heard

SUPPORTED_SUFFIXES = AUDIO_SUFFIXES + MIDI_SUFFIXES
#: What a stored track may be (see the module docstring).
MAX_DURATION_S = 3600.0
MAX_NOTES = 50_000
MAX_ONSETS_PER_BEAT = 16.0
TEMPO_RANGE = (20.0, 400.0)
SAMPLE_RATE_RANGE = (8000, 192000)
#: MIDI files are read whole; none with at most MAX_NOTES notes comes near this size.
MAX_MIDI_BYTES = 16 * 2**20


def content_id(path: str | os.PathLike[str]) -> str:
    """Track id: the first 16 hex digits of the SHA-256 of the file's bytes. ``OSError`` if it
    is not a regular file (opened without blocking, so a FIFO cannot hang the indexing)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def expand_paths(
    paths: Iterable[Path], *, policy: PathPolicy | None = None
) -> tuple[list[Path], dict[str, str]]:
    """Files to ingest (folders searched recursively, sorted) and refusals with their reasons.

    Every file's real path is checked: inside ``policy``'s allowed roots, or (no policy) inside
    the folder it was found in, so a symlink cannot smuggle an outside file into the library."""
    files: list[Path] = []
    refused: dict[str, str] = {}
    max_bytes = (policy or PathPolicy()).max_input_bytes
    for path in paths:
        path = Path(path)
        if path.is_dir():
            boundary = None if policy is not None else path.resolve()
            for found in sorted(path.rglob("*")):
                if found.suffix.lower() not in SUPPORTED_SUFFIXES or found.name.startswith("."):
                    continue
                if found.is_dir():
                    continue
                problem = _file_problem(found, policy, boundary, max_bytes)
                if problem:
                    refused[str(found)] = problem
                else:
                    files.append(found)
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            problem = _file_problem(path, policy, None, max_bytes)
            if problem:
                refused[str(path)] = problem
            else:
                files.append(path)
        else:
            refused[str(path)] = (f"unsupported format {path.suffix or '(none)'!r}; allowed: "
                                  f"{', '.join(SUPPORTED_SUFFIXES)}")  # fmt: skip
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, refused


def _file_problem(
    path: Path, policy: PathPolicy | None, boundary: Path | None, max_bytes: int
) -> str | None:
    """Why ``path`` cannot be indexed (outside the roots or the folder, not a regular file,
    empty, too large), or ``None``. A symlink's target is never named: it may be a secret."""
    try:
        real = path.resolve()
        info = real.stat()
    except (OSError, RuntimeError) as exc:
        return f"cannot read: {getattr(exc, 'strerror', None) or 'symlink loop'}"
    if policy is not None and not policy.allows(real):
        return "its real path (symlinks followed) is outside the allowed roots"
    if boundary is not None and not real.is_relative_to(boundary):
        return f"it is a symlink to a file outside the folder {str(boundary)!r}"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a FIFO, device or socket)"
    if info.st_size == 0:
        return "the file is empty (0 bytes)"
    if info.st_size > max_bytes:
        return f"{info.st_size / 1e6:.0f} MB is over the {max_bytes / 1e6:.0f} MB limit"
    return None


def derive_moods(key: str | None, tempo: float | None, energy: float | None) -> list[str]:
    """Coarse moods from mode, tempo and energy (documented heuristics, not a classifier)."""
    minor = key is not None and key.endswith("minor")
    tempo = tempo or 100.0
    energy = 0.5 if energy is None else energy
    if tempo < 84 or energy < 0.3:
        moods = ["melancholic", "somber"] if minor else ["calm", "peaceful"]
    elif tempo >= 120 or energy > 0.7:
        moods = ["dramatic", "tense"] if minor else ["happy", "energetic"]
    else:
        moods = ["dark", "serious"] if minor else ["warm", "bright"]
    if energy > 0.75 and "energetic" not in moods:
        moods.append("energetic")
    return moods


def _pace(tempo: float | None) -> str:
    if tempo is None:
        return ""
    if tempo < 72:
        return "slow"
    if tempo < 100:
        return "moderate"
    if tempo < 132:
        return "lively"
    return "fast"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def make_caption(track: TrackInfo, *, era: str | None = None, form: str | None = None) -> str:
    """One sentence describing the track, e.g. 'calm baroque four-part chorale in E minor at
    72 BPM with choir, 3/4 meter, by J.S. Bach (Baroque, bach chorales)'."""
    mood = track.moods[0] if track.moods else ""
    genre = track.genres[0] if track.genres else ("piece" if track.format == "midi" else "music")
    kind = form or ("piece" if track.format == "midi" else "recording")
    if genre in kind:  # "folk folk song" -> "folk song"
        genre = ""
    head = " ".join(w for w in (mood, _pace(track.tempo_bpm), genre, kind) if w)
    parts = [head]
    if track.key:
        parts.append(f"in {track.key}")
    if track.tempo_bpm:
        parts.append(f"at {track.tempo_bpm:.0f} BPM")
    if track.instruments:
        parts.append(f"with {_join(track.instruments[:5])}")
    text = " ".join(parts)
    extras = []
    if track.time_signature:
        extras.append(f"{track.time_signature} meter")
    if track.duration_s:
        minutes, seconds = divmod(round(track.duration_s), 60)
        extras.append(f"{minutes}:{seconds:02d} long")
    if track.percussiveness is not None and track.percussiveness > 0.5:
        extras.append("percussive")
    if track.brightness is not None:
        extras.append(
            "bright timbre"
            if track.brightness > 0.6
            else "dark timbre"
            if track.brightness < 0.3
            else ""
        )
    if track.composer and track.composer != "traditional":
        extras.append(f"by {track.composer}")
    elif track.composer == "traditional":
        extras.append("traditional tune")
    extras = [e for e in extras if e]
    if extras:
        text += ", " + ", ".join(extras)
    context = [c for c in (era, track.collection) if c]
    if context:
        text += f" ({', '.join(context)})"
    if track.genres[1:]:
        text += "; " + ", ".join(track.genres[1:])
    if track.moods[1:]:
        text += "; " + ", ".join(track.moods[1:])
    title = track.title.strip()
    return f"{title}: {text}." if title else f"{text}."


def _clean_title(path: Path) -> str:
    return " ".join(path.stem.replace("_", " ").replace("-", " ").split()) or path.name


def _tag_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [
        v.strip().lower() for v in value.replace(";", ",").replace("/", ",").split(",") if v.strip()
    ]


def _instruments_from_tags(tags: dict[str, str]) -> list[str]:
    names: list[str] = []
    for raw in _tag_list(tags.get("instruments") or tags.get("instrument")):
        try:
            name = normalize_instrument(raw)
        except InputError:
            continue
        if name not in names:
            names.append(name)
    return names


def analyze_file(
    path: Path, track_id: str, tags: dict[str, str], *, library_dir: Path | None = None
) -> TrackInfo:
    """Measure one audio or MIDI file and describe it as a :class:`TrackInfo` (with caption);
    ``InputError`` naming the file and the reason if it cannot be a library track. An audio
    file's transcription is stored under ``library_dir`` (when given) for use as a reference."""
    from vmb_agent.describe.media import check_media

    suffix = path.suffix.lower()
    heard = None
    if suffix in MIDI_SUFFIXES:
        check_media(path, ("midi",), shown=str(path))  # the bytes must be a MIDI file
        track = _analyze_midi_file(path, track_id, tags)
    elif suffix in AUDIO_SUFFIXES:
        check_media(path, ("audio",), shown=str(path))  # never a playlist or a video
        track, heard = _analyze_audio_file(path, track_id, tags)
    else:
        raise UnsupportedFormatError(
            f"{path.name!r} has an unsupported format; allowed: {', '.join(SUPPORTED_SUFFIXES)}."
        )
    problem = track_problem(track)
    if problem:
        raise InputError(f"{str(path)!r} refused: {problem}.")
    if heard is not None and library_dir is not None and track.transcription_notes:
        from vmb_agent.library.recording import store_transcription

        stored = store_transcription(heard.transcription, library_dir, track_id)
        track.transcription_path = str(stored)
    elif track.format == "audio":
        track.transcription_notes = None  # nothing stored: the audio analysis stands in
    track.caption = make_caption(track, era=tags.get("era"), form=tags.get("form"))
    return track


def track_problem(track: TrackInfo) -> str | None:
    """Why a measured track is out of the ranges a library track may have, or ``None``."""
    if not 0 < track.duration_s <= MAX_DURATION_S:
        return f"its length {track.duration_s:.4g} s is out of range; allowed: up to 1 h"
    low, high = TEMPO_RANGE
    if track.tempo_bpm is not None and not low <= track.tempo_bpm <= high:
        return f"its tempo {track.tempo_bpm:.4g} BPM is out of range; allowed: {low:g} to {high:g}"
    if track.note_density is not None and track.tempo_bpm:
        per_beat = track.note_density * 60.0 / track.tempo_bpm
        if per_beat > MAX_ONSETS_PER_BEAT:
            return (f"it has {per_beat:.0f} note onsets a beat; allowed: at most "
                    f"{MAX_ONSETS_PER_BEAT:g}")  # fmt: skip
    if track.key is not None:
        try:
            parse_key(track.key)
        except InputError:
            return f"its key {track.key[:40]!r} is not a key name"
    return None


def _common(path: Path, track_id: str, tags: dict[str, str], fmt: str) -> dict:
    genres = _tag_list(tags.get("genre") or tags.get("genres"))
    moods = _tag_list(tags.get("mood") or tags.get("moods"))
    return {
        "id": track_id,
        "title": tags.get("title") or _clean_title(path),
        "path": str(path.resolve()),
        "format": fmt,
        "genres": genres,
        "moods": moods,
        "composer": tags.get("composer") or tags.get("artist"),
        "collection": tags.get("collection") or tags.get("album"),
        "tags": dict(tags),
    }


def _check_audio_header(path: Path) -> None:
    """Refuse an audio file by the length and sample rate its header declares, before decoding
    hours of samples (libsndfile's formats; others are checked after decoding)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception:  # noqa: BLE001 -- not a libsndfile format: decoded and checked later
        return
    _check_rate(path, int(info.samplerate))
    if info.samplerate and info.frames / info.samplerate > MAX_DURATION_S:
        raise InputError(f"{str(path)!r} refused: its length {info.frames / info.samplerate:.4g}"
                         " s is out of range; allowed: up to 1 h.")  # fmt: skip


def _check_rate(path: Path, sr: int) -> None:
    low, high = SAMPLE_RATE_RANGE
    if not low <= sr <= high:
        raise InputError(f"{str(path)!r} refused: its sample rate {sr} Hz is out of range; "
                         f"allowed: {low} to {high} Hz.")  # fmt: skip


def _analyze_audio_file(
    path: Path, track_id: str, tags: dict[str, str]
) -> tuple[TrackInfo, Heard]:
    """Analysis, transcription and tags of one audio file. Genres, moods and instruments the
    caller (or the file's own tags) gave win; the audio tagger fills the ones left empty."""
    from vmb_agent.library.audio_features import analyze_audio, audio_metadata_tags, load_audio
    from vmb_agent.library.recording import listen

    _check_audio_header(path)
    merged = {**audio_metadata_tags(path), **tags}  # the caller's tags win over the file's
    samples, sr = load_audio(path)
    _check_rate(path, sr)
    heard = listen(samples, sr)
    features = analyze_audio(samples, sr, transcription=heard.transcription)
    fields = _common(path, track_id, merged, "audio")
    suggested = {kind: [name for name, _ in names] for kind, names in heard.suggested.items()}
    fields["genres"] = fields["genres"] or suggested.get("genre", [])
    fields["moods"] = fields["moods"] or suggested.get("mood", []) or derive_moods(
        features.key, features.tempo_bpm, features.energy
    )
    notes = len(heard.transcription.notes) if heard.transcription.available else 0
    track = TrackInfo(
        **fields,
        duration_s=features.duration_s,
        tempo_bpm=features.tempo_bpm,
        tempo_confidence=features.tempo_confidence,
        key=features.key,
        key_confidence=features.key_confidence,
        instruments=_instruments_from_tags(merged) or suggested.get("instrument", []),
        loudness_lufs=features.loudness_lufs,
        energy=features.energy,
        brightness=features.brightness,
        percussiveness=features.percussiveness,
        onset_density=features.onset_density,
        audio_tags=[AudioTag(tag=tag, probability=round(p, 4)) for tag, p in heard.tags],
        transcription_notes=notes or None,
    )
    return track, heard


def _analyze_midi_file(path: Path, track_id: str, tags: dict[str, str]) -> TrackInfo:
    from vmb_agent.library.midi import analyze_midi, load_midi, midi_title, scan_midi

    # A quick count first: a 200,000-note file would take pretty_midi ~10 s just to parse.
    with open_regular(path, what="MIDI file") as handle:
        data = handle.read(MAX_MIDI_BYTES + 1)
    if len(data) > MAX_MIDI_BYTES:
        raise InputError(f"{str(path)!r} refused: a MIDI file over {MAX_MIDI_BYTES // 2**20} MB;"
                         f" allowed: up to {MAX_MIDI_BYTES // 2**20} MB.")  # fmt: skip
    try:
        scan = scan_midi(data, stop_after_notes=MAX_NOTES)
    except ValueError as exc:
        raise InputError(f"cannot read MIDI {str(path)!r}: {exc}.") from None
    if scan.notes > MAX_NOTES:
        raise InputError(f"{str(path)!r} refused: it has over {MAX_NOTES} notes; allowed: at "
                         f"most {MAX_NOTES}.")  # fmt: skip
    if scan.seconds_at(TEMPO_RANGE[1]) > MAX_DURATION_S:
        raise InputError(f"{str(path)!r} refused: it lasts over 1 h even at "
                         f"{TEMPO_RANGE[1]:g} BPM ({scan.last_note_tick} ticks); allowed: up to "
                         "1 h.")  # fmt: skip
    pm = load_midi(path)
    features = analyze_midi(pm)
    if features.duration_s <= 0 or not any(inst.notes for inst in pm.instruments):
        raise InputError(f"MIDI file {str(path)!r} contains no notes.")
    merged = dict(tags)
    if "title" not in merged and (title := midi_title(path)):
        merged["title"] = title
    fields = _common(path, track_id, merged, "midi")
    # Energy of a score: note density and loudness (velocity) on a 0-1 scale.
    energy = min(
        1.0, 0.6 * min(features.note_density / 8.0, 1.0) + 0.4 * features.mean_velocity / 127.0
    )
    if not fields["moods"]:
        fields["moods"] = derive_moods(features.key, features.tempo_bpm, energy)
    instruments = list(features.instruments)
    for extra in _instruments_from_tags(merged):
        if extra not in instruments:
            instruments.append(extra)
    return TrackInfo(
        **fields,
        duration_s=features.duration_s,
        tempo_bpm=features.tempo_bpm,
        tempo_confidence=1.0 if features.tempo_bpm else None,
        key=features.key,
        key_confidence=features.key_confidence,
        time_signature=features.time_signature,
        instruments=instruments,
        energy=round(energy, 3),
        note_density=features.note_density,
        percussiveness=1.0 if "drums" in instruments and len(instruments) == 1 else None,
    )


def key_name_or_none(text: str | None) -> str | None:
    return None if not text else parse_key(text).name


# -- adding many files on every core -----------------------------------------------------------

#: below this many files to analyse, starting worker processes (about a second each, to import
#: the decoders) costs more than it saves
MIN_FILES_FOR_WORKERS = 8
#: by default a pool is used only with this many cores: one audio file's analysis already keeps
#: about 1.6 of 2 cores busy (FFT and decoder threads), so on 2 cores a pool only adds its
#: start-up (measured: 16 files of 3 min, 7.8 s with or without one; 40 of 20 s, 3.4 s without,
#: 4.5 s with)
MIN_CORES_FOR_WORKERS = 4
#: tracks embedded and written to Chroma together (one atomic write each)
WRITE_BATCH = 16


def _analyze_in_worker(
    path: Path, track_id: str, tags: dict[str, str], library_dir: Path | None = None
) -> TrackInfo | str:
    """``analyze_file`` in a worker process; a refusal comes back as its one-line reason (some
    decoder exceptions do not pickle)."""
    try:
        return analyze_file(path, track_id, tags, library_dir=library_dir)
    except InputError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 -- a decoder bug must not abort the batch
        return f"cannot analyse: {type(exc).__name__}: {exc}"[:300]


def _ingest_worker_init() -> None:
    import signal
    import warnings

    warnings.simplefilter("ignore")
    # Ctrl-C reaches the whole process group; the main process stops the work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ingest_files(
    library: Library,
    files: list[Path],
    report: IngestReport,
    *,
    tags: dict[str, str],
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Analyse ``files`` (already expanded and checked: ``expand_paths``) on every core and add
    them to ``library``; ``report`` collects the outcome.

    Files whose content is already in the library are skipped before any analysis (the id is
    the content hash), so an interrupted run resumes where it stopped; tracks are written in
    atomic batches of ``WRITE_BATCH``. ``progress(done, len(files), file name)`` after each file,
    in the order files finish. ``workers``: processes to analyse in (default: one per core on
    machines with ``MIN_CORES_FOR_WORKERS`` or more, else this process).
    """
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    from vmb_agent.library.build import default_workers, stop_workers

    total = len(files)
    done = 0
    pending: list[TrackInfo] = []

    def finished(path: Path) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, path.name)

    def keep(track: TrackInfo) -> None:
        pending.append(track)
        if len(pending) >= WRITE_BATCH:
            library._write(pending, report)

    if progress:
        progress(0, total, "checking what is already in the library")
    # 1. Ids by content; what the library already holds is skipped.
    todo: list[tuple[Path, str]] = []
    ids: set[str] = set()
    for path in files:
        try:
            track_id = content_id(path)
        except OSError as exc:
            report.failed[str(path)] = f"cannot read: {exc.strerror or exc}"
            finished(path)
            continue
        if track_id in ids:  # the same content twice in what was named
            report.unchanged.append(track_id)
            finished(path)
            continue
        ids.add(track_id)
        todo.append((path, track_id))
    present: set[str] = set()
    for start in range(0, len(todo), 1000):  # one query per thousand, not one per file
        present |= library.store.existing_ids([i for _, i in todo[start:start + 1000]])
    for path, track_id in todo:
        if track_id in present:
            report.unchanged.append(track_id)
            finished(path)
    todo = [(path, track_id) for path, track_id in todo if track_id not in present]

    # 2. Analysis: in this process for a few files or cores, else on every core.
    if workers is None:
        cores = default_workers()
        workers = cores if cores >= MIN_CORES_FOR_WORKERS else 1
    n_workers = min(workers, len(todo))
    if n_workers < 2 or len(todo) < MIN_FILES_FOR_WORKERS:
        for path, track_id in todo:
            result = _analyze_in_worker(path, track_id, tags, library.settings.library_dir)
            if isinstance(result, str):
                report.failed[str(path)] = result
            else:
                keep(result)
            finished(path)
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no fork of Chroma's threads
        pool = ProcessPoolExecutor(n_workers, mp_context=context,
                                   initializer=_ingest_worker_init)  # fmt: skip
        try:
            # A bounded window in flight: results (tracks) stay few, and Ctrl-C cancels little.
            queue = iter(todo)
            running: dict[Future[TrackInfo | str], Path] = {}

            def top_up() -> None:
                while len(running) < n_workers * 4:
                    item = next(queue, None)
                    if item is None:
                        return
                    running[pool.submit(_analyze_in_worker, item[0], item[1], tags,
                                        library.settings.library_dir)] = item[0]

            top_up()
            while running:
                complete, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in complete:
                    path = running.pop(future)
                    result = future.result()
                    if isinstance(result, str):
                        report.failed[str(path)] = result
                    else:
                        keep(result)
                    finished(path)
                top_up()
        except BaseException:
            stop_workers(pool)  # Ctrl-C: do not wait for the files being analysed
            raise
        pool.shutdown(wait=True)
    library._write(pending, report)
    return report


#: a MIDI track is rendered for listening (CLAP indexing) up to this many seconds
RENDER_SECONDS = 60.0
#: the rate MIDI is rendered at for listening: CLAP's, so nothing is resampled
RENDER_RATE = 48000


def track_audio(track: TrackInfo, *, soundfont: Path | None = None
                ) -> tuple[np.ndarray, int] | None:
    """What ``track`` sounds like, as (mono samples, sample rate): its audio file decoded, or
    its MIDI file rendered with the SoundFont (the first :data:`RENDER_SECONDS`). ``None`` when
    the file is gone, has changed since it was indexed (its content hash is the track id) or
    cannot be decoded or rendered: the caller falls back to the track's caption."""
    path = Path(track.path) if track.path else None
    if path is None or track.format not in ("audio", "midi"):
        return None
    try:
        if content_id(path) != track.id:
            return None
        if track.format == "audio":
            from vmb_agent.library.audio_features import load_audio

            return load_audio(path)
        return _rendered(path, soundfont), RENDER_RATE
    except Exception:  # noqa: BLE001 -- decoders and the synth raise many kinds: use the caption
        return None


def _rendered(path: Path, soundfont: Path | None) -> np.ndarray:
    """A MIDI file's first :data:`RENDER_SECONDS` as mono float32 at :data:`RENDER_RATE`."""
    from vmb_agent.library.midi import load_midi
    from vmb_agent.rendering.synth import DEFAULT_TAIL_S, render_midi

    pm = load_midi(path)
    seconds = min(pm.get_end_time() + DEFAULT_TAIL_S, RENDER_SECONDS)
    stereo = render_midi(pm, sample_rate=RENDER_RATE, soundfont=soundfont,
                         n_samples=round(seconds * RENDER_RATE))  # fmt: skip
    return stereo.mean(axis=1).astype(np.float32)
