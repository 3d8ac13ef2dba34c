"""The symbolic composer on its own: styles, form, harmony, determinism, musical sanity."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from vmb_agent.generation.checks import (
    melody_chord_or_scale_share,
    repeated_material,
    section_cadences,
)
from vmb_agent.generation.composer import arrange, compose
from vmb_agent.generation.cue import (
    EXPLICIT_TEMPO_DRIFT,
    LEAD_IN_MAX_S,
    TEMPO_DRIFT,
    TEMPO_STEP,
    CueMap,
    bar_lengths,
    choose_hits,
    plan_cue,
    sync_to_picture,
)
from vmb_agent.generation.form import Grid, plan_sections
from vmb_agent.generation.harmony import (
    Chord,
    match_chord,
    parse_chord_name,
    progression,
    roman_to_chord,
    voice_chord,
)
from vmb_agent.generation.styles import STYLES, normalize_style
from vmb_agent.rendering.outputs import midi_bytes
from vmb_agent.theory import Key, estimate_key, gm_program_to_instrument, parse_key
from vmb_agent.types import Conditions, Section


def conditions(style: str = "pop", **kw: object) -> Conditions:
    band = list(dict.fromkeys(p.instrument for p in STYLES[style].parts))
    values: dict = {"style": style, "tempo_bpm": 110, "key": "A minor", "instruments": band,
                        "duration_s": 20.0, "energy": 0.6, "valence": 0.5}  # fmt: skip
    values.update(kw)
    return Conditions(**values)


def test_roman_numerals_spell_chords_in_the_key() -> None:
    a_minor = parse_key("A minor")
    assert roman_to_chord("V", a_minor) == Chord(4, "maj")  # harmonic-minor dominant: E major
    assert roman_to_chord("iv", a_minor).name == "Dm"
    assert roman_to_chord("bVII", parse_key("C major")).name == "Bb"
    assert roman_to_chord("iiø7", a_minor).pitch_classes == [11, 2, 5, 9]
    assert [c.name for c in progression("I V vi IV", parse_key("G major"))] == ["G", "D", "Em", "C"]
    assert parse_chord_name("F#m7") == Chord(6, "m7")


def test_chord_and_key_recognition_from_profiles() -> None:
    profile = [0.0] * 12
    for pc in (9, 0, 4):  # A C E
        profile[pc] = 1.0
    assert match_chord(profile) == Chord(9, "min")
    c_major_scale = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]
    c_major_scale[0] = 3  # tonic weight
    assert estimate_key(c_major_scale)[0] == Key(0, "major")


def test_voice_leading_moves_little_and_stays_in_range() -> None:
    key = parse_key("C major")
    previous = None
    moves = []
    for chord in progression("I vi IV V I", key):
        voicing = voice_chord(chord, 52, 76, previous, 4)
        assert all(52 <= p <= 76 for p in voicing)
        assert {p % 12 for p in voicing} == set(chord.pitch_classes)
        if previous:
            moves.append(sum(abs(a - b) for a, b in zip(sorted(voicing), sorted(previous))))
        previous = voicing
    assert max(moves) <= 10  # common tones held, others move by step


def test_style_aliases_and_unknown_style() -> None:
    assert normalize_style("Lo-Fi Hip Hop") == "lofi"
    assert normalize_style("EDM") == "electronic"
    assert normalize_style("solo piano") == "piano"
    from vmb_agent.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Did you mean 'jazz'"):
        normalize_style("jaz")


def test_default_form_has_intro_themes_climax_outro_and_covers_every_bar() -> None:
    plan = plan_sections(40, 0.6, [], 2.0)
    roles = [s.role for s in plan]
    assert roles[0] == "intro" and roles[-1] == "outro" and "climax" in roles
    assert [s.material for s in plan].count("A") >= 2  # the theme returns
    assert sum(s.n_bars for s in plan) == 40
    assert all(a.end_bar == b.start_bar for a, b in itertools.pairwise(plan))
    climax = next(s for s in plan if s.role == "climax")
    assert climax.energy > plan[0].energy


@pytest.mark.parametrize(
    ("form", "letters", "labels"),
    [
        ("song", "ABABCB", ["verse", "chorus", "verse", "chorus", "bridge", "chorus"]),
        ("head", "AABA", ["A", "A", "B", "A"]),
        ("drop", "ABAAB", ["build", "drop", "breakdown", "build", "drop"]),
    ],
)
def test_style_forms_repeat_their_material(form: str, letters: str, labels: list[str]) -> None:
    """Verse/chorus/bridge, AABA heads, build/drop: the body cycles the form's letters."""
    n_sections = len(letters)
    plan = plan_sections(8 * n_sections + 4, 0.5, [], 2.0, form=form)
    body = [s for s in plan if s.role not in ("intro", "outro")]
    assert "".join(s.material for s in body) == letters
    assert [s.label for s in body] == labels
    assert body[-1].role == "climax"
    assert max(s.energy for s in body) - min(s.energy for s in body) >= 0.3  # builds and drops


