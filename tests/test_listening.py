"""Issue 11: the listening measures, the mix (gain staging, DC blocker) and what they say about
generated pieces."""

from __future__ import annotations

import numpy as np
import pytest

from vmb_agent.dsp import integrated_loudness
from vmb_agent.eval.listening import (
    bar_profiles,
    dc_offset,
    interval_shares,
    melody_line,
    repetition_share,
)
from vmb_agent.rendering.mix import ROLE_LEVEL_LU, staging_gain, track_roles

SR = 44100


def bars_midi(bars: list[list[int]], tempo: float = 120.0):
    """One bar per list: its pitches as quarter notes (4/4)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    track = pretty_midi.Instrument(0)
    beat = 60.0 / tempo
    for b, pitches in enumerate(bars):
        for k, pitch in enumerate(pitches):
            start = (4 * b + k) * beat
            track.notes.append(pretty_midi.Note(90, pitch, start, start + beat))
    pm.instruments.append(track)
    return pm


def test_repetition_share_counts_bars_that_repeat_an_earlier_one() -> None:
    a, b, c = [60, 64, 67, 64], [62, 65, 69, 65], [61, 66, 70, 63]
    assert repetition_share(bars_midi([a, b, a, b])) == pytest.approx(2 / 4)
    assert repetition_share(bars_midi([a, b, c, a, a])) == pytest.approx(2 / 5)
    # pitch-class content: the same notes an octave up (or reordered) repeat the bar
    assert repetition_share(bars_midi([a, [p + 12 for p in reversed(a)]])) == pytest.approx(1 / 2)
    assert repetition_share(bars_midi([a, b, c])) == 0.0


def test_bar_profiles_weigh_notes_by_their_time_inside_each_bar() -> None:
    import pretty_midi

    pm = bars_midi([[60, 60, 60, 60], [62, 62, 62, 62]])
    pm.instruments[0].notes.append(pretty_midi.Note(90, 67, 1.5, 2.5))  # over the barline
    profiles = bar_profiles(pm)
    assert profiles.shape == (2, 12)
    assert profiles[0, 7] == pytest.approx(0.5) and profiles[1, 7] == pytest.approx(0.5)
    assert profiles[0, 0] == pytest.approx(2.0)  # four quarter notes at 120 BPM


def test_interval_shares_steps_and_chromatic_tones() -> None:
    steps, chromatic = interval_shares([60, 62, 64, 64, 67, 65, 66], key_tonic=0, minor=False)
    assert steps == pytest.approx(4 / 5)  # 2, 2, (0 skipped), 3, 2, 1
    assert chromatic == pytest.approx(1 / 7)  # F#
    # in minor, the raised 6th and 7th belong to the mode
    assert interval_shares([69, 71, 72, 74, 76, 78, 80, 81], 9, True)[1] == 0.0


def test_melody_line_picks_the_high_monophonic_part() -> None:
    import pretty_midi

    pm = bars_midi([[72, 74, 76, 77], [79, 77, 76, 74]])
    chords = pretty_midi.Instrument(0)
    for k in range(8):
        for pitch in (48, 52, 55):
            chords.notes.append(pretty_midi.Note(70, pitch + 36, k * 0.5, k * 0.5 + 0.5))
    bass = pretty_midi.Instrument(33)
    bass.notes += [pretty_midi.Note(80, 36 + k % 3, k * 0.5, k * 0.5 + 0.5) for k in range(8)]
    pm.instruments += [chords, bass]
    assert melody_line(pm) == [72, 74, 76, 77, 79, 77, 76, 74]


def test_mastering_blocks_dc_and_keeps_the_music() -> None:
    from vmb_agent.rendering.master import MasterSettings, master, stem_chain

    t = np.arange(6 * SR) / SR
    tone = 0.2 * np.sin(2 * np.pi * 110 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    offset = np.stack([np.full_like(t, 0.05), np.full_like(t, -0.02)], axis=1)
    audio = (tone[:, None] + offset).astype(np.float32)
    settings = MasterSettings(reverb_wet=0.0)
    mastered, report = master(audio, SR, settings, keep_gain_curve=True)
    assert dc_offset(audio) == pytest.approx(0.05, abs=1e-3)
    assert dc_offset(mastered[SR:]) < 1e-3
    # linear before the gain curve: stems (the tone, the offset) still sum to the mix
    parts = [stem_chain(p.astype(np.float32), SR, settings, report)
             for p in (np.stack([tone, tone], axis=1), offset)]  # fmt: skip
    assert np.abs(parts[0] + parts[1] - mastered).max() < 1e-4


def test_staging_sets_each_role_at_its_level_whatever_the_fonts_level() -> None:
    t = np.arange(6 * SR) / SR
    quiet = (0.01 * np.sin(2 * np.pi * 440 * t))[:, None].repeat(2, axis=1).astype(np.float32)
    loud = (0.5 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, axis=1).astype(np.float32)
    melody = quiet * staging_gain(quiet, SR, "melody")
    bass = loud * staging_gain(loud, SR, "bass")
    difference = integrated_loudness(bass, SR) - integrated_loudness(melody, SR)
    assert difference == pytest.approx(ROLE_LEVEL_LU["bass"], abs=0.3)
    assert staging_gain(np.zeros((SR, 2), np.float32), SR, "pad") == 1.0  # silence stays


def test_track_roles_take_the_leading_role_of_a_shared_instrument() -> None:
    roles = track_roles([("arp", "piano"), ("melody", "piano"), ("bass", "piano"),
                         ("pad", "strings"), ("drums", "drums")])  # fmt: skip
    assert roles == {"piano": "melody", "strings": "pad", "drums": "drums"}


@pytest.mark.parametrize("style", ["pop", "jazz", "cinematic"])
def test_generated_pieces_repeat_balance_and_have_no_dc(tmp_path, vmb_home, style: str) -> None:
    """A 40 s piece: bars return, requested instruments sit within 12 dB, no DC, -14 LUFS."""
    from vmb_agent import VMB
    from vmb_agent.eval.listening import measure_mix

    result = VMB().generate(None, overrides={"style": style, "duration_s": 40}, seed=5,
                            stems=True, out_dir=tmp_path)  # fmt: skip
    assert repetition_share(result.midi_path) >= 0.5
    mix = measure_mix(result.audio_path, result.stems)
    assert mix.dc_offset <= 0.001
    assert mix.stem_spread_db <= 12.0
    assert len(mix.stem_levels_lufs) == len(result.requested.instruments)
    assert result.measured.loudness_lufs == pytest.approx(-14.0, abs=1.0)
