"""Describer consistency: controlled visual sweeps and stability under resizing/re-encoding.

Each sweep varies one visual property of synthetic media (vmb_agent.describe.synthetic) and
records the attribute the documented model says it drives (docs/describe.md):
brightness -> valence and tempo, saturation -> energy, warmth -> valence, motion -> energy and
tempo, cut rate -> energy and tempo. For each we report the Spearman correlation between the
control and the attribute (direction: +1 = always moved the documented way) and the size of the
change end to end. Stability: the same image resized to half size and re-encoded as JPEG q=60
should barely move any attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vmb_agent.eval import EvalContext
from vmb_agent.eval.report import Check, SuiteResult, new_figure, save_figure
from vmb_agent.types import MusicDescription

ATTRIBUTES: dict[str, Callable[[MusicDescription], float]] = {
    "valence": lambda d: d.attributes.valence,
    "energy": lambda d: d.attributes.energy,
    "tempo_bpm": lambda d: float(d.attributes.tempo_bpm or 0.0),
}


def _spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    if np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def evaluate_describe(ctx: EvalContext) -> SuiteResult:
    from vmb_agent.describe import synthetic as media

    work = ctx.work_dir / "describe"
    work.mkdir(parents=True, exist_ok=True)
    seeds = range(2 if ctx.quick else 5)
    image_sweeps: dict[str, tuple[list[float], Callable, list[str]]] = {
        "brightness": ([0.5, 0.75, 1.0, 1.25, 1.5], media.brighten, ["valence", "tempo_bpm"]),
        "saturation": ([0.0, 0.5, 1.0, 1.5, 2.0], media.saturate, ["energy"]),
        "warmth": ([-0.15, -0.075, 0.0, 0.075, 0.15], media.warm, ["valence"]),
    }
    rows = []
    for sweep, (levels, transform, attributes) in image_sweeps.items():
        for seed in seeds:
            base = media.photo(seed=seed)
            descs = [
                ctx.vmb.describe(media.save_image(transform(base, level), work / f"{sweep}-{seed}-{i}.png"))
                for i, level in enumerate(levels)
            ]
            rows += _sweep_rows(sweep, seed, levels, descs, attributes)
    video_sweeps = {
        "motion": ([0, 1, 3, 6], lambda p, v: media.panning_video(p, v), ["energy", "tempo_bpm"]),
        "cut rate": ([0, 2, 5], lambda p, v: media.cutting_video(p, v), ["energy", "tempo_bpm"]),
    }
    for sweep, (levels, make, attributes) in video_sweeps.items():
        descs = [
            ctx.vmb.describe(make(work / f"{sweep.replace(' ', '_')}-{v}.mp4", v)) for v in levels
        ]
        rows += _sweep_rows(sweep, 0, [float(v) for v in levels], descs, attributes)

    stability = _stability(ctx, media, work)
    result = SuiteResult("describe")
    share_right_way = float(np.mean([r["spearman"] > 0.99 for r in rows]))
    result.checks = [
        Check("sweeps moving the documented direction every time (share)", share_right_way, 1.0, ">="),
        Check("resize/re-encode: max |Δ valence|", stability["max_delta_valence"], 0.1, "<="),
        Check("resize/re-encode: max |Δ energy|", stability["max_delta_energy"], 0.1, "<="),
        Check("resize/re-encode: max |Δ tempo| (BPM)", stability["max_delta_tempo_bpm"], 8.0, "<="),
    ]
    summary = _summary(rows)
    result.metrics = {"sweeps": summary, "runs": rows, **stability}
    result.plots.append(_plot(summary, ctx.out_dir / "describe_sweeps.png"))
    return result


def _sweep_rows(
    sweep: str, seed: int, levels: list[float], descs: list[MusicDescription], attributes: list[str]
) -> list[dict]:
    rows = []
    for attribute in attributes:
        values = [ATTRIBUTES[attribute](d) for d in descs]
        rows.append(
            {
                "sweep": sweep,
                "seed": seed,
                "attribute": attribute,
                "spearman": round(_spearman(levels, values), 3),
                "change": round(values[-1] - values[0], 3),
                "low": round(values[0], 3),
                "high": round(values[-1], 3),
            }
        )
    return rows


def _summary(rows: list[dict]) -> list[dict]:
    out = []
    for sweep, attribute in dict.fromkeys((r["sweep"], r["attribute"]) for r in rows):
        mine = [r for r in rows if r["sweep"] == sweep and r["attribute"] == attribute]
        out.append(
            {
                "sweep": sweep,
                "attribute": attribute,
                "runs": len(mine),
                "min_spearman": min(r["spearman"] for r in mine),
                "mean_change": round(float(np.mean([r["change"] for r in mine])), 3),
            }
        )
    return out


def _stability(ctx: EvalContext, media: object, work: Path) -> dict[str, float]:
    from PIL import Image

    deltas: dict[str, list[float]] = {name: [] for name in ATTRIBUTES}
    key_same = []
    for seed in range(2 if ctx.quick else 4):
        original = media.save_image(media.photo(640, 400, seed=seed), work / f"orig-{seed}.png")
        variant = work / f"small-{seed}.jpg"
        Image.open(original).resize((320, 200), Image.Resampling.LANCZOS).save(variant, quality=60)
        a, b = ctx.vmb.describe(original), ctx.vmb.describe(variant)
        for name, get in ATTRIBUTES.items():
            deltas[name].append(abs(get(a) - get(b)))
        key_same.append(a.attributes.key == b.attributes.key)
    return {
        **{f"max_delta_{name}": float(max(v)) for name, v in deltas.items()},
        "key_unchanged_share": float(np.mean(key_same)),
    }


def _plot(summary: list[dict], path: Path) -> str:
    fig, ax = new_figure(6.5, 3.4)
    labels = [f"{r['sweep']} → {r['attribute']}" for r in summary]
    ax.barh(range(len(summary)), [r["min_spearman"] for r in summary], color="#8e6bb8")
    ax.set_yticks(range(len(summary)), labels, fontsize=8)
    ax.set_xlim(-1, 1)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("worst-case Spearman ρ (control vs attribute); +1 = always the documented way")
    ax.set_title("Describer sweeps")
    return save_figure(fig, path)
