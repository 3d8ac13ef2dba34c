"""``vmb library build|add|list|show|remove|stats|reindex``: the music library (thin over the
SDK)."""

from __future__ import annotations

from typing import Any

import click

from vmb_agent.cli._output import emit, json_option, progress_bar
from vmb_agent.types import TrackInfo

#: why a user's audio track has no tags from the audio tagger
TAGGER_NOT_RUN = "indexed before VMB tagged audio; remove it and add it again to tag it"


def _vmb() -> Any:
    from vmb_agent.sdk import VMB

    return VMB()


def _print_report(report: Any) -> None:
    click.echo(
        f"added {len(report.added)}, already present {len(report.unchanged)}, "
        f"failed {len(report.failed)} ({report.seconds:.1f} s)"
    )
    for path, reason in report.failed.items():
        click.echo(f"  skipped {path}: {reason}", err=True)


def _track_line(track: Any) -> str:
    tempo = f"{track.tempo_bpm:.0f} BPM" if track.tempo_bpm else "? BPM"
    minutes, seconds = divmod(round(track.duration_s), 60)
    return (
        f"{track.id}  {track.title[:40]:<40}  {track.key or '?':<9} {tempo:>8}  "
        f"{minutes}:{seconds:02d}  {', '.join(track.instruments[:3])}"
    )


@click.group("library")
def library() -> None:
    """Build, add to and inspect the music library (Chroma, under VMB_HOME)."""


@library.command("build")
@click.option(
    "--size",
    type=int,
    default=500,
    show_default=True,
    help="How many music21 corpus pieces to index (1-20000).",
)
@json_option
def build(size: int, as_json: bool) -> None:
    """Build the bundled reference library from the music21 corpus (offline)."""
    vmb = _vmb()
    with progress_bar("building library", enabled=not as_json, long=True) as report_progress:
        report = vmb.build_library(size, progress=report_progress)
    emit(report, as_json, _print_report)


def _parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    from vmb_agent.errors import InputError

    tags: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"tag {item!r} is not KEY=VALUE; write e.g. --tag genre=jazz.")
        tags[name.strip()] = value.strip()
    return tags


@library.command("add")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="K=V",
    help="Tag every added track (repeatable), e.g. --tag genre=jazz --tag mood=calm.",
)
@json_option
def add(paths: tuple[str, ...], tags: tuple[str, ...], as_json: bool) -> None:
    """Index audio (WAV/FLAC/OGG/Opus/MP3) and MIDI files or folders (recursively).

    Files that cannot be read are skipped with a reason; when nothing was added or already
    present and some file failed, the command exits 2.
    """
    parsed = _parse_tags(tags)
    vmb = _vmb()
    with progress_bar("adding", enabled=not as_json, long=True) as report_progress:
        report = vmb.add_to_library(list(paths), tags=parsed, progress=report_progress)
    emit(report, as_json, _print_report)
    if report.failed and not report.added and not report.unchanged:
        # nothing usable in what was named: a script must not take that for success
        from vmb_agent.errors import InputError, shorten

        path, reason = next(iter(report.failed.items()))
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise InputError(f"nothing added: {shorten(path)}: {reason[:300]}{more}")


@library.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--offset", type=int, default=0, show_default=True)
@json_option
def list_tracks(limit: int, offset: int, as_json: bool) -> None:
    """List tracks (id, title, key, tempo, length, instruments)."""
    tracks = _vmb().list_tracks(limit=limit, offset=offset)

    def render(items: list[Any]) -> None:
        if not items:
            click.echo("no tracks (run `vmb library build` or `vmb library add PATH`).")
        for track in items:
            click.echo(_track_line(track))

    emit(tracks, as_json, render)


@library.command("show")
@click.argument("track_id")
@json_option
def show(track_id: str, as_json: bool) -> None:
    """Show everything the library knows about one track."""
    track = _vmb().get_track(track_id)

    def render(t: Any) -> None:
        for name, value in t.model_dump().items():
            if value not in (None, [], {}, ""):
                click.echo(f"{name:>16}: {value}")
        for note in missing_tag_notes(t):
            click.echo(f"{'note':>16}: {note}")

    emit(track, as_json, render)


