"""Polyphonic transcription of audio into notes with Basic Pitch (numpy/scipy + onnxruntime).

Basic Pitch (Bittner et al., ICASSP 2022; Spotify, Apache-2.0) is a 230 KB network that maps
22,050 Hz mono audio to three activation maps per 11.6 ms frame: note (88 piano keys), onset
(88) and contour (264 bins, a third of a semitone). The model ships in
``vmb_agent/data/basic_pitch/nmp.onnx`` with its LICENSE and NOTICE, taken unchanged from the
``basic-pitch`` 0.4.0 wheel. What the package does around the network is re-implemented here
so that neither TensorFlow nor librosa is needed:

1. audio -> mono float32 at 22,050 Hz (``scipy.signal.resample_poly``; the package uses
   librosa's soxr, so resampled input differs from it in the last bits);
2. 15 frames (3,840 samples) of zeros in front, then windows of ``AUDIO_N_SAMPLES`` (43,844)
   samples every ``HOP_SIZE`` (36,164) samples, the last one zero-padded (``window_audio_file``);
3. the network on each window, one window a call as the package does (172 frames out); 15
   frames cut from each end of every window's output, the rest concatenated and trimmed to
   the audio's length (``unwrap_output``);
4. notes from the maps (``output_to_notes_polyphonic``): onset peaks over the onset threshold
   (0.5), each followed forward while its note activation stays over the frame threshold (0.3,
   allowing 11 frames below it), notes of 11 frames or fewer dropped; then the "melodia trick":
   the strongest activation left is followed both ways into a note, until none is left over
   the frame threshold. Frame times use the package's ``model_frames_to_time``. Pitch bends
   are not estimated.

On audio already at 22,050 Hz the port's activations and notes are bit-identical to the
package's (``benchmarks/bench_transcription.py --original``: 22 pieces, every note). The
melodia trick finds the strongest activation through row and block maxima instead of a scan of
the whole map per note (same notes; 20x faster on 6 minutes of audio). onnxruntime is
imported only when something is transcribed; one session per process, with bounded threads.
Memory: about 5 KB per 11.6 ms frame while notes are made (~260 MB for 10 minutes).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime
    import pretty_midi

    from vmb_agent.generation.references import ReferenceFeatures
    from vmb_agent.types import TrackInfo

# Basic Pitch's constants (basic_pitch/constants.py, inference.py, note_creation.py).
SAMPLE_RATE = 22050
FFT_HOP = 256
ANNOTATIONS_FPS = SAMPLE_RATE // FFT_HOP  # 86: the package's (integer) frame rate
ANNOT_N_FRAMES = 2 * ANNOTATIONS_FPS  # 172 output frames per window
AUDIO_N_SAMPLES = 2 * SAMPLE_RATE - FFT_HOP  # 43,844 input samples per window
N_OVERLAPPING_FRAMES = 30
OVERLAP_LEN = N_OVERLAPPING_FRAMES * FFT_HOP  # 7,680
HOP_SIZE = AUDIO_N_SAMPLES - OVERLAP_LEN  # 36,164
MIDI_OFFSET = 21  # output bin 0 is A0 (MIDI 21)
N_PITCHES = 88
MAX_FREQ_IDX = 87
ENERGY_TOL = 11  # frames a note may dip under the frame threshold and go on
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_LEN_MS = 127.70  # the package's default: int(round(0.1277 * 86.13)) = 11 frames

MODEL_INPUT = "serving_default_input_2:0"
MODEL_OUTPUTS = ("StatefulPartitionedCall:1", "StatefulPartitionedCall:2",
                 "StatefulPartitionedCall:0")  # note, onset, contour  # fmt: skip
#: windows per network call. One, as the package runs them: onnxruntime's kernels round
#: differently for other batch sizes (activations moved by up to 0.15 on one of 12 test pieces),
#: and eight at a time saves only ~15 % of the CPU time.
BATCH_WINDOWS = 1
#: onnxruntime's intra-op threads at most (a server runs several analyses side by side)
MAX_THREADS = 2
#: audio whose peak is under this (-80 dBFS) is silence: no network run, no notes
SILENCE_PEAK = 1e-4
MIN_DURATION_S = 1.0
MAX_DURATION_S = 3600.0  # the library's longest track
SAMPLE_RATE_RANGE = (4000, 384000)


@dataclass(frozen=True)
class TranscribedNote:
    """One note heard in the audio."""

    start_s: float
    end_s: float
    pitch: int  # MIDI number, 21-108
    amplitude: float  # mean note activation over the note, 0-1 (Basic Pitch's "amplitude")
    confidence: float  # onset activation at the note's start, 0-1 (low for melodia-trick notes)

    @property
    def velocity(self) -> int:
        """MIDI velocity the package writes for this note: ``round(127 * amplitude)``."""
        return int(np.clip(round(127 * self.amplitude), 1, 127))


@dataclass(frozen=True)
class Transcription:
    """The notes of one piece of audio, or why there are none (``available=False``)."""

    notes: list[TranscribedNote] = field(default_factory=list)
    duration_s: float = 0.0
    available: bool = True
    reason: str | None = None  # set when unavailable: "silent", "shorter than 1 s", ...

    def to_pretty_midi(self, tempo_bpm: float = 120.0, program: int = 0,
                       min_confidence: float = 0.0) -> pretty_midi.PrettyMIDI:  # fmt: skip
        """The notes as one General MIDI instrument (``program``, default piano) in a file whose
        tempo is ``tempo_bpm`` (only the beat grid depends on it; note times are seconds)."""
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo_bpm))
        inst = pretty_midi.Instrument(program=program, name="transcription")
        for note in sorted(self.notes, key=lambda n: (n.start_s, n.pitch)):
            if note.confidence >= min_confidence and note.end_s > note.start_s:
                inst.notes.append(
                    pretty_midi.Note(note.velocity, note.pitch, note.start_s, note.end_s)
                )
        pm.instruments.append(inst)
        return pm

    def pitch_class_profile(self) -> np.ndarray:
        """Pitch-class histogram weighted like :func:`vmb_agent.library.midi.pitch_class_profile`
        (square root of each note's duration), for the key finder."""
        profile = np.zeros(12)
        for note in self.notes:
            profile[note.pitch % 12] += max(note.end_s - note.start_s, 0.0) ** 0.5
        return profile

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storing next to a track's analysis."""
        return {
            "available": self.available,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 3),
            "notes": [
                [
                    round(n.start_s, 4),
                    round(n.end_s, 4),
                    n.pitch,
                    round(n.amplitude, 4),
                    round(n.confidence, 4),
                ]
                for n in self.notes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcription:
        notes = [TranscribedNote(float(s), float(e), int(p), float(a), float(c))
                 for s, e, p, a, c in data.get("notes", [])]  # fmt: skip
        return cls(notes, float(data.get("duration_s", 0.0)), bool(data.get("available", True)),
                   data.get("reason"))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def transcribe(audio: np.ndarray, sample_rate: int, *,
               onset_threshold: float = ONSET_THRESHOLD,
               frame_threshold: float = FRAME_THRESHOLD,
               min_note_len_ms: float = MIN_NOTE_LEN_MS,
               melodia_trick: bool = True) -> Transcription:  # fmt: skip
    """Transcribe mono or multichannel audio (``(n,)``, ``(n, channels)`` or
    ``(channels, n)``) into notes. Audio that cannot be transcribed (silent, under 1 s, NaN or
    infinite samples, a sample rate outside 4-384 kHz) gives an unavailable
    :class:`Transcription` with the reason, never an exception."""
    mono, problem = _prepare(audio, sample_rate)
    if problem is not None:
        duration = 0.0 if mono is None else mono.shape[0] / SAMPLE_RATE
        return Transcription([], duration, available=False, reason=problem)
    assert mono is not None
    note, onset, _ = model_outputs(mono)
    min_frames = int(np.round(min_note_len_ms / 1000 * (SAMPLE_RATE / FFT_HOP)))
    notes = notes_from_outputs(note, onset, onset_threshold=onset_threshold,
                               frame_threshold=frame_threshold, min_note_len=min_frames,
                               melodia_trick=melodia_trick)  # fmt: skip
    return Transcription(notes, mono.shape[0] / SAMPLE_RATE)


def _prepare(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray | None, str | None]:
    """Mono float32 at 22,050 Hz, or why the audio cannot be transcribed."""
    x = np.asarray(audio)
    if x.ndim not in (1, 2) or not np.issubdtype(x.dtype, np.number):
        return None, f"audio must be 1-D or 2-D numbers; got shape {np.shape(audio)}"
    low, high = SAMPLE_RATE_RANGE
    if not low <= int(sample_rate) <= high:
        return None, f"sample rate {sample_rate} Hz is out of range; allowed: {low} to {high}"
    from vmb_agent.dsp import pcm_to_float

    x = pcm_to_float(x)
    if x.ndim == 2:  # (n, channels) or (channels, n): the short axis is the channels
        x = x.mean(axis=1) if x.shape[1] <= x.shape[0] else x.mean(axis=0)
    if not np.all(np.isfinite(x)):
        return None, "the audio contains NaN or infinite samples"
    if x.shape[0] > MAX_DURATION_S * sample_rate:
        return None, f"longer than {MAX_DURATION_S / 3600:g} h"
    from vmb_agent.library.audio_features import resample

    mono = resample(x, int(sample_rate), SAMPLE_RATE)
    if mono.shape[0] < MIN_DURATION_S * SAMPLE_RATE:
        return mono, f"shorter than {MIN_DURATION_S:g} s"
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        return mono, "silent"
    return mono, None




# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def model_path() -> Path:
    """The shipped Basic Pitch network (package data; nothing is downloaded)."""
    return Path(str(resources.files("vmb_agent") / "data" / "basic_pitch" / "nmp.onnx"))


@functools.cache
def _session() -> onnxruntime.InferenceSession:
    """One onnxruntime session per process (loading takes ~50 ms; it is thread-safe to run)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, min(MAX_THREADS, os.cpu_count() or 1))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    return onnxruntime.InferenceSession(
        str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


def window_audio(mono: np.ndarray, batch: int = BATCH_WINDOWS) -> Iterator[np.ndarray]:
    """The network's input, ``batch`` windows at a time: ``(batch, AUDIO_N_SAMPLES, 1)``
    float32, as the package's ``get_audio_input``: half the overlap of zeros in front, a window
    every ``HOP_SIZE`` samples, the last one zero-padded. Made as needed: an hour of audio
    is 2,200 windows, 385 MB all at once."""
    padded = np.concatenate([np.zeros(OVERLAP_LEN // 2, dtype=np.float32),
                             mono.astype(np.float32)])  # fmt: skip
    starts = list(range(0, padded.shape[0], HOP_SIZE))
    for first in range(0, len(starts), batch):
        chosen = starts[first : first + batch]
        windows = np.zeros((len(chosen), AUDIO_N_SAMPLES, 1), dtype=np.float32)
        for row, start in enumerate(chosen):
            chunk = padded[start : start + AUDIO_N_SAMPLES]
            windows[row, : chunk.shape[0], 0] = chunk
        yield windows


def unwrap(output: np.ndarray, n_samples: int) -> np.ndarray:
    """Windowed outputs ``(n_windows, 172, bins)`` -> ``(n_frames, bins)``: half the overlap cut
    from each end of every window, trimmed to the audio's length (``unwrap_output``)."""
    n_olap = N_OVERLAPPING_FRAMES // 2
    kept = output[:, n_olap:-n_olap, :]
    n_frames = int(np.floor(n_samples * (ANNOTATIONS_FPS / SAMPLE_RATE)))
    return kept.reshape(-1, kept.shape[2])[:n_frames]


def model_outputs(mono: np.ndarray, *, contour: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """Note ``(n_frames, 88)`` and onset ``(n_frames, 88)`` activations of 22,050 Hz mono audio,
    and with ``contour`` the contour map ``(n_frames, 264)`` (kept only when asked: it is
    three times the size of the others and notes do not need it)."""
    session = _session()
    wanted = list(MODEL_OUTPUTS if contour else MODEL_OUTPUTS[:2])
    parts: list[list[np.ndarray]] = [[] for _ in wanted]
    for windows in window_audio(mono):
        for store, out in zip(parts, session.run(wanted, {MODEL_INPUT: windows}), strict=True):
            store.append(out)
    maps = [unwrap(np.concatenate(p), mono.shape[0]) for p in parts]
    return maps[0], maps[1], maps[2] if contour else None


def frame_times(n_frames: int) -> np.ndarray:
    """Seconds of each output frame, the package's ``model_frames_to_time``: the nominal
    256-sample clock, pulled back by 10.3 ms after every 172 frames. Each window's hop
    (36,164 samples, 141.27 frames of 256) yields 142 kept frames, so the nominal clock falls
    behind by 8.5 ms every 142 frames; the package's step (with its 1.8 ms "magic number")
    is that drift per 172 frames."""
    frames = np.arange(n_frames)
    nominal = frames * FFT_HOP / SAMPLE_RATE
    offset = (FFT_HOP / SAMPLE_RATE) * (ANNOT_N_FRAMES - AUDIO_N_SAMPLES / FFT_HOP) + 0.0018
    return nominal - offset * np.floor(frames / ANNOT_N_FRAMES)


# --------------------------------------------------------------------------------------------
# Note creation (basic_pitch/note_creation.py, without pitch bends)
# --------------------------------------------------------------------------------------------


def notes_from_outputs(note: np.ndarray, onset: np.ndarray, *,
                       onset_threshold: float = ONSET_THRESHOLD,
                       frame_threshold: float = FRAME_THRESHOLD, min_note_len: int = 11,
                       melodia_trick: bool = True) -> list[TranscribedNote]:  # fmt: skip
    """Notes from the network's note and onset activations, in seconds (see the module doc)."""
    events = note_events(note, onset, onset_threshold=onset_threshold,
                         frame_threshold=frame_threshold, min_note_len=min_note_len,
                         melodia_trick=melodia_trick)  # fmt: skip
    times = frame_times(note.shape[0])
    return [TranscribedNote(float(times[s]), float(times[e]), pitch, amplitude, confidence)
            for s, e, pitch, amplitude, confidence in events]  # fmt: skip


def inferred_onsets(onset: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    """The onset map, raised where note activation jumps (``get_infered_onsets``): the smallest
    of the 1- and 2-frame rises, scaled to the onset map's maximum."""
    diffs = []
    for n in range(1, n_diff + 1):
        shifted = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(shifted[n:, :] - shifted[:-n, :])
    frame_diff = np.min(diffs, axis=0)
    frame_diff[frame_diff < 0] = 0
    frame_diff[:n_diff, :] = 0
    top = np.max(frame_diff)
    if top > 0:  # the package divides by zero here (NaN: no onsets at all); we keep the map
        frame_diff = np.max(onset) * frame_diff / top
    return np.max([onset, frame_diff], axis=0)


def note_events(note: np.ndarray, onset: np.ndarray, *, onset_threshold: float,
                frame_threshold: float, min_note_len: int,
                melodia_trick: bool) -> list[tuple[int, int, int, float, float]]:  # fmt: skip
    """``(start_frame, end_frame, pitch, amplitude, confidence)`` per note, in the package's
    order (onset notes latest first, then melodia-trick notes strongest first)."""
    if note.shape[0] == 0:
        return []
    onsets = inferred_onsets(onset, note)
    times, pitches = _relative_maxima(onsets)  # in row-major order, as np.where gives them
    strong = onsets[times, pitches] >= onset_threshold
    times, pitches = times[strong], pitches[strong]
    remaining = np.array(note, dtype=np.float64)  # activation not yet claimed by a note
    events = []
    for start, freq in zip(times[::-1], pitches[::-1], strict=True):  # backwards in time
        end = _onset_note_end(remaining, int(start), int(freq), frame_threshold)
        if end is None or end - start <= min_note_len:
            continue
        _claim(remaining, int(start), end, int(freq))
        amplitude = float(np.mean(note[start:end, freq]))
        events.append((int(start), end, int(freq) + MIDI_OFFSET, amplitude,
                       float(onsets[start, freq])))  # fmt: skip
    if melodia_trick:
        events.extend(_melodia_notes(note, onsets, remaining, frame_threshold, min_note_len))
    return events


def _relative_maxima(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.argrelmax(x, axis=0)``: frames strictly above both neighbours in time."""
    from scipy.signal import argrelmax

    return argrelmax(x, axis=0)


def _onset_note_end(remaining: np.ndarray, start: int, freq: int, threshold: float) -> int | None:
    """Where a note starting at ``start`` ends: the frame after the last one over
    ``threshold`` before ``ENERGY_TOL`` frames in a row fall under it."""
    n_frames = remaining.shape[0]
    if start >= n_frames - 1:  # too close to the end of the audio
        return None
    i, below = start + 1, 0
    while i < n_frames - 1 and below < ENERGY_TOL:
        below = below + 1 if remaining[i, freq] < threshold else 0
        i += 1
    return i - below


def _claim(remaining: np.ndarray, start: int, end: int, freq: int) -> None:
    """Mark a note's frames, and the semitones either side, as used."""
    remaining[start:end, max(freq - 1, 0) : min(freq + 2, MAX_FREQ_IDX + 1)] = 0


def _melodia_notes(note: np.ndarray, onsets: np.ndarray, remaining: np.ndarray,
                   threshold: float, min_note_len: int
                   ) -> list[tuple[int, int, int, float, float]]:  # fmt: skip
    """The package's melodia trick: the strongest unclaimed activation grows into a note both
    ways (each frame passed is claimed with its neighbours), until none over ``threshold``."""
    n_frames = remaining.shape[0]
    maxima = _Maxima(remaining)
    events = []
    while True:
        i_mid, freq, value = maxima.argmax()
        if value <= threshold:
            break
        lo, hi = max(freq - 1, 0), min(freq + 2, MAX_FREQ_IDX + 1)  # the note and its neighbours
        remaining[i_mid, freq] = 0
        i, below = i_mid + 1, 0  # forward
        while i < n_frames - 1 and below < ENERGY_TOL:
            below = below + 1 if remaining[i, freq] < threshold else 0
            remaining[i, lo:hi] = 0
            i += 1
        i_end, last_row = i - 1 - below, i - 1
        i, below = i_mid - 1, 0  # backward
        while i > 0 and below < ENERGY_TOL:
            below = below + 1 if remaining[i, freq] < threshold else 0
            remaining[i, lo:hi] = 0
            i -= 1
        i_start = i + 1 + below
        maxima.refresh(min(i + 1, i_mid), max(last_row, i_mid) + 1)
        if i_end - i_start <= min_note_len:
            continue
        amplitude = float(np.mean(note[i_start:i_end, freq]))
        events.append((i_start, i_end, freq + MIDI_OFFSET, amplitude,
                       float(onsets[i_start, freq])))  # fmt: skip
    return events


class _Maxima:
    """Row maxima and maxima of blocks of rows of a matrix that changes a few rows at a time,
    so its largest entry is found without scanning it all (the package rescans the whole map
    for every melodia note: quadratic in the audio's length, minutes for an hour). Ties go to
    the first entry in row-major order, as ``np.argmax`` on the whole matrix."""

    BLOCK = 256

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix
        n_blocks = -(-matrix.shape[0] // self.BLOCK)
        self.rows = np.full(n_blocks * self.BLOCK, -np.inf)
        self.rows[: matrix.shape[0]] = matrix.max(axis=1)
        self.blocks = self.rows.reshape(n_blocks, self.BLOCK).max(axis=1)

    def argmax(self) -> tuple[int, int, float]:
        """(row, column, value) of the largest entry."""
        block = int(np.argmax(self.blocks))
        first = block * self.BLOCK
        row = first + int(np.argmax(self.rows[first : first + self.BLOCK]))
        column = int(np.argmax(self.matrix[row]))
        return row, column, float(self.matrix[row, column])

    def refresh(self, start: int, stop: int) -> None:
        """Recompute after rows ``start:stop`` changed."""
        self.rows[start:stop] = self.matrix[start:stop].max(axis=1)
        for block in range(start // self.BLOCK, (stop - 1) // self.BLOCK + 1):
            self.blocks[block] = self.rows[block * self.BLOCK : (block + 1) * self.BLOCK].max()


# --------------------------------------------------------------------------------------------
# Scoring against known notes
# --------------------------------------------------------------------------------------------


def note_f1(reference: list[tuple[float, float, int]], estimated: list[tuple[float, float, int]],
            onset_tolerance: float = 0.05) -> tuple[float, float, float]:  # fmt: skip
    """Precision, recall and F1 of ``(start_s, end_s, pitch)`` notes matched on exact pitch and
    onset within ``onset_tolerance``, as ``mir_eval.transcription.precision_recall_f1_overlap``
    with ``offset_ratio=None`` (onset distances rounded to 4 decimals, a maximum bipartite
    matching, so each note is matched at most once)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    if not reference or not estimated:
        return 0.0, 0.0, 0.0
    ref_onsets = np.array([n[0] for n in reference], dtype=float)
    est_onsets = np.array([n[0] for n in estimated], dtype=float)
    same_pitch = (np.array([n[2] for n in reference])[:, None]
                  == np.array([n[2] for n in estimated])[None, :])  # fmt: skip
    close = np.around(np.abs(ref_onsets[:, None] - est_onsets[None, :]), 4) <= onset_tolerance
    hits = csr_matrix((same_pitch & close).astype(np.int8))
    matched = int(np.sum(maximum_bipartite_matching(hits, perm_type="column") >= 0))
    precision, recall = matched / len(estimated), matched / len(reference)
    f1 = 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


# --------------------------------------------------------------------------------------------
# Bridges to what a MIDI file gives
# --------------------------------------------------------------------------------------------


def reference_features(transcription: Transcription, track: TrackInfo,
                       min_confidence: float = 0.0) -> ReferenceFeatures:  # fmt: skip
    """What the composer takes from a MIDI reference (melody, bass, chords per bar, motif,
    groove), measured on the transcription of an audio track exactly as on a MIDI file: the
    notes are written to a temporary MIDI file at the track's tempo and meter, shifted so the
    first note falls on the first beat (the audio's beat phase is not known), and read by
    ``generation.references``. Instruments, energy, genres and moods stay the track's own.
    ``InputError`` if the transcription is unavailable or has no notes."""
    from vmb_agent.errors import InputError
    from vmb_agent.generation import references
    from vmb_agent.rendering.outputs import write_midi

    notes = [n for n in transcription.notes if n.confidence >= min_confidence]
    if not transcription.available or not notes:
        why = transcription.reason or "no notes were heard"
        raise InputError(f"reference {track.id!r}: no transcription ({why}).")
    shift = min(n.start_s for n in notes)
    shifted = Transcription([replace(n, start_s=n.start_s - shift, end_s=n.end_s - shift)
                             for n in notes], transcription.duration_s)  # fmt: skip
    pm = shifted.to_pretty_midi(tempo_bpm=track.tempo_bpm or 120.0)
    meter = _meter(track.time_signature)
    if meter is not None:
        import pretty_midi

        pm.time_signature_changes.append(pretty_midi.TimeSignature(meter[0], meter[1], 0.0))
    with tempfile.TemporaryDirectory(prefix="vmb-transcription-") as folder:
        path = Path(folder) / "transcription.mid"
        write_midi(path, pm)
        as_midi = track.model_copy(update={"format": "midi", "path": str(path)})
        features = references._analyze_midi(as_midi, path)
    # What analyze_reference adds to a MIDI reference's features, from the track itself.
    if features.density is not None and not 0 <= features.density <= references.MAX_DENSITY:
        raise InputError(f"reference {track.id!r}: its transcribed melody has "
                         f"{features.density:.0f} notes a beat; allowed: at most "
                         f"{references.MAX_DENSITY:g}.")  # fmt: skip
    features.instruments = list(track.instruments)
    features.genres, features.moods = list(track.genres), list(track.moods)
    if track.energy is not None:
        features.energy = float(track.energy)
    return features


def _meter(text: str | None) -> tuple[int, int] | None:
    try:
        top, bottom = (int(part) for part in str(text).split("/"))
    except ValueError:
        return None
    return (top, bottom) if top > 0 and bottom > 0 else None
