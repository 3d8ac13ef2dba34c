"""Text embeddings for captions and queries: all-MiniLM-L6-v2 as a pure-numpy BERT forward pass.

The weights (float16, Apache-2.0) and the tokenizer ship inside this package, in
``vmb_agent/data/minilm`` (made by benchmarks/convert_minilm.py; its README says what changed).
Running the 6-layer encoder in numpy (``tokenizers`` + ``safetensors.numpy``) in float32 needs no
torch: a cold load takes a fraction of a second instead of ~5 s, and the output matches
sentence-transformers (cosine >= 0.999, see tests/test_library_embed.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from vmb_agent.errors import BackendUnavailableError
from vmb_agent.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.settings import Settings
    from vmb_agent.types import TrackInfo


class Embedder(Protocol):
    """Maps texts to L2-normalised vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, each row unit length."""
        ...


@runtime_checkable
class AudioEmbedder(Embedder, Protocol):
    """An embedder that also maps audio into its text space (CLAP): the library then indexes a
    track by its sound, and text queries find it (see :func:`track_vectors`)."""

    def embed_audio(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        """Shape (len(waveforms), dim), float32, unit rows; mono (or (n, channels)) samples."""
        ...


embedders: Registry[Embedder] = Registry("embed")


#: all-MiniLM-L6-v2 as shipped with the package: float16 weights, tokenizer, config, licence
MINILM_DIR = Path(__file__).resolve().parents[1] / "data" / "minilm"


def minilm_model_dir() -> Path:
    """The folder holding all-MiniLM-L6-v2's ``model.safetensors`` and ``tokenizer.json``."""
    for name in ("model.safetensors", "tokenizer.json"):
        if not (MINILM_DIR / name).is_file():
            raise BackendUnavailableError(
                f"the MiniLM text embedder's {name} is missing from {MINILM_DIR}; "
                "the installation is incomplete: reinstall vmb-agent."
            )
    return MINILM_DIR


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d): BERT encoder, mean pooling over tokens, L2 normalisation."""

    name = "minilm"
    dim = 384
    max_tokens = 256
    heads = 12
    layers = 6

    def __init__(self, model_dir: Path | None = None, cache_size: int = 4096) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = model_dir or minilm_model_dir()
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()  # we pad per batch ourselves
        # Stored as float16 (half the size on disk); computed in float32 like the original.
        self.weights = {
            k: v.astype(np.float32) for k, v in load_file(str(model_dir / "model.safetensors")).items()
        }
        # Pre-transpose the dense weights once (torch stores them as (out, in)).
        for name, value in list(self.weights.items()):
            if name.endswith(".weight") and value.ndim == 2 and "embeddings" not in name:
                self.weights[name] = np.ascontiguousarray(value.T)
        from threadpoolctl import ThreadpoolController

        # For a query the matrices are small: multi-threaded BLAS only adds wake-up latency
        # (10x slower on a busy 2-core machine), so small batches run on one BLAS thread.
        self._blas = ThreadpoolController()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        with self._lock:
            for i, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = cached
        # Batch by similar length so padding stays small.
        order = sorted(missing, key=lambda i: len(texts[i]))
        for start in range(0, len(order), 32):
            batch = order[start:start + 32]
            vectors = self._encode([texts[i] for i in batch])
            with self._lock:
                for i, vector in zip(batch, vectors, strict=True):
                    out[i] = vector
                    self._cache[texts[i]] = vector
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) >= 8:  # big matrices: BLAS threads pay off
            return self._forward(texts)
        with self._blas.limit(limits=1, user_api="blas"):
            return self._forward(texts)

    def _forward(self, texts: list[str]) -> np.ndarray:
        w = self.weights
        encodings = self.tokenizer.encode_batch(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        batch, head_dim = len(texts), self.dim // self.heads
        attention_bias = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                # 2-D matmul so numpy hands it to BLAS in one sgemm call.
                weight = w[p + name + ".weight"]
                flat = h.reshape(-1, h.shape[-1]) @ weight + w[p + name + ".bias"]
                return flat.reshape(*h.shape[:-1], weight.shape[1])

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + attention_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = _layer_norm(x + dense(context, "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(x + dense(hidden, "output.dense"),
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


embedders.add("minilm", MiniLMEmbedder)


def _clap(settings: Settings | None = None) -> Embedder:
    from vmb_agent.neural.clap import ClapEmbedder  # torch + transformers; VMB_CLAP_MODEL

    return ClapEmbedder(settings)


embedders.add("clap", _clap)

def get_embedder(name: str = "minilm", settings: Settings | None = None) -> Embedder:
    """The process-wide embedder ``name`` (loaded once, then reused; per settings for one that
    reads them)."""
    return embedders.shared(name, settings)


def can_embed_audio(embedder: Embedder) -> bool:
    """Whether ``embedder`` maps audio into its text space (an :class:`AudioEmbedder`)."""
    return callable(getattr(embedder, "embed_audio", None))


def track_vectors(embedder: Embedder, tracks: Sequence[TrackInfo], *,
                  soundfont: Path | None = None) -> np.ndarray:
    """The vector each track is indexed by, shape (len(tracks), dim).

    A text-only embedder embeds the captions. An audio embedder (CLAP) embeds what the track
    sounds like -- its audio file, or its MIDI rendered with the SoundFont -- when that audio can
    be had, since CLAP's text and audio share one space and a broad search by words then finds
    music whose caption says nothing of its sound (audio added with no tags has only a
    measured caption). A track whose audio is gone or cannot be rendered falls back to its
    caption's text embedding, in the same space."""
    if not can_embed_audio(embedder):
        return embedder.embed([t.caption for t in tracks])
    from vmb_agent.library.ingest import track_audio

    out = np.zeros((len(tracks), embedder.dim), dtype=np.float32)
    captions: list[int] = []
    for i, track in enumerate(tracks):
        heard = track_audio(track, soundfont=soundfont)
        if heard is None:
            captions.append(i)
        else:  # one track at a time: a long recording's samples are not all held at once
            out[i] = embedder.embed_audio([heard[0]], heard[1])[0]  # type: ignore[attr-defined]
    if captions:
        out[captions] = embedder.embed([tracks[i].caption for i in captions])
    return out
