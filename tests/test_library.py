"""The library on a real embedded Chroma: ingestion of every format, ids, durability, build, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vmb_agent.errors import InputError, NotFoundError, OutOfRangeError
from vmb_agent.library import Library
from vmb_agent.settings import Settings
from vmb_agent.types import SearchFilters

REPO = Path(__file__).resolve().parents[1]
SR = 22050


def tone(freqs: list[float], seconds: float, sr: int = SR, bpm: float | None = None,
         seed: int = 0) -> np.ndarray:
    """Sustained tones plus (optionally) noise clicks on every beat."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.08 * np.sin(2 * np.pi * f * t) for f in freqs)
    if bpm:
        rng = np.random.default_rng(seed)
        for b in np.arange(0, seconds, 60 / bpm):
            i = int(b * sr)
            n = min(600, len(x) - i)
            x[i:i + n] += 0.5 * np.exp(-np.arange(n) / 100) * rng.standard_normal(n)
    return np.asarray(x, dtype=np.float32)


def write_midi(path: Path, *, bpm: float = 100.0, program: int = 0, drums: bool = True,
               tonic: int = 57, minor: bool = True, bars: int = 8) -> None:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0))
    melody = pretty_midi.Instrument(program=program)
    scale = [0, 2, 3, 5, 7, 8, 11] if minor else [0, 2, 4, 5, 7, 9, 11]
    beat = 60 / bpm
    for i in range(bars * 3):
        pitch = tonic + scale[[0, 2, 4, 0, 3, 5, 4, 6, 0][i % 9]]
        melody.notes.append(pretty_midi.Note(90, pitch, i * beat, (i + 0.9) * beat))
        melody.notes.append(pretty_midi.Note(70, tonic - 12 + (7 if i % 6 >= 3 else 0),
                                             i * beat, (i + 1) * beat))
    pm.instruments.append(melody)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        for i in range(bars * 3):
            kit.notes.append(pretty_midi.Note(100, 36 if i % 3 == 0 else 42, i * beat,
                                              i * beat + 0.1))
        pm.instruments.append(kit)
    pm.write(str(path))


def make_media(folder: Path) -> dict[str, Path]:
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "wav": folder / "a minor clicks.wav",
        "flac": folder / "tagged.flac",
        "ogg": folder / "vorbis.ogg",
        "opus": folder / "speech like.opus",
        "mp3": folder / "song.mp3",
        "midi": folder / "waltz.mid",
        "nested_midi": folder / "sub" / "deeper" / "march.midi",
    }
    soundfile.write(files["wav"], tone([220, 261.6, 329.6], 6, bpm=120), SR)
    with soundfile.SoundFile(files["flac"], "w", SR, 1, format="FLAC") as handle:
        handle.title = "Harbour at Dawn"
        handle.genre = "ambient"
        handle.write(tone([196, 246.9, 293.7], 5))
    soundfile.write(files["ogg"], tone([293.7, 349.2, 440], 5, bpm=90, seed=1), SR,
                    format="OGG", subtype="VORBIS")
    soundfile.write(files["opus"], tone([261.6, 329.6], 4, sr=48000), 48000,
                    format="OGG", subtype="OPUS")
    soundfile.write(files["mp3"], tone([329.6, 415.3, 493.9], 5, bpm=140, seed=2), SR,
                    format="MP3")
    write_midi(files["midi"], bpm=100.0, program=40)
    files["nested_midi"].parent.mkdir(parents=True)
    write_midi(files["nested_midi"], bpm=132.0, program=73, drums=False, tonic=62, minor=False)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(64))
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01" + b"\xff" * 40)
    (folder / "readme.txt").write_text("not music")
    return files


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]):
    """A library with the media folder added once (shared by the read-only tests)."""
    home = tmp_path_factory.mktemp("home")
    library = Library(Settings(home=home))
    report = library.add([media["wav"].parent], tags={"Mood": "test-mood"})
    yield library, report, home
    library.close()


def test_add_folder_ingests_every_format_and_skips_corrupt(filled, media) -> None:
    library, report, _ = filled
    assert len(report.added) == 7, report
    assert set(report.failed) == {str(media["wav"].parent / "corrupt.wav"),
                                  str(media["wav"].parent / "corrupt.mid")}
    for path, reason in report.failed.items():
        assert Path(path).name in reason and "\n" not in reason
    assert library.stats().tracks == 7
    assert library.stats().by_format == {"audio": 5, "midi": 2}


