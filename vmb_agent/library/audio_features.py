"""Audio analysis with numpy/scipy only: tempo, key, loudness, energy, brightness, percussion.

No librosa (its numba JIT costs ~25 s per cold process). The pipeline is the classic one:

1. resample to 22,050 Hz mono; STFT (1024-sample Hann window, hop 256 = 11.6 ms);
2. onset strength = half-wave rectified spectral flux of a log-compressed 64-band mel spectrum
   (for tempo: the bass register below 300 Hz, 300 Hz-2 kHz and the top above 2 kHz, each
   scaled to unit spread, summed with weights 1, 1, 0.5);
3. tempo = the peak of a comb over the onset envelope's autocorrelation (unbiased, tapered
   with a 16 s time constant; lags 1-8x the beat period, weighted 1/m; plus 0.1x the
   half-beat lag, minus 0.4x the 2/3-beat lag) times a log-normal tempo prior (130 BPM,
   1.2 octaves), refined to sub-frame precision; these together decide the metrical level
   (octave) -- unless the caller has a transcription of the audio
   (``analyze_audio(..., transcription=...)``): then the notes choose among the score's peaks
   at the winner's multiples (x1/3 .. x3) the level whose beat holds about two typical notes
   (:func:`_level_from_notes`);
4. key = a chroma vector (:func:`chroma`: STFT bins 65 Hz-1 kHz folded to pitch classes, at
   11,025 Hz with a 4096-point window, semitone centres moved by the estimated tuning when it
   is off by more than 10 cents, minus the third-harmonic leakage into the fifth), each
   frame normalised and summed, handed to :func:`vmb_agent.theory.estimate_key` (the
   Albrecht & Shanahan, Krumhansl & Kessler and Bellman-Budge major/minor profiles, averaged).
   :func:`chroma` is VMB's one chroma: audio references take their chords from it too;
5. loudness = ITU-R BS.1770 integrated loudness (vmb_agent.dsp), energy/brightness/percussiveness
   derived from it, the spectral centroid and a median-filter harmonic/percussive split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vmb_agent.dsp import decimate, find_peaks, integrated_loudness, moving_average
from vmb_agent.errors import InputError, UnsupportedFormatError
from vmb_agent.files import AUDIO_SUFFIXES
from vmb_agent.theory import estimate_key

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.library.transcribe import TranscribedNote, Transcription

ANALYSIS_SR = 22050
N_FFT = 1024
HOP = 256
CHROMA_SR = 11025
CHROMA_FFT = 4096
CHROMA_HOP = 2048
HARMONIC_LEAK = 0.4
#: Tempo onsets are taken in three bands split here (bass register, the middle where a snare's
#: body and most notes start, the top where hi-hats and cymbals live), see _tempo_envelope; a
#: band's scale is floored at TEMPO_BAND_FLOOR times the strongest band's, and the bands are
#: summed with these weights (the top counts half: a steady hi-hat layer is not the beat).
TEMPO_BAND_EDGES_HZ = (300.0, 2000.0)
TEMPO_BAND_WEIGHTS = (1.0, 1.0, 0.5)
TEMPO_BAND_FLOOR = 0.3
#: Chroma tuning (estimate_tuning): the music's offset from A = 440 Hz is estimated from its
#: spectral peaks; the semitone centres move by it when it is more than TUNING_DEADZONE
#: semitones (10 cents: the +-35-cent bins already hold a smaller offset, and the estimate
#: itself varies by a few cents from piece to piece), and by at most MAX_TUNING semitones.
TUNING_DEADZONE = 0.1
MAX_TUNING = 0.3


@dataclass(frozen=True)
class AudioFeatures:
    """What VMB measures from audio. Confidences and 0-1 scores are heuristics, not probabilities."""

    duration_s: float
    tempo_bpm: float | None
    tempo_confidence: float
    key: str | None  # e.g. "A minor"
    key_confidence: float
    loudness_lufs: float | None
    energy: float
    brightness: float
    percussiveness: float
    onset_density: float  # detected onsets per second

    def to_dict(self) -> dict[str, float | str | None]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32 samples and its sample rate.

    WAV/FLAC/OGG (Vorbis, Opus)/MP3/AIFF via libsndfile; anything libsndfile refuses is decoded
    with PyAV (FFmpeg). Raises :class:`InputError` naming the file if it cannot be decoded.
    """
    path = Path(path)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise UnsupportedFormatError(
            f"{path.name!r} is not an audio file VMB reads; allowed: {', '.join(AUDIO_SUFFIXES)}."
        )
    import soundfile

    try:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as sf_error:  # noqa: BLE001 -- libsndfile refused it: try FFmpeg
        try:
            data, sr = _load_with_av(path)
        except Exception:  # noqa: BLE001 -- any decoder failure means 'cannot decode'
            reason = str(sf_error).splitlines()[0] if str(sf_error) else type(sf_error).__name__
            raise InputError(f"cannot decode audio {str(path)!r}: {reason}.") from None
    if data.shape[0] == 0:
        raise InputError(f"audio file {str(path)!r} contains no samples.")
    mono = data.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        raise InputError(f"audio file {str(path)!r} contains NaN or infinite samples.")
    return mono, int(sr)


