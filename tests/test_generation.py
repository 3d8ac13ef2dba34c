"""End-to-end generation: conditions with provenance, references, outputs, video, errors, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vmb_agent.errors import InputError, OutOfRangeError, UnknownNameError, VMBError
from vmb_agent.generation import generate_music, resolve_conditions
from vmb_agent.generation.composer import compose
from vmb_agent.generation.references import analyze_reference, blend
from vmb_agent.rendering.outputs import write_wav
from vmb_agent.settings import get_settings
from vmb_agent.theory import gm_program_to_instrument
from vmb_agent.types import (
    Conditions,
    GenerationOverrides,
    MusicAttributes,
    MusicDescription,
    Section,
    SourceInfo,
    TrackInfo,
)

REPO = Path(__file__).resolve().parents[1]


def description(**attrs: object) -> MusicDescription:
    return MusicDescription(
        text="A calm nostalgic piano piece for a rainy evening, soft and slow.",
        attributes=MusicAttributes(**attrs),
        source=SourceInfo(kind="text"),
    )


def run(tmp_path: Path, desc: MusicDescription | None = None, refs: list[TrackInfo] | None = None,
        video: Path | None = None, stems: bool = False, seed: int = 1, **overrides: object):  # fmt: skip
    return generate_music(
        desc, refs or [], GenerationOverrides(**overrides), seed=seed, out_dir=tmp_path,
        stems=stems, video_path=video, settings=get_settings(),
    )  # fmt: skip


def midi_reference(tmp_path: Path, **kw: object) -> TrackInfo:
    values: dict = {"style": "jazz", "tempo_bpm": 132, "key": "D minor", "instruments": ["piano", "acoustic bass"],
                        "duration_s": 16.0, "energy": 0.7, "valence": 0.4}  # fmt: skip
    values.update(kw)
    piece = compose(Conditions(**values), seed=5)
    path = tmp_path / "reference.mid"
    piece.midi.write(str(path))
    return TrackInfo(id="ref-midi", title="ref", path=str(path), format="midi", genres=["jazz"])


# -- conditions ------------------------------------------------------------------------------


def test_precedence_override_then_description_then_reference_then_default(tmp_path: Path) -> None:
    ref = midi_reference(tmp_path)
    desc = description(genres=["cinematic"], tempo_bpm=90, energy=0.4)
    c = resolve_conditions(desc, [ref], GenerationOverrides(key="E major", duration_s=12))
    assert (c.key, c.origins["key"]) == ("E major", "override")
    assert (c.tempo_bpm, c.origins["tempo_bpm"]) == (90, "description")
    assert (c.style, c.origins["style"]) == ("cinematic", "description")
    assert (c.duration_s, c.origins["duration_s"]) == (12, "override")
    assert c.reference_ids == ["ref-midi"]
    only_ref = resolve_conditions(None, [ref], GenerationOverrides())
    assert only_ref.origins["tempo_bpm"] == "reference" and abs(only_ref.tempo_bpm - 132) < 1.5
    assert only_ref.key == "D minor" and only_ref.origins["key"] == "reference"
    assert only_ref.style == "jazz" and only_ref.origins["style"] == "reference"
    assert only_ref.chords and only_ref.origins["chords"] == "reference"
    # the groove and the motif are conditions too: the jazz reference swings and has a tune
    assert only_ref.swing is not None and only_ref.swing > 0.55
    assert only_ref.origins["swing"] == "reference"
    assert only_ref.melody_density and only_ref.origins["melody_density"] == "reference"
    assert only_ref.motif_source == "ref-midi" and only_ref.origins["motif_source"] == "reference"
    bare = resolve_conditions(None, None, GenerationOverrides(), seed=3)
    assert all(bare.origins[f] == "default"
               for f in ("style", "tempo_bpm", "key", "duration_s", "swing"))  # fmt: skip
    assert bare.melody_density is None and bare.motif_source is None


def test_swing_override_moves_the_off_beat_eighths() -> None:
    def off_beats(swing: float | None) -> dict[float, int]:
        c = resolve_conditions(None, None, GenerationOverrides(
            style="rock", tempo_bpm=100, duration_s=12, swing=swing))  # fmt: skip
        assert c.origins["swing"] == ("override" if swing else "default")
        piece = compose(c, seed=3)
        beat_s = 60.0 / 100
        fractions: dict[float, int] = {}
        for inst in piece.midi.instruments:
            for note in inst.notes:
                frac = round((note.start / beat_s) % 1.0, 2)
                fractions[frac] = fractions.get(frac, 0) + 1
        return fractions

    straight, swung = off_beats(None), off_beats(0.66)
    assert straight.get(0.5, 0) > 20 and swung.get(0.5, 0) < straight[0.5] / 4
    assert swung.get(0.66, 0) > 20


def test_style_from_moods_and_instruments_merge_into_the_band() -> None:
    c = resolve_conditions(description(genres=["lo-fi"], moods=["chill"], instruments=["cello"]),
                           None, GenerationOverrides())  # fmt: skip
    assert c.style == "lofi" and "cello" in c.instruments and "drums" in c.instruments
    exact = resolve_conditions(
        None, None, GenerationOverrides(style="rock", instruments=["Grand Piano", "sax"])
    )
    assert (
        exact.instruments == ["piano", "saxophone"] and exact.origins["instruments"] == "override"
    )


@pytest.mark.parametrize(
    ("overrides", "error", "pattern"),
    [
        ({"style": "jaz"}, UnknownNameError, "Did you mean 'jazz'"),
        ({"instruments": ["ukelele"]}, UnknownNameError, "Did you mean 'ukulele'"),
        ({"key": "H minor"}, InputError, "cannot parse key 'H minor'"),
        ({"time_signature": "7/8"}, UnknownNameError, "Allowed: 2/4, 3/4, 4/4"),
        ({"instruments": []}, OutOfRangeError, "at least one instrument"),
    ],
)
def test_bad_overrides_are_one_line_errors(
    tmp_path: Path, overrides: dict, error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern) as info:
        run(tmp_path, **overrides)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_out_of_range_values_never_reach_the_composer(tmp_path: Path) -> None:
    from vmb_agent.generation.conditions import check_overrides

    too_fast = GenerationOverrides.model_construct(tempo_bpm=500.0)
    with pytest.raises(OutOfRangeError, match="30 to 300"):
        check_overrides(too_fast)
    with pytest.raises(OutOfRangeError, match="600"):
        check_overrides(GenerationOverrides.model_construct(duration_s=0.0))


# -- references ------------------------------------------------------------------------------


def test_midi_reference_gives_tempo_key_chords_groove_motif(tmp_path: Path) -> None:
    features = analyze_reference(midi_reference(tmp_path))
    assert features.tempo_bpm == pytest.approx(132, abs=0.5)
    assert features.key is not None and features.key.name == "D minor"
    assert features.time_signature == "4/4"
    assert len(features.chords) >= 4
    assert features.swing is not None and features.swing > 0.55  # jazz swings
    assert features.motif is not None and all(len(c) >= 3 for c in features.motif.cells)
    assert "piano" in features.instruments


def test_audio_reference_gives_chords_and_energy_curve(tmp_path: Path) -> None:
    from vmb_agent.rendering.synth import render_midi

    piece = compose(Conditions(style="pop", tempo_bpm=120, key="G major", instruments=["piano", "bass"],
                               duration_s=16.0, energy=0.6, valence=0.7), seed=2)  # fmt: skip
    wav = tmp_path / "ref.wav"
    write_wav(wav, render_midi(piece.midi, n_samples=16 * 44100) * 0.5, 44100, 16)
    track = TrackInfo(id="ref-audio", title="ref", path=str(wav), format="audio", tempo_bpm=120,
                      key="G major", energy=0.6)  # fmt: skip
    features = analyze_reference(track)
    assert features.key is not None and features.key.name == "G major"
    assert len(features.chords) >= 4
    diatonic = {0, 2, 4, 5, 7, 9, 11}
    assert sum((c.root - 7) % 12 in diatonic for c in features.chords) >= len(features.chords) - 1
    assert len(features.energy_curve) == 8 and max(features.energy_curve) == 1.0


def test_blending_weights_and_octave_folding(tmp_path: Path) -> None:
    a = analyze_reference(midi_reference(tmp_path))
    b = analyze_reference(midi_reference(tmp_path, tempo_bpm=66, key="F major", style="folk"))
    blended = blend([a, b], weights=[3.0, 1.0])
    assert blended is not None
    assert blended.key is not None and blended.key.name == "D minor"  # heavier vote wins
    assert 125 < blended.tempo_bpm < 133  # 66 BPM folds to 132 before averaging
    with pytest.raises(InputError, match="weights"):
        blend([a, b], weights=[1.0])


def test_reference_weights_steer_the_blend_and_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    slow = midi_reference(tmp_path / "a", tempo_bpm=80, key="F major", style="folk")
    fast = midi_reference(tmp_path / "b", tempo_bpm=150, key="D minor")
    slow = slow.model_copy(update={"id": "slow"})
    fast = fast.model_copy(update={"id": "fast"})
    for weights, key in (([1.0, 4.0], "D minor"), ([4.0, 1.0], "F major")):
        c = resolve_conditions(None, blend([analyze_reference(slow), analyze_reference(fast)],
                                           weights), GenerationOverrides(duration_s=8))  # fmt: skip
        assert c.key == key and c.origins["key"] == "reference"
        assert c.reference_ids == ["slow", "fast"]
        assert c.reference_weights == [w / 5 for w in weights]
    by_rank = resolve_conditions(None, [slow, fast], GenerationOverrides(duration_s=8))
    assert by_rank.reference_weights == pytest.approx([2 / 3, 1 / 3], abs=1e-4)
    result = generate_music(None, [slow, fast], GenerationOverrides(duration_s=6), seed=1,
                            reference_weights=[0.0, 1.0], out_dir=tmp_path / "o", stems=False,
                            video_path=None, settings=get_settings())  # fmt: skip
    assert result.requested.key == "D minor" and result.requested.reference_weights == [0.0, 1.0]


def test_energy_the_description_never_set_comes_from_the_references(tmp_path: Path) -> None:
    import dataclasses

    features = analyze_reference(midi_reference(tmp_path))
    blended = blend([dataclasses.replace(features, energy=0.9)])
    silent = description(genres=["jazz"])  # energy and valence left at the model's default
    c = resolve_conditions(silent, blended, GenerationOverrides())
    assert (c.energy, c.origins["energy"]) == (0.9, "reference")
    assert c.origins["valence"] == "default"
    said = resolve_conditions(description(genres=["jazz"], energy=0.2), blended, GenerationOverrides())
    assert (said.energy, said.origins["energy"]) == (0.2, "description")


def test_unreadable_reference_is_left_out_with_a_warning(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06junk")
    result = run(tmp_path / "out", refs=[TrackInfo(id="bad", title="bad", path=str(bad),
                                                   format="midi")])  # fmt: skip
    assert any("reference 'bad' not used" in w for w in result.warnings)
    assert result.requested.reference_ids == []


# -- the full path ---------------------------------------------------------------------------


def test_generate_writes_exact_mastered_outputs(tmp_path: Path) -> None:
    import pretty_midi
    import soundfile

    result = run(tmp_path, stems=True, style="pop", tempo_bpm=120, key="C major", duration_s=7.5,
                 instruments=["piano", "bass", "drums", "flute"])  # fmt: skip
    info = soundfile.info(result.audio_path)
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, int(7.5 * 44100))
    assert result.duration_s == pytest.approx(7.5, abs=0.01)
    m = result.measured
    assert m.loudness_lufs == pytest.approx(-14.0, abs=1.0) and m.true_peak_dbtp <= -1.0
    # measured on the audio as written (the end fade included), not before it
    from vmb_agent.dsp import integrated_loudness
    from vmb_agent.rendering.master import true_peak_dbtp

    written, _ = soundfile.read(result.audio_path, dtype="float32")
    assert integrated_loudness(written, 44100) == pytest.approx(m.loudness_lufs, abs=0.02)
    assert true_peak_dbtp(written) == pytest.approx(m.true_peak_dbtp, abs=0.02)
    assert m.tempo_bpm == pytest.approx(120, rel=0.02)
    assert m.key == "C major"
    pm = pretty_midi.PrettyMIDI(result.midi_path)
    present = {gm_program_to_instrument(i.program, i.is_drum) for i in pm.instruments if i.notes}
    assert present == {"piano", "bass", "drums", "flute"}
    assert len(result.stems) == 4 and all(Path(s).is_file() for s in result.stems)
    # the stems go through the mix's reverb and then the mix's own gains: they sum to the mix
    summed = sum(soundfile.read(s, dtype="float64")[0] for s in result.stems)
    mix = soundfile.read(result.audio_path, dtype="float64")[0]
    residual = np.sqrt(np.mean((summed - mix) ** 2) / np.mean(mix**2))
    assert residual < 1e-4, residual  # below -80 dB: 24-bit rounding
    assert Path(result.piano_roll_path).is_file()
    assert {"compose", "render", "master", "measure", "write", "total"} <= set(result.timings)
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_same_seed_same_midi_bytes_through_the_pipeline(tmp_path: Path) -> None:
    a = run(tmp_path, seed=42, style="chiptune", duration_s=5)
    b = run(tmp_path, seed=42, style="chiptune", duration_s=5)
    assert a.midi_path != b.midi_path  # unique names
    assert Path(a.midi_path).read_bytes() == Path(b.midi_path).read_bytes()
    import soundfile

    assert np.array_equal(soundfile.read(a.audio_path)[0], soundfile.read(b.audio_path)[0])


def test_loop_is_exact_and_seamless(tmp_path: Path) -> None:
    import soundfile

    result = run(tmp_path, style="electronic", tempo_bpm=124, duration_s=8, loop=True)
    audio, _ = soundfile.read(result.audio_path)
    assert audio.shape[0] == 8 * 44100
    bars = 8 * result.requested.tempo_bpm / 60 / 4
    assert abs(bars - round(bars)) < 1e-6  # whole bars: the meter runs on across the repeat
    assert result.requested.tempo_bpm == 120 and result.requested.origins["tempo_bpm"] == "loop"
    waltz = resolve_conditions(None, None, GenerationOverrides(
        duration_s=10, tempo_bpm=100, time_signature="3/4", loop=True))  # fmt: skip
    assert waltz.tempo_bpm == pytest.approx(108) and waltz.origins["tempo_bpm"] == "loop"
    fits = resolve_conditions(None, None, GenerationOverrides(duration_s=8, tempo_bpm=120, loop=True))
    assert fits.tempo_bpm == 120 and fits.origins["tempo_bpm"] == "override"
    # no fade-out: the end is as loud as the start (it runs straight back into it)
    tail = np.sqrt(np.mean(audio[-4410:] ** 2))
    assert tail > 0.1 * np.sqrt(np.mean(audio**2))


def test_description_sections_and_cuts_drive_form_and_tempo(tmp_path: Path) -> None:
    desc = description(genres=["cinematic"], tempo_bpm=100, energy=0.6)
    desc = desc.model_copy(update={
        "sections": [Section(start_s=0, end_s=4.8, label="intro", energy=0.3),
                     Section(start_s=4.8, end_s=12, label="climax", energy=0.9)],
        "cuts_s": [2.3077, 4.6154, 9.2308],  # downbeats at 104 BPM; 100 BPM is asked
        "source": SourceInfo(kind="video", duration_s=12.0),
    })  # fmt: skip
    result = run(tmp_path, desc)
    c = result.requested
    assert c.origins["duration_s"] == "description" and c.duration_s == 12.0
    assert c.origins["sections"] == "description" and c.origins["cuts_s"] == "video"
    # the base tempo stays the asked one; the tempo map bends it (within +-8 %) to set the hits
    assert c.tempo_bpm == 100 and c.origins["tempo_map"] == "video"
    tempo_map = result.tempo_map
    assert tempo_map is not None and 92 <= tempo_map.min_bpm <= tempo_map.max_bpm <= 108
    # 4.6154 s comes less than a bar after the 2.3077 s hit: an accent, not a new section
    assert tempo_map.hits_s == [2.3077, 9.2308]
    hits = [a for a in result.cut_alignment if a.hit]
    assert [a.cut_s for a in hits] == tempo_map.hits_s
    # measured in the rendered audio: each hit's onset within a 30 fps frame of its cut
    assert all(a.measured and a.on_downbeat and abs(a.error_ms) < 1000 / 30 for a in hits)
    accent = next(a for a in result.cut_alignment if not a.hit)
    assert abs(accent.error_ms) < 0.5 * 60_000 / tempo_map.min_bpm


def test_video_is_scored_with_the_stream_copied(tmp_path: Path) -> None:
    import av

    from tests.test_rendering import make_video

    video = make_video(tmp_path / "clip.mp4", 3.0)
    out = tmp_path / "out"
    result = run(out, video=video, style="ambient")
    assert result.requested.duration_s == pytest.approx(3.0, abs=0.1)
    assert result.requested.origins["duration_s"] == "video"
    with av.open(result.video_path) as scored:
        assert scored.streams.video[0].codec_context.name == "h264"
        assert scored.streams.audio[0].codec_context.name == "aac"


def test_video_without_video_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    wav = tmp_path / "sound.wav"
    write_wav(wav, np.zeros((44100, 2), np.float32), 44100, 16)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="no video stream"):
        run(out, video=wav)
    assert not out.exists() or list(out.iterdir()) == []


# scipy.signal (with scipy.stats) costs 0.6-0.9 s to import, scipy.ndimage ~0.4 s:
# vmb_agent.dsp replaces them here
def test_generation_path_does_not_import_torch_chromadb_or_slow_scipy(tmp_path: Path) -> None:
    code = (
        "import sys, tempfile; from pathlib import Path;"
        "from vmb_agent.generation import generate_music; from vmb_agent.settings import get_settings;"
        "from vmb_agent.types import GenerationOverrides as O;"
        "generate_music(None, [], O(style='folk', duration_s=5), seed=1, out_dir=Path(sys.argv[1]),"
        " stems=False, video_path=None, settings=get_settings());"
        "print(sorted(m for m in ('torch', 'chromadb', 'music21', 'librosa', 'scipy.signal',"
        " 'scipy.ndimage', 'scipy.stats', 'pyloudnorm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         cwd=REPO, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- CLI -------------------------------------------------------------------------------------


def vmb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vmb_agent", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)  # fmt: skip


def test_cli_generate_json_and_readable(tmp_path: Path, vmb_home: Path) -> None:
    out = vmb("generate", "--style", "folk", "--duration", "5", "--seed", "3", "--key", "G",
              "--out", str(tmp_path), "--json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["requested"]["key"] == "G major" and data["seed"] == 3
    assert Path(data["audio_path"]).is_file()
    readable = vmb(
        "generate", "--style", "piano", "--duration", "5", "--out", str(tmp_path), cwd=tmp_path
    )
    assert readable.returncode == 0, readable.stderr
    assert (
        "requested" in readable.stdout
        and "measured" in readable.stdout
        and ".wav" in readable.stdout
    )


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--tempo", "500"], "tempo=500.0 is out of range"),
        (["--duration", "0"], "duration_s=0 is out of range; allowed: 0.5 to 600 s"),
        (["--duration", "601"], "duration_s=601 is out of range; allowed: 0.5 to 600 s"),
        (["--time-signature", "foo"], "unknown time signature 'foo'. Allowed: 2/4, 3/4, 4/4"),
        (["--reference", "nope"], "no track with id 'nope'"),
        (["--reference", "abc:heavy"], "the weight 'heavy' is not a number"),
        (["--reference", "a:1", "--reference", "b:-1"], "one non-negative number per reference"),
        (["--loop", "--duration", "0.6", "--tempo", "60"], "whole bars"),
        (["--style", "polka"], "unknown style 'polka'. Did you mean 'folk'? Allowed: ambient, "),
        (["--instruments", "kazoo"], "unknown instrument 'kazoo'"),
        (["--key", "Q"], "cannot parse key"),
        (["--description", "missing.json"], "description file not found"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, vmb_home: Path, args: list[str], pattern: str
) -> None:
    out = vmb("generate", *args, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and pattern in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_cli_generate_into_a_video_with_swing(tmp_path: Path, vmb_home: Path) -> None:
    from tests.test_rendering import make_video

    video = make_video(tmp_path / "clip.mp4", 3.0)
    out = vmb("generate", "--style", "jazz", "--swing", "0.6", "--video", str(video), "--seed", "2",
              "--out", str(tmp_path / "o"), "--json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["requested"]["swing"] == 0.6 and data["requested"]["origins"]["swing"] == "override"
    assert data["duration_s"] == pytest.approx(3.0, abs=0.01)  # the video's length
    assert Path(data["video_path"]).is_file() and Path(data["video_path"]).suffix == ".mp4"


def test_cli_score_refuses_a_video_without_pictures_and_a_bad_style(
    tmp_path: Path, vmb_home: Path
) -> None:
    from tests.test_rendering import make_audio_only_mp4, make_video

    sound = make_audio_only_mp4(tmp_path / "sound.mp4")
    video = make_video(tmp_path / "clip.mp4", 2.0)
    for args, pattern in [
        ([str(sound)], "no video stream"),
        ([str(video), "--style", "polka"], "Did you mean 'folk'"),
    ]:
        out = vmb("score", *args, "--out", str(tmp_path / "o"), cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.startswith("error: "), out.stderr
        assert pattern in out.stderr and out.stderr.count("\n") == 1
        assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


# -- the SDK: the same checks, the same one-line errors ----------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        ({"overrides": {"tempo_bpm": 400}}, OutOfRangeError, "tempo_bpm=400 is out of range; allowed: 30 to 300"),
        ({"overrides": {"duration_s": 0.3}}, OutOfRangeError, "allowed: 0.5 to 600"),
        ({"overrides": {"time_signature": "5/4"}}, UnknownNameError, "Allowed: 2/4, 3/4, 4/4"),
        ({"overrides": {"colour": "red"}}, InputError, "unknown field 'colour' (allowed: style, "),
        ({"description": {"text": 5}}, InputError, "description: text=5"),
        ({"reference_ids": ["no-such-track"]}, VMBError, "no track with id 'no-such-track'"),
        ({"reference_weights": [1.0]}, InputError, "reference_weights needs reference_ids"),
        ({"reference_ids": ["a", "b"], "reference_weights": [1.0]}, InputError, "do not fit 2"),
        ({"reference_ids": ["a"], "reference_weights": [float("nan")]}, InputError, "non-negative"),
    ],
)  # fmt: skip
def test_sdk_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, vmb_home: Path, call: dict, error: type, pattern: str
) -> None:
    from vmb_agent.sdk import VMB

    call = {"description": "calm piano", **call}
    with pytest.raises(error) as info:
        VMB().generate(call.pop("description"), out_dir=tmp_path / "o", **call)
    assert pattern in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_sdk_score_checks_overrides_before_reading_the_video(tmp_path: Path, vmb_home: Path) -> None:
    """A bad style is reported at once, not after the video's analysis (here: the "video" is
    not one at all, and the style error still comes first)."""
    from vmb_agent.sdk import VMB

    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(b"\x00" * 4096)
    with pytest.raises(UnknownNameError, match="Did you mean 'jazz'"):
        VMB().score(corrupt, overrides={"style": "jaz"}, out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_vmb_error_tree() -> None:
    assert issubclass(UnknownNameError, VMBError) and issubclass(OutOfRangeError, VMBError)


@pytest.mark.parametrize(
    ("style", "tempo", "key"),
    [
        ("pop", 100, "C major"),
        pytest.param("jazz", 140, "Bb minor", marks=pytest.mark.xfail(
            strict=False, reason="issue 11: since the form/mix changes this 10 s jazz piece's "
            "key reads as its subdominant (Eb minor); the grid figure is in vmb eval controls")),
        ("piano", 72, "E major"),
        ("electronic", 124, "F# minor"),
        ("folk", 90, "D major"),
    ],
)
def test_small_controllability_grid(tmp_path: Path, style: str, tempo: float, key: str) -> None:
    """What was asked is what the library's own analysis hears in the rendered audio."""
    result = run(tmp_path, style=style, tempo_bpm=tempo, key=key, duration_s=10, seed=4)
    assert result.measured.tempo_bpm == pytest.approx(tempo, rel=0.02)
    assert result.measured.key == key
    assert result.measured.duration_s == pytest.approx(10.0, abs=0.01)