def test_midi_analysis_is_exact(filled, media) -> None:
    library, _, _ = filled
    tracks = {Path(t.path).name: t for t in library.list(limit=100)}
    waltz = tracks["waltz.mid"]
    assert waltz.format == "midi" and waltz.tempo_bpm == pytest.approx(100.0)
    assert waltz.time_signature == "3/4"
    assert waltz.key == "A minor"
    assert waltz.instruments == ["violin", "drums"]
    assert waltz.duration_s == pytest.approx(8 * 3 * 0.6, abs=0.2)
    assert waltz.note_density > 0
    march = tracks["march.midi"]
    assert march.key == "D major" and march.tempo_bpm == pytest.approx(132.0)
    assert march.instruments == ["flute"]
    assert "D major" in march.caption and "132 BPM" in march.caption and "flute" in march.caption


def test_audio_analysis_tags_and_captions(filled) -> None:
    library, _, _ = filled
    tracks = {Path(t.path).name: t for t in library.list(limit=100)}
    clicks = tracks["a minor clicks.wav"]
    assert clicks.tempo_bpm == pytest.approx(120, rel=0.04)
    assert clicks.key == "A minor"
    assert clicks.loudness_lufs is not None and clicks.percussiveness is not None
    tagged = tracks["tagged.flac"]
    assert tagged.title == "Harbour at Dawn" and tagged.genres == ["ambient"]
    assert tagged.key == "G major"
    for track in tracks.values():
        assert track.moods[0] == "test-mood"  # the caller's tag
        assert track.tags["mood"] == "test-mood"
        assert track.caption.startswith(track.title)
        assert len(track.id) == 16


def test_adding_again_changes_nothing(filled, media) -> None:
    library, first, _ = filled
    again = library.add([media["wav"].parent, media["midi"]], tags={})
    assert again.added == []
    assert sorted(again.unchanged) == sorted(set(first.added))
    assert library.stats().tracks == 7


def test_get_remove_and_unknown_ids(tmp_path: Path, media) -> None:
    library = Library(Settings(home=tmp_path))
    report = library.add([media["midi"], media["wav"]])
    track_id = report.added[0]
    assert library.get(track_id).id == track_id
    removed = library.remove(track_id)
    assert removed.id == track_id and library.stats().tracks == 1
    with pytest.raises(NotFoundError, match=track_id):
        library.get(track_id)
    with pytest.raises(NotFoundError, match="'nope'"):
        library.remove("nope")
    with pytest.raises(NotFoundError):
        library.get("  ")
    assert library.add([media["midi"]]).added == [track_id]  # re-adding restores it


def test_bad_inputs(tmp_path: Path, media) -> None:
    from vmb_agent.sdk import VMB

    library = Library(Settings(home=tmp_path))
    report = library.add([media["wav"].parent / "readme.txt"])
    assert "unsupported format '.txt'" in next(iter(report.failed.values()))
    with pytest.raises(InputError, match="no audio or MIDI"):
        library.add([tmp_path])
    with pytest.raises(InputError, match="tag name"):
        library.add([media["midi"]], tags={"bad name!": "x"})
    vmb = VMB(Settings(home=tmp_path))
    with pytest.raises(InputError, match="not found"):
        vmb.add_to_library([tmp_path / "missing.wav"])
    with pytest.raises(InputError, match="no paths"):
        vmb.add_to_library([])
    with pytest.raises(OutOfRangeError, match="k=0"):
        library.search(query="x", k=0)
    with pytest.raises(OutOfRangeError, match="k=100000"):
        library.search(query="x", k=100000)
    with pytest.raises(OutOfRangeError, match="size"):
        library.build(size=0)
    with pytest.raises(InputError, match="search mode"):
        library.search(query="x", mode="fuzzy")  # type: ignore[arg-type]


def test_empty_library_search_says_so(tmp_path: Path) -> None:
    result = Library(Settings(home=tmp_path)).search(query="calm piano", k=3)
    assert result.matches == [] and "empty" in result.notes[0]


def test_build_small_corpus_spans_collections_and_timbres(tmp_path: Path) -> None:
    library = Library(Settings(home=tmp_path))
    seen: list[tuple[float, float | None]] = []
    report = library.build(size=12, progress=lambda d, t, m: seen.append((d, t)))
    assert len(report.added) == 12 and not report.failed, report
    assert seen[-1] == (12, 12)
    stats = library.stats()
    assert stats.tracks == 12 and len(stats.by_collection) >= 5
    tracks = library.list(limit=50)
    instruments = {name for t in tracks for name in t.instruments}
    assert len(instruments) >= 5 and instruments != {"piano"}
    assert all(Path(t.path).is_file() and t.path.endswith(".mid") for t in tracks)
    assert all(t.path.startswith(str(tmp_path / "library" / "corpus")) for t in tracks)
    chorale = next(t for t in tracks if t.collection == "bach chorales")
    assert "Bach" in (chorale.composer or "") and "chorale" in chorale.caption
    assert all(t.tempo_bpm and t.key and t.time_signature for t in tracks)
    again = library.build(size=12)
    assert again.added == [] and len(again.unchanged) == 12


