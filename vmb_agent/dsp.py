"""Small numpy-only DSP shared by the analysis and the mastering: FIR design, decimation, peak
picking and ITU-R BS.1770-4 loudness.

Why not scipy.signal: importing it costs 0.6-0.9 s on this machine (it pulls in scipy.stats),
more than composing and rendering 30 s of music. Each function here reproduces the scipy (or
pyloudnorm) result it replaces, which tests/test_dsp.py checks against the originals.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: K-weighting (BS.1770-4) as pyloudnorm designs it: (gain dB, Q, centre Hz, type)
_K_WEIGHTING = ((4.0, 1 / math.sqrt(2), 1500.0, "high_shelf"), (0.0, 0.5, 38.0, "high_pass"))
_SILENCE_LUFS = -70.0


def lowpass_fir(numtaps: int, cutoff: float, window: str | tuple[str, float]) -> np.ndarray:
    """Windowed-sinc low-pass with unit gain at DC, as ``scipy.signal.firwin(numtaps, cutoff,
    window=window)``; ``cutoff`` is relative to Nyquist, ``window`` "blackman" or ("kaiser", beta)."""
    m = np.arange(numtaps) - (numtaps - 1) / 2.0
    h = cutoff * np.sinc(cutoff * m)
    if window == "blackman":
        h *= np.blackman(numtaps)
    elif isinstance(window, tuple) and window[0] == "kaiser":
        h *= np.kaiser(numtaps, window[1])
    else:
        raise ValueError(f"unsupported window {window!r}; allowed: 'blackman', ('kaiser', beta)")
    return h / h.sum()


@functools.lru_cache(maxsize=8)
def _decimation_filter(down: int) -> np.ndarray:
    # scipy.signal.resample_poly's default design: 20*down+1 taps, Kaiser beta 5, cut at 1/down,
    # preceded by `down` zeros so the output samples sit at the filter's centre
    taps = lowpass_fir(20 * down + 1, 1.0 / down, ("kaiser", 5.0))
    return np.concatenate([np.zeros(down), taps])


def decimate(x: np.ndarray, down: int) -> np.ndarray:
    """``x`` (1-D) at 1/``down`` of its rate: ``scipy.signal.resample_poly(x, 1, down)``, as a
    polyphase filter (one np.convolve per phase, only the kept samples), float64 inside,
    float32 out."""
    if down == 1:
        return np.asarray(x, dtype=np.float32).copy()
    h = _decimation_filter(down)
    n_in = x.shape[0]
    n_out = -(-n_in // down)
    skip = (10 * down + down) // down  # output samples of filter delay to drop
    # full[n] = sum_j h[j] x[n - j] at n = (k + skip) * down; with j = q * down + r this is
    # sum over r of (phase (-r mod down) of x) convolved with h[r::down], shifted by r > 0
    rows = n_out + skip + 2
    padded = np.zeros(rows * down, dtype=np.float64)
    padded[:n_in] = x
    phases = padded.reshape(rows, down).T
    out = np.zeros(n_out, dtype=np.float64)
    for r in range(down):
        taps = h[r::down]
        if r == 0:
            out += np.convolve(phases[0], taps)[skip : skip + n_out]
        else:
            out += np.convolve(phases[down - r], taps)[skip - 1 : skip - 1 + n_out]
    return out.astype(np.float32)


def find_peaks(x: np.ndarray, height: float, distance: float) -> np.ndarray:
    """Indices of local maxima of ``x`` at least ``height`` high and ``distance`` samples apart
    (higher peaks win), as ``scipy.signal.find_peaks(x, height=height, distance=distance)[0]``;
    a flat top counts once, at its middle."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 3:
        return np.zeros(0, dtype=np.intp)
    rising = np.flatnonzero(np.diff(x) > 0) + 1  # x[i-1] < x[i]
    peaks = []
    n = x.shape[0]
    for i in rising:
        if i >= n - 1:
            continue
        ahead = i + 1
        while ahead < n - 1 and x[ahead] == x[i]:
            ahead += 1
        if x[ahead] < x[i]:
            peaks.append((i + ahead - 1) // 2)
    if not peaks:
        return np.zeros(0, dtype=np.intp)
    found = np.unique(np.array(peaks, dtype=np.intp))
    found = found[x[found] >= height]
    if found.size <= 1 or distance <= 1:
        return found
    keep = np.ones(found.size, dtype=bool)
    for j in np.argsort(x[found])[::-1]:
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and found[j] - found[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < found.size and found[k] - found[j] < distance:
            keep[k] = False
            k += 1
    return found[keep]


# --------------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770-4)


def _biquad(gain_db: float, q: float, fc: float, rate: int, kind: str) -> tuple[np.ndarray, ...]:
    a_gain = 10 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * fc / rate
    alpha = math.sin(w0) / (2.0 * q)
    cos = math.cos(w0)
    if kind == "high_shelf":
        root = 2 * math.sqrt(a_gain) * alpha
        b = [a_gain * ((a_gain + 1) + (a_gain - 1) * cos + root),
             -2 * a_gain * ((a_gain - 1) + (a_gain + 1) * cos),
             a_gain * ((a_gain + 1) + (a_gain - 1) * cos - root)]  # fmt: skip
        a = [(a_gain + 1) - (a_gain - 1) * cos + root, 2 * ((a_gain - 1) - (a_gain + 1) * cos),
             (a_gain + 1) - (a_gain - 1) * cos - root]  # fmt: skip
    else:  # high_pass
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array(b) / a[0], np.array(a) / a[0]


@functools.lru_cache(maxsize=8)
def k_weighting_impulse_response(rate: int) -> np.ndarray:
    """The K-weighting filter's impulse response, long enough that the rest is below 1e-12.

    Applying it by FFT convolution equals the recursive (IIR) filter to float precision; the
    38 Hz high-pass decays slowest (its pole radius sets the length)."""
    stages = [_biquad(*spec[:3], rate, spec[3]) for spec in _K_WEIGHTING]
    pole = math.exp(-2 * math.pi * 38.0 / rate)
    length = max(4096, math.ceil(40.0 / (1.0 - pole)))
    signal = np.zeros(length)
    signal[0] = 1.0
    for b, a in stages:
        y = np.zeros(length)
        x1 = x2 = y1 = y2 = 0.0
        b0, b1, b2 = (float(v) for v in b)
        a1, a2 = float(a[1]), float(a[2])
        for n, x0 in enumerate(signal.tolist()):
            y0 = b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            y[n] = y0
            x2, x1, y2, y1 = x1, x0, y1, y0
        signal = y
    return signal


def _convolve(x: np.ndarray, h: np.ndarray, block: int = 1 << 15) -> np.ndarray:
    """``x`` convolved with ``h``, first len(x) samples (overlap-add FFT convolution, in the
    precision of ``x``: float32 FFTs are ~1.5x faster and keep power to ~1e-7)."""
    m = h.shape[0]
    nfft = 1 << (block + m - 2).bit_length()
    spectrum = np.fft.rfft(h.astype(x.dtype), nfft)
    out = np.zeros(x.shape[0] + m - 1, dtype=x.dtype)
    for start in range(0, x.shape[0], block):
        segment = x[start : start + block]
        span = segment.shape[0] + m - 1
        out[start : start + span] += np.fft.irfft(np.fft.rfft(segment, nfft) * spectrum, nfft)[:span]
    return out[: x.shape[0]]


def k_weighted_power(audio: np.ndarray, rate: int) -> np.ndarray:
    """Per-sample K-weighted power summed over channels (BS.1770 weights 1.0 for L/R), float32."""
    x = audio if audio.ndim == 2 else audio[:, None]
    h = k_weighting_impulse_response(int(rate))
    power = np.zeros(x.shape[0], dtype=np.float32)
    for channel in range(x.shape[1]):
        y = _convolve(np.asarray(x[:, channel], dtype=np.float32), h)
        np.multiply(y, y, out=y)
        power += y
    return power


def _chunk_sums(power: np.ndarray, hop: int, weight: np.ndarray | None) -> np.ndarray:
    """Sums of ``power`` (times ``weight``) over consecutive ``hop``-sample chunks, in float64,
    a few thousand chunks at a time so no full-length temporary is made."""
    n_chunks = power.shape[0] // hop
    p = power[: n_chunks * hop].reshape(n_chunks, hop)
    w = None if weight is None else weight[: n_chunks * hop].reshape(n_chunks, hop)
    sums = np.empty(n_chunks, dtype=np.float64)
    step = 256
    for i in range(0, n_chunks, step):
        part = p[i : i + step] if w is None else p[i : i + step] * w[i : i + step]
        sums[i : i + step] = part.sum(axis=1, dtype=np.float64)
    return sums


def gated_loudness(
    power: np.ndarray, rate: int, weight: np.ndarray | None = None
) -> float | None:
    """BS.1770-4 gating (400 ms blocks, 75 % overlap, -70 LUFS absolute and -10 LU relative
    gates) over per-sample K-weighted power (times an optional per-sample ``weight``)."""
    block = round(0.4 * rate)
    if power.shape[0] < block:
        return None
    n_blocks = round((power.shape[0] / rate - 0.4) / 0.1) + 1
    if block % 4 == 0:  # hops of exactly 100 ms: block sums from 100 ms chunk sums
        chunks = _chunk_sums(power, block // 4, weight)
        sums = chunks[:-3] + chunks[1:-2] + chunks[2:-1] + chunks[3:]
        z = sums[:n_blocks] / block
    else:
        weighted = power.astype(np.float64) if weight is None else power * weight.astype(np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(weighted)])
        lows = (np.arange(n_blocks) * (block / 4.0)).astype(np.int64)
        lows = lows[lows + block <= power.shape[0]]
        z = (cumulative[lows + block] - cumulative[lows]) / block
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(z)
    gated = z[block_lufs >= _SILENCE_LUFS]
    if gated.size == 0:
        return None
    relative = -0.691 + 10.0 * np.log10(gated.mean()) - 10.0
    kept = z[(block_lufs > relative) & (block_lufs >= _SILENCE_LUFS)]
    if kept.size == 0:
        return None
    value = float(-0.691 + 10.0 * np.log10(kept.mean()))
    return value if np.isfinite(value) and value >= _SILENCE_LUFS else None


def integrated_loudness(audio: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS (ITU-R BS.1770-4; pyloudnorm's value to 1e-6 LU), or None for
    silence or audio shorter than 0.4 s. ``audio``: (n,) mono or (n, channels)."""
    x = audio if audio.ndim == 2 else audio[:, None]
    if x.shape[0] < round(0.4 * rate):
        return None
    return gated_loudness(k_weighted_power(x, rate), rate)
