"""`vmb eval`: the metrics themselves, and the quick CI subset as regression guards.

The quick run uses the same suite code as `vmb eval all` on smaller grids; each threshold is an
issue target, so a regression in any stage fails the build here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vmb_agent.eval import EvalContext, run_suites
from vmb_agent.eval.music import compare_sets, overlap_area, piece_features, scale_consistency
from vmb_agent.eval.retrieval import ndcg_at_k


def test_overlap_area_is_one_for_the_same_distribution_and_small_for_disjoint() -> None:
    rng = np.random.default_rng(0)
    same = overlap_area(rng.normal(0, 1, 400), rng.normal(0, 1, 400))[0]
    apart = overlap_area(rng.normal(0, 1, 400), rng.normal(8, 1, 400))[0]
    assert same > 0.9
    assert apart < 0.05


def test_scale_consistency_and_ndcg() -> None:
    assert scale_consistency(np.array([60, 62, 64, 65, 67, 69, 71, 72])) == 1.0
    assert scale_consistency(np.arange(60, 72)) == pytest.approx(7 / 12)
    assert ndcg_at_k([True, False, True], n_relevant=2, k=3) == pytest.approx(
        (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    )
    assert ndcg_at_k([False, False], n_relevant=3, k=2) == 0.0


def _melody(path: Path, pitches: list[int]) -> Path:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    for i, p in enumerate(pitches):
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=p, start=i * 0.5, end=i * 0.5 + 0.45))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def test_compare_sets_tells_a_set_from_itself_and_from_noise(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    tonal = [
        piece_features(_melody(tmp_path / f"t{i}.mid", list(rng.choice(scale, 32))))
        for i in range(12)
    ]
    noise = [
        piece_features(_melody(tmp_path / f"n{i}.mid", list(rng.integers(30, 100, 32))))
        for i in range(12)
    ]
    close = compare_sets("tonal B", tonal[6:], "tonal A", tonal[:6])
    far = compare_sets("noise", noise, "tonal A", tonal[:6])
    assert close.mean_overlap_area > far.mean_overlap_area
    assert close.scale_consistency == 1.0 and far.scale_consistency < 0.8


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import os

    from vmb_agent.sdk import VMB
    from vmb_agent.settings import Settings

    root = tmp_path_factory.mktemp("eval")
    settings = Settings(home=root / "home")
    os.environ["VMB_HOME"] = str(root / "home")  # the speed suite's subprocesses use it too
    try:
        ctx = EvalContext(vmb=VMB(settings), out_dir=root / "report", quick=True)
        results, report = run_suites(
            ["controls", "retrieval", "music", "describe", "speed"], ctx
        )
    finally:
        os.environ.pop("VMB_HOME", None)
    return {"results": results, "report": report}


def test_quick_report_files_are_written(quick_report: dict) -> None:
    report: Path = quick_report["report"]
    payload = json.loads((report.parent / "report.json").read_text())
    assert [s["name"] for s in payload["suites"]] == [
        "controls", "retrieval", "music", "describe", "speed",
    ]
    assert payload["environment"]["python"] and payload["seed"] == 0
    assert sorted(p.suffix for p in report.parent.iterdir()) == [".json", ".md"] + [".png"] * 7
    text = report.read_text()
    assert "## controls" in text and "| check |" in text
    for png in ("tempo_error_hist.png", "key_confusion.png", "recall_at_k.png",
                "overlap_area.png", "describe_sweeps.png", "style_tags.png"):
        assert (report.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_music_suite_reports_the_style_check_per_style(quick_report: dict) -> None:
    music = next(r for r in quick_report["results"] if r.name == "music")
    rows = music.metrics["style_tags_by_style"]
    assert len(rows) == 10 and all(r["pieces"] == 1 and r["heard_as"] for r in rows)
    assert any("audio tagger" in note for note in music.notes)


def test_quick_subset_meets_every_target(quick_report: dict) -> None:
    failed = [
        f"{r.name}: {c.line()}" for r in quick_report["results"] for c in r.checks if not c.passed
    ]
    assert not failed, "\n".join(failed)