def _load_with_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    from vmb_agent.describe.media import open_media

    with open_media(path, kinds=("audio",)) as container:
        stream = container.streams.audio[0]
        sr = stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise InputError(f"audio file {str(path)!r} contains no samples.")
    return np.concatenate(chunks)[:, None].astype(np.float32), int(sr)


def audio_metadata_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """Title/artist/genre/... tags stored in the file (ID3, Vorbis comments, RIFF INFO), if any."""
    tags: dict[str, str] = {}
    try:
        from vmb_agent.describe.media import open_media

        with open_media(path, kinds=("audio",)) as container:
            found = dict(container.metadata)
            if container.streams.audio:
                found.update(container.streams.audio[0].metadata)
    except Exception:  # noqa: BLE001 -- tags are optional; the audio is checked elsewhere
        return tags
    for name, value in found.items():
        key = name.lower().strip()
        if key in ("title", "artist", "album", "genre", "composer", "date", "comment", "mood"):
            text = " ".join(str(value).split())
            if text:
                tags[key] = text[:200]
    return tags


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _mono(samples: np.ndarray, sr: int) -> np.ndarray:
    """Validated float32 mono samples."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] <= 16 else x.mean(axis=0)
    if x.ndim != 1:
        raise InputError(f"samples must be 1-D or (n, channels); got shape {x.shape}.")
    if sr < 4000 or sr > 384000:
        raise InputError(f"sample rate {sr} Hz is out of range; allowed: 4000 to 384000.")
    if not np.all(np.isfinite(x)):
        raise InputError("samples contain NaN or infinite values.")
    return x


def _tonal_analysis(x: np.ndarray, sr: int,
                    notes: Sequence[TranscribedNote] | None = None) -> tuple | None:
    """The tempo and key measurements shared by :func:`analyze_audio` and
    :func:`measure_tempo_key`: ``(mag, mel, (tempo, confidence), (key, confidence))`` at the
    analysis rate, or None for silent or too short audio. ``notes`` (a transcription of the
    same audio) choose the tempo's metrical level, see :func:`estimate_tempo`."""
    y = resample(x, sr, ANALYSIS_SR)
    if len(y) < N_FFT * 2 or float(np.max(np.abs(y), initial=0.0)) < 1e-5:
        return None
    mag = _stft_mag(y, N_FFT, HOP)  # (frames, bins)
    mel = mag @ _mel_filterbank(ANALYSIS_SR, N_FFT, 64).T  # (frames, 64)
    tempo = estimate_tempo(_tempo_envelope(mel), ANALYSIS_SR / HOP, notes=notes)
    profile = chroma_profile(chroma(y, ANALYSIS_SR)[0])
    key, key_confidence = estimate_key(profile) if profile.size else (None, 0.0)
    return mag, mel, tempo, (None if key is None else key.name, key_confidence)


