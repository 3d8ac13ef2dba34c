"""The musicnn port: recordings to verify it on, its agreement with the original, and its speed.

    # 1. make the recordings: 12 pieces VMB generates in different styles (20 s, seed 7, 44.1 kHz
    #    stereo) and the same resampled to 16 kHz mono float WAVs
    .venv/bin/python benchmarks/bench_tagger.py recordings /tmp/mnn
    # 2. the original's taggrams (throwaway TensorFlow venv, see convert_musicnn.py)
    CONVERT="/tmp/tfvenv/bin/python benchmarks/convert_musicnn.py reference"
    $CONVERT /tmp/mnn/ref44.npz /tmp/mnn/wav44/*.wav
    $CONVERT /tmp/mnn/ref16.npz /tmp/mnn/wav16/*.wav
    # 3. max |port - original| per model: wav16 checks the front-end and network (no
    #    resampling on either side), wav44 adds our resampler against librosa/resampy's
    .venv/bin/python benchmarks/bench_tagger.py compare /tmp/mnn/ref16.npz /tmp/mnn/wav16
    .venv/bin/python benchmarks/bench_tagger.py compare /tmp/mnn/ref44.npz /tmp/mnn/wav44
    # 4. seconds of CPU per minute of 44.1 kHz stereo audio, one thread
    .venv/bin/python benchmarks/bench_tagger.py speed

Measured (2 shared cores): max |diff| 1.4e-5 (MTT) and 1.0e-5 (MSD) on wav16, 2.3e-4 and 3.3e-4
on wav44, 12 recordings x 6 patches each; 0.83 CPU s per minute of audio (72x real time) for
MTT_musicnn on one thread, of which 0.76 s is the network and 0.06 s the resampling.

The references of step 2 for the 12 recordings are kept in tests/data/musicnn/recordings_*.npz.
They were made from VMB at commit 1afdf59, whose generation is deterministic (a regenerated set
was sample-identical); a later VMB may compose differently: then redo step 2.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

STYLES = {
    "rock": "hard rock with distorted guitars and drums",
    "piano": "slow classical solo piano nocturne",
    "techno": "fast techno with synth bass and four on the floor beat",
    "jazz": "smooth jazz with saxophone and upright bass",
    "ambient": "ambient soundscape with soft pads",
    "country": "country song with acoustic guitar and fiddle",
    "metal": "heavy metal with fast drums",
    "strings": "classical string quartet, calm",
    "funk": "funky groove with slap bass and brass",
    "pop": "happy pop song with female vocals",
    "hiphop": "hip hop beat with deep bass",
    "folk": "folk ballad with acoustic guitar and flute",
}


def recordings(out: Path) -> None:
    """Generate the pieces (wav44/) and their 16 kHz mono versions (wav16/)."""
    from vmb_agent.library import musicnn

    for sub in ("wav44", "wav16", "gen"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for name, words in STYLES.items():
        gen = out / "gen" / name
        cmd = [sys.executable, "-m", "vmb_agent", "generate", words, "--duration", "20",
               "--seed", "7", "--out", str(gen)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
        wav = max(gen.glob("*.wav"), key=lambda p: p.stat().st_mtime)
        audio, sr = sf.read(wav, dtype="float32")
        sf.write(out / "wav44" / f"{name}.wav", audio, sr, subtype="FLOAT")
        mono16 = musicnn.resample(musicnn.to_mono(audio), sr)
        sf.write(out / "wav16" / f"{name}.wav", mono16, musicnn.SAMPLE_RATE, subtype="FLOAT")
        print(name, wav.name)


def compare(reference: Path, wav_dir: Path) -> dict[str, float]:
    """Max |port - original| of tag probabilities per model over every patch of every file."""
    from vmb_agent.library import musicnn

    ref = np.load(reference)
    worst: dict[str, float] = {}
    for key in ref.files:
        model, stem = key.split("/")
        audio, sr = sf.read(wav_dir / f"{stem}.wav", dtype="float32")
        ours = musicnn.taggram(audio, sr, model)
        diff = float(np.abs(ours - ref[key]).max())
        worst[model] = max(worst.get(model, 0.0), diff)
        print(f"{key:28s} {ours.shape[0]} patches  max |diff| {diff:.1e}")
    n_files = len({k.split("/")[1] for k in ref.files})
    for model, diff in worst.items():
        print(f"{model}: max |diff| {diff:.1e} over {n_files} recordings")
    return worst


def speed(seconds: float = 60.0, repeats: int = 3) -> None:
    """CPU seconds per minute of 44.1 kHz stereo music (one BLAS thread), by stage."""
    from threadpoolctl import threadpool_limits

    from vmb_agent.library import musicnn

    rng = np.random.default_rng(0)
    n = int(seconds * 44100)
    t = np.arange(n) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))
    audio = np.stack([tone, tone], axis=1) + 0.05 * rng.standard_normal((n, 2))
    audio = audio.astype(np.float32)
    with threadpool_limits(1):
        for model in musicnn.MODELS:
            net = musicnn.load_model(model)
            best = [np.inf] * 3
            for _ in range(repeats):
                t0 = time.process_time()
                mono = musicnn.resample(musicnn.to_mono(audio), 44100)
                t1 = time.process_time()
                batch = musicnn.patches(musicnn.log_mel(mono))
                t2 = time.process_time()
                net.forward(batch)
                t3 = time.process_time()
                best = [min(b, x) for b, x in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True)]
            per_min = [b * 60.0 / seconds for b in best]
            print(f"{model}: resample {per_min[0]:.2f} s, log-mel {per_min[1]:.2f} s, network "
                  f"{per_min[2]:.2f} s; total {sum(per_min):.2f} CPU s per minute of audio "
                  f"({60.0 / sum(per_min):.0f}x real time)")  # fmt: skip


def main(argv: list[str]) -> None:
    if argv[:1] == ["recordings"] and len(argv) == 2:
        recordings(Path(argv[1]))
    elif argv[:1] == ["compare"] and len(argv) == 3:
        compare(Path(argv[1]), Path(argv[2]))
    elif argv[:1] == ["speed"]:
        speed()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
