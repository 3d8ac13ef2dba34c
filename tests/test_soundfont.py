"""The shipped SoundFont: .sf3 -> .sf2 decoding (offsets, loops, padding), the shared cache, the
render level against TimGM6mb, and the order in which a font is chosen; the vendored TinySoundFont
renders exactly as the PyPI package does."""

from __future__ import annotations

import io
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from vmb_agent.errors import BackendUnavailableError, InputError
from vmb_agent.rendering import soundfont_sf3 as sf3
from vmb_agent.rendering import synth
from vmb_agent.rendering.synth import (
    bundled_soundfont,
    choose_soundfont,
    render_midi,
    shipped_soundfont,
)

SR = 44100


# ------------------------------------------------------------------ a tiny .sf3 built here


def _chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def _list(kind: bytes, chunks: list[bytes]) -> bytes:
    body = kind + b"".join(chunks)
    return b"LIST" + struct.pack("<I", len(body)) + body


def _vorbis(signal: np.ndarray) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, signal, SR, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _sine(freq: float, n: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


# sample 0: a 440 Hz sine (1 s) looped over 100 whole periods; sample 1: a short 220 Hz blip
SINE_N, SINE_LOOP = SR, (11025, 11025 + 100 * SR // 440)
BLIP_N = 5000


def build_sf3(path: Path) -> Path:
    """A minimal valid .sf3: one preset (bank 0, program 0) -> one looping instrument -> the
    sine; the blip sample is there to check offsets of a second sample. As sftools writes it:
    shdr start/end are byte offsets into smpl, loops are relative to the sample, no pad byte
    after an odd smpl."""
    blobs = [_vorbis(_sine(440.0, SINE_N)), _vorbis(_sine(220.0, BLIP_N, 0.3))]
    smpl = b"".join(blobs)
    starts = [0, len(blobs[0])]
    shdr = b""
    for i, (name, rel_loop, pitch) in enumerate(
        [(b"sine", SINE_LOOP, 69), (b"blip", (8, BLIP_N - 8), 57)]
    ):
        shdr += struct.pack("<20sIIIIIBbHH", name, starts[i], starts[i] + len(blobs[i]),
                            rel_loop[0], rel_loop[1], SR, pitch, 0, 0, 0x11)  # fmt: skip
    shdr += struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    phdr = struct.pack("<20sHHHIII", b"Sine", 0, 0, 0, 0, 0, 0)
    phdr += struct.pack("<20sHHHIII", b"EOP", 0, 0, 1, 0, 0, 0)
    pdta = [
        _chunk(b"phdr", phdr),
        _chunk(b"pbag", struct.pack("<HHHH", 0, 0, 1, 0)),
        _chunk(b"pmod", bytes(10)),
        _chunk(b"pgen", struct.pack("<HH", 41, 0) + bytes(4)),  # instrument 0
        _chunk(b"inst", struct.pack("<20sH", b"SineInst", 0) + struct.pack("<20sH", b"EOI", 1)),
        _chunk(b"ibag", struct.pack("<HHHH", 0, 0, 2, 0)),
        _chunk(b"imod", bytes(10)),
        _chunk(b"igen", struct.pack("<HhHH", 54, 1, 53, 0) + bytes(4)),  # loop, sample 0
        _chunk(b"shdr", shdr),
    ]
    info = [_chunk(b"ifil", struct.pack("<HH", 3, 1)), _chunk(b"INAM", b"Tiny sf3\0\0")]
    smpl_chunk = b"smpl" + struct.pack("<I", len(smpl)) + smpl  # sftools: no pad byte
    sdta = b"LIST" + struct.pack("<I", 4 + len(smpl_chunk)) + b"sdta" + smpl_chunk
    body = b"sfbk" + _list(b"INFO", info) + sdta + _list(b"pdta", pdta)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.fixture
def tiny_sf3(tmp_path: Path) -> Path:
    return build_sf3(tmp_path / "tiny.sf3")


def test_tiny_sf3_converts_with_exact_lengths_loops_and_padding(
    tiny_sf3: Path, tmp_path: Path
) -> None:
    assert sf3.is_sf3(tiny_sf3)
    out = tmp_path / "tiny.sf2"
    stats = sf3.convert_sf3_to_sf2(tiny_sf3, out)
    assert stats.samples == 2 and stats.frames == SINE_N + BLIP_N
    assert not sf3.is_sf3(out)

    font = sf3.read_font(out.read_bytes())
    assert font.version == (2, 4)
    sine, blip = font.samples
    assert (sine.start, sine.end) == (0, SINE_N)
    assert (sine.loop_start, sine.loop_end) == SINE_LOOP
    assert (blip.start, blip.end) == (SINE_N + sf3.PAD_FRAMES, SINE_N + sf3.PAD_FRAMES + BLIP_N)
    assert (blip.loop_start, blip.loop_end) == (blip.start + 8, blip.end - 8)
    assert sine.type == blip.type == 1  # mono, Vorbis flag cleared
    pcm = np.frombuffer(font.smpl, dtype="<i2")
    assert len(pcm) == blip.end + sf3.PAD_FRAMES
    assert not pcm[sine.end : blip.start].any() and not pcm[blip.end :].any()
    # the decoded PCM is the sine (Vorbis is lossy: compare with a tolerance)
    ref = _sine(440.0, SINE_N) * 32768
    err = pcm[:SINE_N] - ref
    assert 10 * np.log10(np.mean(ref**2) / np.mean(err**2)) > 25  # SNR in dB
    # every pdta chunk but shdr is copied unchanged
    src = sf3.read_font(tiny_sf3.read_bytes())
    assert [c for c, _ in font.pdta] == [c for c, _ in src.pdta]
    assert all(a == b for (c, a), (_, b) in zip(font.pdta, src.pdta, strict=True) if c != b"shdr")


def _held_note(program: int, pitch: int, seconds: float, drum: bool = False):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, is_drum=drum)
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=pitch, start=0.0, end=seconds))
    pm.instruments.append(inst)
    return pm


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(x, dtype=np.float64))), 1e-12)))


