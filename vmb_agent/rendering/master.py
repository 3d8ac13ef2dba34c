"""Light mastering: reverb, bus compression, loudness normalisation and a true-peak ceiling.

The chain: a DC blocker, the style's EQ and a reverb (pedalboard) -> a look-ahead bus compressor -> Gain (to the loudness target)
-> a look-ahead limiter (numpy; JUCE's limiter in pedalboard is a makeup-gain compressor), then
the integrated loudness (ITU-R BS.1770-4, vmb_agent.dsp) and the true peak (4x polyphase
oversampling) are measured and corrected until the mix sits at -14 LUFS +-1 with true peak
<= -1 dBTP. ``MasterSettings`` is plain data so styles can tune their room and EQ
(:data:`STYLE_EQ`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmb_agent.dsp import (
    gated_loudness,
    integrated_loudness,
    k_weighted_power,
    k_weighting,
    lowpass_fir,
    moving_average,
    moving_minimum,
)

TARGET_LUFS = -14.0
TRUE_PEAK_CEILING_DBTP = -1.0


#: The DC blocker: a first-order high-pass well below music. Samples in some fonts carry a DC
#: offset that a note's envelope turns into a slow swell (a jazz mix measured a mean of +0.054).
DC_BLOCK_HZ = 10.0
#: Per-style colour, applied before the reverb (linear, so stems still sum to the mix):
#: (filter, cutoff Hz[, gain dB[, Q]]) with pedalboard's filters. Lo-fi is dusty and warm (the
#: top rolled off), rock has presence, electronic a sub and air lift, acoustic styles lose rumble.
STYLE_EQ: dict[str, tuple[tuple[Any, ...], ...]] = {
    "lofi": (("lowpass", 7000.0), ("low_shelf", 180.0, 2.0)),
    "rock": (("highpass", 35.0), ("peak", 2800.0, 2.0, 0.8)),
    "electronic": (("low_shelf", 90.0, 2.0), ("high_shelf", 9000.0, 1.5)),
    "chiptune": (("highpass", 60.0),),
    "cinematic": (("highpass", 28.0), ("low_shelf", 120.0, 1.5)),
    "ambient": (("high_shelf", 6000.0, -2.0),),
    "jazz": (("highpass", 35.0), ("high_shelf", 8000.0, -1.5)),
    "folk": (("highpass", 45.0),),
    "pop": (("highpass", 30.0), ("high_shelf", 10000.0, 1.5)),
    "piano": (("highpass", 30.0),),
}


@dataclass(frozen=True)
class MasterSettings:
    reverb_wet: float = 0.18
    room_size: float = 0.5
    eq: tuple[tuple[Any, ...], ...] = ()  # see STYLE_EQ
    # a gentle bus compressor that only touches the loud passages (the gain-staged mix peaks
    # around -6 dBFS): the sections' arc (loudness range) survives mastering
    compressor_threshold_db: float = -12.0
    compressor_ratio: float = 2.0
    compressor_attack_ms: float = 15.0
    compressor_release_ms: float = 180.0
    target_lufs: float = TARGET_LUFS
    true_peak_dbtp: float = TRUE_PEAK_CEILING_DBTP
    fade_out_s: float = 0.0  # a quadratic fade at the end, before the final measurement


@dataclass(frozen=True)
class MasterReport:
    loudness_lufs: float | None
    true_peak_dbtp: float
    gain_db: float  # the make-up gain applied before the limiter
    #: every gain applied after the reverb, per sample (compressor x make-up x limiter x fade x
    #: true-peak trim): ``mastered = reverb(mix) * gain_curve``; kept only when asked (stems)
    gain_curve: np.ndarray | None = None


@functools.cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS (OpenBLAS under numpy) on one thread inside the block. The K-weighting filter's
    block products are small: with a second BLAS thread they took 7x the CPU *and* wall time
    on the shared 2-core machine (0.69 s instead of 0.095 s for a minute of stereo, load ~5),
    the waiting thread spinning against the work. Process-wide while it lasts."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@functools.lru_cache(maxsize=4)
def _oversampling_phases(oversample: int, taps_per_phase: int = 12) -> np.ndarray:
    """Polyphase low-pass for true-peak oversampling (BS.1770-4 Annex 2 style: 48 taps for 4x)."""
    taps = lowpass_fir(oversample * taps_per_phase, 0.9 / oversample, "blackman") * oversample
    return taps.reshape(taps_per_phase, oversample).T  # (phase, taps)


def true_peak_dbtp(audio: np.ndarray, oversample: int = 4) -> float:
    """True peak in dBTP: the peak of the signal oversampled ``oversample`` times (polyphase
    FIR interpolation, as in ITU-R BS.1770-4 Annex 2).

    Exact but fast: an interpolated value is at most ``L1`` (the largest phase's absolute tap
    sum) times the largest sample in its window, so only outputs whose window holds a sample
    above ``sample_peak / L1`` can beat the sample peak — only those are computed.
    """
    if audio.size == 0:
        return float("-inf")
    x = audio if audio.ndim == 2 else audio[:, None]
    phases = _oversampling_phases(oversample).astype(np.float32)  # (phase, taps)
    kernel = np.ascontiguousarray(phases[:, ::-1].T)  # (taps, phase): convolution as a product
    l1 = float(np.abs(phases).sum(axis=1).max())
    sample_peak = max(float(np.max(np.abs(x[:, c]))) for c in range(x.shape[1]))
    if sample_peak <= 0.0:
        return float("-inf")
    threshold = sample_peak / l1
    # the channels are independent: the second is searched in a thread (numpy's gathers and
    # products release the GIL), beside the first
    with ThreadPoolExecutor(max_workers=1) as pool:
        others = [pool.submit(_channel_true_peak, x[:, c], threshold, kernel)
                  for c in range(1, x.shape[1])]  # fmt: skip
        peaks = [_channel_true_peak(x[:, 0], threshold, kernel)]
        peaks += [other.result() for other in others]
    best = max(sample_peak, *peaks)
    return 20.0 * float(np.log10(max(best, 1e-12)))


def _channel_true_peak(signal: np.ndarray, threshold: float, kernel: np.ndarray) -> float:
    """The largest oversampled value of one channel among the outputs whose window holds a
    sample above ``threshold`` (0 if none does)."""
    taps = kernel.shape[0]
    candidates = np.flatnonzero(np.abs(signal) > threshold)
    if candidates.size == 0:
        return 0.0
    mask = np.zeros(signal.shape[0] + taps, dtype=bool)
    for k in range(taps):  # output n sees samples n-taps+1 .. n
        mask[candidates + k] = True
    outputs = np.flatnonzero(mask)
    padded = np.concatenate([np.zeros(taps - 1, np.float32), signal.astype(np.float32),
                             np.zeros(taps, np.float32)])  # fmt: skip
    offsets = np.arange(taps)
    best = 0.0
    for start in range(0, outputs.size, 1 << 18):
        chunk = outputs[start : start + (1 << 18)]
        values = padded[chunk[:, None] + offsets[None, :]] @ kernel
        best = max(best, float(np.max(np.abs(values))))
    return best


def _db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def limiter_gain(audio: np.ndarray, sample_rate: int, ceiling_db: float,
                 lookahead_ms: float = 5.0) -> np.ndarray | None:  # fmt: skip
    """Per-sample gain of a look-ahead peak limiter (None when no sample exceeds the ceiling):
    the gain each sample needs, held over +-lookahead (minimum filter) and smoothed by a box of
    the same length, so it dips smoothly *before* each peak and never lets one through."""
    ceiling = _db(ceiling_db)
    needed = np.abs(audio[:, 0])
    for channel in range(1, audio.shape[1]):
        np.maximum(needed, np.abs(audio[:, channel]), out=needed)
    if float(needed.max(initial=0.0)) <= ceiling:
        return None
    # needed gain = min(1, ceiling / peak), computed in place
    np.maximum(needed, np.float32(1e-12), out=needed)
    np.divide(np.float32(ceiling), needed, out=needed)
    np.minimum(needed, np.float32(1.0), out=needed)
    width = max(1, int(sample_rate * lookahead_ms / 1000.0))
    held = moving_minimum(needed, 2 * width + 1, mode="nearest")
    gain = moving_average(held, width, mode="nearest")
    del held
    return np.minimum(gain, needed, out=gain)


_COMPRESSOR_HOP = 32  # samples per level reading (0.7 ms): the gain moves over ~100 ms


def compressor_gain(audio: np.ndarray, sample_rate: int, settings: MasterSettings) -> np.ndarray:
    """Per-sample gain of a stereo-linked feed-forward bus compressor.

    Level: the RMS over the attack time (both channels); above the threshold the gain falls by
    ``1 - 1/ratio`` dB per dB. The reduction is held over the attack time and box-smoothed over
    half the release time: a look-ahead design (it starts to act just before a loud onset) made
    of moving windows, so it is vectorised and — being a gain curve, not a black box — the very
    same gain can be applied to each stem, which then sums to the mix. The level is read every
    ``_COMPRESSOR_HOP`` samples and the gain interpolated linearly between readings, so no
    full-length temporary is made but the curve itself.
    """
    hop = _COMPRESSOR_HOP
    n = audio.shape[0]
    n_hops = -(-n // hop)
    energy = np.zeros(n_hops, dtype=np.float64)
    for channel in range(audio.shape[1]):
        x = np.ascontiguousarray(audio[:, channel])
        full = (n // hop) * hop
        frames = x[:full].reshape(-1, hop)
        energy[: frames.shape[0]] += np.einsum("ij,ij->i", frames, frames, dtype=np.float64)
        if full < n:
            energy[-1] += float(np.dot(x[full:], x[full:]))
    counts = np.full(n_hops, float(hop * audio.shape[1]))
    counts[-1] = (n - (n_hops - 1) * hop) * audio.shape[1]
    attack = max(1, round(sample_rate * settings.compressor_attack_ms / 1000.0 / hop))
    release = max(1, round(sample_rate * settings.compressor_release_ms / 2000.0 / hop))
    level = moving_average(energy / counts, attack, mode="nearest")
    over_db = 10.0 * np.log10(np.maximum(level, 1e-12)) - settings.compressor_threshold_db
    reduction = np.maximum(over_db, 0.0) * (1.0 - 1.0 / settings.compressor_ratio)
    held = -moving_minimum(-reduction, 2 * attack + 1, mode="nearest")
    gain = 10.0 ** (-moving_average(held, release, mode="nearest") / 20.0)  # one per hop
    # linear within each hop, between the gains at its edges (means of the neighbouring hops)
    edges = np.concatenate([gain[:1], (gain[:-1] + gain[1:]) / 2, gain[-1:]]).astype(np.float32)
    curve = np.empty((n_hops, hop), dtype=np.float32)
    np.multiply((edges[1:] - edges[:-1])[:, None], np.arange(hop, dtype=np.float32) / hop, out=curve)
    curve += edges[:-1, None]
    return curve.reshape(-1)[:n]


def limit(
    audio: np.ndarray, sample_rate: int, ceiling_db: float, lookahead_ms: float = 5.0
) -> np.ndarray:
    """Apply :func:`limiter_gain` to ``(n, channels)`` audio."""
    gain = limiter_gain(audio, sample_rate, ceiling_db, lookahead_ms)
    return audio if gain is None else (audio * gain[:, None]).astype(np.float32)


def _eq_filter(spec: tuple[Any, ...]) -> Any:
    import pedalboard

    kind, cutoff, *rest = spec
    if kind == "lowpass":
        return pedalboard.LowpassFilter(cutoff_frequency_hz=cutoff)
    if kind == "highpass":
        return pedalboard.HighpassFilter(cutoff_frequency_hz=cutoff)
    gain = rest[0]
    if kind == "low_shelf":
        return pedalboard.LowShelfFilter(cutoff_frequency_hz=cutoff, gain_db=gain)
    if kind == "high_shelf":
        return pedalboard.HighShelfFilter(cutoff_frequency_hz=cutoff, gain_db=gain)
    return pedalboard.PeakFilter(cutoff_frequency_hz=cutoff, gain_db=gain, q=rest[1])


def _reverb(settings: MasterSettings) -> Any:
    """The linear part of the chain: the DC blocker, the style's EQ, then the room."""
    from pedalboard import HighpassFilter, Pedalboard, Reverb

    return Pedalboard(
        [HighpassFilter(cutoff_frequency_hz=DC_BLOCK_HZ),
         *(_eq_filter(spec) for spec in settings.eq),
         Reverb(room_size=settings.room_size, damping=0.5, wet_level=settings.reverb_wet,
                dry_level=1.0 - settings.reverb_wet * 0.5, width=1.0)]
    )  # fmt: skip


