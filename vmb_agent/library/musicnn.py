"""musicnn in numpy: the music audio tagger of Pons & Serra (MTG, 2019; ISC licence), no TensorFlow.

``musicnn`` 0.1.0 ships TF1 checkpoints; ``benchmarks/convert_musicnn.py`` turned them into the
``vmb_agent/data/musicnn/*.npz`` read here. This module reproduces ``musicnn.extractor``:

* audio: mono (mean of channels), resampled to 16 kHz like ``librosa.load`` with resampy's
  ``kaiser_best`` filter (the same windowed sinc, applied as one matrix product);
* log-mel: librosa's ``melspectrogram`` (centred, zero-padded, periodic-Hann STFT of 512
  samples, hop 256, power 2; 96 Slaney mel bands, 0-8 kHz, Slaney area normalisation), cast to
  float16 as musicnn does, then ``log10(10000 * mel + 1)`` in float32 (as under NumPy 1.x);
* patches of 187 frames (3 s), not overlapping, the last partial patch dropped;
* the network: input batch-norm; timbral convs 7x38 and 7x67 and temporal convs 128/64/32x1, each
  ReLU, batch-norm and max over frequency; three 7-frame convs with residual connections; max and
  mean over time; dense 200 (ReLU, batch-norm) and 50 sigmoid outputs.

Everything runs in float32; convolutions are im2col matrix products. On 12 generated pieces the
tag probabilities are within 1.4e-5 of the original's for 16 kHz input and 3.3e-4 for 44.1 kHz
stereo (``benchmarks/bench_tagger.py``). The resampler matters: scipy's default ``resample_poly``
filter keeps the top three mel bands (7.3-8 kHz) that kaiser_best's roll-off empties, and that
alone moves tag probabilities by up to 0.7 on the same pieces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "musicnn"
MODELS = ("MTT_musicnn", "MSD_musicnn")
SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
#: librosa.time_to_frames(3 s) + 1: the patch length the models were trained on
PATCH_FRAMES = 187
FRONTEND = ("timbral74", "timbral77", "temporal128", "temporal64", "temporal32")
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
# resampy 0.4's "kaiser_best" filter (what librosa.load uses by default up to librosa 0.9):
# a Kaiser-windowed sinc with 50 zero crossings a side; fitted to its table to 5e-8.
_RESAMPLE_ZEROS = 50
_RESAMPLE_ROLLOFF = 0.9173473712608761
_RESAMPLE_BETA = 12.984585


# ---------------------------------------------------------------------------------------------
# Front-end: audio -> log-mel patches
# ---------------------------------------------------------------------------------------------


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Mean over channels of ``(n,)``, ``(n, channels)`` or ``(channels, n)`` audio, float32."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"audio must be 1-D or 2-D, not {audio.ndim}-D")
    channel_axis = 1 if audio.shape[1] <= audio.shape[0] else 0
    return audio.mean(axis=channel_axis, dtype=np.float32)


def _sinc(t: np.ndarray, scale: float) -> np.ndarray:
    """resampy's windowed sinc at ``t`` input samples; ``scale`` = min(1, new rate / old)."""
    x = np.abs(t) * scale  # in zero crossings of the filter
    taper = np.i0(_RESAMPLE_BETA * np.sqrt(np.clip(1 - (x / _RESAMPLE_ZEROS) ** 2, 0, 1)))
    taper /= np.i0(_RESAMPLE_BETA)
    return scale * _RESAMPLE_ROLLOFF * np.sinc(_RESAMPLE_ROLLOFF * x) * taper


