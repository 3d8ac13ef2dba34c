"""Rendering: SoundFont synthesis, mastering (loudness, true peak), writers and the video muxer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from vmb_agent.errors import InputError
from vmb_agent.rendering.master import (
    MasterSettings,
    integrated_loudness,
    limit,
    master,
    true_peak_dbtp,
)
from vmb_agent.rendering.outputs import draw_piano_roll, midi_bytes, write_wav
from vmb_agent.rendering.synth import bundled_soundfont, choose_soundfont, render_midi
from vmb_agent.rendering.video import mux_audio, probe_video

SR = 44100


def scale_midi(program: int = 0, drums: bool = True):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=program, name="piano")
    for i, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72]):
        inst.notes.append(
            pretty_midi.Note(velocity=90, pitch=pitch, start=i * 0.25, end=i * 0.25 + 0.3)
        )
    pm.instruments.append(inst)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        for i in range(8):
            kit.notes.append(pretty_midi.Note(velocity=100, pitch=36 if i % 2 == 0 else 38, start=i * 0.25,
                                              end=i * 0.25 + 0.1))  # fmt: skip
        pm.instruments.append(kit)
    return pm


def make_video(path: Path, seconds: float = 2.0, audio: bool = False) -> Path:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
           f"testsrc=size=160x120:rate=25:duration={seconds}"]  # fmt: skip
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return path


def make_audio_only_mp4(path: Path, seconds: float = 1.0) -> Path:
    """A real MP4 with an AAC track and no picture: what `score` must refuse."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(path)],
                   check=True)  # fmt: skip
    return path


def test_render_midi_gives_stereo_float32_with_sound_and_exact_length() -> None:
    audio = render_midi(scale_midi())
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert audio.shape[0] == round((2.05 + 1.5) * SR)  # last note end + release tail
    assert float(np.abs(audio[: SR * 2]).max()) > 0.05
    exact = render_midi(scale_midi(), n_samples=12345)
    assert exact.shape == (12345, 2)


def test_render_is_deterministic_and_reads_files(tmp_path: Path) -> None:
    pm = scale_midi()
    path = tmp_path / "scale.mid"
    pm.write(str(path))
    a = render_midi(pm)
    b = render_midi(path)
    assert np.array_equal(a, b)


def test_render_rejects_missing_and_corrupt_midi(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        render_midi(tmp_path / "nope.mid")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(InputError, match="cannot read MIDI"):
        render_midi(bad)


def test_soundfont_choice_order(
    tmp_path: Path, vmb_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    choice = choose_soundfont()
    assert choice.path.is_file() and choice.source in ("debian", "shipped")
    assert bundled_soundfont().name == "TimGM6mb.sf2"
    from vmb_agent.settings import get_settings

    monkeypatch.setenv("VMB_SOUNDFONT", str(tmp_path / "missing.sf2"))
    get_settings.cache_clear()
    with pytest.raises(InputError, match="VMB_SOUNDFONT"):
        choose_soundfont()
    monkeypatch.setenv("VMB_SOUNDFONT", str(bundled_soundfont()))
    get_settings.cache_clear()
    assert choose_soundfont().source == "VMB_SOUNDFONT"


def test_loudness_matches_pyloudnorm() -> None:
    import pyloudnorm

    rng = np.random.default_rng(0)
    x = (rng.normal(0, 0.05, (SR * 6, 2)) * np.linspace(0.1, 1, SR * 6)[:, None]).astype(np.float32)
    reference = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    assert integrated_loudness(x, SR) == pytest.approx(reference, abs=0.01)
    assert integrated_loudness(np.zeros((SR, 2), np.float32), SR) is None


def test_true_peak_sees_intersample_overs() -> None:
    n = np.arange(SR)
    sine = np.sin(2 * np.pi * (SR / 4) * n / SR + np.pi / 4).astype(np.float32)[:, None]
    sample_peak_db = 20 * np.log10(np.abs(sine).max())
    assert sample_peak_db == pytest.approx(-3.01, abs=0.05)
    assert true_peak_dbtp(sine) == pytest.approx(0.0, abs=0.3)


def test_limiter_holds_the_ceiling() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.5, (SR * 2, 2)).astype(np.float32)
    y = limit(x, SR, -3.0)
    assert 20 * np.log10(np.abs(y).max()) <= -3.0 + 1e-3


@pytest.mark.parametrize("level", [0.02, 0.3, 1.5])
def test_master_hits_minus_14_lufs_and_minus_1_dbtp(level: float) -> None:
    audio = render_midi(scale_midi(), n_samples=SR * 3) * np.float32(level)
    out, report = master(np.tile(audio, (2, 1)), SR, MasterSettings())
    assert out.dtype == np.float32 and out.shape == (SR * 6, 2)
    assert report.loudness_lufs == pytest.approx(-14.0, abs=1.0)
    assert integrated_loudness(out, SR) == pytest.approx(-14.0, abs=1.0)
    assert true_peak_dbtp(out) <= -1.0 + 1e-6
    assert report.true_peak_dbtp <= -1.0


def test_master_leaves_silence_silent() -> None:
    out, report = master(np.zeros((SR, 2), np.float32), SR)
    assert report.loudness_lufs is None and not np.any(out)


def test_writers(tmp_path: Path) -> None:
    import soundfile
    from PIL import Image

    audio = render_midi(scale_midi(), n_samples=SR)
    wav = tmp_path / "a.wav"
    write_wav(wav, audio * 0.5, SR, 24)
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 2, SR, "PCM_24")
    png = tmp_path / "roll.png"
    draw_piano_roll(png, scale_midi(), 2.5, section_starts_s=[0.0, 1.0])
    with Image.open(png) as image:
        assert image.size == (1400, 520)
        assert len(image.getcolors(maxcolors=100000)) > 3  # notes were drawn
    assert midi_bytes(scale_midi()) == midi_bytes(scale_midi())
    with pytest.raises(InputError, match="bit depth"):
        write_wav(tmp_path / "b.wav", audio, SR, 12)


