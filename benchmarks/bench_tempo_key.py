"""Accuracy and speed of the audio analysis (tempo, key) on MIDI rendered to audio.

The test set: pieces from the music21 corpus in simple meters (2/4, 3/4, 4/4, where the beat is
the quarter note), spread over chorales, folk songs, dance tunes, Renaissance polyphony and
quartets, each set to a known tempo (cycling 66-168 BPM) and rendered through VMB's SoundFont
renderer (``vmb_agent.rendering.synth.render_midi``; every third piece with a pop drum kit).
Ground truth: the tempo we set, and the key from music21's own symbolic analysis of the score
(Krumhansl-Schmuckler with its default Aarden-Essen weights), a profile set VMB's audio key
finder (Albrecht-Shanahan, Krumhansl-Kessler, Bellman-Budge) does not use.

Tempo is measured two ways: from the audio alone (``analyze_audio(samples, sr)``, what
generation's self-check uses) and with a Basic Pitch transcription of the same audio
(``analyze_audio(samples, sr, transcription=...)``, what ingest of a user's recording can use:
the notes choose the metrical level). Each piece belongs to the tuning half or the held-out half
by a hash of its name; the note-based constants were chosen on the tuning half only, and both
halves are reported.

    .venv/bin/python benchmarks/bench_tempo_key.py [N_PIECES] [EXCERPT_S] [SKIP] [--cache DIR]

SKIP leaves out the first SKIP*4 candidate pieces; ``--cache DIR`` keeps the renders and their
transcriptions there, so that a rerun (same arguments) spends its time on the analysis alone.
The audio-only constants were tuned on ``48 30 0``, ``48 30 60`` and ``96 30 120`` (and the
bench_generation.py grid); ``96 30 250`` is a check on different pieces. The note-based level
choice (``NOTE_BEAT_LOG2``, ``NOTE_BEAT_OCTAVES`` in audio_features.py) was chosen on the tuning
half of ``96 30 0`` and checked on the tuning half of the default ``192 30 0``; its held-out
half was not used to choose anything.

Prints per-piece results, the failures with their confusion (e.g. relative major, half tempo),
the accuracies per half and the speed (x real time on one core, CPU time).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmb_agent.library.audio_features import ANALYSIS_SR, analyze_audio, resample
from vmb_agent.library.corpus import piece_to_midi, select_pieces
from vmb_agent.library.transcribe import Transcription, transcribe
from vmb_agent.theory import parse_key

TEMPI = [66, 76, 84, 92, 100, 108, 116, 124, 132, 144, 156, 168]
#: readings that count "up to octave": the beat's double, half, triple and third
OCTAVE_VERDICTS = ("ok", "double", "half", "x3", "x1/3")


@dataclass
class Case:
    """One rendered piece: its audio at ANALYSIS_SR, transcription and ground truth."""

    name: str
    title: str
    collection: str
    meter: str
    drums: bool
    true_bpm: float
    true_key: str
    split: str  # "tune" or "held-out"
    audio: np.ndarray
    transcription: Transcription


def _retime(pm, factor: float, excerpt_s: float):
    """Scale every event time by ``factor`` and keep the first ``excerpt_s`` seconds."""
    import pretty_midi

    out = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
    for inst in pm.instruments:
        new = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        for n in inst.notes:
            s, e = n.start * factor, n.end * factor
            if s < excerpt_s:
                new.notes.append(pretty_midi.Note(n.velocity, n.pitch, s, min(e, excerpt_s)))
        out.instruments.append(new)
    return out


def _pop_drums(bpm: float, beats_per_bar: int, end_s: float):
    import pretty_midi

    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    beat = 60.0 / bpm
    t, i = 0.0, 0
    while t < end_s:
        pitch = 36 if i % beats_per_bar == 0 else (38 if i % 2 else 36)
        drums.notes.append(pretty_midi.Note(100, pitch, t, t + 0.1))
        for half in (0.0, 0.5):
            drums.notes.append(pretty_midi.Note(70, 42, t + half * beat, t + half * beat + 0.05))
        t += beat
        i += 1
    return drums


def _tempo_verdict(est: float | None, true: float) -> str:
    if est is None:
        return "none"
    ratio = est / true
    if abs(ratio - 1) <= 0.04:
        return "ok"
    for name, r in (("double", 2.0), ("half", 0.5), ("x1.5", 1.5), ("x2/3", 2 / 3),
                    ("x3", 3.0), ("x1/3", 1 / 3)):
        if abs(ratio / r - 1) <= 0.04:
            return name
    return "other"


def _key_verdict(est: str | None, true: str) -> str:
    if est is None:
        return "none"
    e, t = parse_key(est), parse_key(true)
    if e == t:
        return "ok"
    if e == t.relative:
        return "relative"
    if e.tonic == t.tonic:
        return "parallel"
    if e.mode == t.mode and (e.tonic - t.tonic) % 12 in (5, 7):
        return "fifth"
    return "other"


def _split_of(name: str) -> str:
    """Tuning or held-out half, fixed per piece (not per position, which fixes the tempo)."""
    import hashlib

    return "tune" if int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 2 == 0 \
        else "held-out"


def _render_case(ref, tmp: str, true_bpm: float, with_drums: bool, excerpt_s: float) -> dict | None:
    """Render one corpus piece at ``true_bpm``; None when it is not in the set."""
    from music21 import converter, stream

    from vmb_agent.library.corpus import corpus_root
    from vmb_agent.library.midi import load_midi
    from vmb_agent.rendering.synth import render_midi

    try:
        piece = piece_to_midi(ref, tmp)
    except Exception:  # noqa: BLE001 -- unparsable pieces are simply not in the set
        return None
    if piece.meter not in ("2/4", "3/4", "4/4"):
        return None
    source = corpus_root() / ref.path
    score = converter.parse(source, number=ref.number) if ref.number else converter.parse(source)
    if isinstance(score, stream.Opus):
        score = score.scores[0]
    true_key = parse_key(str(score.analyze("key")).replace("-", "b")).name
    pm = load_midi(piece.midi_path)
    old_bpm = float(pm.get_tempo_changes()[1][0])
    clip = _retime(pm, old_bpm / true_bpm, excerpt_s)
    if with_drums:
        clip.instruments.append(_pop_drums(true_bpm, int(piece.meter[0]), clip.get_end_time()))
    mono = render_midi(clip, sample_rate=2 * ANALYSIS_SR).mean(axis=1)
    # analyze_audio halves 44.1 kHz exactly like this, so the cached audio analyses identically.
    audio = resample(mono, 2 * ANALYSIS_SR, ANALYSIS_SR)
    return {"title": piece.title[:34], "collection": piece.collection, "meter": piece.meter,
            "true_key": true_key, "audio": audio}


def build_cases(n_pieces: int, excerpt_s: float, skip: int,
                cache: Path | None) -> tuple[list[Case], float, float]:
    """The bench's pieces, rendered and transcribed (or read from ``cache``), with the CPU
    seconds the transcriptions made here took and the seconds of audio they covered."""
    cases: list[Case] = []
    transcribe_cpu = transcribed_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for ref in select_pieces((n_pieces + skip) * 4)[skip * 4:]:
            if len(cases) >= n_pieces:
                break
            true_bpm = float(TEMPI[len(cases) % len(TEMPI)])
            with_drums = len(cases) % 3 == 2
            stem = f"{ref.slug}-{true_bpm:.0f}-{int(with_drums)}-{excerpt_s:.0f}"
            meta_path = cache / f"{stem}.json" if cache else None
            if meta_path is not None and meta_path.exists():
                meta = json.loads(meta_path.read_text())
                if meta is None:
                    continue
                audio = np.load(cache / f"{stem}.npy")
                transcription = Transcription.from_dict(meta.pop("transcription"))
            else:
                meta = _render_case(ref, tmp, true_bpm, with_drums, excerpt_s)
                if meta is None:
                    if meta_path is not None:
                        meta_path.write_text("null")
                    continue
                audio = meta.pop("audio")
                t0 = time.process_time()
                transcription = transcribe(audio, ANALYSIS_SR)
                transcribe_cpu += time.process_time() - t0
                transcribed_s += len(audio) / ANALYSIS_SR
                if meta_path is not None:
                    np.save(cache / f"{stem}.npy", audio)
                    meta_path.write_text(json.dumps(
                        {**meta, "transcription": transcription.to_dict()}))
            cases.append(Case(ref.slug, meta["title"], meta["collection"], meta["meter"],
                              with_drums, true_bpm, meta["true_key"], _split_of(ref.slug),
                              audio, transcription))
    return cases, transcribe_cpu, transcribed_s


def _accuracy(rows: list[dict], field: str, split: str | None = None) -> str:
    chosen = [r for r in rows if split is None or r["split"] == split]
    n = max(len(chosen), 1)
    exact = sum(r[field] == "ok" for r in chosen)
    octave = sum(r[field] in OCTAVE_VERDICTS for r in chosen)
    return (f"exact {exact}/{len(chosen)} = {exact / n:.1%}, "
            f"up to octave {octave}/{len(chosen)} = {octave / n:.1%}")


def main(n_pieces: int = 192, excerpt_s: float = 30.0, skip: int = 0,
         cache: Path | None = None) -> None:
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    cases, transcribe_cpu, transcribed_s = build_cases(n_pieces, excerpt_s, skip, cache)
    rows = []
    audio_s = audio_cpu = notes_cpu = 0.0
    for case in cases:
        t0 = time.process_time()
        plain = analyze_audio(case.audio, ANALYSIS_SR)
        t1 = time.process_time()
        noted = analyze_audio(case.audio, ANALYSIS_SR, transcription=case.transcription)
        audio_cpu += t1 - t0
        notes_cpu += time.process_time() - t1
        audio_s += len(case.audio) / ANALYSIS_SR
        rows.append({
            "split": case.split, "true_bpm": case.true_bpm,
            "audio_bpm": plain.tempo_bpm, "audio": _tempo_verdict(plain.tempo_bpm, case.true_bpm),
            "notes_bpm": noted.tempo_bpm, "notes": _tempo_verdict(noted.tempo_bpm, case.true_bpm),
            "key": _key_verdict(plain.key, case.true_key),
        })
        r = rows[-1]
        print(f"{case.title:<35} {case.collection[:22]:<23} {case.meter} "
              f"drums={int(case.drums)} {case.split:<8} tempo {case.true_bpm:>4.0f} -> audio "
              f"{r['audio_bpm'] or 0:>6.1f} {r['audio']:<6} notes {r['notes_bpm'] or 0:>6.1f} "
              f"{r['notes']:<6} key {case.true_key:<9} -> {plain.key or '-':<9} {r['key']}")
    n = len(rows)
    print()
    print(f"pieces: {n} ({excerpt_s:.0f} s excerpts; tuning half "
          f"{sum(r['split'] == 'tune' for r in rows)}, held-out half "
          f"{sum(r['split'] == 'held-out' for r in rows)}; collections: "
          f"{dict(collections.Counter(c.collection for c in cases))}; meters: "
          f"{dict(collections.Counter(c.meter for c in cases))})")
    print("tempo within +-4 % (targets with notes: exact >= 85 %, up to octave >= 95 %)")
    for field, label in (("audio", "audio only "), ("notes", "with notes ")):
        for split in (None, "tune", "held-out"):
            print(f"  {label} {split or 'all':<8}: {_accuracy(rows, field, split)}")
        print(f"  {label} confusion: {dict(collections.Counter(r[field] for r in rows))}")
    key_ok = sum(r["key"] == "ok" for r in rows)
    print(f"key+mode exact:    {key_ok}/{n} = {key_ok / n:.1%}  (target >= 75 %)")
    print("  key confusion:  ", dict(collections.Counter(r["key"] for r in rows)))
    print(f"analysis speed (CPU time, one process): audio only {audio_s / audio_cpu:.1f}x real "
          f"time ({audio_s:.0f} s of audio in {audio_cpu:.1f} s); with notes "
          f"{audio_s / notes_cpu:.1f}x (the transcription itself not included)")
    if transcribed_s:
        print(f"transcription (Basic Pitch, CPU time): {transcribed_s / transcribe_cpu:.1f}x real "
              f"time ({transcribed_s:.0f} s of audio in {transcribe_cpu:.1f} s)")
    else:
        print("transcription: every piece came from the cache, its speed was not measured")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_pieces", nargs="?", type=int, default=192)
    parser.add_argument("excerpt_s", nargs="?", type=float, default=30.0)
    parser.add_argument("skip", nargs="?", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for renders and transcriptions reused by later runs")
    args = parser.parse_args()
    main(args.n_pieces, args.excerpt_s, args.skip, args.cache)