def test_described_sections_become_bar_aligned_sections() -> None:
    sections = [Section(start_s=0, end_s=8, label="intro", energy=0.2),
                Section(start_s=8, end_s=20, label="build", energy=0.6),
                Section(start_s=20, end_s=30, label="climax", energy=0.9)]  # fmt: skip
    plan = plan_sections(15, 0.5, sections, bar_s=2.0)
    assert [(s.role, s.start_bar, s.n_bars) for s in plan] == [
        ("intro", 0, 4), ("contrast", 4, 6), ("climax", 10, 5)]  # fmt: skip
    assert [s.energy for s in plan] == [0.2, 0.6, 0.9]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_composes_a_sane_piece(style: str) -> None:
    c = conditions(style, duration_s=24.0)
    piece = compose(c, seed=7)
    pm = piece.midi
    present = {gm_program_to_instrument(i.program, i.is_drum) for i in pm.instruments if i.notes}
    assert set(c.instruments) <= present
    end = max(n.end for i in pm.instruments for n in i.notes)
    assert end <= 24.0 + 1e-6
    assert melody_chord_or_scale_share(piece) >= 0.95
    ok, total = section_cadences(piece)
    assert ok == total > 0
    # the piece ends on the tonic chord
    assert piece.chords[-1].cadence == "final"
    assert piece.chords[-1].chord.root == parse_key("A minor").tonic
    drums = [i for i in pm.instruments if i.is_drum]
    assert bool(drums) == any(p.role == "drums" for p in STYLES[style].parts)


def test_same_seed_same_midi_bytes_and_other_seed_differs() -> None:
    c = conditions("jazz", duration_s=15.0)
    assert midi_bytes(compose(c, seed=3).midi) == midi_bytes(compose(c, seed=3).midi)
    assert midi_bytes(compose(c, seed=3).midi) != midi_bytes(compose(c, seed=4).midi)


def test_themes_return_literally_and_melody_is_in_key() -> None:
    piece = compose(conditions("pop", duration_s=90.0, tempo_bpm=120), seed=11)
    assert [s.role for s in piece.sections].count("theme") >= 2
    assert repeated_material(piece) >= 0.5
    assert melody_chord_or_scale_share(piece) >= 0.95


@pytest.mark.parametrize("duration", [5.0, 7.3, 61.25])
def test_midi_ends_exactly_at_the_duration(duration: float) -> None:
    pm = compose(conditions("folk", duration_s=duration), seed=1).midi
    assert abs(pm.get_end_time() - duration) < 1e-3


def test_loop_has_no_final_chord_and_ends_on_the_dominant() -> None:
    piece = compose(conditions("electronic", duration_s=16.0, tempo_bpm=120, loop=True), seed=2)
    assert all(slot.cadence != "final" for slot in piece.chords)
    assert piece.chords[-1].chord.root == (parse_key("A minor").tonic + 7) % 12


def test_requested_instruments_get_roles_and_a_solo_piano_accompanies_itself() -> None:
    parts = arrange(STYLES["pop"], ["piano"])
    roles = {p.role for p in parts}
    assert roles >= {"melody", "bass"} and roles & {"chords", "arp"}
    assert {p.instrument for p in parts} == {"piano"}
    parts = arrange(STYLES["jazz"], ["flute", "cello", "drums", "piano"])
    roles = {p.instrument: p.role for p in parts}
    assert roles["drums"] == "drums" and roles["cello"] == "bass" and roles["flute"] == "melody"


def test_three_four_time_keeps_bars_of_three_beats() -> None:
    piece = compose(
        conditions("folk", time_signature="3/4", duration_s=18.0, tempo_bpm=120), seed=5
    )
    assert piece.beats_per_bar == 3
    assert piece.midi.time_signature_changes[0].numerator == 3
    assert all(
        abs((s.start_bar * 3) - s.start_bar * piece.beats_per_bar) < 1e-9 for s in piece.sections
    )


ISSUE_CUTS = [4.2, 11.0, 14.5, 23.5, 29.0, 36.2, 47.5]  # issue 12's 60 s clip