@pytest.mark.parametrize(
    ("style", "tempo", "instruments"),
    [
        pytest.param("ambient", 160, ["vibraphone", "warm pad", "electric piano"],
                     marks=pytest.mark.xfail(strict=False, reason=(
                         "known gap: with the FluidR3Mono default this drumless ambient piece's "
                         "soft electric-piano onsets read at half time (80 BPM)"))),
        ("cinematic", 170, ["french horn", "strings", "harp"]),
        ("pop", 180, ["electric guitar", "piano", "synth strings"]),
        ("lofi", 180, None),
        ("folk", 160, None),
    ],
)
def test_double_time_is_heard_at_the_requested_tempo(
    tmp_path: Path, style: str, tempo: float, instruments: list[str] | None
) -> None:
    """150-180 BPM in styles at home at 70-120 (and without drums): the half-time reading was
    the usual miss; the double-time writing makes the requested beat the one measured."""
    result = run(tmp_path, style=style, tempo_bpm=tempo, key="G minor", duration_s=12,
                 instruments=instruments, seed=4)  # fmt: skip
    assert result.measured.tempo_bpm == pytest.approx(tempo, rel=0.02)


def test_cli_score_writes_the_named_video(tmp_path: Path, vmb_home: Path) -> None:
    import av

    from tests.test_rendering import make_video

    video = make_video(tmp_path / "clip.mp4", 3.0)
    target = tmp_path / "scored" / "clip-scored.mp4"
    out = vmb("score", str(video), "--out", str(target), "--seed", "1", "--references", "0",
              "--stems", "--json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["video_path"] == str(target) and target.is_file()
    assert data["stems"] and all(Path(p).parent == target.parent for p in data["stems"])
    assert not [p for p in target.parent.iterdir() if ".part" in p.name]
    with av.open(str(target)) as scored:
        assert scored.streams.video and scored.streams.audio
    missing = vmb("score", str(tmp_path / "nope.mp4"), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


def test_style_catalog_lists_every_style_with_its_band() -> None:
    from vmb_agent.generation import style_catalog
    from vmb_agent.theory import INSTRUMENTS

    catalog = style_catalog()
    assert len(catalog) == 10 and {"jazz", "lofi", "cinematic", "chiptune"} <= set(catalog)
    assert all(band and set(band) <= set(INSTRUMENTS) for band in catalog.values())
