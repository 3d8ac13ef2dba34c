"""Accuracy and speed of the audio analysis (tempo, key) on MIDI rendered to audio.

The test set: pieces from the music21 corpus in simple meters (2/4, 3/4, 4/4, where the beat is
the quarter note), spread over chorales, folk songs, dance tunes, Renaissance polyphony and
quartets, each set to a known tempo (cycling 66-168 BPM) and rendered through the SoundFont in
``pretty_midi`` (every third piece with a pop drum kit). Ground truth: the tempo we set, and the
key from music21's own symbolic analysis of the score (Krumhansl-Schmuckler with its default
Aarden-Essen weights), a profile set VMB's audio key finder (Albrecht-Shanahan, Krumhansl-Kessler,
Bellman-Budge) does not use.

    .venv/bin/python benchmarks/bench_tempo_key.py [N_PIECES] [EXCERPT_S] [SKIP]

SKIP leaves out the first SKIP*4 candidate pieces. The analysis constants were tuned on
``48 30 0``, ``48 30 60`` and ``96 30 120`` (and, for tempo, the bench_generation.py grid);
``96 30 250`` is the held-out check on different pieces.

Prints per-piece results, the failures with their confusion (e.g. relative major, half tempo),
the accuracies and the analysis speed (x real time on one core).
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time

from vmb_agent.library.audio_features import analyze_audio
from vmb_agent.library.corpus import piece_to_midi, select_pieces
from vmb_agent.theory import parse_key

TEMPI = [66, 76, 84, 92, 100, 108, 116, 124, 132, 144, 156, 168]


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


def main(n_pieces: int = 48, excerpt_s: float = 30.0, skip: int = 0) -> None:
    from music21 import converter, stream

    from vmb_agent.library.corpus import _corpus_root
    from vmb_agent.library.midi import load_midi
    from vmb_agent.rendering.synth import render_midi

    candidates = select_pieces((n_pieces + skip) * 4)[skip * 4:]
    rows = []
    analysis_s = audio_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for ref in candidates:
            if len(rows) >= n_pieces:
                break
            try:
                piece = piece_to_midi(ref, tmp)
            except Exception:  # noqa: BLE001, S112 -- unparsable pieces are simply not in the set
                continue
            if piece.meter not in ("2/4", "3/4", "4/4"):
                continue
            source = _corpus_root() / ref.path
            score = converter.parse(source, number=ref.number) if ref.number else \
                converter.parse(source)
            if isinstance(score, stream.Opus):
                score = score.scores[0]
            true_key = parse_key(str(score.analyze("key")).replace("-", "b")).name
            pm = load_midi(piece.midi_path)
            old_bpm = float(pm.get_tempo_changes()[1][0])
            true_bpm = float(TEMPI[len(rows) % len(TEMPI)])
            clip = _retime(pm, old_bpm / true_bpm, excerpt_s)
            with_drums = len(rows) % 3 == 2
            if with_drums:
                clip.instruments.append(
                    _pop_drums(true_bpm, int(piece.meter[0]), clip.get_end_time()))
            audio = render_midi(clip, sample_rate=44100)
            t0 = time.perf_counter()
            features = analyze_audio(audio.mean(axis=1), 44100)
            analysis_s += time.perf_counter() - t0
            audio_s += len(audio) / 44100
            rows.append({
                "title": piece.title[:34], "collection": piece.collection,
                "drums": with_drums, "true_bpm": true_bpm, "est_bpm": features.tempo_bpm,
                "tempo": _tempo_verdict(features.tempo_bpm, true_bpm),
                "true_key": true_key, "est_key": features.key,
                "key": _key_verdict(features.key, true_key),
            })
            r = rows[-1]
            print(f"{r['title']:<35} {r['collection']:<26} drums={int(r['drums'])} "
                  f"tempo {r['true_bpm']:>5.0f} -> {r['est_bpm'] or 0:>6.1f} {r['tempo']:<7} "
                  f"key {r['true_key']:<9} -> {r['est_key'] or '-':<9} {r['key']}")
    n = len(rows)
    tempo_ok = sum(r["tempo"] == "ok" for r in rows)
    key_ok = sum(r["key"] == "ok" for r in rows)
    print()
    print(f"pieces: {n} ({excerpt_s:.0f} s excerpts, collections: "
          f"{dict(collections.Counter(r['collection'] for r in rows))})")
    print(f"tempo within +-4 %: {tempo_ok}/{n} = {tempo_ok / n:.1%}  (target >= 85 %)")
    print("  tempo confusion:", dict(collections.Counter(r["tempo"] for r in rows)))
    print(f"key+mode exact:    {key_ok}/{n} = {key_ok / n:.1%}  (target >= 75 %)")
    print("  key confusion:  ", dict(collections.Counter(r["key"] for r in rows)))
    print(f"analysis speed: {audio_s / analysis_s:.1f}x real time "
          f"({audio_s:.0f} s of audio in {analysis_s:.1f} s, one process)")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 48, float(args[1]) if len(args) > 1 else 30.0,
         int(args[2]) if len(args) > 2 else 0)