def missing_tag_notes(track: TrackInfo) -> list[str]:
    """For a user's audio track: where its genre, mood and instrument tags came from (the
    user, or the audio tagger with its probability), which are missing and why, and how to add
    them (MIDI carries its instruments; the bundled corpus carries all three)."""
    import shlex

    if track.format != "audio":
        return []
    from vmb_agent.library.recording import MIN_PROBABILITY, heard_names

    notes, missing = [], []
    heard = heard_names(track)
    for field, kind, option in (("genres", "genre", "genre"), ("moods", "mood", "mood"),
                                ("instruments", "instrument", "instruments")):  # fmt: skip
        names = getattr(track, field)
        tagged = [f"{n} {heard[(kind, n)]:.2f}" for n in names if (kind, n) in heard]
        if tagged:
            notes.append(f"{field} from the audio tagger (musicnn): {', '.join(tagged)}")
        if not names or (kind == "mood" and not tagged and not _given(track, "mood")):
            missing.append(option)
            why = (TAGGER_NOT_RUN if not track.audio_tags else
                   f"the audio tagger heard no {kind} with probability >= {MIN_PROBABILITY[kind]}")
            notes.append(f"no {kind} tags from the audio: {why}" if not names else
                         "moods guessed from key, tempo and energy by a rule")  # fmt: skip
    if not track.transcription_notes:
        notes.append("no stored transcription: as a reference it gives tempo, key, chroma "
                     "chords and energy only (not melody, bass or motifs)")  # fmt: skip
    if missing:
        tags = " ".join(f"--tag {name}=..." for name in missing)
        notes.append(f"to tag it: vmb library remove {track.id} && vmb library add "
                     f"{shlex.quote(track.path)} {tags}")  # fmt: skip
    return notes


def _given(track: TrackInfo, kind: str) -> bool:
    return bool({name.lower() for name in track.tags} & {kind, f"{kind}s"})


@library.command("remove")
@click.argument("track_id")
@json_option
def remove(track_id: str, as_json: bool) -> None:
    """Remove a track from the library (the file itself is left alone)."""
    track = _vmb().remove_track(track_id)
    emit(track, as_json, lambda t: click.echo(f"removed {t.id} ({t.title})"))


@library.command("stats")
@json_option
def stats(as_json: bool) -> None:
    """Number of tracks, formats, collections, total duration, location, and the embedder whose
    index is searched (each embedder has its own; see `vmb library reindex`)."""
    vmb = _vmb()
    result = vmb.library_stats()

    def render(s: Any) -> None:
        click.echo(f"{s.tracks} tracks, {s.total_duration_s / 3600:.1f} h, at {s.location}")
        info = vmb.library.index_info()
        click.echo(f"  embedder {info['embedder']}, index {info['index']}")
        for name, count in sorted(vmb.library.indexes().items()):
            if name != info["index"]:
                click.echo(f"  other index {name}: {count} tracks")
        for name, count in sorted(s.by_format.items()):
            click.echo(f"  format {name}: {count}")
        for name, count in sorted(s.by_collection.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {name}: {count}")

    emit(result, as_json, render)


@library.command("reindex")
@click.option("--embedder", "embedder", required=True, metavar="NAME",
              help="The embedder whose index to (re)build: clap (indexes each track's sound) or "
              "minilm (captions).")  # fmt: skip
@click.option("--from", "source", metavar="NAME", default=None,
              help="Read the tracks from this embedder's index (default: VMB_EMBED_BACKEND's, or "
              "minilm's when that is the one being built).")  # fmt: skip
@json_option
def reindex(embedder: str, source: str | None, as_json: bool) -> None:
    """Copy the library's tracks into EMBEDDER's own index (Chroma collection), embedding them
    with it; searches with VMB_EMBED_BACKEND=EMBEDDER (or `vmb search --embedder`) then use it.

    Resumable: tracks already in that index are skipped, so a re-run finishes an interrupted
    one and a repeated run changes nothing.
    """
    vmb = _vmb()
    with progress_bar(f"indexing with {embedder}", enabled=not as_json,
                      long=True) as report_progress:  # fmt: skip
        report = vmb.reindex_library(embedder, source=source, progress=report_progress)
    emit(report, as_json, _print_report)