def measure_tempo_key(samples: np.ndarray, sr: int) -> tuple[float | None, str | None]:
    """Tempo (BPM) and key of ``samples`` by exactly the code :func:`analyze_audio` uses, without
    the timbre and loudness descriptors (generation's self-check needs only these two)."""
    found = _tonal_analysis(_mono(samples, sr), sr)
    if found is None:
        return None, None
    _, _, (tempo, _), (key, _) = found
    return (None if tempo is None else round(tempo, 2)), key


def analyze_audio(samples: np.ndarray, sr: int, *,
                  transcription: Transcription | None = None) -> AudioFeatures:
    """Measure tempo, key, loudness and timbre descriptors of ``samples``.

    ``samples``: shape ``(n,)`` mono or ``(n, channels)``, float in [-1, 1]; ``sr`` in Hz.
    Silent or very short audio gives ``tempo_bpm=None`` / ``key=None`` with zero confidence.
    ``transcription``: the notes of the same audio
    (:func:`vmb_agent.library.transcribe.transcribe`), when the caller has them: they choose
    the tempo's metrical level (half, double, ...), which the audio alone often reads at double
    tempo for slow pieces (bench_tempo_key.py). An unavailable transcription is the same as none.
    """
    x = _mono(samples, sr)
    duration = len(x) / sr
    loudness = _loudness_lufs(x, sr)
    notes = transcription.notes if transcription is not None and transcription.available \
        else None
    found = _tonal_analysis(x, sr, notes)
    if found is None:
        return AudioFeatures(duration, None, 0.0, None, 0.0, loudness, 0.0, 0.0, 0.0, 0.0)
    mag, mel, (tempo, tempo_conf), (key, key_conf) = found
    onset_env = _onset_envelope(mel)
    onsets = _pick_onsets(onset_env, ANALYSIS_SR / HOP)
    onset_density = len(onsets) / max(duration, 1e-6)

    freqs = np.fft.rfftfreq(N_FFT, 1 / ANALYSIS_SR)
    power = mag.sum(axis=0)
    centroid = float((freqs * power).sum() / max(power.sum(), 1e-12))
    brightness = float(np.clip(np.log2(max(centroid, 1.0) / 300.0) / np.log2(6000 / 300), 0, 1))
    percussiveness = _percussive_fraction(mel)
    level = 0.0 if loudness is None else float(np.clip((loudness + 40.0) / 32.0, 0, 1))
    energy = float(np.clip(0.55 * level + 0.3 * min(onset_density / 8.0, 1.0)
                           + 0.15 * brightness, 0, 1))
    return AudioFeatures(
        duration_s=round(duration, 3),
        tempo_bpm=None if tempo is None else round(tempo, 2),
        tempo_confidence=round(tempo_conf, 3),
        key=key,
        key_confidence=round(key_conf, 3),
        loudness_lufs=None if loudness is None else round(loudness, 2),
        energy=round(energy, 3),
        brightness=round(brightness, 3),
        percussiveness=round(percussiveness, 3),
        onset_density=round(onset_density, 3),
    )


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    """``x`` (1-D) from ``sr`` to ``target`` Hz as float32: numpy decimation for integer
    ratios, else ``scipy.signal.resample_poly`` (the one resampler of the analysis)."""
    if sr == target:
        return x
    if sr % target == 0:  # 44.1 -> 22.05 kHz and 22.05 -> 11.025 kHz: no scipy.signal import
        return decimate(x, sr // target)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr), int(target))
    return resample_poly(x, target // g, sr // g).astype(np.float32)


def _stft_mag(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    pad = n_fft // 2
    y = np.pad(y, (pad, pad))
    n_frames = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n_frames, n_fft), strides=(y.strides[0] * hop, y.strides[0])
    )
    window = np.hanning(n_fft).astype(np.float32)
    return np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32)


def _mel_edges_hz(sr: int, n_mels: int, fmin: float = 30.0,
                  fmax: float | None = None) -> np.ndarray:
    """The n_mels + 2 band edges (Hz) of a mel filterbank: band i spans edges i to i + 2."""
    fmax = fmax or sr / 2

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    return 700.0 * (10 ** (mels / 2595.0) - 1.0)


