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


def test_k_weighting_impulse_response_matches_the_recursive_filter() -> None:
    from pyloudnorm.iirfilter import IIRfilter

    rate = 44100
    h = dsp.k_weighting_impulse_response(rate)
    impulse = np.zeros(h.shape[0])
    impulse[0] = 1.0
    y = impulse
    for stage in (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
                  IIRfilter(0.0, 0.5, 38.0, rate, "high_pass")):
        y = scipy.signal.lfilter(stage.b, stage.a, y)
    np.testing.assert_allclose(h, y, atol=1e-12)
    assert abs(h[-1]) < 1e-12  # long enough: the tail left out is below float noise


def test_silence_and_short_audio_have_no_loudness() -> None:
    assert dsp.integrated_loudness(np.zeros((44100, 2), np.float32), 44100) is None
    assert dsp.integrated_loudness(np.ones(100, np.float32), 44100) is None
