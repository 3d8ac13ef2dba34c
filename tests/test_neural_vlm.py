"""The ``vlm`` describer on a tiny random SmolVLM (Idefics3) built here: real processor, real
forward passes, nothing downloaded. A model whose tokenizer holds the answer as one token (and
whose weights make greedy decoding emit it) tests the success path; a plain random model tests
the repair turn and the fallback to the analysis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES
from tiny_models.vlm import build

import vmb_agent.describe as describe_package
from vmb_agent.errors import BackendUnavailableError
from vmb_agent.neural import vlm
from vmb_agent.sdk import VMB
from vmb_agent.settings import get_settings
from vmb_agent.types import MusicDescription

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.timeout(300)

HARBOUR = EXAMPLES / "harbour.jpg"
CITY = EXAMPLES / "city.mp4"
ANSWER = {
    "genres": ["jazz", "lo-fi"],
    "moods": ["dreamy", "wistful"],
    "instruments": ["piano", "double bass", "brushed drums"],
    "time_signature": "3/4",
    "tempo_bpm": 150,
    "text": "A slow jazz waltz {brushes, not sticks} under harbour lights: piano voicings "
    "drift over a walking double bass while the drums keep a soft, swaying pulse.",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vlm")
    return {
        "answer": build(root / "answer", answer=json.dumps(ANSWER)),
        "garbage": build(root / "garbage"),
    }


@pytest.fixture
def use_model(vmb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``use_model(folder)``: point VMB_VLM_MODEL at ``folder`` (None: unset it)."""
    describe_package.describers.forget_shared()  # no describer made for other settings

    def use(folder: Path | None) -> None:
        if folder is None:
            monkeypatch.delenv("VMB_VLM_MODEL", raising=False)
        else:
            monkeypatch.setenv("VMB_VLM_MODEL", str(folder))
        monkeypatch.setenv("VMB_DEVICE", "cpu")
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.fixture
def generate_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ``generate`` call of the real Idefics3 model, with its inputs' shapes (a counter
    around the real method: the generation itself is untouched)."""
    from transformers import Idefics3ForConditionalGeneration

    calls: list[dict[str, Any]] = []
    real = Idefics3ForConditionalGeneration.generate

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append({name: tuple(value.shape) for name, value in kwargs.items()
                      if hasattr(value, "shape")})  # fmt: skip
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Idefics3ForConditionalGeneration, "generate", counted)
    return calls


def analysis(path: Path) -> MusicDescription:
    return VMB().describe(str(path), backend="analysis")


def vlm_rules(description: MusicDescription) -> dict[str, str]:
    return {e.attribute: e.rule for e in description.evidence if e.rule.startswith("vlm ")}


def test_image_takes_the_models_judgement_and_keeps_the_measurements(
    models: dict[str, Path], use_model: Any, generate_calls: list[dict[str, Any]]
) -> None:
    use_model(models["answer"])
    described = VMB().describe(str(HARBOUR), backend="vlm")
    measured = analysis(HARBOUR)
    got = described.attributes
    assert described.source.backend == "vlm"
    assert (got.genres, got.moods, got.instruments) == (
        ANSWER["genres"], ANSWER["moods"], ANSWER["instruments"],
    )  # fmt: skip
    assert described.text == ANSWER["text"]
    assert got.time_signature == "3/4"  # the analysis only defaulted the metre
    # tempo, key, energy and valence are measured from the picture: the model's 150 bpm loses
    assert got.tempo_bpm == measured.attributes.tempo_bpm != ANSWER["tempo_bpm"]
    assert (got.key, got.energy, got.valence) == (
        measured.attributes.key, measured.attributes.energy, measured.attributes.valence,
    )  # fmt: skip
    assert described.palette == measured.palette and described.features == measured.features
    rules = vlm_rules(described)
    assert set(rules) == {"genres", "moods", "instruments", "time_signature", "text"}
    assert all("the image" in rule and models["answer"].name in rule for rule in rules.values())
    assert len(generate_calls) == 1  # a valid first answer: no repair turn
    assert generate_calls[0]["pixel_values"][1] == 1  # one picture


def test_video_sends_one_frame_per_shot_and_keeps_the_measured_sections(
    models: dict[str, Path], use_model: Any, generate_calls: list[dict[str, Any]]
) -> None:
    use_model(models["answer"])
    described = VMB().describe(str(CITY), backend="vlm")
    measured = analysis(CITY)
    shots = len(measured.cuts_s) + 1
    assert shots == 3  # city.mp4 has two hard cuts
    assert [call["pixel_values"][1] for call in generate_calls] == [shots]
    assert described.sections == measured.sections and described.cuts_s == measured.cuts_s
    assert described.attributes.tempo_bpm == measured.attributes.tempo_bpm
    assert described.attributes.duration_s == measured.attributes.duration_s
    assert described.attributes.genres == ANSWER["genres"]
    sections = [e for e in described.evidence if e.attribute == "sections"]
    assert sections and not sections[0].rule.startswith("vlm ")
    genres = next(e for e in described.evidence if e.attribute == "genres")
    assert genres.features == {"frames": float(shots)}
    assert f"{shots} frames, one per shot" in genres.rule


def test_unusable_answers_get_one_repair_then_the_analysis(
    models: dict[str, Path],
    use_model: Any,
    generate_calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vlm, "MAX_NEW_TOKENS", 48)  # garbage is garbage at any length
    use_model(models["garbage"])
    described = VMB().describe(str(HARBOUR), backend="vlm")
    measured = analysis(HARBOUR)
    assert len(generate_calls) == 2  # the answer, then one repair turn
    # the repair turn is longer: the bad answer and the problem are in it
    assert generate_calls[1]["input_ids"][1] > generate_calls[0]["input_ids"][1]
    assert described.attributes == measured.attributes
    assert described.text == measured.text and described.source.backend == "analysis"
    assert len(described.warnings) == 1 and "unusable after one repair" in described.warnings[0]
    assert described.evidence == measured.evidence and not vlm_rules(described)


def test_schema_errors_name_the_field_for_the_repair_turn() -> None:
    bad = '{"genres": ["jazz"], "moods": [], "instruments": ["piano"], "text": "x"}'
    answer, problem = vlm.parse_answer(bad)
    assert answer is None and "moods" in problem
    assert "moods" in vlm.repair_prompt(problem)


@pytest.mark.parametrize("model", [None, "empty", "missing"])
def test_missing_weights_are_one_line(model: str | None, use_model: Any, tmp_path: Path) -> None:
    folder = {"empty": tmp_path, "missing": tmp_path / "nowhere", None: None}[model]
    use_model(folder)
    with pytest.raises(BackendUnavailableError) as raised:
        VMB().describe(str(HARBOUR), backend="vlm")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("vlm: ") and "VMB_VLM_MODEL" in message


def test_weights_that_do_not_load_are_one_line(use_model: Any, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "no-such-model"}')
    use_model(tmp_path)
    with pytest.raises(BackendUnavailableError, match="could not be loaded") as raised:
        VMB().describe(str(HARBOUR), backend="vlm")
    assert "\n" not in str(raised.value) and str(tmp_path) in str(raised.value)


def test_a_model_that_fails_while_running_is_one_line(
    models: dict[str, Path], use_model: Any, tmp_path: Path
) -> None:
    """Weights that load but cannot run (here: a processor without its chat template) give a
    one-line error naming the folder, not an internal error."""
    import shutil

    broken = tmp_path / "no-template"
    shutil.copytree(models["garbage"], broken)
    (broken / "chat_template.jinja").unlink()
    use_model(broken)
    with pytest.raises(BackendUnavailableError, match="failed while running") as raised:
        VMB().describe(str(HARBOUR), backend="vlm")
    assert "\n" not in str(raised.value) and str(broken) in str(raised.value)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('Sure! Here it is:\n```json\n{"a": "a } and a {", "b": [1, {"c": 2}]}\n```\nEnjoy {!}',
         {"a": "a } and a {", "b": [1, {"c": 2}]}),
        ('{not json} then {"a": "\\"}\\""} and {"b": 2}', {"a": '"}"'}),
        ('{"outer": {"inner": "{"}}}}', {"outer": {"inner": "{"}}),
    ],
)  # fmt: skip
def test_first_json_object_reads_past_chatter_and_braces_in_strings(
    reply: str, expected: dict[str, Any]
) -> None:
    assert vlm.first_json_object(reply) == (expected, "")


@pytest.mark.parametrize(
    ("reply", "problem"),
    [("no braces at all", "no JSON object"), ("{'single': 'quotes'}", "not valid JSON"),
     ('{"open": "never closed', "not valid JSON")],
)  # fmt: skip
def test_first_json_object_says_why_there_is_none(reply: str, problem: str) -> None:
    found, why = vlm.first_json_object(reply)
    assert found is None and problem in why


def test_schema_is_the_pydantic_models() -> None:
    schema = json.loads(vlm.answer_schema())
    fields = set(vlm.MusicAttributes.model_fields) | {"text"}
    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == {"genres", "moods", "instruments", "text"}
    prompt, repair = vlm.prompt_parts()
    assert "{schema}" in prompt and "{problem}" in repair


def test_shot_times_are_shot_middles_capped_and_spread() -> None:
    assert vlm.shot_times([3.5, 6.5], 9.0) == [1.75, 5.0, 7.75]
    many = vlm.shot_times([float(t) for t in range(1, 40)], 40.0)
    assert len(many) == vlm.MAX_FRAMES and many[0] == 0.5 and many[-1] == 39.5
    assert vlm.shot_times([], 0.0) == [0.0]
