"""`vmb describe`: readable output by default, the model with --json, evidence on request."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import EXAMPLES

from vmb_agent.cli import cli
from vmb_agent.types import MusicDescription


def test_readable_output_for_the_bundled_video(vmb_home) -> None:
    result = CliRunner().invoke(cli, ["describe", str(EXAMPLES / "city.mp4")])
    assert result.exit_code == 0, result.output
    for label in ("tempo", "key", "instruments", "cuts", "section", "BPM"):
        assert label in result.stdout
    assert "evidence" not in result.stdout


def test_json_output_is_the_model(vmb_home) -> None:
    args = ["describe", str(EXAMPLES / "harbour.jpg"), "--context", "wedding, slow dance", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    description = MusicDescription.model_validate(json.loads(result.stdout))
    assert description.source.kind == "image"
    assert description.source.context == "wedding, slow dance"
    assert description.attributes.time_signature == "3/4"


def test_text_prompt_with_evidence(vmb_home) -> None:
    args = ["describe", "upbeat funk at 110 bpm in E minor, no drums", "--evidence"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "110 BPM" in result.stdout and "E minor" in result.stdout
    assert "evidence" in result.stdout and "explicit tempo" in result.stdout


def test_bad_option_values_exit_2(vmb_home) -> None:
    result = CliRunner().invoke(cli, ["describe", "calm", "--kind", "audio"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["describe", "calm", "--backend", "nope"])
    assert result.exit_code == 2 and "unknown describe backend 'nope'" in result.stderr
