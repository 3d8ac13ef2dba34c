"""``vmb search``: find reference music (broad / targeted / dual), thin over ``VMB.search``."""

from __future__ import annotations

from typing import Any

import click

from vmb_agent.cli._output import emit, json_option


def parse_range(text: str | None, what: str, unit: str) -> tuple[float | None, float | None]:
    """``"90-120"`` -> (90, 120); ``"90-"`` / ``"-120"`` open-ended; ``"100"`` -> +-5 %."""
    from vmb_agent.errors import InputError

    if text is None:
        return None, None
    cleaned = text.strip().replace("–", "-").replace(":", "-")
    try:
        if "-" not in cleaned:
            value = float(cleaned)
            return round(value * 0.95, 2), round(value * 1.05, 2)
        low, _, high = cleaned.partition("-")
        return (float(low) if low.strip() else None, float(high) if high.strip() else None)
    except ValueError:
        raise InputError(
            f"{what} {text!r} is not a range; write MIN-MAX in {unit}, e.g. 90-120."
        ) from None


_FILTER_FLAGS = "--tempo, --key, --mode-scale, --instruments, --genre, --mood, --duration"
#: what each mode ranks by, said when it has nothing to rank (checked before the library opens,
#: so the answer is the same with an empty library)
MISSING_INPUT = {
    "dual": (
        'search needs a query, a description or a filter: e.g. `vmb search "calm piano"`, '
        f"--description FILE, or one of {_FILTER_FLAGS}."
    ),
    "broad": (
        "broad search ranks by theme, so it needs a query or a description: e.g. "
        '`vmb search "calm piano" --mode broad` or --description FILE.'
    ),
    "targeted": (
        f"targeted search ranks by constraints, so it needs a filter (one of {_FILTER_FLAGS}), "
        "a query or a description: e.g. `vmb search --mode targeted --tempo 90-120`."
    ),
}


def match_row(match: Any) -> dict[str, Any]:
    """One JSON row: the fields scripts need at top level, plus the full track."""
    t = match.track
    return {
        "id": match.id, "title": match.title, "path": match.path, "score": match.score,
        "duration_s": t.duration_s, "tempo_bpm": t.tempo_bpm, "key": t.key,
        "instruments": t.instruments, "genres": t.genres, "moods": t.moods,
        "reasons": match.reasons, "track": t.model_dump(mode="json"),
    }


@click.command("search")
@click.argument("text", required=False)
@click.option("--description", "description_file", type=click.Path(dir_okay=False),
              help="A MusicDescription JSON file (e.g. from `vmb describe --json`).")
@click.option("--mode", type=click.Choice(["broad", "targeted", "dual"]), default="dual",
              show_default=True, help="broad = theme, targeted = constraints, dual = both fused.")
@click.option("--tempo", help="Tempo range in BPM, MIN-MAX (e.g. 90-120).")
@click.option("--key", help="Key, e.g. 'D minor', or a tonic like 'D' for either mode.")
@click.option("--mode-scale", type=click.Choice(["major", "minor"]), help="Major or minor only.")
@click.option("--instruments", help="Comma-separated; all must be present (e.g. violin,cello).")
@click.option("--genre", help="Genre tag, e.g. folk, baroque, celtic.")
@click.option("--mood", help="Mood tag, e.g. calm, melancholic, happy.")
@click.option("--duration", help="Duration range in seconds, MIN-MAX (e.g. 30-180).")
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many matches (1-200).")
@click.option("--embedder", metavar="NAME",
              help="Search this embedder's index: minilm (captions; default VMB_EMBED_BACKEND) "
              "or clap (words against the audio; `vmb library reindex --embedder clap`).")
@json_option
def search(text: str | None, description_file: str | None, mode: str, tempo: str | None,
           key: str | None, mode_scale: str | None, instruments: str | None, genre: str | None,
           mood: str | None, duration: str | None, k: int, embedder: str | None,
           as_json: bool) -> None:
    """Find reference music in the library for TEXT and/or a description."""
    from vmb_agent.cli._output import read_description
    from vmb_agent.errors import InputError, validated
    from vmb_agent.sdk import VMB
    from vmb_agent.types import SearchFilters

    has_text = bool((text or "").strip()) or description_file is not None
    has_filter = any((v or "").strip(" ,") for v in (tempo, key, mode_scale, instruments, genre,
                                                       mood, duration))
    if not (has_text or has_filter) or (mode == "broad" and not has_text):
        raise InputError(MISSING_INPUT[mode])
    description = read_description(description_file) if description_file else None
    tempo_min, tempo_max = parse_range(tempo, "tempo", "BPM")
    duration_min, duration_max = parse_range(duration, "duration", "seconds")
    filters = validated(SearchFilters, {
        "tempo_min": tempo_min, "tempo_max": tempo_max, "key": key, "mode": mode_scale,
        "instruments": [i.strip() for i in (instruments or "").split(",") if i.strip()],
        "genre": genre, "mood": mood, "duration_min": duration_min, "duration_max": duration_max,
    }, "filters")  # fmt: skip
    result = VMB().search(text, description=description, mode=mode, filters=filters, k=k,
                          embedder=embedder)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            click.echo("no matches.")
        for rank, row in enumerate(rows, start=1):
            tempo_text = f"{row['tempo_bpm']:.0f} BPM" if row["tempo_bpm"] else "? BPM"
            click.echo(f"{rank:>2}. {row['id']}  {row['title'][:44]:<44} {row['key'] or '?':<9} "
                       f"{tempo_text:>8}  score {row['score']:.3f}")
            click.echo(f"      {'; '.join(row['reasons'])}")

    emit([match_row(m) for m in result.matches], as_json, render)