@lru_cache(maxsize=8)
def _resample_matrix(up: int, down: int) -> tuple[np.ndarray, int, int]:
    """The filter as a matrix: ``k * up`` outputs from a window of ``k * down + 2 * reach``
    inputs; returns (matrix, k, reach). One matrix product then resamples a whole signal,
    ~6x faster than scipy's ``resample_poly`` with this long (50 zero crossings) filter."""
    scale = min(1.0, up / down)  # downsampling lowers the cutoff to the new Nyquist
    reach = int(np.ceil(_RESAMPLE_ZEROS / scale))
    k = max(1, -(-128 // up))  # at least 128 outputs a block, for an efficient product
    inputs = np.arange(k * down + 2 * reach)[None, :] - reach
    outputs = np.arange(k * up)[:, None] * down / up
    return _sinc(inputs - outputs, scale).astype(np.float32), k, reach


def resample(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 audio at ``sample_rate`` -> 16 kHz, as ``librosa.load(sr=16000)`` does."""
    if sample_rate == SAMPLE_RATE:
        return audio
    g = gcd(int(sample_rate), SAMPLE_RATE)
    up, down = SAMPLE_RATE // g, int(sample_rate) // g
    # resampy keeps floor(n * ratio) samples and librosa zero-pads that to ceil(n * ratio)
    n_out, keep = -(-len(audio) * up // down), len(audio) * up // down
    if up * down > 1_000_000:  # an odd rate: the matrix would be too big
        from scipy.signal import resample_poly

        scale = min(1.0, up / down)
        half = int(_RESAMPLE_ZEROS * up / scale)
        fir = _sinc(np.arange(-half, half + 1) / up, scale) / up  # resample_poly scales by up
        out = resample_poly(audio.astype(np.float64), up, down, window=fir).astype(np.float32)
    else:
        matrix, k, reach = _resample_matrix(up, down)
        blocks = -(-n_out // (k * up))
        padded = np.zeros(blocks * k * down + 2 * reach, dtype=np.float32)
        padded[reach : reach + len(audio)] = audio
        windows = sliding_window_view(padded, matrix.shape[1])[:: k * down][:blocks]
        out = (windows @ matrix.T).reshape(-1)[:n_out]
    out[keep:] = 0.0
    return out


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)``: (96, 257) float32 triangles,
    each scaled to unit area (Slaney's ``norm='slaney'``)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    widths = np.diff(mel_edges)
    ramps = mel_edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_edges[2:] - mel_edges[:-2]))[:, None]
    return weights.astype(np.float32)


def log_mel(audio16k: np.ndarray) -> np.ndarray:
    """Mono 16 kHz audio -> musicnn's (frames, 96) log-mel, frames = 1 + len // 256."""
    from scipy.fft import rfft

    if len(audio16k) <= N_FFT // 2:
        raise ValueError("audio too short for a spectrogram frame (needs > 16 ms)")
    # librosa >= 0.9 pads with zeros (0.7, which musicnn was trained with, reflected): the
    # original as installed today is the reference; only the first frame differs
    padded = np.pad(audio16k.astype(np.float32), N_FFT // 2)
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = rfft(frames * window, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = power @ mel_filterbank().T
    # musicnn stores the mel as float16; its log ran in float32 under NumPy 1.x
    mel = mel.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000) * mel + np.float32(1))


def patches(logmel: np.ndarray) -> np.ndarray:
    """(frames, 96) -> (n, 187, 96) consecutive 3 s patches, the last partial one dropped.

    Shorter input (which musicnn itself rejects) is repeated to one patch, as its training
    padded short clips ("repeat-pad")."""
    if len(logmel) < PATCH_FRAMES:
        reps = -(-PATCH_FRAMES // len(logmel))
        logmel = np.tile(logmel, (reps, 1))[:PATCH_FRAMES]
    n = len(logmel) // PATCH_FRAMES
    return np.ascontiguousarray(logmel[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS))


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Affine:
    """A batch-norm at inference, folded: ``x * scale + shift``."""

    scale: np.ndarray
    shift: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.shift


def _affine(w: dict[str, np.ndarray], name: str) -> Affine:
    gamma, beta = w[f"{name}.gamma"], w[f"{name}.beta"]
    mean, var = w[f"{name}.mean"], w[f"{name}.var"]
    scale = gamma / np.sqrt(var + np.float32(BN_EPSILON))
    return Affine(scale.astype(np.float32), (beta - mean * scale).astype(np.float32))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0), out=x)


class Musicnn:
    """One musicnn model (``MTT_musicnn`` or ``MSD_musicnn``) with its 50 tags."""

    def __init__(self, name: str, weights: dict[str, np.ndarray], tags: list[str]) -> None:
        self.name = name
        self.tags = tuple(tags)
        w = {k: v.astype(np.float32) for k, v in weights.items()}
        self.w = w
        gammas = [k[: -len(".gamma")] for k in w if k.endswith(".gamma")]
        self.bn = {name: _affine(w, name) for name in gammas}
        # kernels as (taps, out) matrices for im2col products
        self.mat = {
            name: w[f"{name}.kernel"].reshape(-1, w[f"{name}.kernel"].shape[-1])
            for name in ("timbral74", "timbral77", "temporal128", "temporal64", "temporal32",
                         "mid1", "mid2", "mid3")
        }  # fmt: skip
        # The front-end takes max over frequency of BN(ReLU(conv + bias)). ReLU and a BN with
        # scale s are monotone, so that is BN(ReLU(max conv + bias)) where s > 0 and
        # BN(ReLU(min conv + bias)) where s < 0: flipping those kernels' signs lets one max over
        # the raw products replace the per-bin bias, ReLU and BN (exact, and 2x faster).
        self.sign = {
            name: np.where(self.bn[f"{name}_bn"].scale < 0, -1, 1).astype(np.float32)
            for name in FRONTEND
        }
        self.signed = {name: self.mat[name] * self.sign[name] for name in FRONTEND}

    def _dense(self, name: str, x: np.ndarray) -> np.ndarray:
        return x @ self.w[f"{name}.kernel"] + self.w[f"{name}.bias"]

    def _conv(self, name: str, cols: np.ndarray) -> np.ndarray:
        """im2col rows @ kernel + bias, ReLU, batch-norm (the order musicnn uses)."""
        out = _relu(cols @ self.mat[name] + self.w[f"{name}.bias"])
        return self.bn[f"{name}_bn"](out)

    def _conv_max(self, name: str, cols: np.ndarray, frames: int) -> np.ndarray:
        """max over frequency of BN(ReLU(conv)) for im2col rows ordered (frame, bin)."""
        products = (cols @ self.signed[name]).reshape(frames, -1, len(self.sign[name]))
        extreme = products.max(axis=1) * self.sign[name] + self.w[f"{name}.bias"]
        return self.bn[f"{name}_bn"](_relu(extreme))

    def _frontend(self, x: np.ndarray) -> np.ndarray:
        """(187, 96) normalised log-mel -> (187, 561) timbral and temporal features."""
        frames = x.shape[0]
        padded = np.pad(x, ((3, 3), (0, 0)))
        features = []
        for name in ("timbral74", "timbral77"):
            width = self.w[f"{name}.kernel"].shape[1]
            cols = sliding_window_view(padded, (7, width)).reshape(-1, 7 * width)
            features.append(self._conv_max(name, cols, frames))
        for name in ("temporal128", "temporal64", "temporal32"):
            k = self.w[f"{name}.kernel"].shape[0]
            # TF "same": (k - 1) // 2 zeros before, the rest after
            same = np.pad(x, (((k - 1) // 2, k // 2), (0, 0)))
            cols = sliding_window_view(same, k, axis=0).reshape(-1, k)  # (frames * 96, k)
            features.append(self._conv_max(name, cols, frames))
        return np.concatenate(features, axis=1)

    def _midend(self, front: np.ndarray) -> np.ndarray:
        """(187, 561) -> (187, 753): the front-end and three residual 7-frame conv layers."""
        layers = [front]
        x = front
        for i, name in enumerate(("mid1", "mid2", "mid3")):
            padded = np.pad(x, ((3, 3), (0, 0)))
            cols = sliding_window_view(padded, 7, axis=0).transpose(0, 2, 1)
            out = self._conv(name, cols.reshape(len(x), -1))
            x = out if i == 0 else out + x
            layers.append(x)
        return np.concatenate(layers, axis=1)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """(n, 187, 96) log-mel patches -> (n, 50) tag probabilities."""
        pooled = []
        for patch in np.asarray(batch, dtype=np.float32):
            mid = self._midend(self._frontend(self.bn["input_bn"](patch)))
            # TF concatenates (753, 1) max and mean and flattens: max, mean interleaved
            pooled.append(np.stack([mid.max(axis=0), mid.mean(axis=0)], axis=1).reshape(-1))
        x = self.bn["pool_bn"](np.array(pooled, dtype=np.float32))
        x = self.bn["dense_bn"](_relu(self._dense("dense", x)))
        logits = self._dense("out", x)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


@lru_cache(maxsize=len(MODELS))
def load_model(name: str = "MTT_musicnn") -> Musicnn:
    """The packaged model ``name`` (one of :data:`MODELS`), loaded once per process."""
    if name not in MODELS:
        raise ValueError(f"unknown musicnn model {name!r}; allowed: {', '.join(MODELS)}")
    with np.load(DATA_DIR / f"{name}.npz") as data:
        weights = {key: data[key] for key in data.files}
    tags = json.loads((DATA_DIR / f"{name}.tags.json").read_text("utf-8"))
    return Musicnn(name, weights, tags)


def taggram(audio: np.ndarray, sample_rate: int, model: str = "MTT_musicnn") -> np.ndarray:
    """(patches, 50) tag probabilities of ``audio`` (any channels, any rate), one row per 3 s."""
    mono = resample(to_mono(audio), sample_rate)
    return load_model(model).forward(patches(log_mel(mono)))
