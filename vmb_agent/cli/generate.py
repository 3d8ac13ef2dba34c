"""``vmb generate`` and ``vmb score``: thin adapters over ``VMB.generate`` / ``VMB.score``."""

from __future__ import annotations

from pathlib import Path

import click

from vmb_agent.cli._output import echo_warnings, emit, json_option, progress_bar, read_description
from vmb_agent.errors import InputError, check_range
from vmb_agent.files import VIDEO_SUFFIXES


def _overrides(**values: object) -> dict[str, object]:
    """The flags given, as override fields; the ranges checked here so that the message names
    the flag (``VMB.generate`` / ``VMB.score`` check the rest: names, formats, the meter)."""
    from vmb_agent.generation.conditions import check_duration

    if values.get("tempo_bpm") is not None:
        check_range("tempo", float(values["tempo_bpm"]), 30, 300)  # type: ignore[arg-type]
    if values.get("duration_s") is not None:
        check_duration(float(values["duration_s"]))  # type: ignore[arg-type]
    return {k: v for k, v in values.items() if v is not None}


def _references(values: tuple[str, ...]) -> tuple[list[str], list[float] | None]:
    """``--reference ID`` or ``ID:WEIGHT`` (repeatable): the ids and, if any weight was given,
    one weight per id (1 where none was given)."""
    ids: list[str] = []
    weights: list[float] = []
    for value in values:
        track_id, weighted, weight = value.rpartition(":")
        if not weighted:
            track_id = value
        try:
            weights.append(float(weight) if weighted else 1.0)
        except ValueError:
            raise InputError(
                f"--reference {value!r}: the weight {weight!r} is not a number; "
                "use ID or ID:WEIGHT, e.g. 3f2a9c:2."
            ) from None
        ids.append(track_id)
    return ids, weights if any(":" in v for v in values) else None


def _video_target(out: str | None, video: str | None) -> tuple[str | None, Path | None]:
    """``--out``: the output folder, or (its name ends in a video suffix) the scored video's
    file, its folder holding the other outputs. Returns the folder and the video's name."""
    if out is None or Path(out).suffix.lower() not in VIDEO_SUFFIXES:
        return out, None
    if video is None:
        raise InputError(f"--out {out!r} names a video file; add --video VIDEO, or give a folder.")
    target = Path(out).expanduser()
    return str(target.parent), target


force_option = click.option(
    "--force", is_flag=True, help="Replace the --out video file if it exists (else an error)."
)
renderer_option = click.option(
    "--renderer", metavar="NAME",
    help="Renderer for this run: soundfont (default), musicgen-melody, stable-audio or a "
    "plugin's (see `vmb backends`; default VMB_RENDER_BACKEND).",
)  # fmt: skip
audio_bitrate_option = click.option(
    "--audio-bitrate", metavar="RATE", default="192k", show_default=True,
    help="The scored video's music bitrate, 64k-320k (AAC; Opus in .webm).",
)  # fmt: skip


