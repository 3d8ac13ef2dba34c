"""The numpy MiniLM embedder: shape, normalisation, caching, and parity with sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from vmb_agent.errors import UnknownNameError
from vmb_agent.library.embed import MiniLMEmbedder, embedders, get_embedder, minilm_model_dir

TEXTS = [
    "calm orchestral piece in E minor at 72 BPM with strings and harp",
    "fast celtic dance tune on fiddle with drums",
    "a",
    ("Chorale BWV 250: calm slow baroque four-part chorale in G major at 61 BPM with organ, "
     "4/4 meter, 0:39 long, by J.S. Bach (Baroque, bach chorales); chorale, sacred; peaceful."),
]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return get_embedder("minilm")  # type: ignore[return-value]


def test_vectors_are_unit_length_and_semantic(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed(["peaceful sacred choral music"])[0]
    calm_chorale, dance = float(vectors[3] @ query), float(vectors[1] @ query)
    assert calm_chorale > dance


def test_batch_and_single_agree_and_cache_hits(embedder: MiniLMEmbedder) -> None:
    batch = embedder.embed(TEXTS)
    single = np.stack([embedder.embed([t])[0] for t in TEXTS])
    assert np.allclose(batch, single, atol=1e-5)  # padding does not change results
    assert TEXTS[0] in embedder._cache
    again = embedder.embed([TEXTS[0]])
    assert np.array_equal(again[0], batch[0])


def test_long_text_is_truncated_not_refused(embedder: MiniLMEmbedder) -> None:
    vector = embedder.embed(["music " * 2000])[0]
    assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_registry_names_and_unknown_backend() -> None:
    assert "minilm" in embedders.names()
    with pytest.raises(UnknownNameError, match="clip"):
        embedders.create("clip")


@pytest.mark.slow
def test_matches_sentence_transformers() -> None:
    """The numpy forward pass equals the reference implementation (this test imports torch)."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(minilm_model_dir()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    ours = MiniLMEmbedder().embed(TEXTS)
    cosine = (ours * expected).sum(axis=1)
    assert cosine.min() >= 0.999, cosine
