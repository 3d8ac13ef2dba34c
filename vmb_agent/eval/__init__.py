"""Evaluation suites behind ``vmb eval``: controls, retrieval, music, describe, speed,
scoring.

Each suite is a function ``(ctx) -> SuiteResult`` registered in :data:`SUITES`. A suite computes
every number in the run (nothing is a constant), carries :class:`~vmb_agent.eval.report.Check`
guards whose thresholds come from the issue targets, and may save PNG plots into the output
folder. ``run_suites`` runs a selection and writes report.json / report.md.

``quick=True`` is the CI subset: the same code on smaller grids.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vmb_agent.eval.report import SuiteResult, write_report

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.sdk import VMB


@dataclass
class EvalContext:
    vmb: VMB
    out_dir: Path
    quick: bool = False
    seed: int = 0
    log: Callable[[str], None] = field(default=lambda message: None)
    #: scratch space for generated audio/MIDI/media; a temporary folder removed after the run
    scratch: Path | None = None

    @property
    def work_dir(self) -> Path:
        if self.scratch is None:
            raise RuntimeError("EvalContext.work_dir is only available inside run_suites()")
        self.scratch.mkdir(parents=True, exist_ok=True)
        return self.scratch


def _suites() -> dict[str, Callable[[EvalContext], SuiteResult]]:
    from vmb_agent.eval import suites

    return {
        "controls": suites.controls_suite,
        "retrieval": suites.retrieval_suite,
        "music": suites.music_suite,
        "describe": suites.describe_suite,
        "speed": suites.speed_suite,
        "scoring": suites.scoring_suite,
    }


SUITE_NAMES = ("controls", "retrieval", "music", "describe", "speed", "scoring")


def run_suites(names: list[str], ctx: EvalContext) -> tuple[list[SuiteResult], Path]:
    """Run the named suites (in order) and write the report; returns results and report path."""
    from vmb_agent.errors import unknown_name

    table = _suites()
    for name in names:
        if name not in table:
            raise unknown_name("eval suite", name, table)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="vmb-eval-") as scratch:
        ctx.scratch = Path(scratch)
        try:
            for name in names:
                ctx.log(f"running {name} ...")
                start = time.perf_counter()
                result = table[name](ctx)
                result.seconds = time.perf_counter() - start
                ctx.log(f"{name}: {'pass' if result.passed else 'FAIL'} in {result.seconds:.1f} s")
                results.append(result)
        finally:
            ctx.scratch = None
    return results, write_report(results, ctx.out_dir, seed=ctx.seed, quick=ctx.quick)


__all__ = ["SUITE_NAMES", "EvalContext", "SuiteResult", "run_suites"]
