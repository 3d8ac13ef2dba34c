"""One-off: convert musicnn's TensorFlow 1 checkpoints to numpy weights, and record the
original's taggrams as references for ``tests/test_musicnn.py``.

musicnn (MTG, Jordi Pons, ISC licence; PyPI ``musicnn`` 0.1.0) ships TF1 checkpoints. VMB runs
them in numpy (:mod:`vmb_agent.library.musicnn`); TensorFlow is needed only here, in a throwaway
virtual environment that VMB never uses. Tested with Python 3.11, tensorflow-cpu 2.21 (reading
the TF1 checkpoints through ``tf.compat.v1``; musicnn's ``tf.compat.v1.layers`` need Keras 2,
i.e. ``tf-keras``), numpy 1.26 and librosa 0.9.2 (the last librosa that resamples with resampy's
``kaiser_best`` by default, as the librosa 0.7 musicnn was trained with did; 0.10 uses soxr)::

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu 'tf-keras~=2.21.0' 'numpy<2' 'librosa==0.9.2'
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0   # it pins numpy<1.17 otherwise

    # weights -> vmb_agent/data/musicnn/{MTT,MSD}_musicnn.npz, tags JSON and the ISC LICENSE;
    # float32 (float16 moved tag probabilities by up to 3.9e-3, over the port's 1e-3 target)
    /tmp/tfvenv/bin/python benchmarks/convert_musicnn.py convert [float32|float16]
    # the original's taggrams of WAV files -> one .npz (keys "<model>/<file stem>")
    /tmp/tfvenv/bin/python benchmarks/convert_musicnn.py reference OUT.npz A.wav B.wav ...

Under NumPy 2, musicnn's ``np.log10(10000 * mel + 1)`` on its float16 mel stays float16 and
overflows to inf on loud music, so every loud patch yields the same taggram; NumPy 1.x promoted
it to float32. Under NumPy 2, ``reference`` patches that log to float32; either way it refuses
references whose recordings all gave the same first taggram.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "vmb_agent" / "data" / "musicnn"
MODELS = ("MTT_musicnn", "MSD_musicnn")

# TF layer name -> our name, in the order models.build_musicnn creates them.
CONV_NAMES = {
    "conv2d": "timbral74", "conv2d_1": "timbral77", "conv2d_2": "temporal128",
    "conv2d_3": "temporal64", "conv2d_4": "temporal32", "conv2d_5": "mid1",
    "conv2d_6": "mid2", "conv2d_7": "mid3", "dense": "dense", "dense_1": "out",
}  # fmt: skip
BN_NAMES = {
    "batch_normalization": "input_bn", "batch_normalization_1": "timbral74_bn",
    "batch_normalization_2": "timbral77_bn", "batch_normalization_3": "temporal128_bn",
    "batch_normalization_4": "temporal64_bn", "batch_normalization_5": "temporal32_bn",
    "batch_normalization_6": "mid1_bn", "batch_normalization_7": "mid2_bn",
    "batch_normalization_8": "mid3_bn", "batch_normalization_9": "pool_bn",
    "batch_normalization_10": "dense_bn",
}  # fmt: skip
BN_PARTS = {"gamma": "gamma", "beta": "beta", "moving_mean": "mean", "moving_variance": "var"}


def _musicnn_dir() -> Path:
    import musicnn

    return Path(musicnn.__file__).resolve().parent


def read_checkpoint(model: str) -> dict[str, np.ndarray]:
    """The model's weights by our names, as float32, kernels squeezed of their unit axes:
    convs (kh, kw, out) or (kh, out), dense (in, out)."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(_musicnn_dir() / model) + "/")
    weights: dict[str, np.ndarray] = {}
    for layer, name in CONV_NAMES.items():
        kernel = reader.get_tensor(f"{layer}/kernel").astype(np.float32)
        if kernel.ndim == 4:  # (kh, kw, in=1, out): drop the single input channel
            kernel = kernel[:, :, 0, :]
            if kernel.shape[1] == 1:  # temporal (k, 1) kernels
                kernel = kernel[:, 0, :]
        weights[f"{name}.kernel"] = kernel
        weights[f"{name}.bias"] = reader.get_tensor(f"{layer}/bias").astype(np.float32)
    for layer, name in BN_NAMES.items():
        for part, ours in BN_PARTS.items():
            weights[f"{name}.{ours}"] = reader.get_tensor(f"{layer}/{part}").astype(np.float32)
    return weights


def convert(dtype: str = "float32") -> None:
    """Write ``<model>.npz`` (weights stored as ``dtype``), ``<model>.tags.json`` and LICENSE."""
    sys.path.insert(0, str(_musicnn_dir().parent))
    from musicnn import configuration as config

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        weights = {k: v.astype(dtype) for k, v in read_checkpoint(model).items()}
        np.savez_compressed(OUT_DIR / f"{model}.npz", **weights)
        tags = config.MTT_LABELS if model.startswith("MTT") else config.MSD_LABELS
        (OUT_DIR / f"{model}.tags.json").write_text(json.dumps(tags, indent=1) + "\n")
        size = (OUT_DIR / f"{model}.npz").stat().st_size
        print(f"{model}: {len(weights)} arrays, {size / 1e6:.2f} MB ({dtype})")
    dist = next(_musicnn_dir().parent.glob("musicnn-*.dist-info"))
    shutil.copy(dist / "LICENSE.md", OUT_DIR / "LICENSE")


def _patch_log_for_numpy2() -> None:
    """Make musicnn's log compression float32 under NumPy 2, as NumPy 1.x did."""
    if int(np.__version__.split(".")[0]) < 2:
        return
    import librosa
    from musicnn import configuration as config
    from musicnn import extractor

    def batch_data(audio_file: str, n_frames: int, overlap: int):
        audio, sr = librosa.load(audio_file, sr=config.SR)
        rep = librosa.feature.melspectrogram(
            y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE, n_mels=config.N_MELS
        ).T
        rep = np.log10(10000 * rep.astype(np.float16).astype(np.float32) + 1)
        starts = range(0, rep.shape[0] - n_frames + 1, overlap)
        return np.stack([rep[s : s + n_frames] for s in starts]), rep

    extractor.batch_data = batch_data


def reference(out: Path, wavs: list[Path]) -> None:
    """Run the original musicnn on each WAV with both models; save the taggrams."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # musicnn builds its graph with tf.compat.v1.layers, which needs Keras 2 (tf-keras)
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    _patch_log_for_numpy2()
    from musicnn.extractor import extractor

    taggrams: dict[str, np.ndarray] = {}
    for model in MODELS:
        for wav in wavs:
            taggram, _ = extractor(str(wav), model=model, extract_features=False)
            taggrams[f"{model}/{wav.stem}"] = taggram.astype(np.float32)
    firsts = np.array([t[0] for t in taggrams.values()])
    spread = float(np.abs(firsts - firsts.mean(axis=0)).max())
    if spread < 1e-3:  # the NumPy 2 overflow symptom: every input gives the same taggram
        raise SystemExit("every recording gave the same taggram: the reference is broken")
    np.savez_compressed(out, **taggrams)
    print(f"{len(taggrams)} taggrams -> {out} (spread of first patches {spread:.3f})")


def main(argv: list[str]) -> None:
    if argv[:1] == ["convert"]:
        convert(argv[1] if len(argv) > 1 else "float32")
    elif argv[:1] == ["reference"] and len(argv) >= 3:
        reference(Path(argv[1]), [Path(a) for a in argv[2:]])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
