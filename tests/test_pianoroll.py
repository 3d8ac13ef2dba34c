"""The piano-roll PNG: one colour per instrument family in every file, a time axis in bars from
the tempo map (uneven bars when scored to picture), section labels, cut markers and a legend."""

from __future__ import annotations

import colorsys
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest
from conftest import REPO
from PIL import Image

from vmb_agent.generation.composer import compose
from vmb_agent.generation.conditions import resolve_conditions
from vmb_agent.generation.cue import sync_to_picture
from vmb_agent.generation.styles import STYLES
from vmb_agent.rendering.outputs import (
    DRUM_COLOUR,
    FAMILY_COLOURS,
    draw_piano_roll,
    instrument_colour,
    roll_timeline,
    time_to_x,
)
from vmb_agent.theory import INSTRUMENTS
from vmb_agent.types import GenerationOverrides, MusicAttributes, MusicDescription, SourceInfo

CUT_COLOUR = (255, 236, 120)
WIDTH, HEIGHT = 1400, 520


def midi_with(names: list[str], seconds: float = 4.0) -> pretty_midi.PrettyMIDI:
    """One track per instrument, named as the composer names them, a few notes each."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    for i, name in enumerate(names):
        program = INSTRUMENTS[name]
        track = pretty_midi.Instrument(program=max(program, 0), is_drum=program < 0, name=name)
        for k in range(int(seconds * 2)):
            pitch = 36 if program < 0 else 48 + 5 * i + k % 5
            track.notes.append(pretty_midi.Note(100, pitch, k * 0.5, k * 0.5 + 0.4))
        midi.instruments.append(track)
    return midi


def colours_in(path: Path) -> set[tuple[int, int, int]]:
    with Image.open(path) as image:
        return {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}


def hue(rgb: tuple[int, int, int]) -> float:
    return colorsys.rgb_to_hls(*(c / 255 for c in rgb))[0] * 360


def hue_gap(a: float, b: float) -> float:
    return min(abs(a - b), 360 - abs(a - b))


def scored_piece(cuts: list[float], duration: float):
    """A piece scored to a video with hard cuts: conditions with a tempo map, then composed."""
    description = MusicDescription(
        text="a tense chase at night",
        attributes=MusicAttributes(tempo_bpm=96, key="D minor", duration_s=duration),
        source=SourceInfo(kind="video", duration_s=duration), cuts_s=cuts,
    )  # fmt: skip
    conditions = resolve_conditions(description, None, GenerationOverrides(style="cinematic"),
                                    video_duration_s=duration)  # fmt: skip
    conditions = sync_to_picture(conditions, explicit_tempo=False)
    return conditions, compose(conditions, seed=3, material=None)


def test_an_instrument_has_the_same_colour_in_every_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    draw_piano_roll(first, midi_with(["violin", "piano", "drums"]), 4.0)
    draw_piano_roll(second, midi_with(["bass", "flute", "piano", "cello", "violin"]), 4.0)
    in_first, in_second = colours_in(first), colours_in(second)
    for name in ("violin", "piano"):  # the legend swatch carries the exact colour
        colour = instrument_colour(INSTRUMENTS[name])
        assert colour in in_first and colour in in_second, name
    assert DRUM_COLOUR in in_first
    # track order does not decide colours (it used to: the first track was always red)
    assert instrument_colour(INSTRUMENTS["bass"]) != instrument_colour(INSTRUMENTS["violin"])


def test_one_hue_per_family_and_families_apart() -> None:
    by_family: dict[int, list[float]] = {}
    for program in range(128):
        by_family.setdefault(program // 8, []).append(hue(instrument_colour(program)))
    for family, hues in by_family.items():
        base = hue(FAMILY_COLOURS[family][1])
        assert all(hue_gap(h, base) <= 16.5 for h in hues), FAMILY_COLOURS[family][0]
    # the hues of the families a band mixes most are far apart
    for a, b in (("piano", "bass"), ("strings", "ensemble"), ("guitar", "bass"),
                 ("reed", "piano"), ("brass", "strings")):  # fmt: skip
        families = dict(FAMILY_COLOURS)
        assert hue_gap(hue(families[a]), hue(families[b])) >= 40, (a, b)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_instruments_that_play_together_are_told_apart(style: str) -> None:
    """In every style's band, any two pitched instruments differ clearly (RGB distance)."""
    band = [p.instrument for p in STYLES[style].parts if p.instrument != "drums"]
    for a, b in itertools.combinations(dict.fromkeys(band), 2):
        ca, cb = instrument_colour(INSTRUMENTS[a]), instrument_colour(INSTRUMENTS[b])
        distance = sum((x - y) ** 2 for x, y in zip(ca, cb, strict=True)) ** 0.5
        assert distance >= 70, (style, a, b, ca, cb)


