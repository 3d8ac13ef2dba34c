"""The ``clap`` embedder and one Chroma collection per embedder, with a tiny random CLAP built
here (tests/tiny_models/clap.py): nothing is downloaded, similarities are meaningless, so what
is checked is shapes, norms, determinism, which collection holds what, and the errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import use_home
from test_library import tone, write_midi

from vmb_agent.errors import BackendUnavailableError
from vmb_agent.library import Library
from vmb_agent.library.store import collection_name
from vmb_agent.settings import Settings, get_settings

pytest.importorskip("torch")
pytest.importorskip("transformers")

TINY_DIM = 32  # tests/tiny_models/clap.py, size "tiny"
CLAP_INDEX = f"vmb_tracks_clap_{TINY_DIM}"


@pytest.fixture(scope="module")
def clap_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import clap as tiny_clap

    return tiny_clap.build(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(autouse=True)
def fresh_embedders() -> None:
    """Each test creates its embedders from its own environment (weights set or missing)."""
    from vmb_agent.library import embed

    embed.embedders.forget_shared()


@pytest.fixture
def clap_env(clap_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VMB_CLAP_MODEL", str(clap_weights))
    monkeypatch.delenv("VMB_EMBED_BACKEND", raising=False)
    get_settings.cache_clear()
    yield clap_weights
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short MIDI files and a 3 s recording."""
    import soundfile

    folder = tmp_path_factory.mktemp("clap-media")
    files = {name: folder / f"{name}.mid" for name in ("waltz", "march", "gone")}
    write_midi(files["waltz"], bpm=100.0, program=40, bars=4)
    write_midi(files["march"], bpm=132.0, program=73, drums=False, tonic=62, minor=False, bars=4)
    write_midi(files["gone"], bpm=80.0, program=0, drums=False, bars=2)
    files["wav"] = folder / "clicks.wav"
    soundfile.write(files["wav"], tone([220, 261.6, 329.6], 3, bpm=120), 22050)
    return files


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]) -> Path:
    """A library (default MiniLM index) holding the media; 'gone' is deleted afterwards, so its
    audio cannot be had any more."""
    home = tmp_path_factory.mktemp("clap-home")
    library = Library(Settings(home=home))
    report = library.add(list(media.values()))
    assert len(report.added) == 4, report
    library.close()
    media["gone"].unlink()
    return home


@pytest.fixture
def in_home(home: Path, clap_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from use_home(home, monkeypatch)


def stored(library: Library) -> dict[str, np.ndarray]:
    found = library.store.collection.get(include=["embeddings"])
    return {i: np.asarray(e, dtype=np.float32)
            for i, e in zip(found["ids"], found["embeddings"], strict=True)}  # fmt: skip


# -- the embedder -------------------------------------------------------------------------------


def test_text_and_audio_embeddings_share_one_unit_space(clap_env: Path) -> None:
    from vmb_agent.library.embed import AudioEmbedder, can_embed_audio, get_embedder

    embedder = get_embedder("clap")
    assert embedder.name == "clap" and embedder.dim == TINY_DIM
    assert isinstance(embedder, AudioEmbedder) and can_embed_audio(embedder)
    assert not can_embed_audio(get_embedder("minilm"))
    texts = embedder.embed(["a calm piano piece", "fast drums", "a calm piano piece"])
    assert texts.shape == (3, TINY_DIM) and texts.dtype == np.float32
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(texts[0], texts[2])  # the same text twice: the very same vector
    assert np.array_equal(embedder.embed(["a calm piano piece"])[0], texts[0])
    assert not np.allclose(texts[0], texts[1])
    rng = np.random.default_rng(0)
    long = rng.standard_normal(22050 * 25).astype(np.float32) * 0.1  # three 10 s windows
    stereo = np.stack([long[:44100], long[:44100]], axis=1)
    audio = embedder.embed_audio([long, stereo, np.zeros(0, np.float32)], 22050)
    assert audio.shape == (3, TINY_DIM) and audio.dtype == np.float32
    assert np.allclose(np.linalg.norm(audio, axis=1), 1.0, atol=1e-5)
    again = embedder.embed_audio([long], 22050)[0]
    assert np.allclose(again, audio[0], atol=1e-5)  # no random crop of a long recording
    assert np.allclose(embedder.embed_audio([stereo[:, 0]], 22050)[0], audio[1], atol=1e-5)


def test_collection_names() -> None:
    assert collection_name("vmb_tracks", "minilm", 384) == "vmb_tracks"  # today's libraries
    assert collection_name("vmb_tracks", "clap", 512) == "vmb_tracks_clap_512"
    assert collection_name("mine", "my plugin", 8) == "mine_my-plugin_8"
    assert Library(Settings(home=Path("/nonexistent"))).collection_name == "vmb_tracks"


# -- one collection per embedder ----------------------------------------------------------------


def test_reindex_into_clap_keeps_minilm_and_search_uses_clap(
        in_home: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from vmb_agent.library.embed import get_embedder
    from vmb_agent.library.ingest import track_audio
    from vmb_agent.sdk import VMB

    minilm = Library(Settings(home=in_home))
    before = stored(minilm)
    empty = Library(Settings(home=in_home, embed_backend="clap")).search(query="piano", k=3)
    assert "run `vmb library reindex --embedder clap`" in empty.notes[0]  # not indexed yet
    calls: list[tuple[int, int | None, str | None]] = []
    report = minilm.reindex("clap", progress=lambda *call: calls.append(call))
    assert sorted(report.added) == sorted(before) and not report.failed
    assert calls[0][0] == 4 and calls[-1] == (4, 4, "done")  # after each batch, then done
    clap = Library(Settings(home=in_home, embed_backend="clap"))
    assert clap.collection_name == CLAP_INDEX
    assert minilm.indexes() == {"vmb_tracks": 4, CLAP_INDEX: 4}
    after = stored(minilm)  # the MiniLM index is untouched
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[i], before[i]) for i in before)
    vectors = stored(clap)
    assert vectors.keys() == before.keys()
    assert all(v.shape == (TINY_DIM,) for v in vectors.values())
    for track in minilm.list():
        assert clap.get(track.id) == track  # the same metadata, caption and path
    # a track is indexed by its sound when it can be had, else by its caption
    embedder = get_embedder("clap")
    for track in minilm.list():
        heard = track_audio(track)
        if track.title == "gone":
            assert heard is None
            want = embedder.embed([track.caption])[0]
        else:
            assert heard is not None
            want = embedder.embed_audio([heard[0]], heard[1])[0]
        assert np.allclose(vectors[track.id], want, atol=1e-4), track.title
    again = minilm.reindex("clap")  # idempotent: nothing is written twice
    assert again.added == [] and sorted(again.unchanged) == sorted(before)
    # a search with VMB_EMBED_BACKEND=clap reads the CLAP index (32-d, not MiniLM's 384-d)
    monkeypatch.setenv("VMB_EMBED_BACKEND", "clap")
    get_settings.cache_clear()
    vmb = VMB()
    result = vmb.search("a calm piano piece", mode="broad", k=3)
    query = embedder.embed(["a calm piano piece"])[0]
    assert len(result.matches) == 3
    for match in result.matches:
        assert match.id in vectors
        assert match.score == pytest.approx(float(query @ vectors[match.id]), abs=1e-3)
    assert vmb.library.index_info() == {"embedder": "clap", "index": CLAP_INDEX}
    assert vmb.library_stats().tracks == 4


