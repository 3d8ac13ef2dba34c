"""Images -> music: controlled sweeps move attributes in the documented direction."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from test_describe_helpers import brighten, photo, saturate, save_image, warm

from vmb_agent.describe import describe_source
from vmb_agent.files import PathPolicy
from vmb_agent.theory import INSTRUMENTS, parse_key
from vmb_agent.types import MusicDescription

POLICY = PathPolicy()


def describe(path: Path, context: str | None = None) -> MusicDescription:
    return describe_source(path, context=context, kind="auto", backend="analysis", policy=POLICY)


def sweep(tmp_path: Path, name: str, images: list) -> list[MusicDescription]:
    return [describe(save_image(img, tmp_path / f"{name}{i}.png")) for i, img in enumerate(images)]


def strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in pairwise(values))


SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
def test_brighter_image_is_happier_faster_and_turns_major(tmp_path: Path, seed: int) -> None:
    base = photo(seed=seed)
    results = sweep(tmp_path, "bright", [brighten(base, f) for f in (0.35, 0.6, 0.85, 1.1)])
    valences = [r.attributes.valence for r in results]
    tempos = [r.attributes.tempo_bpm for r in results]
    assert strictly_increasing(valences), valences
    assert tempos == sorted(tempos) and tempos[-1] > tempos[0], tempos
    assert results[0].attributes.key.endswith("minor")
    assert results[-1].attributes.key.endswith("major")
    brightness = [r.features["brightness"] for r in results]
    assert strictly_increasing(brightness)


@pytest.mark.parametrize("seed", SEEDS)
def test_more_saturated_image_is_more_energetic(tmp_path: Path, seed: int) -> None:
    base = photo(seed=seed)
    results = sweep(tmp_path, "sat", [saturate(base, a) for a in (0.0, 0.6, 1.2, 1.8)])
    energies = [r.attributes.energy for r in results]
    valences = [r.attributes.valence for r in results]
    tempos = [r.attributes.tempo_bpm for r in results]
    assert strictly_increasing(energies), energies
    assert strictly_increasing(valences), valences
    assert tempos == sorted(tempos) and tempos[-1] > tempos[0], tempos


@pytest.mark.parametrize("seed", SEEDS)
def test_warmer_image_is_happier(tmp_path: Path, seed: int) -> None:
    base = photo(seed=seed)
    results = sweep(tmp_path, "warm", [warm(base, s) for s in (-0.15, -0.05, 0.05, 0.15)])
    warmth = [r.features["warmth"] for r in results]
    valences = [r.attributes.valence for r in results]
    assert strictly_increasing(warmth)
    assert strictly_increasing(valences), valences


def test_exposure_does_not_change_warmth_so_even_a_blue_image_brightens_happier(
    tmp_path: Path,
) -> None:
    blue = photo(seed=1) * np.array([0.2, 0.3, 1.0], dtype=np.float32)
    results = sweep(tmp_path, "blue", [brighten(blue, f) for f in (0.4, 0.7, 1.0)])
    assert strictly_increasing([r.attributes.valence for r in results])
    warmth = [r.features["warmth"] for r in results]
    assert max(warmth) - min(warmth) < 0.02


def test_description_is_complete_and_valid(tmp_path: Path) -> None:
    result = describe(save_image(photo(), tmp_path / "p.jpg", quality=90))
    a = result.attributes
    assert result.source.kind == "image" and (result.source.width, result.source.height) == (
        320,
        200,
    )
    assert 40 <= len(result.text.split()) <= 150
    assert all(i in INSTRUMENTS for i in a.instruments) and 3 <= len(a.instruments) <= 5
    assert parse_key(a.key).name == a.key
    assert 30 <= a.tempo_bpm <= 300 and a.genres and a.moods
    explained = {e.attribute for e in result.evidence}
    expected = {"genres", "moods", "instruments", "tempo_bpm", "key", "time_signature", "energy",
                "valence", "duration_s"}  # fmt: skip
    assert expected <= explained
    assert len(result.palette) >= 3 and all(
        c.startswith("#") and len(c) == 7 for c in result.palette
    )
    assert result.sections == [] and result.cuts_s == []
    MusicDescription.model_validate_json(result.model_dump_json())  # round-trips


def test_same_input_same_description(tmp_path: Path) -> None:
    path = save_image(photo(seed=9), tmp_path / "same.png")
    assert describe(path).model_dump() == describe(path).model_dump()


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".jpg", {"quality": 92}),
        (".png", {}),
        (".webp", {"quality": 92}),
        (".bmp", {}),
        (".tiff", {}),
    ],
)
def test_every_supported_image_format(tmp_path: Path, suffix: str, options: dict) -> None:
    image = photo(seed=2)
    reference = describe(save_image(image, tmp_path / "ref.png"))
    result = describe(save_image(image, tmp_path / f"img{suffix}", **options))
    assert result.source.kind == "image"
    assert abs(result.attributes.valence - reference.attributes.valence) < 0.05
    assert abs(result.attributes.energy - reference.attributes.energy) < 0.05


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    from PIL import Image

    pixels = (photo(width=240, height=120) * 255).astype("uint8")
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=90)
    result = describe(tmp_path / "rotated.jpg")
    assert (result.source.width, result.source.height) == (120, 240)


def test_context_blends_genre_instruments_and_mood(tmp_path: Path) -> None:
    path = save_image(photo(seed=4), tmp_path / "ctx.png")
    plain = describe(path)
    skate = describe(path, context="a skateboarding clip at the beach")
    wedding = describe(path, context="wedding, slow dance")
    assert skate.attributes.genres[0] == "punk rock"
    assert "overdriven guitar" in skate.attributes.instruments
    assert skate.attributes.energy > plain.attributes.energy
    assert wedding.attributes.time_signature == "3/4"
    assert "romantic" in wedding.attributes.moods
    assert wedding.attributes.tempo_bpm < skate.attributes.tempo_bpm
    assert any(e.rule.startswith("context 'skateboarding'") for e in skate.evidence)
    assert skate.source.context == "a skateboarding clip at the beach"


def test_bundled_example_image() -> None:
    from conftest import EXAMPLES

    result = describe(EXAMPLES / "harbour.jpg")
    assert result.source.kind == "image" and result.source.width == 960
    assert (EXAMPLES / "harbour.jpg").stat().st_size < 300_000
    assert 40 <= len(result.text.split()) <= 150