def master(
    audio: np.ndarray,
    sample_rate: int,
    settings: MasterSettings | None = None,
    *,
    keep_gain_curve: bool = False,
    measure_loudness: bool = True,
) -> tuple[np.ndarray, MasterReport]:
    """Master a ``(n, 2)`` float mix; returns the mastered float32 audio (a ``(n, 2)`` view,
    possibly not C-contiguous) and what was measured. ``measure_loudness=False`` leaves the
    final loudness out of the report (None) for a caller that measures it later, off its
    critical path (``integrated_loudness`` of the audio gives the very same value).

    The chain is the (linear) reverb, then gains only: compressor, make-up, limiter, fade and
    true-peak trim. With ``keep_gain_curve`` their product comes back in the report, so that
    :func:`stem_chain` gives stems that sum to the mastered mix.

    The limiter's gain changes slowly next to the K-weighting filters, so while searching for
    the make-up gain the loudness of ``gain(t) * x`` is estimated from x's K-weighted power
    (filtered once); the reported loudness is measured on the final audio.
    """
    with one_blas_thread():
        return _master(audio, sample_rate, settings or MasterSettings(),
                       keep_gain_curve, measure_loudness)  # fmt: skip


def _master(
    audio: np.ndarray,
    sample_rate: int,
    settings: MasterSettings,
    keep_gain_curve: bool,
    measure_loudness: bool,
) -> tuple[np.ndarray, MasterReport]:
    # pedalboard wants (channels, samples); everything below works on the (samples, channels)
    # view of its output, so no extra full-length copies are made
    colored = _reverb(settings)(np.ascontiguousarray(audio.T, dtype=np.float32), sample_rate).T
    compression = compressor_gain(colored, sample_rate, settings)
    colored *= compression[:, None]
    power = _k_weighted_power(colored, sample_rate)
    loudness = gated_loudness(power, sample_rate)
    if loudness is None:  # silence stays silence
        out = np.ascontiguousarray(colored, dtype=np.float32)
        return out, MasterReport(None, true_peak_dbtp(out), 0.0,
                                 compression if keep_gain_curve else None)  # fmt: skip

    # Gain to the target, limit the peaks, re-estimate (limiting costs a little loudness).
    # Limiting g * x at a ceiling c is limiting x at c / g: no scaled copy is needed.
    ceiling = settings.true_peak_dbtp - 1.0  # sample-peak ceiling; inter-sample overs are rarer
    gain_db = settings.target_lufs - loudness
    for _ in range(3):
        gain = limiter_gain(colored, sample_rate, ceiling - gain_db)
        if gain is None:  # nothing to limit: the gain alone sets the loudness
            break
        weight = np.square(gain, dtype=np.float32) * np.float32(_db(gain_db) ** 2)
        estimate = gated_loudness(power, sample_rate, weight)
        del weight
        error = settings.target_lufs - (estimate if estimate is not None else settings.target_lufs)
        if abs(error) <= 0.2:
            break
        gain_db += error
        del gain
    else:  # out of iterations: apply the last correction too
        gain = limiter_gain(colored, sample_rate, ceiling - gain_db)
    del power
    # every gain after the compressor as one curve: make-up x limiter x fade (x true-peak trim)
    after = gain if gain is not None else np.ones(colored.shape[0], dtype=np.float32)
    after *= np.float32(_db(gain_db))
    fade_out(after[:, None], sample_rate, settings.fade_out_s)  # measured as it will be heard
    out = colored  # a (samples, channels) view of the board's output, scaled in place
    out *= after[:, None]
    peak = true_peak_dbtp(out)
    if peak > settings.true_peak_dbtp - 0.05:  # the true-peak promise wins over loudness
        trim = np.float32(_db(settings.true_peak_dbtp - 0.1 - peak))
        out *= trim
        after *= trim
        peak = true_peak_dbtp(out)
    curve = np.multiply(compression, after, out=compression) if keep_gain_curve else None
    del after, gain
    measured = integrated_loudness(out, sample_rate) if measure_loudness else None
    report = MasterReport(
        None if measured is None else round(measured, 2), round(peak, 2), round(gain_db, 2), curve
    )
    return out, report


