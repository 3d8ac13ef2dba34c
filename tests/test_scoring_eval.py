"""The scoring-to-picture eval (issue 12): its test videos, its measures and the quick CI run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vmb_agent.eval.scoring import (
    FPS_CYCLE,
    ScoringCase,
    evaluate_scoring,
    make_shot_video,
    probe_points,
    scoring_case_set,
    start_silence_s,
    texture_change,
)


@pytest.mark.parametrize("fps", [25.0, 60.0])
def test_the_describer_finds_every_cut_of_a_shot_video(
    fps: float, tmp_path: Path, vmb_home: Path
) -> None:
    from vmb_agent.sdk import VMB

    shots = [1.6, 2.7, 1.9, 3.4]
    cuts = make_shot_video(tmp_path / "shots.mp4", shots, fps, seed=3)
    assert cuts == pytest.approx(list(np.cumsum(shots)[:-1]), abs=0.5 / fps)
    found = VMB().describe(tmp_path / "shots.mp4").cuts_s
    assert len(found) == len(cuts)
    assert np.abs(np.array(found) - cuts).max() <= 1.0 / fps


def test_the_case_set_spans_the_issue_grid() -> None:
    cases = scoring_case_set(24, seed=0)
    assert len(cases) >= 20
    assert all(1.5 <= s <= 12.0 for c in cases for s in c.shots_s)
    assert {c.fps for c in cases} == set(FPS_CYCLE)
    lengths = [c.duration_s for c in cases]
    assert min(lengths) >= 18 and sum(20 <= x <= 61 for x in lengths) >= 18 and max(lengths) > 80
    assert scoring_case_set(24, seed=0) == cases  # reproducible from the seed


def test_start_silence_and_texture_change() -> None:
    sr = 1000
    quiet = np.zeros((sr, 2), dtype=np.float32)
    quiet[80:, :] = 0.01  # -40 dBFS from 80 ms on
    assert start_silence_s(quiet, sr) == pytest.approx(0.08)
    steady = np.ones((200, 64))
    changed = np.vstack([np.ones((100, 64)), np.linspace(0, 2, 64)[None, :].repeat(100, 0)])
    t = 100 * 512 / 22050  # the change sits on mel frame 100
    assert texture_change(steady, t) == pytest.approx(0.0, abs=1e-9)
    assert texture_change(changed, t) > 0.1
    probes = probe_points([5.0, 9.0], 20.0, 6, seed=1)
    assert len(probes) == 6 and all(abs(p - h) >= 1.5 for p in probes for h in (5.0, 9.0))


def test_a_tiny_scoring_run_measures_every_figure(tmp_path: Path, vmb_home: Path) -> None:
    from vmb_agent.sdk import VMB

    cases = [ScoringCase("tiny", [3.2, 4.1, 5.3], 25.0, seed=5)]
    m = evaluate_scoring(VMB(), cases, tmp_path, seed=2)
    (row,) = m["rows"]
    assert row["cuts_made"] == 2 and m["cut_detection_recall"] == 1.0
    assert m["hits"] >= 1 and 0 < m["hit_share_of_cuts"] <= 1
    assert all(math.isfinite(e) for e in row["hit_errors_frames"]), "a hit without a beat"
    assert all(math.isfinite(e) for e in row["onset_errors_frames"])
    assert 0.0 <= m["hits_within_2_frames"] <= 1.0 and m["hits_within_1_frame"] <= 1.0
    assert m["key_accuracy"] in (0.0, 1.0)
    assert 0.0 <= m["start_silence_s_max"] < 1.0
    assert math.isfinite(m["texture_novelty_ratio"]) and m["texture_novelty_ratio"] > 0
    assert m["tempo_bend_max"] < 0.5 and row["score_s"] > 0


def test_quick_scoring_suite_meets_every_target(tmp_path: Path, vmb_home: Path) -> None:
    """The CI subset of `vmb eval scoring`: the issue's targets on six short videos."""
    from vmb_agent.eval import EvalContext, run_suites
    from vmb_agent.sdk import VMB

    ctx = EvalContext(vmb=VMB(), out_dir=tmp_path / "report", quick=True)
    (result,), report = run_suites(["scoring"], ctx)
    assert (report.parent / "scoring.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## scoring" in report.read_text()
    failed = [c.line() for c in result.checks if not c.passed]
    assert not failed, "\n".join(failed)