def _render_result(result: object) -> None:
    r = result  # GenerationResult
    c, m = r.requested, r.measured  # type: ignore[attr-defined]
    click.echo(f"audio:      {r.audio_path}")  # type: ignore[attr-defined]
    if r.midi_path:  # type: ignore[attr-defined] # none when the generator made no score
        click.echo(f"midi:       {r.midi_path}")  # type: ignore[attr-defined]
        click.echo(f"piano roll: {r.piano_roll_path}")  # type: ignore[attr-defined]
    for stem in r.stems:  # type: ignore[attr-defined]
        click.echo(f"stem:       {stem}")
    if r.video_path:  # type: ignore[attr-defined]
        click.echo(f"video:      {r.video_path}")  # type: ignore[attr-defined]
    o = c.origins
    click.echo(f"{c.style} · {', '.join(c.instruments)} · seed {r.seed}")  # type: ignore[attr-defined]
    if c.reference_ids:
        click.echo(f"references: {', '.join(c.reference_ids)}")
    click.echo("            requested                      measured")
    tempo_m = f"{m.tempo_bpm:.1f} BPM" if m.tempo_bpm else "-"
    click.echo(f"tempo       {c.tempo_bpm:7.2f} BPM ({o.get('tempo_bpm', '-'):11s})   {tempo_m}")
    click.echo(f"key         {c.key:15s} ({o.get('key', '-'):11s})   {m.key or '-'}")
    click.echo(
        f"duration    {c.duration_s:7.3f} s   ({o.get('duration_s', '-'):11s})   {m.duration_s:.3f} s"
    )
    loud = f"{m.loudness_lufs:.1f} LUFS" if m.loudness_lufs is not None else "-"
    peak = f"{m.true_peak_dbtp:.1f} dBTP" if m.true_peak_dbtp is not None else "-"
    click.echo(f"loudness    -14 LUFS, <= -1 dBTP               {loud}, true peak {peak}")
    tempo_map = r.tempo_map  # type: ignore[attr-defined]
    if tempo_map is not None:
        meters = sorted({b.beats for b in tempo_map.bars
                         if b.beats != tempo_map.beats_per_bar and not b.first_beat})  # fmt: skip
        odd = ", ".join(f"{b:g}-beat" for b in meters) or "none"
        pickup = tempo_map.bars[0].beats if tempo_map.bars[0].first_beat else 0
        odd += f"; pickup {pickup:g} beats" if pickup else ""
        click.echo(f"tempo map   base {tempo_map.base_bpm:.1f} BPM, {tempo_map.min_bpm:.1f}-"
                   f"{tempo_map.max_bpm:.1f} BPM over {len(tempo_map.bars)} bars; short bars: "
                   f"{odd}")  # fmt: skip
    if r.cut_alignment:  # type: ignore[attr-defined]
        cuts = r.cut_alignment  # type: ignore[attr-defined]
        hits = [a for a in cuts if a.hit]
        heard = [abs(a.error_ms) for a in hits if a.measured]
        worst = f", worst {max(heard):.1f} ms in the audio" if heard else ""
        click.echo(f"cuts        {len(cuts)} cuts: {len(hits)} start sections on downbeats"
                   f"{worst}; {len(cuts) - len(hits)} accents")  # fmt: skip
    click.echo(f"time        {r.timings.get('total', 0):.2f} s")  # type: ignore[attr-defined]


@click.command("generate")
@click.argument("text", required=False)
@click.option(
    "--description",
    "description_file",
    type=click.Path(dir_okay=False),
    help="A MusicDescription JSON file (e.g. from `vmb describe --json`).",
)
@click.option(
    "--reference",
    "references",
    multiple=True,
    metavar="ID[:WEIGHT]",
    help="A library track id to condition on (repeatable); ID:WEIGHT sets its share of the "
    "blend (default 1, 1/2, 1/3 ... by order).",
)
@click.option(
    "--auto-references",
    type=int,
    default=0,
    show_default=True,
    metavar="N",
    help="Without --reference: condition on the top N dual-search matches that fit the request "
    "(style, tempo, mood, theme); none fitting is reported as a warning (0-10).",
)
@click.option("--duration", type=float, help="Length in seconds (0.5-600).")
@click.option("--tempo", type=float, help="Tempo in BPM (30-300).")
@click.option("--key", help="Key, e.g. 'A minor', 'Eb', 'F#m'.")
@click.option(
    "--style", help="cinematic, ambient, lofi, pop, rock, electronic, jazz, folk, piano, chiptune."
)
@click.option("--instruments", help="Comma-separated instruments, e.g. 'piano,cello'.")
@click.option("--time-signature", help="2/4, 3/4 or 4/4.")
@click.option("--energy", type=click.FloatRange(0, 1), help="0 calm .. 1 intense.")
@click.option("--valence", type=click.FloatRange(0, 1), help="0 dark .. 1 bright.")
@click.option("--swing", type=click.FloatRange(0.5, 0.75),
              help="Off-beat eighth position: 0.5 straight, 0.67 triplet swing.")  # fmt: skip
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Same seed, same MIDI.")
@click.option("--out", "out", type=click.Path(),
              help="Output folder; with --video also the scored video's file name "
              "(.mp4/.m4v/.mov/.mkv/.webm).")  # fmt: skip
@click.option("--stems", is_flag=True, help="Also write one WAV per instrument.")
@click.option("--loop", is_flag=True, default=None, help="Make a seamless loop (no ending).")
@click.option("--video", "video_path", type=click.Path(dir_okay=False),
              help="Fit the music to this video (its length; described from it when no TEXT or "
              "--description is given) and mux it into a copy.")  # fmt: skip