def test_adding_with_clap_writes_only_the_clap_index(
        clap_env: Path, vmb_home: Path, media: dict[str, Path]) -> None:
    clap = Library(Settings(home=vmb_home, embed_backend="clap"))
    report = clap.add([media["waltz"]])
    assert len(report.added) == 1
    assert clap.indexes() == {CLAP_INDEX: 1}  # no MiniLM index was made or filled
    clap.close()


def test_cli_reindex_and_stats(in_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vmb_agent.cli import cli

    runner = CliRunner()
    # with VMB_EMBED_BACKEND=clap the tracks are read from MiniLM's index (the default one)
    monkeypatch.setenv("VMB_EMBED_BACKEND", "clap")
    get_settings.cache_clear()
    result = runner.invoke(cli, ["library", "reindex", "--embedder", "clap", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["added"]) + len(report["unchanged"]) == 4 and not report["failed"]
    stats = runner.invoke(cli, ["library", "stats"])
    assert stats.exit_code == 0, stats.output
    assert f"embedder clap, index {CLAP_INDEX}" in stats.output
    assert "other index vmb_tracks: 4 tracks" in stats.output
    monkeypatch.delenv("VMB_EMBED_BACKEND")
    get_settings.cache_clear()
    same = runner.invoke(cli, ["library", "reindex", "--embedder", "minilm"])
    assert same.exit_code == 0 and "added 0, already present 4" in same.output, same.output


# -- missing weights ----------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [None, "missing-folder", "empty-folder"])
def test_missing_weights_fail_in_one_line_and_write_nothing(
        vmb_home: Path, media: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, weights: str | None) -> None:
    from vmb_agent.cli import cli

    if weights is None:
        monkeypatch.delenv("VMB_CLAP_MODEL", raising=False)
    else:
        (tmp_path / "empty-folder").mkdir()
        monkeypatch.setenv("VMB_CLAP_MODEL", str(tmp_path / weights))
    get_settings.cache_clear()
    library = Library(Settings(home=vmb_home))
    library.add([media["waltz"]])
    with pytest.raises(BackendUnavailableError) as failure:
        library.reindex("clap")
    message = str(failure.value)
    assert message.startswith("clap: ") and "VMB_CLAP_MODEL" in message and "\n" not in message
    result = CliRunner().invoke(cli, ["library", "reindex", "--embedder", "clap"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: clap: "), result.output
    assert library.indexes() == {"vmb_tracks": 1}  # no CLAP collection was created