def _check_map(cue: CueMap, base: float, drift: float = TEMPO_DRIFT) -> None:
    """Limits every tempo map keeps: range, bar-to-bar steps, bars that join up, hits on bars."""
    assert np.all(np.abs(cue.tempo / base - 1) <= drift + 1e-9)
    assert np.all(np.abs(np.diff(cue.tempo)) / cue.tempo[:-1] <= TEMPO_STEP + 1e-9)
    ends = cue.start_s[:-1] + cue.beats[:-1] * 60.0 / cue.tempo[:-1]
    assert np.allclose(ends, cue.start_s[1:], atol=1e-6)
    assert all(cue.skip[b] == 0 and cue.start_s[b] == h for h, b in zip(cue.hits_s, cue.hit_bars))
    assert 0 <= cue.start_s[0] <= LEAD_IN_MAX_S + 1e-9


def test_the_cue_puts_every_cut_of_the_issue_clip_on_a_downbeat() -> None:
    cue = plan_cue(ISSUE_CUTS, 60.0, 90.3, 4)
    assert cue is not None and cue.hits_s == ISSUE_CUTS and not cue.accents_s
    _check_map(cue, 90.3)
    for hit, bar in zip(cue.hits_s, cue.hit_bars, strict=True):
        assert cue.time_at(bar * 4) == pytest.approx(hit, abs=1e-9)
        assert cue.beat_at(hit) == pytest.approx(bar * 4, abs=1e-6)


def test_random_cues_keep_their_limits_and_nearly_every_hit() -> None:
    rng = np.random.default_rng(3)
    candidates = kept = 0
    for _ in range(40):
        base = float(rng.uniform(60, 160))
        cuts = [float(c) for c in np.cumsum(rng.uniform(1.5, 12.0, size=10))]
        duration = cuts[-1] + float(rng.uniform(2.0, 10.0))
        bpb = int(rng.choice([3, 4]))
        cue = plan_cue(cuts, duration, base, bpb)
        hits, accents = choose_hits(cuts, duration, base, bpb)
        candidates += len(hits)
        kept += len(cue.hits_s)
        _check_map(cue, base)
        assert sorted(cue.hits_s + cue.accents_s) == sorted(hits + accents)
    assert kept >= 0.97 * candidates


def test_close_cuts_are_accents_not_sections() -> None:
    hits, accents = choose_hits([2.0, 2.5, 6.0], 12.0, 120.0, 4)  # a bar is 2 s
    assert hits == [2.0, 6.0] and accents == [2.5]


def test_an_explicit_tempo_bends_five_percent_at_most() -> None:
    cue = plan_cue(ISSUE_CUTS, 60.0, 90.0, 4, drift=EXPLICIT_TEMPO_DRIFT)
    assert cue is not None
    _check_map(cue, 90.0, EXPLICIT_TEMPO_DRIFT)
    assert len(cue.hits_s) >= 6


@pytest.mark.parametrize(("beats", "bars"), [
    (8, [4, 4]), (6, [4, 2]), (7, [4, 3]), (5, [3, 2]), (4.5, [2.5, 2]), (6.5, [4, 2.5]),
    (1, []),
])  # fmt: skip
def test_bar_lengths_insert_short_bars_only_where_full_bars_miss(beats, bars) -> None:
    assert bar_lengths(beats, 4) == bars


def test_the_tempo_map_and_meter_changes_are_in_the_midi(tmp_path: Path) -> None:
    c = conditions("pop", duration_s=60.0, tempo_bpm=90.3, cuts_s=ISSUE_CUTS)
    c = sync_to_picture(c, explicit_tempo=False)
    assert c.tempo_map is not None and c.tempo_map.hits_s == ISSUE_CUTS
    piece = compose(c, seed=2)
    path = tmp_path / "cue.mid"
    piece.midi.write(str(path))
    midi = pretty_midi.PrettyMIDI(str(path))
    _, tempi = midi.get_tempo_changes()
    assert (
        len(tempi) > 3 and tempi.min() >= 90.3 * 0.92 - 0.01 and tempi.max() <= 90.3 * 1.08 + 0.01
    )
    meters = {(t.numerator, t.denominator) for t in midi.time_signature_changes}
    assert (4, 4) in meters and len(meters) >= 2
    starts = np.array([n.start for i in midi.instruments for n in i.notes])
    for cut in ISSUE_CUTS:  # every hit has notes on it, to the millisecond, after the round trip
        assert np.sum(np.abs(starts - cut) < 0.001) >= 2
    assert starts.min() <= LEAD_IN_MAX_S + 1e-6  # the music starts with the picture


def test_sections_start_on_the_hits_and_differ_from_the_one_before() -> None:
    sections = [Section(start_s=a, end_s=b, label="verse", energy=0.5)
                for a, b in zip([0.0, *ISSUE_CUTS], [*ISSUE_CUTS, 60.0])]  # fmt: skip
    c = conditions("pop", duration_s=60.0, tempo_bpm=90.3, cuts_s=ISSUE_CUTS, sections=sections)
    piece = compose(sync_to_picture(c, explicit_tempo=False), seed=2)
    starts = {round(piece.beat_time(s.start_bar * 4), 6) for s in piece.sections}
    assert set(ISSUE_CUTS) <= starts
    for before, after in zip(piece.sections, piece.sections[1:]):
        assert before.material != after.material or abs(before.energy - after.energy) >= 0.099