def _mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 30.0,
                    fmax: float | None = None) -> np.ndarray:
    hz = _mel_edges_hz(sr, n_mels, fmin, fmax)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    bank = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for i in range(n_mels):
        lo, mid, hi = hz[i], hz[i + 1], hz[i + 2]
        rising = (freqs - lo) / max(mid - lo, 1e-9)
        falling = (hi - freqs) / max(hi - mid, 1e-9)
        bank[i] = np.clip(np.minimum(rising, falling), 0, None)
    return bank


def _band_flux(mel: np.ndarray) -> np.ndarray:
    """Half-wave rectified frame-to-frame rise of the log-compressed mel spectrum, per band."""
    log_mel = np.log1p(100.0 * mel / max(float(mel.max()), 1e-9))
    return np.maximum(np.diff(log_mel, axis=0, prepend=log_mel[:1]), 0.0)


def _detrend(flux: np.ndarray) -> np.ndarray:
    trend = moving_average(flux, 43)  # ~0.5 s moving average
    return np.maximum(flux - trend, 0.0)


def _onset_envelope(mel: np.ndarray) -> np.ndarray:
    """Spectral flux of the log-mel spectrum, half-wave rectified, with its slow trend removed."""
    env = _detrend(_band_flux(mel).sum(axis=1))
    return (env / max(float(env.std()), 1e-9)).astype(np.float64)


def _tempo_envelope(mel: np.ndarray) -> np.ndarray:
    """Onset envelope for tempo: the flux of three registers -- the bass (kick drum, bass notes,
    below 300 Hz), the middle (a snare's body, most notes' attacks, 300 Hz-2 kHz) and the top
    (hi-hats, cymbals, noise, above 2 kHz) -- each scaled to unit spread, summed with weights
    1, 1 and 0.5.

    In the full-band flux a noisy snare or hi-hat outweighs a kick drum or a bass note many
    times over, so a kick/snare backbeat looks like one pulse every two beats and the tempo
    halves. Equalising the bands (Scheirer 1998 / Klapuri 2006 style multi-band onsets) lets
    low and high onsets count alike; a band with little activity (e.g. no bass at all) is not
    blown up to full weight: its scale is floored at 0.3x the strongest band's. The top band is
    on its own and at half weight because a bright hi-hat playing every eighth (FluidR3's
    closed hi-hat is 3.5x TimGM6mb's in peak level and louder than its snare above 2 kHz) is an
    even pulse with no accents: summed with the rest at full weight it drowns the kick/snare
    pattern that tells the beat from the eighth.
    """
    flux = _band_flux(mel)
    centres = _mel_edges_hz(ANALYSIS_SR, mel.shape[1])[1:-1]
    edges = (0.0, *TEMPO_BAND_EDGES_HZ, np.inf)
    bands = [_detrend(flux[:, (centres >= lo) & (centres < hi)].sum(axis=1))
             for lo, hi in pairwise(edges)]  # fmt: skip
    spreads = np.array([float(b.std()) for b in bands])
    scales = np.maximum(spreads, TEMPO_BAND_FLOOR * spreads.max()) + 1e-12
    env = sum(w * b / scale
              for w, b, scale in zip(TEMPO_BAND_WEIGHTS, bands, scales, strict=True))  # fmt: skip
    return (env / max(float(env.std()), 1e-9)).astype(np.float64)


def _autocorrelation(env: np.ndarray, fps: float) -> np.ndarray:
    """Autocorrelation of the mean-removed envelope, normalised to 1 at lag 0: unbiased (each
    lag divided by its overlap, floored at a quarter of the length) and tapered by
    exp(-lag / ACF_TAPER_S).

    The plain (biased) estimate shrinks lag L by (1 - L / clip length), so the metrical level
    the comb picked depended on the clip's length: two beats at 180 BPM lost to one at 90 in a
    20 s piece and won in an 8 s one. A fixed taper in seconds makes the decision the same for
    every length (and still lets near lags count more than far ones).
    """
    n = len(env)
    env = env - env.mean()
    spectrum = np.fft.rfft(env, n=2 * n)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    lags = np.arange(n)
    acf = acf / np.maximum(n - lags, 0.25 * n) * np.exp(-lags / (ACF_TAPER_S * fps))
    return acf / max(float(acf[0]), 1e-12)


