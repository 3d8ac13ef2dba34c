"""Small numpy-only DSP shared by the analysis and the mastering: FIR design, decimation, peak
picking, moving windows and ITU-R BS.1770-4 loudness.

Why not scipy.signal / scipy.ndimage: importing them costs 0.6-0.9 s and ~0.4 s on this machine,
more than composing and rendering 30 s of music. Each function here reproduces the scipy (or
pyloudnorm) result it replaces, which tests/test_dsp.py checks against the originals.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

#: K-weighting (BS.1770-4) as pyloudnorm designs it: (gain dB, Q, centre Hz, type)
_K_WEIGHTING = ((4.0, 1 / math.sqrt(2), 1500.0, "high_shelf"), (0.0, 0.5, 38.0, "high_pass"))
_SILENCE_LUFS = -70.0


def pcm_to_float(x: np.ndarray) -> np.ndarray:
    """Samples as float32 in [-1, 1): integer PCM scaled as soundfile reads it (full scale
    2**(bits-1); unsigned PCM centred on its mid-scale silence), floats as they are."""
    if np.issubdtype(x.dtype, np.integer):
        half = float(2 ** (8 * x.dtype.itemsize - 1))
        offset = half if np.issubdtype(x.dtype, np.unsignedinteger) else 0.0
        return ((x - offset) / half).astype(np.float32)
    return x.astype(np.float32, copy=False)


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
    """``x`` (1-D) at 1/``down`` of its rate: ``scipy.signal.resample_poly(x, 1, down)``. Only
    the kept samples are computed, each as a dot product of the filter with its window of the
    input (a strided view, a chunk of rows at a time: a BLAS product), float64 inside, float32
    out."""
    if down == 1:
        return np.asarray(x, dtype=np.float32).copy()
    h = _decimation_filter(down)
    taps = h.shape[0]
    n_in = x.shape[0]
    n_out = -(-n_in // down)
    skip = (10 * down + down) // down  # output samples of filter delay to drop
    # output k is the full convolution at n = (k + skip) * down: sum_j h[j] x[n - j], i.e. the
    # reversed filter against padded[n : n + taps] with taps - 1 zeros in front
    padded = np.zeros(taps - 1 + (n_out + skip) * down + 1, dtype=np.float64)
    padded[taps - 1 : taps - 1 + n_in] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)
    reversed_h = h[::-1].copy()
    out = np.empty(n_out, dtype=np.float32)
    for start in range(0, n_out, _WINDOW_CHUNK):
        stop = min(n_out, start + _WINDOW_CHUNK)
        first = (start + skip) * down
        out[start:stop] = windows[first : (stop - 1 + skip) * down + 1 : down] @ reversed_h
    return out


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
# Moving windows (scipy.ndimage's uniform_filter1d / minimum_filter1d: importing scipy.ndimage
# costs ~0.4 s, a third of a cold 30 s generation)

#: scipy.ndimage boundary modes -> numpy.pad modes
_PAD_MODES = {"reflect": "symmetric", "nearest": "edge", "mirror": "reflect"}


def _window_pad(x: np.ndarray, size: int, mode: str) -> np.ndarray:
    """``x`` padded so that window ``i`` is ``padded[i : i + size]``, centred as scipy.ndimage
    centres a filter with origin 0 (``size // 2`` samples before, the rest after)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"unsupported mode {mode!r}; allowed: {', '.join(_PAD_MODES)}")
    return np.pad(x, (size // 2, size - 1 - size // 2), mode=_PAD_MODES[mode])


_WINDOW_CHUNK = 1 << 16  # outputs per chunk: temporaries stay small on long audio


def _sliding(
    x: np.ndarray, size: int, mode: str, reduce: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """``reduce(segment, count)`` -> the ``count`` windows of ``size`` starting in ``segment``,
    over ``x`` padded as scipy.ndimage pads it, a chunk of windows at a time."""
    if size <= 1:
        return x.copy()
    padded = _window_pad(x, size, mode)
    out = np.empty(x.shape[0], dtype=x.dtype)
    for start in range(0, x.shape[0], _WINDOW_CHUNK):
        stop = min(x.shape[0], start + _WINDOW_CHUNK)
        out[start:stop] = reduce(padded[start : stop + size - 1], stop - start)
    return out


def moving_average(x: np.ndarray, size: int, mode: str = "reflect") -> np.ndarray:
    """``scipy.ndimage.uniform_filter1d(x, size, mode=mode)`` for 1-D ``x`` (float64 sums)."""

    def means(segment: np.ndarray, count: int) -> np.ndarray:
        sums = np.cumsum(segment, dtype=np.float64)
        window = sums[size - 1 :].copy()  # window i sums samples i .. i + size - 1
        window[1:] -= sums[: count - 1]
        return window / size

    return _sliding(x, size, mode, means)


def moving_minimum(x: np.ndarray, size: int, mode: str = "reflect") -> np.ndarray:
    """``scipy.ndimage.minimum_filter1d(x, size, mode=mode)`` for 1-D ``x``: van Herk /
    Gil-Werman running minimum (prefix and suffix minima over blocks of ``size``), O(n)."""

    def minima(segment: np.ndarray, count: int) -> np.ndarray:
        n_blocks = -(-segment.shape[0] // size) + 1
        full = np.full(n_blocks * size, np.inf, dtype=segment.dtype)
        full[: segment.shape[0]] = segment
        blocks = full.reshape(n_blocks, size)
        prefix = np.minimum.accumulate(blocks, axis=1).reshape(-1)
        suffix = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
        # window [i, i + size) = the tail of i's block (suffix) + the head of the next (prefix)
        return np.minimum(suffix[:count], prefix[size - 1 : size - 1 + count])

    return _sliding(x, size, mode, minima)


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
def _k_weighting_blocks(rate: int) -> tuple[np.ndarray, ...]:
    """The K-weighting cascade (4th order) as block matrices for :func:`k_weighting`.

    State-space form (``s' = A s + B x``, ``y = C s + D x``). For a block of ``L`` samples
    starting in state ``s``: ``y = T x + O s`` and the state after it is ``P s + G^T x``, with ``T`` the lower-triangular Toeplitz matrix of the first ``L``
    impulse-response samples, ``O`` rows ``C A^j``, ``G`` rows ``A^(L-1-m) B``, ``P = A^L``.
    The block states follow ``S[k+1] = P S[k] + U[k]``, itself solved ``M`` blocks at a time
    (``Q`` maps a group's ``U`` to its states). Everything but a short loop over groups is a
    matrix product, so the exact recursive filter runs at BLAS speed.
    """
    # the two biquads as one cascade in state space (not one 4th-order polynomial: the
    # high-pass has a double pole near 1, and a companion matrix of it loses precision)
    (b1, a1), (b2, a2) = (_biquad(*spec[:3], rate, spec[3]) for spec in _K_WEIGHTING)
    a_1, b_1, c_1, d_1 = _biquad_state_space(b1, a1)
    a_2, b_2, c_2, d_2 = _biquad_state_space(b2, a2)
    state = np.block([[a_1, np.zeros((2, 2))], [np.outer(b_2, c_1), a_2]])
    drive = np.concatenate([b_1, b_2 * d_1])
    output = np.concatenate([d_2 * c_1, c_2])
    direct = d_2 * d_1
    order, length, group = 4, _KW_BLOCK, _KW_GROUP
    rows = np.empty((length, order))  # O: C A^j
    rows[0] = output
    for j in range(1, length):
        rows[j] = rows[j - 1] @ state
    impulse = np.concatenate([[direct], rows[: length - 1] @ drive])
    toeplitz = np.zeros((length, length))  # T^T: x @ T^T gives the zero-state block output
    for m in range(length):
        toeplitz[m, m:] = impulse[: length - m]
    powers_b = np.empty((length, order))  # A^k B, k = 0 .. L-1
    powers_b[0] = drive
    for k in range(1, length):
        powers_b[k] = state @ powers_b[k - 1]
    gather = powers_b[::-1].copy()  # G: row m is A^(L-1-m) B
    block_step = np.linalg.matrix_power(state, length)  # P
    p_powers = np.empty((group + 1, order, order))  # P^i
    p_powers[0] = np.eye(order)
    for i in range(1, group + 1):
        p_powers[i] = block_step @ p_powers[i - 1]
    # Q[(i, a), (j, c)] = (P^(i-1-j))[a, c] for j < i: a group's block states from its U's
    q = np.zeros((group + 1, order, group, order))
    for i in range(1, group + 1):
        for j in range(i):
            q[i, :, j, :] = p_powers[i - 1 - j]
    q = q.reshape((group + 1) * order, group * order)
    # only the Toeplitz product (L MACs a sample) runs in float32: the impulse response is
    # well scaled there; the state terms cancel against each other, so they stay float64
    return toeplitz.astype(np.float32), rows.T.copy(), gather, q, p_powers


def _biquad_state_space(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """(A, B, C, D) of a biquad in transposed direct form II: s' = A s + B x, y = C s + D x."""
    state = np.array([[-a[1], 1.0], [-a[2], 0.0]])
    drive = np.array([b[1] - a[1] * b[0], b[2] - a[2] * b[0]])
    return state, drive, np.array([1.0, 0.0]), float(b[0])


_KW_BLOCK = 128  # samples per block (the Toeplitz product costs this many MACs a sample)
_KW_GROUP = 64  # blocks per group in the block-state recursion
_KW_CHUNK_GROUPS = 8  # groups filtered at a time (8 x 8192 samples)


def k_weighting(x: np.ndarray, rate: int) -> np.ndarray:
    """``x`` (1-D) through the BS.1770 K-weighting filters, equal to the recursive filter
    (``scipy.signal.lfilter`` of pyloudnorm's two biquads) to float32 precision; float32 out.
    Works through ``x`` a few groups at a time, so temporaries stay small for long audio."""
    toeplitz, observe, gather, q, p_powers = _k_weighting_blocks(int(rate))
    length, group, order = _KW_BLOCK, _KW_GROUP, gather.shape[1]
    n = x.shape[0]
    span = length * group
    n_groups = max(1, -(-n // span))
    step = _KW_CHUNK_GROUPS

    def blocks(g0: int) -> np.ndarray:  # groups g0 .. g0+step as (blocks, L), zero-padded
        part = np.asarray(x[g0 * span : (g0 + step) * span], dtype=np.float32)
        size = min(step, n_groups - g0) * span
        if part.shape[0] < size:
            part = np.concatenate([part, np.zeros(size - part.shape[0], np.float32)])
        return part.reshape(-1, length)

    # pass 1: each block's zero-state end state U[k] (float64), then every block's start state:
    # within a group from the group's start state and U's (one product), groups in sequence
    inputs = np.concatenate([blocks(g0) @ gather for g0 in range(0, n_groups, step)])
    from_inputs = (inputs.reshape(n_groups, group * order) @ q.T).reshape(n_groups, group + 1, order)
    starts = np.empty((n_groups, order))
    current = np.zeros(order)
    jump = p_powers[group]
    for g in range(n_groups):
        starts[g] = current
        current = jump @ current + from_inputs[g, group]
    states = np.einsum("iab,gb->gia", p_powers[:group], starts) + from_inputs[:, :group]
    states = states.reshape(-1, order)
    # pass 2: the output, block by block: zero-state part plus the start state's ring
    out = np.empty(n, dtype=np.float32)
    for g0 in range(0, n_groups, step):
        y = blocks(g0) @ toeplitz
        first = g0 * group
        y += (states[first : first + y.shape[0]] @ observe).astype(np.float32)
        piece = y.reshape(-1)
        out[g0 * span : g0 * span + piece.shape[0]] = piece[: n - g0 * span]
    return out


def k_weighted_power(audio: np.ndarray, rate: int) -> np.ndarray:
    """Per-sample K-weighted power summed over channels (BS.1770 weights 1.0 for L/R), float32."""
    x = audio if audio.ndim == 2 else audio[:, None]
    power = np.zeros(x.shape[0], dtype=np.float32)
    for channel in range(x.shape[1]):
        y = k_weighting(np.asarray(x[:, channel], dtype=np.float32), rate)
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


def _gated(z: np.ndarray, relative_lu: float) -> np.ndarray:
    """The blocks' mean-square values that pass the absolute gate (-70 LUFS) and the relative
    gate ``relative_lu`` below the power mean of those (BS.1770-4: -10; EBU Tech 3342: -20)."""
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10.0 * np.log10(z)
    audible = z[lufs >= _SILENCE_LUFS]
    if audible.size == 0:
        return audible
    relative = -0.691 + 10.0 * np.log10(audible.mean()) + relative_lu
    return z[(lufs > relative) & (lufs >= _SILENCE_LUFS)]


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
    kept = _gated(z, -10.0)
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


def loudness_range(audio: np.ndarray, rate: int) -> float | None:
    """Loudness range (LRA) in LU, EBU Tech 3342: short-term loudness (3 s windows, every
    100 ms), absolute gate -70 LUFS, relative gate 20 LU below their power mean, then the
    spread between the 10th and 95th percentiles. ``None`` for audio shorter than 3 s or silence.
    ``audio``: (n,) mono or (n, channels)."""
    x = audio if audio.ndim == 2 else audio[:, None]
    hop = round(0.1 * rate)
    if x.shape[0] < 30 * hop:
        return None
    chunks = _chunk_sums(k_weighted_power(x, rate), hop, None)
    cumulative = np.concatenate([[0.0], np.cumsum(chunks)])
    z = (cumulative[30:] - cumulative[:-30]) / (30 * hop)  # 3 s windows, 100 ms apart
    kept = _gated(z, -20.0)
    if kept.size == 0:
        return None
    # the sorted values at floor(p (n - 1)), as libebur128 (ffmpeg's meter) reads them
    low, high = np.percentile(-0.691 + 10.0 * np.log10(kept), [10.0, 95.0], method="lower")
    return float(high - low)
