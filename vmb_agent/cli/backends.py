"""``vmb backends``: every engine of every stage, whether it can run here and why not."""

from __future__ import annotations

import click


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def backends(as_json: bool) -> None:
    """List the describers, embedders, generators and renderers, and whether each can run.

    The selected one of each stage is marked *; choose with VMB_DESCRIBE_BACKEND,
    VMB_EMBED_BACKEND, VMB_RENDER_BACKEND, or per call with --describer/--embedder/--renderer.
    """
    from vmb_agent.backends import list_backends
    from vmb_agent.sdk import load_settings

    rows = list_backends(load_settings())
    if as_json:
        import json

        click.echo(json.dumps([row.model_dump() for row in rows], indent=2))
        return
    for row in rows:
        mark = "*" if row.selected else " "
        state = "ready" if row.available else f"unavailable: {row.reason}"
        origin = "" if row.origin == "built-in" else f" [{row.origin}]"
        click.echo(f"{mark} {row.stage:<8} {row.name:<16} {state}{origin}")
