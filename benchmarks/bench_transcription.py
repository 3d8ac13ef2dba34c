"""Accuracy and speed of audio transcription (Basic Pitch, ``vmb_agent.library.transcribe``).

The test set: the first pieces of the music21 corpus that ``select_pieces`` spreads over its
collections (chorales, folk tunes, dance tunes, Renaissance polyphony, quartets, piano), written
to General MIDI by ``piece_to_midi`` (each collection's own orchestration and tempo), cut to the
first EXCERPT_S seconds and rendered through the shipped SoundFont at 44.1 kHz. The rendered
audio is transcribed and compared with the MIDI it came from:

* note F1, mir_eval-style (``mir_eval.transcription`` with ``offset_ratio=None``): a reference
  and a transcribed note match when their MIDI pitches are equal and their onsets lie within
  50 ms; the matching is a maximum bipartite matching. Unison doublings in the reference (two
  parts on the same pitch starting within 1 ms) count once, as a single sound can only be heard
  once;
* chord accuracy per beat: on the reference MIDI's beat grid, the chord of each beat's notes
  from the reference and from the transcription, both by ``generation.references._midi_chords``
  (duration-weighted pitch classes, lowest note doubled, ``harmony.match_chord``); beats without
  reference notes are skipped. For comparison, the chord from the audio's chroma
  (``audio_features.chroma``, what audio references use today) on the same beats;
* speed: seconds of transcription per minute of audio (wall and CPU time; CPU time over all of
  onnxruntime's threads gives the per-core figure).

    .venv/bin/python benchmarks/bench_transcription.py [N_PIECES] [EXCERPT_S] [--generated N]
        [--original PY]

``--generated N`` adds N of VMB's own generations (``vmb generate --style S --seed i``, the
ten styles in turn, EXCERPT_S seconds long): the mastered WAV against the MIDI it was made
from, drums not scored.

``--original PY`` also runs the ``basic-pitch`` package itself (its ONNX backend) with the
Python ``PY`` of a throwaway environment where it is installed (``pip install --no-deps
basic-pitch==0.4.0 librosa 'resampy<0.4.3' mir_eval pretty_midi scikit-learn onnxruntime``),
on the same 22,050 Hz audio, and compares its activations and notes with ours.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RENDER_SR = 44100

# Runs in the throwaway environment: the package's predict() on each WAV, notes and maps saved.
ORIGINAL_SCRIPT = """
import json, sys, time
import numpy as np
from basic_pitch.inference import predict
for wav in sys.argv[1:]:
    t0 = time.perf_counter()
    output, _, events = predict(wav)
    seconds = time.perf_counter() - t0
    np.savez(wav + ".npz", **output)
    notes = [[float(s), float(e), int(p), float(a)] for s, e, p, a, _ in events]
    json.dump({"notes": notes, "seconds": seconds}, open(wav + ".json", "w"))
"""


@dataclass
class Piece:
    title: str
    collection: str
    midi: object  # pretty_midi.PrettyMIDI, the excerpt
    audio: np.ndarray  # mono float32 at RENDER_SR


# --------------------------------------------------------------------------------------------
# Test set
# --------------------------------------------------------------------------------------------


def _excerpt(pm, excerpt_s: float):
    """The notes of ``pm`` that start in the first ``excerpt_s`` seconds (cut there), same
    tempo map, so the reference beat grid stays the file's."""
    import pretty_midi

    out = pretty_midi.PrettyMIDI(resolution=pm.resolution,
                                 initial_tempo=float(pm.get_tempo_changes()[1][0]))  # fmt: skip
    out.time_signature_changes = list(pm.time_signature_changes)
    for inst in pm.instruments:
        new = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        new.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, min(n.end, excerpt_s))
                     for n in inst.notes if n.start < excerpt_s]  # fmt: skip
        out.instruments.append(new)
    return out