#: Comb over the autocorrelation: lags of 1..8 beat periods weighted 1/m, a harmonic sum that
#: credits every metrical level above the beat (half bar, bar, two bars) without letting any one
#: of them dominate. The old 4-term comb with a separate "prefer whichever of half/double is
#: nearer 120 BPM" rule halved every 180 BPM drum groove; the 1/m sum decides the octave with the
#: prior alone.
COMB_MULTIPLES = tuple((m, 1.0 / m) for m in range(1, 9))
#: Two terms beside the comb, both read off the same autocorrelation at fractions of the beat
#: period P: + HALF_BEAT_WEIGHT x acf(P/2) credits a beat whose half is also a pulse (a beat is
#: usually divided in two: with hi-hats, strummed or running eighths on every half beat, the
#: candidate at the eighth-note rate has nothing at its half and the one at the beat has the
#: eighths), and - CROSS_RHYTHM_WEIGHT x acf(2P/3) debits a candidate by the pulse at 2/3 of
#: its period (a 180 BPM groove under a three-note arpeggio read as 120: the true beat sits at
#: 2/3 of the 120 BPM period, where no simple meter puts one). Both, like the prior below and
#: the band weights, were chosen on the tuning sets with TimGM6mb and FluidR3Mono renders.
HALF_BEAT_WEIGHT = 0.1
CROSS_RHYTHM_WEIGHT = 0.4
#: Log-normal tempo prior (Ellis 2007 style): centre and width in octaves, chosen on the tuning
#: sets of bench_tempo_key.py and the generation grid (never on the held-out set).
TEMPO_PRIOR_BPM = 130.0
TEMPO_PRIOR_OCTAVES = 1.2
#: Time constant of the autocorrelation taper (see _autocorrelation); with the prior width chosen
#: on the same tuning sets (bench_tempo_key.py's three and 300 generated training clips).
ACF_TAPER_S = 16.0
MIN_BPM, MAX_BPM = 40.0, 240.0


#: With a transcription (estimate_tempo's ``notes``), the metrical levels the notes may move the
#: audio's reading to, as ratios to it: the octaves and the 3:2 confusions the benchmark shows.
NOTE_LEVEL_RATIOS = (1 / 3, 1 / 2, 2 / 3, 1.0, 3 / 2, 2.0, 3.0)
#: ... and how they choose: a log-normal preference, NOTE_BEAT_OCTAVES wide, for levels whose
#: beat is 2**-NOTE_BEAT_LOG2 typical notes long, multiplied into the audio's score. A typical
#: note is the amplitude-weighted median duration of the transcribed notes; at the true beat it
#: lasts about half a beat in chorales, folk songs, airs and quartets alike (less in reels, more
#: in madrigals). Chosen on the tuning half of bench_tempo_key.py, in the middle of a plateau
#: (centres -1.4..-1.1 and widths 1.2-1.7 octaves all give 86-91 % exact there); the wide
#: preference leaves clear audio readings alone. It trades many double readings of slow pieces
#: for a few half readings of fast, plain ones (a 150 BPM line of quarter notes reads as 75):
#: 83 -> 90 % exact on the default 192 pieces, 88.5 -> 88.5 % on ``96 30 250``. Bass-only
#: durations, inter-onset intervals (all notes, bass notes), a learned histogram of durations in
#: beats and the on-beat/off-beat contrast of the note onsets were tried too and did no better.
NOTE_BEAT_LOG2 = -1.2
NOTE_BEAT_OCTAVES = 1.4
#: fewer notes than this (a drum loop, a drone) leave the level to the audio
MIN_NOTES_FOR_LEVEL = 16
#: how far (relative) from a level's exact ratio its peak in the audio score may lie
LEVEL_SEARCH = 0.04


