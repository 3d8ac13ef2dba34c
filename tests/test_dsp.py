"""vmb_agent.dsp against the scipy.signal / pyloudnorm functions it stands in for."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from vmb_agent import dsp


@pytest.mark.parametrize(("numtaps", "cutoff", "window"), [
    (48, 0.9 / 4, "blackman"), (41, 0.5, ("kaiser", 5.0)), (81, 0.25, ("kaiser", 5.0)),
])
def test_lowpass_fir_equals_firwin(numtaps: int, cutoff: float, window: str | tuple) -> None:
    expected = scipy.signal.firwin(numtaps, cutoff, window=window)
    np.testing.assert_allclose(dsp.lowpass_fir(numtaps, cutoff, window), expected, atol=1e-15)


def test_lowpass_fir_refuses_other_windows() -> None:
    with pytest.raises(ValueError, match="allowed"):
        dsp.lowpass_fir(11, 0.5, "hann")


@pytest.mark.parametrize("down", [2, 4])
@pytest.mark.parametrize("n", [7, 1000, 1001, 44101])
def test_decimate_equals_resample_poly(down: int, n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    expected = scipy.signal.resample_poly(x, 1, down)
    got = dsp.decimate(x, down)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(("height", "distance"), [(0.5, 4), (1.0, 1), (0.2, 10.5), (9.0, 3)])
def test_find_peaks_equals_scipy(height: float, distance: float) -> None:
    x = np.abs(np.random.default_rng(1).standard_normal(5000))
    x[100:104] = 5.0  # a flat top counts once, at its middle
    x[2000:2003] = 4.0
    expected = scipy.signal.find_peaks(x, height=height, distance=distance)[0]
    np.testing.assert_array_equal(dsp.find_peaks(x, height, distance), expected)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_integrated_loudness_equals_pyloudnorm(rate: int) -> None:
    rng = np.random.default_rng(rate)
    x = (rng.standard_normal((rate * 5, 2)) * 0.1).astype(np.float32)
    x[:rate] *= 0.01  # a quiet second the relative gate drops
    for audio in (x, x[:, 0]):
        expected = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
        assert dsp.integrated_loudness(audio, rate) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
@pytest.mark.parametrize("n", [1, 127, 128, 8191, 8192 + 129, 3 * 44100 + 17])
def test_k_weighting_equals_the_recursive_filter(rate: int, n: int) -> None:
    """The block-matrix filter against scipy's lfilter of pyloudnorm's biquads: lengths inside
    one block, on block and group edges, and past several groups."""
    from pyloudnorm.iirfilter import IIRfilter

    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 0.3).astype(np.float32)
    x[min(n - 1, 128)] = 1.0  # an impulse on a block edge
    y = x.astype(np.float64)
    for stage in (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
                  IIRfilter(0.0, 0.5, 38.0, rate, "high_pass")):  # fmt: skip
        y = scipy.signal.lfilter(stage.b, stage.a, y)
    got = dsp.k_weighting(x, rate)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_allclose(got, y, atol=2e-6)


@pytest.mark.parametrize("mode", ["reflect", "nearest"])
@pytest.mark.parametrize("size", [1, 2, 5, 43, 64, 441])
@pytest.mark.parametrize("n", [1, 7, 1000, 44100 + 3, 3 * 65536 + 5])  # several chunks too
def test_moving_windows_equal_scipy_ndimage(mode: str, size: int, n: int) -> None:
    import scipy.ndimage

    rng = np.random.default_rng(size * n)
    x = rng.random(n).astype(np.float32)
    np.testing.assert_array_equal(
        dsp.moving_minimum(x, size, mode), scipy.ndimage.minimum_filter1d(x, size, mode=mode)
    )
    np.testing.assert_allclose(
        dsp.moving_average(x, size, mode), scipy.ndimage.uniform_filter1d(x, size, mode=mode),
        rtol=1e-5, atol=1e-6,
    )
    flux = rng.random(n)  # float64, as the onset detrending uses it
    np.testing.assert_allclose(
        dsp.moving_average(flux, size, mode), scipy.ndimage.uniform_filter1d(flux, size, mode=mode),
        rtol=1e-9, atol=1e-12,
    )


def test_silence_and_short_audio_have_no_loudness() -> None:
    assert dsp.integrated_loudness(np.zeros((44100, 2), np.float32), 44100) is None
    assert dsp.integrated_loudness(np.ones(100, np.float32), 44100) is None


@pytest.mark.parametrize("levels", [(-30, -18, -24, -12, -27), (-20, -20, -21), (-40, -10)])
def test_loudness_range_matches_ffmpeg_ebur128(tmp_path, levels: tuple[int, ...]) -> None:
    """EBU Tech 3342 LRA against ffmpeg's ebur128 meter (which prints it to 0.1 LU)."""
    import re
    import subprocess

    import imageio_ffmpeg
    import soundfile

    from vmb_agent.dsp import loudness_range

    rng = np.random.default_rng(len(levels))
    rate = 48000
    audio = np.concatenate(
        [10 ** (level / 20) * rng.standard_normal((6 * rate, 2)) for level in levels]
    ).astype(np.float32)
    path = tmp_path / "steps.wav"
    soundfile.write(path, audio, rate)
    log = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostats", "-i", str(path), "-af",
                          "ebur128", "-f", "null", "-"], capture_output=True, text=True,
                         check=True).stderr  # fmt: skip
    reference = float(re.findall(r"LRA:\s+([\d.]+) LU", log)[-1])
    assert loudness_range(audio, rate) == pytest.approx(reference, abs=0.15)
    assert loudness_range(audio[: rate], rate) is None  # shorter than one 3 s window