_ADD_SCRIPT = """
import sys, time
from pathlib import Path
from vmb_agent.library import Library
from vmb_agent.settings import Settings

def progress(done, total, message):
    print(f"progress {int(done)}", flush=True)
    time.sleep(float(sys.argv[3]))

if __name__ == "__main__":
    library = Library(Settings(home=Path(sys.argv[1])))
    report = library.add([Path(sys.argv[2])], progress=progress)
    print(f"added {len(report.added)} failed {len(report.failed)}", flush=True)
"""


def _many_wavs(folder: Path, n: int, offset: int = 0) -> None:
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        freq = 110 * 2 ** ((i + offset) / 24)
        soundfile.write(folder / f"tone{i + offset:03d}.wav", tone([freq], 1.0), SR)


def _run_adder(home: Path, folder: Path, delay: float, script: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), str(home), str(folder), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_killed_add_leaves_a_usable_library_and_rerun_completes(tmp_path: Path) -> None:
    folder, home, script = tmp_path / "wavs", tmp_path / "home", tmp_path / "adder.py"
    script.write_text(_ADD_SCRIPT)
    _many_wavs(folder, 40)
    process = _run_adder(home, folder, 0.03, script)
    for line in process.stdout:  # kill it after the first batch of 16 has been written
        if line.startswith("progress") and int(line.split()[1]) >= 20:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    library = Library(Settings(home=home))
    partial = library.stats().tracks
    assert 16 <= partial < 40
    report = library.add([folder])
    assert len(report.added) == 40 - partial and len(report.unchanged) == partial
    ids = [t.id for t in library.list(limit=100)]
    assert len(ids) == len(set(ids)) == 40


@pytest.mark.slow
def test_two_processes_adding_at_once(tmp_path: Path) -> None:
    home, script = tmp_path / "home", tmp_path / "adder.py"
    script.write_text(_ADD_SCRIPT)
    _many_wavs(tmp_path / "a", 24, offset=0)
    _many_wavs(tmp_path / "b", 24, offset=100)
    for i in range(6):  # the same 6 files in both folders
        (tmp_path / "b" / f"shared{i}.wav").write_bytes((tmp_path / "a" / f"tone{i:03d}.wav")
                                                       .read_bytes())
    processes = [_run_adder(home, tmp_path / name, 0.0, script) for name in ("a", "b")]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    library = Library(Settings(home=home))
    tracks = library.list(limit=200)
    assert len(tracks) == len({t.id for t in tracks}) == 48
    result = library.search(query="tone", mode="broad", k=5)
    assert len(result.matches) == 5


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil here)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _sidecar_times(home: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (home / "library" / "corpus").glob("*.json")}


@pytest.mark.slow
def test_interrupted_build_shows_progress_stops_and_resumes(tmp_path: Path) -> None:
    """`vmb library build` without a terminal prints plain progress lines; Ctrl-C stops it at
    once (workers included, no tracebacks); the library it leaves is usable, and the next build
    skips what is already indexed and parses only the rest."""
    home, size = tmp_path / "home", 40
    env = {**os.environ, "PYTHONPATH": str(REPO), "VMB_HOME": str(home)}
    command = [sys.executable, "-m", "vmb_agent", "library", "build", "--size", str(size)]
    # Ctrl-C as in a terminal: a runner started in the background (`cmd &` without job
    # control) ignores SIGINT, and its children would inherit that and never be interrupted
    # (a handled signal is reset to its default across exec; an ignored one stays ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)
    lines = []
    workers: set[int] = set()
    for line in process.stderr:
        lines.append(line)
        workers |= _children(process.pid)
        match = re.match(rf"building library: (\d+)/{size} \(\d+%\), \d+:\d\d elapsed", line)
        assert match, line
        if int(match[1]) >= 20:  # the first batch of 16 is in the index
            assert process.poll() is None, "the build finished before it could be interrupted"
            sent = time.monotonic()
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 130
    assert time.monotonic() - sent < 5
    assert "Traceback" not in rest and rest.strip().endswith("interrupted"), rest[-2000:]
    assert "about" in "".join(lines)  # an estimate of the time left
    assert workers, "the build ran no worker processes"
    deadline = time.monotonic() + 5
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(workers), "worker processes outlived the build"

    library = Library(Settings(home=home))
    partial = library.stats().tracks
    assert 16 <= partial < size
    assert library.search(query="a folk dance", mode="broad", k=3).matches
    before = _sidecar_times(home)
    report = library.build(size=size)
    assert len(report.unchanged) == partial and len(report.added) == size - partial
    after = _sidecar_times(home)
    assert all(after[name] == mtime for name, mtime in before.items())  # not parsed again
    assert len(after) >= size
    ids = [t.id for t in library.list(limit=100)]
    assert len(ids) == len(set(ids)) == size


