"""``vmb describe PATH_OR_TEXT``: the text bridge on the command line."""

from __future__ import annotations

import click

from vmb_agent.cli._output import echo_warnings, emit, json_option


@click.command("describe")
@click.argument("source")
@click.option("--context", default=None, help="A hint about the scene, e.g. 'wedding, slow dance'.")
@click.option(
    "--kind",
    type=click.Choice(["auto", "image", "video", "text"]),
    default="auto",
    show_default=True,
    help="What SOURCE is; 'auto' decides by the file's content (or treats words as text).",
)
@click.option("--describer", "--backend", "backend", default=None, metavar="NAME",
              help="Describer: analysis (default) or vlm (see `vmb backends`; default "
              "VMB_DESCRIBE_BACKEND).")  # fmt: skip
@click.option("--evidence/--no-evidence", default=False, show_default=True,
              help="Show which measurement led to which attribute.")  # fmt: skip
@json_option
def describe(
    source: str, context: str | None, kind: str, backend: str | None, evidence: bool, as_json: bool
) -> None:
    """Describe an image, a video or a text prompt as music (the text bridge).

    \b
    Examples:
      vmb describe vmb_agent/examples/harbour.jpg
      vmb describe vmb_agent/examples/city.mp4 --context "night drive" --json
      vmb describe "slow piano in D minor, 45 seconds"
    """
    from vmb_agent.sdk import VMB

    result = VMB().describe(source, context=context, kind=kind, backend=backend)  # type: ignore[arg-type]
    emit(result, as_json, lambda d: _render(d, show_evidence=evidence))
    echo_warnings(result.warnings)


def _render(description: object, *, show_evidence: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from vmb_agent.types import MusicDescription

    assert isinstance(description, MusicDescription)
    d = description
    a = d.attributes
    console = Console(highlight=False)
    where = d.source.path or "text prompt"
    size = f" {d.source.width}x{d.source.height}" if d.source.width else ""
    length = f", {d.source.duration_s:.1f} s" if d.source.duration_s else ""
    console.print(
        f"[bold]{where}[/bold] ({d.source.kind}{size}{length}, backend {d.source.backend})"
    )
    console.print()
    console.print(d.text)
    console.print()
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    rows = [
        ("tempo", f"{a.tempo_bpm:g} BPM" if a.tempo_bpm else "-"),
        ("key", a.key or "-"),
        ("metre", a.time_signature),
        ("energy", f"{a.energy:.2f}"),
        ("valence", f"{a.valence:.2f}"),
        ("genres", ", ".join(a.genres) or "-"),
        ("moods", ", ".join(a.moods) or "-"),
        ("instruments", ", ".join(a.instruments) or "-"),
        ("duration", f"{a.duration_s:g} s" if a.duration_s else "-"),
    ]
    if d.palette:
        rows.append(("palette", " ".join(f"[{c}]██[/] {c}" for c in d.palette)))
    if d.cuts_s:
        rows.append(("cuts", ", ".join(f"{c:.2f}" for c in d.cuts_s) + " s"))
    for section in d.sections:
        rows.append((
            "section",
            (
                f"{section.start_s:6.2f}-{section.end_s:6.2f} s  {section.label:<9} "
                f"energy {section.energy:.2f}"
            ),
        ))  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if show_evidence and d.evidence:
        console.print()
        console.print("[bold]evidence[/bold]")
        for item in d.evidence:
            shown = ", ".join(f"{k}={v:g}" for k, v in list(item.features.items())[:5])
            console.print(
                f"  {item.attribute} = {item.value}" + (f"  <- {shown}" if shown else ""),
                soft_wrap=True,
            )
            console.print(f"    [dim]{item.rule}[/dim]", soft_wrap=True)