@renderer_option
@force_option
@audio_bitrate_option
@json_option
def generate(
    text: str | None, description_file: str | None, references: tuple[str, ...],
    auto_references: int, duration: float | None, tempo: float | None, key: str | None, style: str | None,
    instruments: str | None, time_signature: str | None, energy: float | None,
    valence: float | None, swing: float | None, seed: int | None, out: str | None, stems: bool,
    loop: bool | None, video_path: str | None, renderer: str | None, force: bool,
    audio_bitrate: str, as_json: bool,
) -> None:  # fmt: skip
    """Generate music from a text prompt or a description, references and explicit controls.

    \b
    vmb generate "calm piano for a rainy evening" --duration 45
    vmb generate --style jazz --tempo 140 --key "Bb major" --instruments piano,bass,drums,saxophone
    vmb generate --description desc.json --reference 3f2a --stems --out music/
    vmb generate "warm folk" --reference 3f2a:3 --reference 9c1d:1 --loop --duration 16
    vmb generate --video clip.mp4 --style jazz --out clip-jazz.mp4
    """
    from vmb_agent.sdk import VMB

    out_dir, target = _video_target(out, video_path)

    if text is not None and description_file is not None:
        raise InputError("give either TEXT or --description, not both.")
    description = read_description(description_file) if description_file else text
    names = [n.strip() for n in instruments.split(",") if n.strip()] if instruments else None
    if instruments is not None and not names:
        raise InputError("--instruments is empty; name at least one, e.g. 'piano,cello'.")
    overrides = _overrides(
        style=style, tempo_bpm=tempo, key=key, time_signature=time_signature,
        instruments=names, duration_s=duration, energy=energy, valence=valence, loop=loop,
        swing=swing,
    )  # fmt: skip
    reference_ids, reference_weights = _references(references)
    with progress_bar("generating", enabled=not as_json) as report:
        result = VMB().generate(
            description, reference_ids=reference_ids, reference_weights=reference_weights,
            n_references=auto_references,
            overrides=overrides, seed=seed,
            out_dir=out_dir, stems=stems, video_path=video_path, video_out=target,
            overwrite=force, audio_bitrate=audio_bitrate, renderer=renderer, progress=report,
        )  # fmt: skip
    emit(result, as_json, _render_result)
    echo_warnings(result.warnings)


@click.command("score")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--context", help="A hint for the description, e.g. 'wedding, slow dance'.")
@click.option(
    "--out",
    "out",
    type=click.Path(),
    help="Output folder, or the scored video's file name (.mp4/.m4v/.mov/.mkv/.webm).",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Same seed, same music.")
@click.option("--style", help="Force a style (otherwise chosen from the video).")
@click.option(
    "--references",
    "n_references",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="How many library tracks to condition on (only tracks that fit the request).",
)
@click.option("--stems", is_flag=True, help="Also write one WAV per instrument.")
@click.option("--describer", metavar="NAME",
              help="Describer: analysis (default) or vlm (see `vmb backends`).")  # fmt: skip
@renderer_option
@force_option
@audio_bitrate_option
@json_option
def score(video: str, context: str | None, out: str | None, seed: int | None, style: str | None,
          n_references: int, stems: bool, describer: str | None, renderer: str | None,
          force: bool, audio_bitrate: str, as_json: bool) -> None:  # fmt: skip
    """Score a video: describe it, find references, generate music on its cuts, mux it in.

    The picture is copied when its codec fits the --out container, else re-encoded (H.264).

    \b
    vmb score clip.mp4 --out clip-scored.mp4
    vmb score tree.avi --out tree-scored.mp4 --audio-bitrate 256k --force
    """
    from vmb_agent.sdk import VMB

    out_dir, target = _video_target(out, video)
    overrides = _overrides(style=style)
    with progress_bar("scoring", enabled=not as_json) as report:
        result = VMB().score(video, context=context, out_dir=out_dir, overrides=overrides,
                             seed=seed, n_references=n_references, stems=stems,
                             video_out=target, overwrite=force, audio_bitrate=audio_bitrate,
                             describer=describer, renderer=renderer, progress=report)  # fmt: skip
    emit(result, as_json, _render_result)
    echo_warnings(result.warnings)
