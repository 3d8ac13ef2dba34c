"""Evaluation results, threshold checks and the report (report.json, report.md, PNG plots)."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

Comparison = Literal[">=", "<="]


@dataclass
class Check:
    """A regression guard: ``value <op> threshold``.

    The threshold is the issue target. Where the project does not meet a target yet, ``target``
    holds the issue's number and ``threshold`` the guard actually enforced (today's measured
    level less sampling noise), so the report says plainly that the target is missed while CI
    still catches regressions.
    """

    name: str
    value: float
    threshold: float
    op: Comparison
    target: float | None = None

    @staticmethod
    def _meets(value: float, bound: float, op: Comparison) -> bool:
        return value >= bound if op == ">=" else value <= bound

    @property
    def passed(self) -> bool:
        return self._meets(self.value, self.threshold, self.op)

    @property
    def target_met(self) -> bool:
        return self._meets(self.value, self.threshold if self.target is None else self.target, self.op)

    def describe_bound(self) -> str:
        if self.target is None:
            return f"target {self.op} {self.threshold:g}"
        met = "met" if self.target_met else "NOT MET"
        return f"guard {self.op} {self.threshold:g}; issue target {self.op} {self.target:g} {met}"

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark} {self.name}: {self.value:.4g} ({self.describe_bound()})"


@dataclass
class SuiteResult:
    name: str
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def environment() -> dict[str, str]:
    versions = {"python": platform.python_version(), "machine": platform.machine()}
    for dist in ("vmb-agent", "numpy", "chromadb", "music21", "pretty_midi", "pedalboard"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def write_report(results: list[SuiteResult], out_dir: Path, *, seed: int, quick: bool) -> Path:
    """Write report.json and report.md into ``out_dir`` (plots are already there)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seed": seed,
        "quick": quick,
        "environment": environment(),
        "passed": all(r.passed for r in results),
        "suites": [
            {
                **asdict(r),
                "passed": r.passed,
                "checks": [
                    {**asdict(c), "passed": c.passed, "target_met": c.target_met} for c in r.checks
                ],
            }
            for r in results
        ],
    }
    (out_dir / "report.json").write_text(json.dumps(payload, indent=2, default=float))
    lines = [
        "# VMB evaluation report",
        "",
        f"Created {payload['created']} · seed {seed} · {'quick' if quick else 'full'} run · "
        + ", ".join(f"{k} {v}" for k, v in payload["environment"].items()),
        "",
        "Every number below was computed in this run.",
        "",
    ]
    for r in results:
        lines += [f"## {r.name} ({r.seconds:.1f} s)", ""]
        if r.checks:
            lines += ["| check | value | target | result |", "|---|---|---|---|"]
            lines += [
                f"| {c.name} | {c.value:.4g} | {c.describe_bound()} | "
                f"{'pass' if c.passed else '**FAIL**'} |"
                for c in r.checks
            ]
            lines.append("")
        scalars = {k: v for k, v in r.metrics.items() if isinstance(v, int | float)}
        if scalars:
            lines += ["| metric | value |", "|---|---|"]
            lines += [f"| {k} | {v:.4g} |" for k, v in scalars.items()]
            lines.append("")
        tables = {k: v for k, v in r.metrics.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        for title, rows in tables.items():
            cols = list(rows[0])
            lines += [f"**{title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            for row in rows:
                lines.append("| " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
            lines.append("")
        lines += [f"![{Path(p).stem}]({Path(p).name})" for p in r.plots]
        lines += [f"- {n}" for n in r.notes]
        lines.append("")
    (out_dir / "report.md").write_text("\n".join(lines))
    return out_dir / "report.md"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def new_figure(width: float = 6.0, height: float = 3.6) -> tuple[Any, Any]:
    """A matplotlib figure on the non-interactive backend (imported only when plotting)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=110)


def save_figure(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