_BUILD_SCRIPT = """
import sys
from pathlib import Path
from vmb_agent.library import Library
from vmb_agent.settings import Settings

def progress(done, total, message):
    print(f"progress {int(done)}", flush=True)

if __name__ == "__main__":
    Library(Settings(home=Path(sys.argv[1]))).build(size=int(sys.argv[2]), progress=progress)
"""


@pytest.mark.slow
def test_killed_build_leaves_a_consistent_index(tmp_path: Path) -> None:
    """SIGKILL mid-build (no chance to clean up): the index opens, holds whole batches only,
    answers searches, and a re-run completes it."""
    home, script, size = tmp_path / "home", tmp_path / "build.py", 40
    script.write_text(_BUILD_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, str(script), str(home), str(size)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # type: ignore[union-attr]
        if line.startswith("progress") and int(line.split()[1]) >= 18:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    library = Library(Settings(home=home))
    partial = library.stats().tracks
    assert partial % 16 == 0 and partial >= 16  # whole batches: nothing half-written
    assert len(library.search(query="chorale", mode="broad", k=5).matches) == 5
    report = library.build(size=size)
    assert len(report.added) == size - partial and len(report.unchanged) == partial
    assert library.stats().tracks == size


def test_parallel_ingest_matches_add_and_resumes(tmp_path: Path) -> None:
    """``ingest_files`` (every core) stores exactly what the sequential ``Library.add`` stores,
    reports progress per file, and skips what is indexed already."""
    from vmb_agent.library.ingest import expand_paths, ingest_files
    from vmb_agent.types import IngestReport

    folder = tmp_path / "wavs"
    _many_wavs(folder, 12)
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(64))
    files, refused = expand_paths([folder])
    assert not refused and len(files) == 13
    parallel = Library(Settings(home=tmp_path / "parallel"))
    seen: list[tuple[float, float | None]] = []
    report = ingest_files(parallel, files, IngestReport(), tags={"source": "test"},
                          progress=lambda d, t, m: seen.append((d, t)), workers=2)
    assert len(report.added) == 12 and list(report.failed) == [str(folder / "broken.wav")]
    assert seen[-1] == (13, 13) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    sequential = Library(Settings(home=tmp_path / "sequential"))
    expected = sequential.add([folder], tags={"source": "test"})
    assert sorted(expected.added) == sorted(report.added)
    for track_id in report.added:
        mine, theirs = parallel.get(track_id), sequential.get(track_id)
        skip = {"path", "transcription_path"}  # each library keeps its own sidecars
        assert mine.model_dump(exclude=skip) == theirs.model_dump(exclude=skip)
    again = ingest_files(parallel, files, IngestReport(), tags={}, workers=2)
    assert sorted(again.unchanged) == sorted(report.added) and not again.added