def _k_weighted_power(audio: np.ndarray, rate: int) -> np.ndarray:
    """``dsp.k_weighted_power``, the channels after the first filtered in a second thread (the
    filter's block products release the GIL): the same numbers, summed in the same order, in
    about half the time when a core is free."""
    if audio.ndim != 2 or audio.shape[1] < 2:
        return k_weighted_power(audio, rate)

    def squared(channel: int) -> np.ndarray:
        y = k_weighting(np.asarray(audio[:, channel], dtype=np.float32), rate)
        return np.multiply(y, y, out=y)

    with ThreadPoolExecutor(max_workers=1) as pool:
        others = [pool.submit(squared, c) for c in range(1, audio.shape[1])]
        power = np.zeros(audio.shape[0], dtype=np.float32)
        power += squared(0)
        for other in others:
            power += other.result()
    return power


def fade_out(audio: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """A quadratic fade over the last ``seconds`` of ``(n, channels)`` audio, in place."""
    n = min(audio.shape[0], int(seconds * sample_rate))
    if n > 1:
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)[:, None] ** 2
    return audio


def stem_chain(
    audio: np.ndarray, sample_rate: int, settings: MasterSettings, report: MasterReport
) -> np.ndarray:
    """A stem through the mix's reverb and then the mix's own gains (``report.gain_curve``, from
    ``master(..., keep_gain_curve=True)``): the stems of a piece sum to its mastered mix."""
    if report.gain_curve is None:
        raise ValueError("master(..., keep_gain_curve=True) keeps the gains the stems need")
    wet = _reverb(settings)(np.ascontiguousarray(audio.T, dtype=np.float32), sample_rate).T
    wet *= report.gain_curve[:, None]
    return np.ascontiguousarray(wet, dtype=np.float32)


__all__ = [
    "STYLE_EQ",
    "MasterReport",
    "MasterSettings",
    "compressor_gain",
    "fade_out",
    "gated_loudness",
    "integrated_loudness",
    "k_weighted_power",
    "limit",
    "limiter_gain",
    "master",
    "one_blas_thread",
    "stem_chain",
    "true_peak_dbtp",
]