def test_tiny_font_renders_at_pitch_and_its_loop_sustains(tiny_sf3: Path, tmp_path: Path) -> None:
    decoded = sf3.decoded_sf2(tiny_sf3, cache_dir=tmp_path / "cache")
    audio = render_midi(_held_note(0, 69, 3.0), soundfont=decoded, n_samples=3 * SR)
    mono = audio.mean(axis=1)
    early, late = _rms_db(mono[int(0.3 * SR) : SR]), _rms_db(mono[int(2.3 * SR) : 3 * SR])
    assert early > -40 and abs(late - early) < 3  # the 1 s sample keeps sounding through 3 s
    spectrum = np.abs(np.fft.rfft(mono[SR : 2 * SR]))
    assert abs(np.argmax(spectrum) - 440) <= 2  # a 1 s window: bin k is k Hz


def test_decoded_font_is_cached_and_reused(
    tiny_sf3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    calls = []
    real = sf3.convert_sf3_to_sf2
    monkeypatch.setattr(sf3, "convert_sf3_to_sf2", lambda *a: calls.append(a) or real(*a))
    first = sf3.decoded_sf2(tiny_sf3, cache_dir=cache)
    monkeypatch.setattr(sf3, "_memo", {})  # as a new process would see it
    second = sf3.decoded_sf2(tiny_sf3, cache_dir=cache)
    assert first == second and len(calls) == 1
    size = tiny_sf3.stat().st_size
    assert first.parent == cache and first.name.startswith(f"tiny-{size}-")
    assert sorted(p.name for p in cache.iterdir()) == [first.name]  # no temp files left
    assert first.stat().st_mode & 0o044  # readable by others sharing the cache

    # a changed font gets a new file, not the stale one
    tiny_sf3.write_bytes(tiny_sf3.read_bytes() + b"\0\0")
    assert sf3.decoded_sf2(tiny_sf3, cache_dir=cache) != first and len(calls) == 2


def test_concurrent_first_uses_agree(tiny_sf3: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(sf3, "_memo", {})
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(sf3.decoded_sf2(tiny_sf3, cache)))
               for _ in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4
    assert len(list(cache.iterdir())) == 1
    assert len(sf3.read_font(results[0].read_bytes()).samples) == 2


def test_corrupt_font_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sf3"
    bad.write_bytes(b"RIFF\x10\0\0\0sfbkLIST\x04\0\0\0INFO")
    with pytest.raises(InputError, match="ifil"):
        sf3.convert_sf3_to_sf2(bad, tmp_path / "out.sf2")
    with pytest.raises(InputError, match="not a SoundFont"):
        sf3.read_font(b"RIFX")


# ------------------------------------------------------------------ the shipped font


@pytest.fixture(scope="session")
def shipped_sf2() -> Path:
    """The shipped font, decoded once into the shared cache (VMB_CACHE_DIR or the per-user
    cache dir: later sessions and other test files reuse it)."""
    return sf3.decoded_sf2(shipped_soundfont())


def test_shipped_font_is_packaged_with_its_licence() -> None:
    font = shipped_soundfont()
    assert font.is_file() and sf3.is_sf3(font)
    licence = (font.parent / "FluidR3Mono_GM.LICENSE").read_text()
    assert "MIT" in licence and "Permission is hereby granted" in licence
    assert "fluidr3mono-gm-soundfont" in (font.parent / "README.md").read_text()


def test_shipped_font_decodes_every_sample_with_its_loops(shipped_sf2: Path) -> None:
    src = sf3.read_font(shipped_soundfont().read_bytes())
    out = sf3.read_font(shipped_sf2.read_bytes())
    assert src.version[0] == 3 and out.version == (2, 4)
    before, after = src.samples, out.samples
    assert len(before) == len(after) == 1037
    pcm = np.frombuffer(out.smpl, dtype="<i2")
    pos = 0
    for a, b in zip(before, after, strict=True):
        assert b.start == pos and b.type == a.type & ~sf3.OGG_VORBIS_FLAG
        assert (b.loop_start - b.start, b.loop_end - b.start) == (a.loop_start, a.loop_end)
        assert b.start <= b.loop_start <= b.loop_end <= b.end
        pos = b.end + sf3.PAD_FRAMES
    assert len(pcm) == pos
    pad = np.concatenate([pcm[b.end : b.end + sf3.PAD_FRAMES] for b in after])
    assert not pad.any()
    # lengths: a few samples decoded directly agree frame for frame
    for i in (0, 1, len(before) // 2, len(before) - 1):
        a, b = before[i], after[i]
        direct = sf3._decode_vorbis(src.smpl[a.start : a.end], "check")
        assert np.array_equal(pcm[b.start : b.end], direct)
    # the loops join smoothly: the jump at the seam is like an ordinary step (a loop shifted by
    # even a few dozen frames makes it about 5x larger)
    ratios = []
    for b in after:
        if b.loop_end - b.loop_start >= 32:
            seg = pcm[b.loop_start : b.loop_end].astype(np.int32)
            step = np.mean(np.abs(np.diff(seg))) + 1
            ratios.append(abs(int(pcm[b.loop_start]) - int(pcm[b.loop_end - 1])) / step)
    assert len(ratios) > 900 and np.median(ratios) < 2


def _phrase(program: int, drum: bool = False):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, is_drum=drum)
    if drum:
        for i in range(16):
            t = i * 0.25
            inst.notes.append(pretty_midi.Note(100, 42, t, t + 0.1))
            if i % 4 in (0, 2):
                inst.notes.append(pretty_midi.Note(110, 36 if i % 4 == 0 else 38, t, t + 0.1))
    else:
        for i, pitch in enumerate([60, 64, 67, 72, 67, 64, 60, 55]):
            inst.notes.append(pretty_midi.Note(90, pitch, i * 0.5, i * 0.5 + 0.45))
            inst.notes.append(pretty_midi.Note(80, pitch - 12, i * 0.5, i * 0.5 + 0.45))
    pm.instruments.append(inst)
    return pm


#: measured at gain 0 (RMS dBFS): TimGM6mb / FluidR3Mono
#: piano -31.8 / -31.6, strings -26.1 / -24.1, distortion guitar -24.5 / -32.2, drums -23.5 / -23.0
PROGRAMS = {"piano": (0, False), "strings": (48, False), "distortion guitar": (30, False),
            "drums": (0, True)}  # fmt: skip


def test_shipped_font_renders_at_a_level_like_timgm(shipped_sf2: Path) -> None:
    choice = synth.SoundFontChoice(shipped_sf2, 0.0, "test")
    assert choice.gain_db == synth.FONT_GAIN_DB["fluidr3mono_gm.sf3"]
    diffs = []
    for name, (program, drum) in PROGRAMS.items():
        new = render_midi(_phrase(program, drum), soundfont=shipped_sf2)
        old = render_midi(_phrase(program, drum), soundfont=bundled_soundfont())
        level, peak = _rms_db(new), 20 * np.log10(np.abs(new).max())
        assert -40 < level < -12 and peak < -0.5, (name, level, peak)  # audible, not clipping
        diffs.append(level - _rms_db(old))
        assert abs(diffs[-1]) < 10, (name, diffs[-1])
    assert abs(np.mean(diffs)) < 3, diffs


def test_shipped_font_sustains_a_long_string_note(shipped_sf2: Path) -> None:
    audio = render_midi(_held_note(48, 60, 5.0), soundfont=shipped_sf2, n_samples=5 * SR)
    first, last = _rms_db(audio[SR : 2 * SR]), _rms_db(audio[4 * SR : 5 * SR])
    assert first > -45 and abs(last - first) < 6


# ------------------------------------------------------------------ choice order


@pytest.fixture
def no_debian_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(synth, "DEBIAN_FONTS", (tmp_path / "absent" / "FluidR3_GM.sf2",))


def test_choice_order(vmb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      no_debian_font: None, shipped_sf2: Path) -> None:  # fmt: skip
    from vmb_agent.settings import get_settings

    # nothing configured, no Debian font: the shipped font, decoded
    choice = choose_soundfont()
    assert choice.source == "shipped" and choice.path == shipped_sf2
    assert choice.original == shipped_soundfont() and choice.gain_db == 0.0
    # fonts by name: "shipped" (also as an argument, as the pipeline passes it) and "timgm6mb"
    assert choose_soundfont("shipped").path == shipped_sf2
    monkeypatch.setenv("VMB_SOUNDFONT", "TimGM6mb")
    get_settings.cache_clear()
    assert choose_soundfont().path == bundled_soundfont()
    monkeypatch.delenv("VMB_SOUNDFONT")
    get_settings.cache_clear()

    # Debian's FluidR3 wins over the shipped font, at -6 dB
    debian = tmp_path / "FluidR3_GM.sf2"
    debian.write_bytes(bundled_soundfont().read_bytes())
    monkeypatch.setattr(synth, "DEBIAN_FONTS", (debian,))
    assert choose_soundfont() == synth.SoundFontChoice(debian, -6.0, "debian")

    # VMB_SOUNDFONT wins over Debian; an .sf3 there is decoded too
    tiny = build_sf3(tmp_path / "tiny.sf3")
    monkeypatch.setenv("VMB_SOUNDFONT", str(tiny))
    monkeypatch.setenv("VMB_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    choice = choose_soundfont()
    assert choice.source == "VMB_SOUNDFONT" and choice.original == tiny
    assert choice.path.parent == tmp_path / "cache" / "soundfonts" and not sf3.is_sf3(choice.path)

    # the argument wins over everything; a plain .sf2 is used as is
    assert choose_soundfont(bundled_soundfont()) == synth.SoundFontChoice(
        bundled_soundfont(), 0.0, "argument"
    )


def test_timgm_is_the_last_resort(vmb_home: Path, tmp_path: Path, no_debian_font: None,
                                  monkeypatch: pytest.MonkeyPatch,
                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    from vmb_agent.settings import get_settings

    monkeypatch.setenv("VMB_SOUNDFONT", "shipped")
    get_settings.cache_clear()
    monkeypatch.setattr(synth, "SHIPPED_FONT", tmp_path / "missing.sf3")
    assert choose_soundfont().source == "pretty_midi"
    broken = tmp_path / "broken.sf3"
    broken.write_bytes(b"RIFF\x04\0\0\0sfbk")
    monkeypatch.setattr(synth, "SHIPPED_FONT", broken)
    monkeypatch.setenv("VMB_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    choice = choose_soundfont()
    assert choice.source == "pretty_midi" and choice.path == bundled_soundfont()
    assert "cannot use the shipped SoundFont" in caplog.text


# ------------------------------------------------------------------ loading a large font by subsets


def test_subset_renders_like_the_whole_font(shipped_sf2: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    pm = _phrase(48)
    kit = _phrase(0, drum=True).instruments[0]
    pm.instruments.append(kit)
    monkeypatch.setattr(synth, "_synth_cache", {})
    subset = render_midi(pm, soundfont=shipped_sf2)
    (key,) = synth._synth_cache
    assert key[-1] == frozenset({(0, 48), (128, 0)})
    assert synth._subset_bytes[key] < 40e6  # vs 250 MB for the whole font

    monkeypatch.setattr(synth, "SUBSET_MIN_BYTES", 1 << 40)  # load it whole
    monkeypatch.setattr(synth, "_synth_cache", {})
    whole = render_midi(pm, soundfont=shipped_sf2)
    (key,) = synth._synth_cache
    assert key[-1] is None
    # the same up to float rounding of sample positions (offsets differ in the two files)
    assert _rms_db(subset - whole) < _rms_db(whole) - 80


def test_presets_follow_tinysoundfonts_lookup() -> None:
    import pretty_midi

    available = {(0, 0), (0, 30), (128, 0), (128, 25)}

    def played(*parts: tuple[int, bool]) -> frozenset:
        insts = [pretty_midi.Instrument(program=p, is_drum=d) for p, d in parts]
        return synth._presets_played(available, insts)

    assert played((30, False), (25, True)) == {(0, 30), (128, 25)}
    assert played((99, False)) == {(0, 0)}  # missing: render_midi falls back to program 0
    assert played((40, True)) == {(128, 0)}  # a missing kit: the standard kit
    assert played() == {(0, 0)}


def test_subset_synths_are_evicted_past_the_budget(shipped_sf2: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(synth, "_synth_cache", {})
    monkeypatch.setattr(synth, "SUBSET_CACHE_BYTES", 1)
    render_midi(_phrase(0), soundfont=shipped_sf2)
    render_midi(_phrase(48), soundfont=shipped_sf2)
    assert [k[-1] for k in synth._synth_cache] == [frozenset({(0, 48)})]
    assert list(synth._subset_bytes) == list(synth._synth_cache)


# ------------------------------------------------------------------ the vendored TinySoundFont


def _pieces() -> list:
    """Two composed pieces (drums, sustain, many parts) and a phrase with controllers and
    pitch bends on top."""
    import pretty_midi

    from vmb_agent.generation.composer import compose
    from vmb_agent.generation.styles import STYLES
    from vmb_agent.types import Conditions

    pieces = []
    for style, seed in (("jazz", 1), ("rock", 2)):
        band = list(dict.fromkeys(p.instrument for p in STYLES[style].parts))
        pieces.append(compose(Conditions(style=style, tempo_bpm=120, key="D minor",
                                         instruments=band, duration_s=8.0, energy=0.7,
                                         valence=0.5), seed=seed).midi)  # fmt: skip
    bent = _phrase(40)
    strings = bent.instruments[0]
    strings.pitch_bends += [pretty_midi.PitchBend(p, 0.3 + i * 0.05) for i, p in
                            enumerate((0, 1024, 4096, -2048, -8192, 8191, 0))]  # fmt: skip
    strings.control_changes += [pretty_midi.ControlChange(7, 60, 0.5),
                                pretty_midi.ControlChange(10, 20, 0.9),
                                pretty_midi.ControlChange(64, 127, 1.0),
                                pretty_midi.ControlChange(64, 0, 1.6)]  # fmt: skip
    return [*pieces, bent]


def test_vendored_renderer_is_bit_identical_to_the_pypi_package(
    shipped_sf2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same MIDI through the PyPI ``tinysoundfont`` (its Synth swapped in for ours) and
    through the module compiled with this package: the same samples, bit for bit, with the
    shipped font (loaded as a subset, from bytes) and with TimGM6mb (loaded whole, by path)."""
    tinysoundfont = pytest.importorskip("tinysoundfont")
    from vmb_agent.rendering import _tinysoundfont_synth

    fonts = (shipped_sf2, bundled_soundfont())
    pieces = _pieces()

    def render_all() -> list[np.ndarray]:
        monkeypatch.setattr(synth, "_synth_cache", {})
        return [render_midi(pm, soundfont=font) for font in fonts for pm in pieces]

    ours = render_all()
    assert all(type(s) is _tinysoundfont_synth.Synth for s, _, _ in synth._synth_cache.values())
    monkeypatch.setattr(_tinysoundfont_synth, "Synth", tinysoundfont.Synth)
    theirs = render_all()
    assert all(type(s) is tinysoundfont.Synth for s, _, _ in synth._synth_cache.values())
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and np.abs(a).max() > 0.01
        assert np.array_equal(a, b), float(np.abs(a - b).max())


def test_missing_renderer_module_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vmb_agent.rendering._tinysoundfont_synth", None)
    monkeypatch.setattr(synth, "_synth_cache", {})
    with pytest.raises(BackendUnavailableError, match="reinstall vmb-agent"):
        render_midi(_phrase(0), soundfont=bundled_soundfont())