def test_probe_and_mux_copy_the_video_stream(tmp_path: Path) -> None:
    import av

    video = make_video(tmp_path / "clip.mp4", 2.0)
    info = probe_video(video)
    assert info.duration_s == pytest.approx(2.0, abs=0.1) and (info.width, info.height) == (
        160,
        120,
    )
    wav = tmp_path / "music.wav"
    write_wav(wav, render_midi(scale_midi(), n_samples=SR), SR, 16)  # 1 s: padded to the video
    out = tmp_path / "scored.mp4"
    mux_audio(video, wav, out, info.duration_s)
    with av.open(str(out)) as container, av.open(str(video)) as original:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.video[0].frames == original.streams.video[0].frames
        audio_stream = container.streams.audio[0]
        assert audio_stream.codec_context.name == "aac"
        assert float(audio_stream.duration * audio_stream.time_base) == pytest.approx(2.0, abs=0.1)


def test_probe_rejects_audio_only_and_corrupt_files(tmp_path: Path) -> None:
    wav = tmp_path / "only-audio.wav"
    write_wav(wav, np.zeros((SR, 2), np.float32), SR, 16)
    with pytest.raises(InputError, match="no video stream"):
        probe_video(wav)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match="cannot read video"):
        probe_video(junk)


def test_bus_compressor_reduces_by_ratio_above_the_threshold_only() -> None:
    from vmb_agent.rendering.master import compressor_gain

    t = np.arange(4 * SR) / SR
    level = np.where(t < 2.0, 10 ** (-30 / 20), 10 ** (-6 / 20)) * np.sqrt(2)  # RMS -30 / -6 dB
    tone = (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    settings = MasterSettings(compressor_threshold_db=-18.0, compressor_ratio=2.5)
    gain_db = 20 * np.log10(compressor_gain(np.stack([tone, tone], axis=1), SR, settings))
    assert np.all(np.abs(gain_db[: SR]) < 0.01)  # -30 dB is below the -18 dB threshold
    # 12 dB over at 2.5:1 -> 7.2 dB of reduction (the hold keeps the RMS window's ripple peak)
    assert gain_db[3 * SR] == pytest.approx(-12 * (1 - 1 / 2.5), abs=0.2)
    assert gain_db[2 * SR - SR // 100] < -1.0  # look-ahead: it acts just before the onset


def test_render_instruments_gives_each_part_alone() -> None:
    import pretty_midi

    from vmb_agent.rendering.synth import render_instruments

    pm = scale_midi()
    bass = pretty_midi.Instrument(program=33, name="bass")
    bass.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.0, end=1.0))
    pm.instruments.append(bass)
    parts = list(render_instruments(pm, n_samples=SR * 3))
    assert [name for name, _ in parts] == [i.name for i in pm.instruments]
    for (_, part), inst in zip(parts, pm.instruments, strict=True):
        alone = pretty_midi.PrettyMIDI()
        alone.instruments.append(inst)
        assert np.array_equal(part, render_midi(alone, n_samples=SR * 3))
    assert not np.array_equal(parts[0][1], parts[2][1])