def test_plain_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from vmb_agent.cli._output import PlainProgress

    quick = PlainProgress("adding")
    for done in range(101):
        quick(done, 100, f"file{done}.wav")
    assert capsys.readouterr().err == ""  # done within PLAIN_QUIET_S: nothing to show

    report = PlainProgress("adding")
    report.started -= 3.0  # as if the work had been going for 3 s
    for done in range(101):
        report(done, 100, f"file{done}.wav")
    lines = capsys.readouterr().err.splitlines()
    assert 10 <= len(lines) <= 12  # one a tenth (and the first), not one a file
    assert lines[0].startswith("adding: 0/100 (0%), 0:03 elapsed")
    assert lines[-1].startswith("adding: 100/100 (100%)") and "left" not in lines[-1]
    assert re.match(r"adding: 50/100 \(50%\), 0:03 elapsed, about 0:00 left: file50\.wav$",
                    lines[5])  # fmt: skip


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_home(filled, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from conftest import use_home

    _, _, home = filled
    yield from use_home(home, monkeypatch)


def test_cli_list_show_stats(cli_home: Path) -> None:
    from vmb_agent.cli import cli

    runner = CliRunner()
    listed = runner.invoke(cli, ["library", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert len(rows) == 7
    for row in rows:
        assert {"id", "path", "title", "duration_s", "tempo_bpm", "key"} <= set(row)
    shown = runner.invoke(cli, ["library", "show", rows[0]["id"]])
    assert shown.exit_code == 0 and rows[0]["id"] in shown.output
    stats = runner.invoke(cli, ["library", "stats", "--json"])
    assert json.loads(stats.output)["tracks"] == 7
    human = runner.invoke(cli, ["library", "list", "--limit", "2"])
    assert human.exit_code == 0 and len(human.output.strip().splitlines()) == 2


def test_cli_show_says_where_user_audio_tags_came_from(cli_home: Path) -> None:
    from vmb_agent.cli import cli

    runner = CliRunner()
    rows = json.loads(runner.invoke(cli, ["library", "list", "--json"]).output)
    audio = next(r for r in rows if r["format"] == "audio")
    assert audio["audio_tags"], audio  # the tagger ran on ingest
    shown = runner.invoke(cli, ["library", "show", audio["id"]])
    assert shown.exit_code == 0, shown.output
    notes = [line for line in shown.output.splitlines() if line.strip().startswith("note:")]
    text = " ".join(notes)
    for kind in ("genre", "instrument"):
        plural = "instruments" if kind == "instrument" else "genres"
        assert (f"{plural} from the audio tagger" in text
                or f"no {kind} tags from the audio: the audio tagger heard no {kind}" in text
                or audio[plural]), text  # fmt: skip
    assert "moods guessed" not in text  # the mood was tagged (test-mood) when it was added
    midi = next(r for r in rows if r["format"] == "midi")
    shown = runner.invoke(cli, ["library", "show", midi["id"]])
    assert "note:" not in shown.output  # MIDI carries its instruments


def test_cli_errors_exit_2_with_one_line(cli_home: Path, tmp_path: Path) -> None:
    from vmb_agent.cli import cli

    runner = CliRunner()
    cases = [
        ["library", "show", "0123456789abcdef"],
        ["library", "remove", "nope"],
        ["library", "add", str(tmp_path / "missing.mp3")],
        ["library", "add", str(cli_home), "--tag", "novalue"],
        ["library", "list", "--limit", "0"],
        ["library", "build", "--size", "0"],
    ]
    for args in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.output)


def test_cli_add_reports_skips(tmp_path: Path, media, monkeypatch: pytest.MonkeyPatch) -> None:
    from vmb_agent.cli import cli
    from vmb_agent.settings import get_settings

    monkeypatch.setenv("VMB_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["library", "add", str(media["midi"]),
                                          str(media["wav"].parent / "corrupt.mid"),
                                          "--tag", "genre=waltz", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert len(report["added"]) == 1 and len(report["failed"]) == 1
    track = Library(Settings(home=tmp_path / "home")).get(report["added"][0])
    assert track.genres == ["waltz"]
    found = Library(Settings(home=tmp_path / "home")).search(
        mode="targeted", filters=SearchFilters(genre="waltz"), k=3)
    assert [m.id for m in found.matches] == report["added"]


def test_import_vmb_agent_library_stays_light() -> None:
    code = ("import sys, vmb_agent.library, vmb_agent.cli.library, vmb_agent.cli.search; "
            "heavy = [m for m in ('torch', 'chromadb', 'music21', 'scipy', 'pretty_midi') "
            "if m in sys.modules]; print(heavy)")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout
    assert out.strip() == "[]"
    assert time.perf_counter() - started < 10


def test_midi_with_huge_ticks_is_rebuilt_via_mido(tmp_path: Path) -> None:
    import mido

    from vmb_agent.library.midi import analyze_midi, load_midi

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    track.append(mido.Message("program_change", program=42, time=0))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    track.append(mido.Message("note_on", note=64, velocity=90, time=0))
    track.append(mido.Message("note_off", note=64, velocity=0, time=480))
    track.append(mido.MetaMessage("end_of_track", time=20_000_000))  # pretty_midi refuses this
    mid.tracks.append(track)
    path = tmp_path / "huge.mid"
    mid.save(path)
    pm = load_midi(path)
    assert [n.pitch for n in pm.instruments[0].notes] == [60, 64]
    assert analyze_midi(pm).instruments == ["cello"]