def estimate_tempo(onset_env: np.ndarray, fps: float, *, prior_bpm: float = TEMPO_PRIOR_BPM,
                   prior_octaves: float = TEMPO_PRIOR_OCTAVES,
                   notes: Sequence[TranscribedNote] | None = None) -> tuple[float | None, float]:
    """Tempo (BPM) and a 0-1 confidence from an onset-strength envelope sampled at ``fps``.

    Every candidate 40-240 BPM is scored by a 1/m-weighted comb over the envelope's
    autocorrelation at 1..8 beat periods, plus the half-beat and minus the 2/3-beat terms
    (:data:`HALF_BEAT_WEIGHT`, :data:`CROSS_RHYTHM_WEIGHT`), times a log-normal prior; the
    winner is refined to sub-frame precision. No separate octave rule: these terms and the
    prior make that decision -- unless ``notes`` (a transcription of the same audio, with at
    least :data:`MIN_NOTES_FOR_LEVEL` notes) are given: then :func:`_level_from_notes` picks
    the metrical level among the score's peaks at the winner's multiples.
    """
    if len(onset_env) < fps * 2:
        return None, 0.0
    acf = _autocorrelation(onset_env, fps)
    bpms = np.exp(np.linspace(np.log(MIN_BPM), np.log(MAX_BPM), 1200))
    prior = np.exp(-0.5 * (np.log2(bpms / prior_bpm) / prior_octaves) ** 2)
    score = np.maximum(_comb_salience(acf, fps, bpms), 0.0) * prior
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None, 0.0
    if notes is not None and len(notes) >= MIN_NOTES_FOR_LEVEL:
        best = _level_from_notes(notes, bpms, score, best)
    # Fine search +-3 % around the winner for sub-frame precision.
    fine = float(bpms[best]) * np.linspace(0.97, 1.03, 121)
    tempo = float(fine[int(np.argmax(_comb_salience(acf, fps, fine)))])
    confidence = float(np.clip((score[best] - np.median(score)) / (score[best] + 1e-9), 0, 1))
    return tempo, confidence


def _comb_salience(acf: np.ndarray, fps: float, bpm: np.ndarray) -> np.ndarray:
    """estimate_tempo's score of each tempo in ``bpm`` before the prior (see there)."""
    lags_axis = np.arange(len(acf), dtype=np.float64)
    period = 60.0 * fps / bpm
    total = np.zeros_like(bpm)
    for multiple, weight in COMB_MULTIPLES:
        lag = period * multiple
        inside = lag < len(acf) - 1
        total += weight * np.where(inside, np.interp(lag, lags_axis, acf), 0.0)
    total += HALF_BEAT_WEIGHT * np.interp(period / 2, lags_axis, acf)
    total -= CROSS_RHYTHM_WEIGHT * np.interp(period * 2 / 3, lags_axis, acf)
    return total