def test_a_plain_piece_has_bars_from_its_tempo_and_labelled_sections(tmp_path: Path) -> None:
    conditions = resolve_conditions(None, None, GenerationOverrides(style="folk", duration_s=40,
                                                                    tempo_bpm=120))  # fmt: skip
    composition = compose(conditions, seed=1, material=None)
    timeline = roll_timeline(composition, conditions)
    bar_s = 4 * 60 / 120
    gaps = [b - a for a, b in itertools.pairwise(timeline.bar_starts_s)]
    assert gaps and all(g == pytest.approx(bar_s) for g in gaps)
    assert timeline.bar_starts_s[-1] < 40 <= timeline.bar_starts_s[-1] + bar_s + 1e-6
    assert len(timeline.sections) == len(composition.sections) > 1
    assert all(label for _, label in timeline.sections)
    assert timeline.cuts_s == [] and "folk" in timeline.title and "120 BPM" in timeline.title
    assert set(timeline.roles) == {p.instrument for p in composition.parts}
    png = tmp_path / "plain.png"
    draw_piano_roll(png, composition.midi, composition.duration_s, timeline=timeline)
    assert CUT_COLOUR not in colours_in(png)  # no video, no cut markers


def test_a_scored_roll_marks_every_cut_over_uneven_bars(tmp_path: Path) -> None:
    cuts = [4.1, 9.7, 13.2, 18.5]
    conditions, composition = scored_piece(cuts, 24.0)
    timeline = roll_timeline(composition, conditions)
    # bars come from the tempo map: each cut that starts a section is a bar's downbeat, and
    # the bars bend to get there (not one bar length)
    assert timeline.bar_starts_s == [bar.start_s for bar in conditions.tempo_map.bars]
    assert timeline.hits_s == conditions.tempo_map.hits_s and timeline.hits_s
    for hit in timeline.hits_s:
        assert min(abs(hit - b) for b in timeline.bar_starts_s) < 1e-3
    gaps = [b - a for a, b in itertools.pairwise(timeline.bar_starts_s)]
    assert max(gaps) - min(gaps) > 0.05
    assert "4 cuts" in timeline.title
    png = tmp_path / "scored.png"
    draw_piano_roll(png, composition.midi, composition.duration_s, timeline=timeline)
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (WIDTH, HEIGHT)
        for cut in cuts:
            x = round(time_to_x(cut, composition.duration_s, WIDTH))
            # the marker's triangle at the top and its line through the roll
            assert rgb.getpixel((x, 21)) == CUT_COLOUR, cut
            assert rgb.getpixel((x, HEIGHT // 2)) == CUT_COLOUR, cut


def test_a_cut_that_is_not_a_section_start_is_drawn_dashed(tmp_path: Path) -> None:
    from vmb_agent.rendering.outputs import RollTimeline

    timeline = RollTimeline(bar_starts_s=[0.0, 2.0], cuts_s=[1.0, 3.0], hits_s=[3.0],
                            sections=[(0.0, "intro"), (3.0, "theme")])  # fmt: skip
    png = tmp_path / "dashed.png"
    draw_piano_roll(png, midi_with(["piano"]), 4.0, timeline=timeline)
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        column = [rgb.getpixel((round(time_to_x(1.0, 4.0, WIDTH)), y)) for y in range(40, 400)]
        solid = [rgb.getpixel((round(time_to_x(3.0, 4.0, WIDTH)), y)) for y in range(40, 400)]
    assert 0.3 < column.count(CUT_COLOUR) / len(column) < 0.8  # dashes: gaps between
    assert solid.count(CUT_COLOUR) == len(solid)


def test_drawing_is_fast_and_imports_no_matplotlib(tmp_path: Path) -> None:
    """Ten minutes of dense music draws in well under a second, without matplotlib."""
    script = f"""
import json, sys, time
from pathlib import Path
from vmb_agent.generation.composer import compose
from vmb_agent.generation.conditions import resolve_conditions
from vmb_agent.rendering.outputs import draw_piano_roll, roll_timeline
from vmb_agent.types import GenerationOverrides
c = resolve_conditions(None, None, GenerationOverrides(style="electronic", duration_s=600))
piece = compose(c, seed=1, material=None)
start = time.perf_counter()
draw_piano_roll(Path({str(tmp_path / "long.png")!r}), piece.midi, piece.duration_s,
                timeline=roll_timeline(piece, c))
print(json.dumps({{"seconds": time.perf_counter() - start,
                  "matplotlib": "matplotlib" in sys.modules,
                  "notes": sum(len(i.notes) for i in piece.midi.instruments)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=True)  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["notes"] > 5000 and not figures["matplotlib"]
    assert figures["seconds"] < 1.0, figures  # ~0.07 s measured; 2-core CI headroom
    assert (tmp_path / "long.png").stat().st_size < 2 * 1024**2  # inlined into MCP results