def test_pickup_shifts_the_whole_piece() -> None:
    plain = compose(conditions("pop", duration_s=10.0, tempo_bpm=120), seed=1).midi
    shifted = compose(conditions("pop", duration_s=10.0, tempo_bpm=120, pickup_s=0.25), seed=1).midi
    first = min(n.start for i in plain.instruments for n in i.notes)
    first_shifted = min(n.start for i in shifted.instruments for n in i.notes)
    assert first_shifted >= first + 0.2
    assert max(n.end for i in shifted.instruments for n in i.notes) <= 10.0


@pytest.mark.parametrize("tempo", [60.0, 100.0, 137.0, 180.0])
def test_final_chord_rings_a_beat_and_075_s_at_least_and_little_more(tempo: float) -> None:
    for duration in (6.0, 8.0, 12.5, 20.0, 61.3):
        grid = Grid(tempo, 4, duration, loop=False)
        ring_beats = grid.total_beats - grid.final_beat
        minimum = max(1.0, 0.75 / grid.beat_s)
        assert ring_beats >= minimum - 1e-9, (duration, ring_beats)
        assert ring_beats < minimum + 4, (duration, ring_beats)  # never a whole spare bar
    # a 2-beat minimum gave 8 s at 100 BPM two bars and 3.2 s of held chord
    assert Grid(100.0, 4, 8.0, loop=False).n_body_bars == 3


def test_fast_music_without_drums_marks_every_beat_even_when_calm() -> None:
    c = conditions(
        "pop",
        instruments=["electric guitar", "piano", "synth strings"],
        tempo_bpm=180,
        duration_s=20.0,
        energy=0.2,
    )
    piece = compose(c, seed=3)
    beat_s = 60.0 / 180
    onsets = sorted(n.start / beat_s for i in piece.midi.instruments for n in i.notes)
    final = max(onsets)
    missing = [b for b in range(int(final)) if not any(abs(o - b) < 0.1 for o in onsets)]
    assert not missing, missing


def test_double_time_comping_goes_boom_chick_over_drums() -> None:
    """Folk at 170 BPM: the guitar's syncopated strum becomes a low note on 1 and 3 and the
    chord on 2 and 4; the kick plays 1 and 3 evenly."""
    piece = compose(conditions("folk", tempo_bpm=170, duration_s=20.0, energy=0.7), seed=2)
    beat_s = 60.0 / 170
    guitar = next(i for i in piece.midi.instruments if i.name.startswith("acoustic guitar"))
    by_beat: dict[int, list[int]] = {}
    for note in guitar.notes:
        beat = note.start / beat_s - piece.pickup_s / beat_s
        assert abs(beat - round(beat)) < 0.1, beat  # on the beat, nothing in between
        by_beat.setdefault(round(beat), []).append(note.pitch)
    body = [b for b in by_beat if b < 4 * 4]  # the first bars, before any ending
    assert body
    for beat in body:
        pitches = by_beat[beat]
        if beat % 2 == 0:
            assert len(pitches) == 1, (beat, pitches)  # boom: one low note
        else:
            assert len(pitches) >= 2 and min(pitches) > max(by_beat.get(beat - 1, [0]))  # chick
    drums = next(i for i in piece.midi.instruments if i.is_drum)
    kicks = [n for n in drums.notes if n.pitch == 36]
    kick_beats = {round(n.start / beat_s) % 4 for n in kicks}
    assert kick_beats <= {0, 2} and kick_beats == {0, 2}


def test_double_time_without_drums_puts_the_tune_on_every_beat() -> None:
    full_bars = {}
    for tempo in (140.0, 180.0):
        piece = compose(conditions("ambient", tempo_bpm=tempo, duration_s=32.0), seed=5)
        onsets = {round(n.start, 6) for n in piece.melody}  # in beats
        bars = range(int(min(onsets)) // 4, int(max(onsets)) // 4)
        full = [b for b in bars if all(4 * b + k in onsets for k in range(4))]
        full_bars[tempo] = len(full) / len(bars)
    # phrase ends (cadence bars) hold longer notes: a quarter of the bars
    assert full_bars[180.0] >= 0.6 and full_bars[140.0] <= 0.3, full_bars


def test_grid_exact_bars_and_final_chord() -> None:
    grid = Grid(120.0, 4, 30.0, loop=False)
    assert grid.n_body_bars == 14 and grid.final_beat == 56
    assert Grid(120.0, 4, 30.0, loop=True).n_body_bars == 15