def _level_from_notes(notes: Sequence[TranscribedNote], bpms: np.ndarray, score: np.ndarray,
                      best: int) -> int:
    """Index into ``bpms`` of the metrical level the notes choose: among the peaks of the audio
    ``score`` near ``bpms[best]`` times each of :data:`NOTE_LEVEL_RATIOS`, the one with the
    highest log score plus the log-normal preference for a beat of about two typical notes.

    The audio alone reads many slow pieces at double tempo and fast ones at half (its prior
    centres every piece on 130 BPM); how long the notes last says which level is the beat: a
    chorale's quarter notes fill a beat whatever the tempo, a reel's eighths half of one.
    """
    durations = np.array([max(n.end_s - n.start_s, 0.0) for n in notes])
    weights = np.array([max(n.amplitude, 0.0) for n in notes])
    order = np.argsort(durations)
    cumulative = np.cumsum(weights[order])
    if cumulative[-1] <= 0:
        return best
    typical_s = float(durations[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    if typical_s <= 0:
        return best
    chosen, chosen_fit = best, -np.inf
    for ratio in NOTE_LEVEL_RATIOS:
        target = bpms[best] * ratio
        if not MIN_BPM <= target <= MAX_BPM:
            continue
        near = np.flatnonzero(np.abs(np.log(bpms / target)) < LEVEL_SEARCH)
        peak = int(near[np.argmax(score[near])])
        if score[peak] <= 0:
            continue
        beats_per_note = np.log2(typical_s * bpms[peak] / 60.0)
        fit = float(np.log(score[peak] / score[best])
                    - 0.5 * ((beats_per_note - NOTE_BEAT_LOG2) / NOTE_BEAT_OCTAVES) ** 2)
        if fit > chosen_fit:
            chosen, chosen_fit = peak, fit
    return chosen


def _pick_onsets(env: np.ndarray, fps: float) -> np.ndarray:
    height = float(np.mean(env) + 0.5 * np.std(env))
    return find_peaks(env, height, max(1, int(0.05 * fps)))


#: onsets at a given time (video hits): fine frames, and how far the peak must stand above the
#: median flux of the second around it to count
ONSET_FFT = 256
ONSET_HOP = 32
ONSET_MIN_HZ = 60.0
ONSET_CONTEXT_S = 0.5
ONSET_PROMINENCE = 2.0


def onsets_near(samples: np.ndarray, sr: int, times_s: list[float],
                window_s: float = 0.08) -> list[float | None]:  # fmt: skip
    """For each expected time, the onset the audio really has within ``window_s`` of it (the
    strongest spectral-flux peak, ~1.5 ms frames at 22 kHz, parabolic interpolation), or None
    when nothing there stands out. Centred frames: a step at time t peaks at t."""
    x = _mono(samples, sr)
    bins = np.fft.rfftfreq(ONSET_FFT, 1 / sr) >= ONSET_MIN_HZ
    margin = max(ONSET_CONTEXT_S - window_s, ONSET_FFT / sr)
    found: list[float | None] = []
    for time_s in times_s:
        first = max(0, int((time_s - window_s - margin) * sr))
        last = min(len(x), int((time_s + window_s + margin) * sr))
        if last - first < 2 * ONSET_FFT:
            found.append(None)
            continue
        mag = _stft_mag(x[first:last], ONSET_FFT, ONSET_HOP)[:, bins]
        flux = _band_flux(mag).sum(axis=1)
        frame_s = (first + np.arange(len(flux)) * ONSET_HOP) / sr
        inside = np.flatnonzero(np.abs(frame_s - time_s) <= window_s)
        if inside.size == 0:
            found.append(None)
            continue
        peak = int(inside[np.argmax(flux[inside])])
        if flux[peak] < ONSET_PROMINENCE * max(float(np.median(flux)), 1e-9):
            found.append(None)
            continue
        offset = 0.0
        if 0 < peak < len(flux) - 1:
            a, b, c = flux[peak - 1], flux[peak], flux[peak + 1]
            offset = 0.5 * (a - c) / max(a - 2 * b + c, -1e9) if a - 2 * b + c < 0 else 0.0
        found.append(float(frame_s[peak] + offset * ONSET_HOP / sr))
    return found


def chroma(samples: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Per-frame 12-bin chroma (C = 0) of mono ``samples`` at ``sr`` Hz, and the frame hop in s.

    Shape (frames, 12). The audio is taken to ``CHROMA_SR``; ``CHROMA_FFT``-point frames every
    ``CHROMA_HOP`` samples (0.19 s); only bins from 65 Hz to 1 kHz within 0.35 semitone of a
    semitone centre count (centres moved by :func:`estimate_tuning` for detuned audio), and
    the third-harmonic leak into the fifth is subtracted. VMB's one
    chroma: the key of analysed audio and the chords of audio references both come from it
    (on bench_tempo_key.py's 192 pieces its key was right for 84.9 % against 64.1 % for the
    55 Hz-2 kHz chroma references once had, its chords per bar matched the notes in 65.1 %
    against 62.2 %).
    """
    y = resample(np.asarray(samples), sr, CHROMA_SR)
    mag = _stft_mag(y, CHROMA_FFT, CHROMA_HOP)
    freqs = np.fft.rfftfreq(CHROMA_FFT, 1 / CHROMA_SR)
    # C2-B5: above ~1 kHz the spectrum is mostly upper partials, which blur the key.
    band = (freqs >= 65.0) & (freqs <= 1000.0)
    midi = 69 + 12 * np.log2(freqs[band] / 440.0) - estimate_tuning(mag, freqs)
    # Only bins near a semitone centre count, which suppresses leakage between neighbours.
    near = np.abs(midi - np.round(midi)) < 0.35
    pitch_class = (np.round(midi[near]).astype(int)) % 12
    spec = mag[:, band][:, near]
    mapping = np.zeros((len(pitch_class), 12), dtype=np.float32)
    mapping[np.arange(len(pitch_class)), pitch_class] = 1.0
    frames = spec @ mapping
    # A note's 3rd harmonic lands a fifth above it (pitch class + 7) and pulls estimates to the
    # dominant key; subtract that leakage (0.4 was best on the benchmark set, 0.3-0.5 all help).
    leak_free = np.maximum(frames - HARMONIC_LEAK * np.roll(frames, 7, axis=1), 0.0)
    return leak_free, CHROMA_HOP / CHROMA_SR


def estimate_tuning(mag: np.ndarray, freqs: np.ndarray) -> float:
    """How far (in semitones) the music's pitches sit from equal temperament at A = 440 Hz,
    for the chroma to correct: the circular mean of the fractional MIDI pitch of the spectral
    peaks from 65 Hz to 2 kHz, each weighted by its power, over a magnitude spectrogram ``mag``
    (frames, bins) whose bin centres are ``freqs``. 0 when that is within :data:`TUNING_DEADZONE`
    (or for silence); clipped to +-:data:`MAX_TUNING`.

    Chroma bins count only near a semitone centre, so a detuned source loses part of every note
    to the semitone below or above: FluidR3's choir "aahs" sit 10-25 cents flat with a wide
    chorus, and in Bach chorales sung by it the leading tone grew and the key read as the
    relative major or minor (59 % of 29 choir pieces right against 83 % with TimGM6mb).
    """
    band = (freqs >= 65.0) & (freqs <= 2000.0)
    spec = mag[:, band]
    peaks = np.zeros(spec.shape, dtype=bool)
    peaks[:, 1:-1] = (spec[:, 1:-1] > spec[:, :-2]) & (spec[:, 1:-1] >= spec[:, 2:])
    power = np.where(peaks, spec.astype(np.float64) ** 2, 0.0).sum(axis=0)
    if not power.any():
        return 0.0
    midi = 69 + 12 * np.log2(freqs[band] / 440.0)
    offset = float(np.angle(np.sum(power * np.exp(2j * np.pi * midi))) / (2 * np.pi))
    if abs(offset) <= TUNING_DEADZONE:
        return 0.0
    return float(np.clip(offset, -MAX_TUNING, MAX_TUNING))


def chroma_profile(frames: np.ndarray) -> np.ndarray:
    """The key-finding profile of a chroma (frames, 12): each frame normalised to sum 1, then
    summed, so that loud passages do not outvote the rest (84.9 % vs 82.3 % for a plain sum on
    bench_tempo_key.py's 192 pieces). Empty for no frames."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.size == 0:
        return np.zeros(0)
    return (frames / np.maximum(frames.sum(axis=1, keepdims=True), 1e-9)).sum(axis=0)


def _percussive_fraction(mel: np.ndarray) -> float:
    """Share of energy in the percussive part of a median-filter harmonic/percussive split."""
    from scipy.ndimage import median_filter

    # Decimate long spectrograms in time: the split only needs a representative sample.
    step = max(1, len(mel) // 4000)
    spec = mel[::step] if step > 1 else mel
    harmonic = median_filter(spec, size=(17, 1), mode="nearest")
    percussive = median_filter(spec, size=(1, 9), mode="nearest")
    h2, p2 = harmonic**2, percussive**2
    p_mask = p2 / np.maximum(h2 + p2, 1e-12)
    total = float((spec**2).sum())
    return float(np.clip((p_mask * spec**2).sum() / max(total, 1e-12), 0, 1))


def _loudness_lufs(x: np.ndarray, sr: int) -> float | None:
    if len(x) < int(0.4 * sr) or float(np.max(np.abs(x), initial=0.0)) < 1e-6:
        return None
    return integrated_loudness(x, sr)
