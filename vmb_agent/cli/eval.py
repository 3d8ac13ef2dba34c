"""``vmb eval``: run the evaluation suites and write report.json / report.md / plots."""

from __future__ import annotations

from pathlib import Path

import click

from vmb_agent.cli._output import json_option

_SUITES = ("controls", "retrieval", "music", "describe", "speed", "scoring")


def _run(names: list[str], out: str, quick: bool, seed: int, as_json: bool) -> None:
    import json

    from vmb_agent.eval import EvalContext, run_suites
    from vmb_agent.sdk import VMB

    ctx = EvalContext(
        vmb=VMB(), out_dir=Path(out), quick=quick, seed=seed,
        log=lambda message: click.echo(message, err=True),
    )
    results, report = run_suites(names, ctx)
    if as_json:
        click.echo(json.dumps(json.loads((report.parent / "report.json").read_text()), indent=2))
    else:
        for r in results:
            click.echo(f"== {r.name} ({r.seconds:.1f} s)")
            for check in r.checks:
                click.echo(f"  {check.line()}")
        click.echo(f"report: {report}")
    if not all(r.passed for r in results):
        raise SystemExit(1)


def _suite_command(name: str) -> click.Command:
    @click.command(name, help=f"Run the {name} suite.")
    @click.option("--out", default="eval-report", show_default=True, help="Output folder.")
    @click.option("--quick", is_flag=True, help="The small CI subset.")
    @click.option("--seed", default=0, show_default=True, type=int)
    @json_option
    def command(out: str, quick: bool, seed: int, as_json: bool) -> None:
        _run([name], out, quick, seed, as_json)

    return command


@click.group("eval")
def eval_group() -> None:
    """Evaluation suites: controls, retrieval, music, describe, speed, or all.

    Exit code 1 when a regression guard (threshold from the issue targets) fails.
    """


for _name in _SUITES:
    eval_group.add_command(_suite_command(_name))


@eval_group.command("all")
@click.option("--out", default="eval-report", show_default=True, help="Output folder.")
@click.option("--quick", is_flag=True, help="The small CI subset.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--suites", default=",".join(_SUITES), show_default=True, help="Comma-separated.")
@json_option
def all_suites(out: str, quick: bool, seed: int, suites: str, as_json: bool) -> None:
    """Run every suite and write one report."""
    _run([s.strip() for s in suites.split(",") if s.strip()], out, quick, seed, as_json)