def load_pieces(n_pieces: int, excerpt_s: float) -> list[Piece]:
    from vmb_agent.library.corpus import piece_to_midi, select_pieces
    from vmb_agent.library.midi import load_midi
    from vmb_agent.rendering.synth import render_midi

    pieces: list[Piece] = []
    with tempfile.TemporaryDirectory() as tmp:
        for ref in select_pieces(n_pieces * 3):
            if len(pieces) >= n_pieces:
                break
            try:
                made = piece_to_midi(ref, tmp)
            except Exception:  # noqa: BLE001, S112 -- unparsable pieces are not in the set
                continue
            clip = _excerpt(load_midi(made.midi_path), excerpt_s)
            if not any(n for i in clip.instruments if not i.is_drum for n in i.notes):
                continue
            audio = render_midi(clip, sample_rate=RENDER_SR).mean(axis=1)
            pieces.append(Piece(made.title[:34], made.collection, clip, audio))
    return pieces


STYLES = (
    "cinematic",
    "ambient",
    "lofi",
    "pop",
    "rock",
    "electronic",
    "jazz",
    "folk",
    "piano",
    "chiptune",
)


def load_generated(n_pieces: int, duration_s: float) -> list[Piece]:
    """VMB's own generations (``vmb generate --style S --seed N``, one per style in turn): the
    mastered WAV and the MIDI it was rendered from; drums are not scored."""
    import os

    import soundfile

    from vmb_agent.library.midi import load_midi

    pieces: list[Piece] = []
    vmb = str(Path(sys.executable).with_name("vmb"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "VMB_HOME": str(Path(tmp) / "home")}
        for i in range(n_pieces):
            style, out = STYLES[i % len(STYLES)], Path(tmp) / f"gen{i}"
            subprocess.run([vmb, "generate", "--style", style, "--seed", str(i), "--duration",
                            str(duration_s), "--out", str(out)], check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            audio, sr = soundfile.read(str(next(out.glob("*.wav"))), dtype="float32")
            assert sr == RENDER_SR, sr
            midi = load_midi(next(out.glob("*.mid")))
            pieces.append(Piece(f"vmb {style} seed {i}", "vmb generate", midi, audio.mean(axis=1)))
    return pieces


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def reference_notes(pm) -> list[tuple[float, float, int]]:
    """Pitched notes of the reference, unison doublings (same pitch, onsets within 1 ms) once."""
    notes = sorted((n.start, n.end, n.pitch) for i in pm.instruments if not i.is_drum
                   for n in i.notes)  # fmt: skip
    kept: list[tuple[float, float, int]] = []
    last_onset: dict[int, float] = {}
    for start, end, pitch in notes:
        if pitch in last_onset and start - last_onset[pitch] < 1e-3:
            continue
        last_onset[pitch] = start
        kept.append((start, end, pitch))
    return kept


class _Note:
    """What ``_midi_chords`` reads from a note."""

    def __init__(self, start: float, end: float, pitch: int) -> None:
        self.start, self.end, self.pitch = start, end, pitch


def beat_chords(notes: list[tuple[float, float, int]], beats: np.ndarray) -> list[object]:
    """The chord of each beat (``None`` where no note sounds), by the references' chord code."""
    from vmb_agent.generation.references import _midi_chords

    wrapped = [(_Note(*n), None) for n in notes]
    out = []
    for b0, b1 in itertools.pairwise(beats):
        inside = [w for w in wrapped if w[0].start < b1 and w[0].end > b0]
        found = _midi_chords(inside, np.array([b0, b1]), 1) if inside else []
        out.append(found[0] if found else None)
    return out


def chroma_chords(audio: np.ndarray, sr: int, beats: np.ndarray) -> list[object]:
    """The chord of each beat from the audio's chroma (what audio references use today)."""
    from vmb_agent.generation.harmony import match_chord
    from vmb_agent.library.audio_features import chroma

    frames, frame_s = chroma(audio, sr)
    out = []
    for b0, b1 in itertools.pairwise(beats):
        block = frames[int(b0 / frame_s) : max(int(b1 / frame_s), int(b0 / frame_s) + 1)]
        out.append(match_chord(block.sum(axis=0)) if block.size else None)
    return out


def chord_accuracy(truth: list[object], guess: list[object]) -> float:
    scored = [(t, g) for t, g in zip(truth, guess, strict=True) if t is not None]
    return sum(t == g for t, g in scored) / len(scored) if scored else float("nan")


# --------------------------------------------------------------------------------------------
# Comparison with the original package
# --------------------------------------------------------------------------------------------


def compare_with_original(pieces: list[Piece], python: str) -> None:
    """Run basic-pitch itself on the same 22,050 Hz audio and compare maps and notes."""
    import soundfile

    from vmb_agent.library import transcribe as tr
    from vmb_agent.library.audio_features import resample

    print("\nport vs basic-pitch 0.4.0 (ONNX backend), same 22,050 Hz float32 input:")
    with tempfile.TemporaryDirectory() as tmp:
        paths, monos, paths_44k = [], [], []
        for i, piece in enumerate(pieces):
            mono = resample(piece.audio.astype(np.float32), RENDER_SR, tr.SAMPLE_RATE)
            path = Path(tmp) / f"piece{i}.wav"
            soundfile.write(str(path), mono, tr.SAMPLE_RATE, subtype="FLOAT")
            paths.append(str(path))
            monos.append(soundfile.read(str(path), dtype="float32")[0])
            paths_44k.append(str(Path(tmp) / f"piece{i}-44k.wav"))
            soundfile.write(paths_44k[-1], piece.audio, RENDER_SR, subtype="FLOAT")
        subprocess.run([python, "-c", ORIGINAL_SCRIPT, *paths, *paths_44k], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        counts = [
            _compare_one(p.title, path, mono)
            for p, path, mono in zip(pieces, paths, monos, strict=True)
        ]
        _compare_resampled(pieces, paths_44k)
    same, theirs, ours = (sum(c[i] for c in counts) for i in range(3))
    worst = max(c[3] for c in counts)
    print(
        f"  all: {int(same)} of {int(theirs)} package notes found identically by the port "
        f"({int(ours)} port notes); largest activation difference {worst:.2e}"
    )


def _compare_resampled(pieces: list[Piece], paths: list[str]) -> None:
    """44.1 kHz input: the package resamples with librosa (soxr), the port with scipy."""
    from vmb_agent.library.transcribe import note_f1, transcribe

    same = total = 0
    f1s = []
    for piece, path in zip(pieces, paths, strict=True):
        with open(path + ".json") as handle:
            theirs = [(s, e, p) for s, e, p, _ in json.load(handle)["notes"]]
        ours = [(n.start_s, n.end_s, n.pitch) for n in transcribe(piece.audio, RENDER_SR).notes]
        rounded = {(round(s, 6), round(e, 6), p) for s, e, p in ours}
        same += sum((round(s, 6), round(e, 6), p) in rounded for s, e, p in theirs)
        total += len(theirs)
        f1s.append(note_f1(theirs, ours)[2])
    print(
        f"  44.1 kHz input (package: librosa/soxr resampling, port: scipy): {same} of {total} "
        f"package notes identical; note F1 of the port against the package: mean "
        f"{np.mean(f1s):.3f}, lowest {min(f1s):.3f}"
    )


def _compare_one(title: str, path: str, mono: np.ndarray) -> tuple[int, int, int, float]:
    from vmb_agent.library import transcribe as tr

    with open(path + ".json") as handle:
        original = json.load(handle)
    maps = np.load(path + ".npz")
    note, onset, contour = tr.model_outputs(mono, contour=True)
    diff = max(float(np.max(np.abs(note - maps["note"]))),
               float(np.max(np.abs(onset - maps["onset"]))),
               float(np.max(np.abs(contour - maps["contour"]))))  # fmt: skip
    assert contour is not None
    ours = tr.notes_from_outputs(note, onset)
    theirs = {(round(s, 6), round(e, 6), p): a for s, e, p, a in original["notes"]}
    mine = {(round(n.start_s, 6), round(n.end_s, 6), n.pitch): n.amplitude for n in ours}
    same = len(set(theirs) & set(mine))
    amplitude_diff = max((abs(theirs[k] - mine[k]) for k in set(theirs) & set(mine)), default=0)
    # The package's notes fed its own maps, through our note creation: isolates that step.
    from_their_maps = tr.notes_from_outputs(maps["note"].copy(), maps["onset"].copy())
    theirs_again = {(round(n.start_s, 6), round(n.end_s, 6), n.pitch) for n in from_their_maps}
    print(
        f"  {title:<35} notes {same}/{len(theirs)} identical (port {len(mine)}, amplitudes "
        f"within {amplitude_diff:.1e}); from the package's maps "
        f"{'identical' if theirs_again == set(theirs) else 'DIFFERENT'}; max |activation "
        f"diff| {diff:.1e}; package {original['seconds']:.2f} s"
    )
    return same, len(theirs), len(mine), diff


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(n_pieces: int, excerpt_s: float, original: str | None, generated: int) -> None:
    from vmb_agent.library.transcribe import transcribe

    pieces = load_pieces(n_pieces, excerpt_s)
    corpus = len(pieces)
    pieces += load_generated(generated, excerpt_s) if generated else []
    transcribe(np.zeros(RENDER_SR), RENDER_SR)  # nothing loaded yet: a silent warm-up
    rows = []
    wall = cpu = audio_s = 0.0
    for piece in pieces:
        t0, c0 = time.perf_counter(), time.process_time()
        result = transcribe(piece.audio, RENDER_SR)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        audio_s += len(piece.audio) / RENDER_SR
        rows.append(_score(piece, result))
        r = rows[-1]
        print(
            f"{piece.title:<35} {piece.collection:<26} ref {r['ref']:>4} est {r['est']:>4}  "
            f"P {r['p']:.3f} R {r['r']:.3f} F1 {r['f1']:.3f}  chords/beat "
            f"{r['chords']:.3f} (chroma {r['chroma']:.3f}, {r['beats']} beats)"
        )
    print()
    for name, chosen in (("music21 corpus", rows[:corpus]), ("vmb generate", rows[corpus:])):
        if chosen:
            _summary(name, chosen)
    if corpus and generated:
        _summary("all", rows)
    print(
        f"speed: {wall / audio_s * 60:.2f} s per minute of audio wall ({audio_s / wall:.1f}x "
        f"real time), {cpu / audio_s * 60:.2f} s per minute in CPU time "
        f"({audio_s / cpu:.1f}x real time per core), {len(rows)} pieces, {audio_s:.0f} s"
    )
    if original:
        compare_with_original(pieces, original)


def _score(piece: Piece, result) -> dict:
    from vmb_agent.library.transcribe import note_f1

    ref = reference_notes(piece.midi)
    est = [(n.start_s, n.end_s, n.pitch) for n in result.notes]
    p, r, f1 = note_f1(ref, est)
    confident = [(n.start_s, n.end_s, n.pitch) for n in result.notes if n.confidence >= 0.7]
    beats = np.asarray(piece.midi.get_beats())
    end = max(n[1] for n in ref)
    beats = np.append(beats[beats < end], end) if beats[-1] < end else beats[beats <= end]
    truth = beat_chords(ref, beats)
    return {"ref": len(ref), "est": len(est), "p": p, "r": r, "f1": f1,
            "f1_100": note_f1(ref, est, 0.1)[2], "f1_conf": note_f1(ref, confident)[2],
            "chords": chord_accuracy(truth, beat_chords(est, beats)),
            "chroma": chord_accuracy(truth, chroma_chords(piece.audio, RENDER_SR, beats)),
            "beats": sum(t is not None for t in truth)}  # fmt: skip


def _summary(name: str, rows: list[dict]) -> None:
    def mean(key: str) -> float:
        return float(np.nanmean([r[key] for r in rows]))

    f1s = [r["f1"] for r in rows]
    print(f"{name}: {len(rows)} pieces")
    print(
        f"  note F1 (onset 50 ms, exact pitch): mean {mean('f1'):.3f} (precision "
        f"{mean('p'):.3f}, recall {mean('r'):.3f}), median {np.median(f1s):.3f}, lowest "
        f"{min(f1s):.3f}; at 100 ms {mean('f1_100'):.3f}; notes with confidence >= 0.7 only "
        f"{mean('f1_conf'):.3f}"
    )
    print(
        f"  chord accuracy per beat: transcription {mean('chords'):.3f}, chroma "
        f"{mean('chroma'):.3f} (mean over pieces)"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    options = {"--original": None, "--generated": "0"}
    for flag in options:
        if flag in args:
            at = args.index(flag)
            options[flag] = args[at + 1]
            del args[at : at + 2]
    main(
        int(args[0]) if args else 12,
        float(args[1]) if len(args) > 1 else 30.0,
        options["--original"],
        int(options["--generated"] or 0),
    )
