"""Dual-track retrieval on a real Chroma library of synthetic tracks (real captions + embeddings)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmb_agent.errors import InputError, OutOfRangeError, UnknownNameError
from vmb_agent.library import Library
from vmb_agent.library.ingest import derive_moods, make_caption
from vmb_agent.settings import Settings
from vmb_agent.theory import parse_key
from vmb_agent.types import (
    MusicAttributes,
    MusicDescription,
    SearchFilters,
    SourceInfo,
    TrackInfo,
)

KEYS = ["C major", "G major", "D major", "A minor", "E minor", "D minor", "Bb major", "F# minor"]
INSTRUMENTS = ["piano", "violin", "cello", "flute", "choir", "drums", "harp", "acoustic guitar",
               "organ", "strings"]
GENRES = ["folk", "baroque", "ambient", "celtic", "classical", "cinematic"]


def synthetic_tracks(n: int, seed: int = 7) -> list[TrackInfo]:
    rng = np.random.default_rng(seed)
    tracks = []
    for i in range(n):
        key = KEYS[i % len(KEYS)]
        tempo = float(np.round(rng.uniform(50, 180), 1))
        count = 1 + int(rng.integers(0, 3))
        instruments = sorted({INSTRUMENTS[j] for j in rng.choice(len(INSTRUMENTS), count,
                                                                  replace=False)})
        genre = GENRES[int(rng.integers(0, len(GENRES)))]
        energy = float(rng.uniform(0, 1))
        track = TrackInfo(
            id=f"{i:016x}", title=f"Synthetic {i}", path=f"/music/synthetic{i}.mid",
            format="midi", duration_s=float(np.round(rng.uniform(20, 400), 1)), tempo_bpm=tempo,
            key=key, key_confidence=float(rng.uniform(0.2, 1)), time_signature="4/4",
            instruments=instruments, genres=[genre], moods=derive_moods(key, tempo, energy),
            energy=energy,
        )
        track.caption = make_caption(track)
        tracks.append(track)
    return tracks


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    lib = Library(Settings(home=tmp_path_factory.mktemp("search-home")))
    tracks = synthetic_tracks(120)
    special = TrackInfo(id="f" * 16, title="Harbour Lullaby", path="/music/lullaby.wav",
                        format="audio", duration_s=95.0, tempo_bpm=64.0, key="E minor",
                        instruments=["harp", "strings"], genres=["cinematic"],
                        moods=["melancholic", "calm"])
    special.caption = make_caption(special) + " A gentle lullaby for a misty harbour at dawn."
    tracks.append(special)
    lib.store.upsert(tracks, lib.embedder.embed([t.caption for t in tracks]))
    yield lib
    lib.close()


def violations(track: TrackInfo, f: SearchFilters) -> list[str]:
    """An independent oracle: which filters ``track`` breaks."""
    bad = []
    if f.tempo_min is not None and not (track.tempo_bpm and track.tempo_bpm >= f.tempo_min):
        bad.append("tempo_min")
    if f.tempo_max is not None and not (track.tempo_bpm and track.tempo_bpm <= f.tempo_max):
        bad.append("tempo_max")
    if f.duration_min is not None and track.duration_s < f.duration_min:
        bad.append("duration_min")
    if f.duration_max is not None and track.duration_s > f.duration_max:
        bad.append("duration_max")
    if f.key is not None:
        want = f.key.split()
        have = parse_key(track.key) if track.key else None
        if have is None or have.tonic != parse_key(want[0]).tonic or \
                (len(want) > 1 and have.mode != want[1]):
            bad.append("key")
    if f.mode is not None and not (track.key and track.key.endswith(f.mode)):
        bad.append("mode")
    for name in f.instruments:
        if name not in track.instruments:
            bad.append(f"instrument {name}")
    if f.genre and f.genre not in track.genres:
        bad.append("genre")
    if f.mood and f.mood not in track.moods:
        bad.append("mood")
    return bad


def test_broad_finds_the_theme(library: Library) -> None:
    result = library.search(query="a gentle lullaby for a misty harbour", mode="broad", k=5)
    assert result.matches[0].title == "Harbour Lullaby"
    assert result.matches[0].reasons[0].startswith("theme similarity")
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)


def test_targeted_holds_constraints_and_ranks_by_closeness(library: Library) -> None:
    filters = SearchFilters(tempo_min=100, tempo_max=140, mode="minor", instruments=["violin"])
    result = library.search(mode="targeted", filters=filters, k=5)
    assert result.matches
    for match in result.matches:
        assert violations(match.track, filters) == []
        assert any(r.startswith("tempo ") and "within 100–140" in r for r in match.reasons)
        assert "instruments include violin" in match.reasons
    distances = [abs(m.track.tempo_bpm - 120) for m in result.matches]
    assert distances[0] <= distances[-1]


def test_unmeetable_constraint_gives_no_results_and_a_note(library: Library) -> None:
    filters = SearchFilters(tempo_min=290, tempo_max=300)
    for mode in ("targeted", "dual"):
        result = library.search(query="anything", mode=mode, filters=filters, k=5)
        assert result.matches == []
        assert "no track meets tempo 290-300 BPM" in result.notes[0]


def test_few_matches_are_reported(library: Library) -> None:
    filters = SearchFilters(key="E minor", instruments=["harp", "strings"], genre="cinematic")
    result = library.search(mode="targeted", filters=filters, k=10)
    assert 1 <= len(result.matches) < 10
    assert result.notes and result.notes[0].startswith(f"only {len(result.matches)} track")


def test_dual_fuses_theme_and_soft_targets_from_a_description(library: Library) -> None:
    description = MusicDescription(
        text="A slow, melancholic lullaby on harp over soft strings, for a misty harbour at dawn.",
        attributes=MusicAttributes(moods=["melancholic"], instruments=["harp"], tempo_bpm=66,
                                   key="E minor"),
        source=SourceInfo(kind="text"),
    )
    result = library.search(description=description, mode="dual", k=5)
    top = result.matches[0]
    assert top.title == "Harbour Lullaby"
    assert any(r.startswith("theme similarity") for r in top.reasons)
    assert any(r.startswith("tempo 64 within") for r in top.reasons)
    assert "harp" in result.query and "E minor" in result.query
    for match in result.matches:  # reasons never claim a target the track misses
        in_targets = 56.1 <= match.track.tempo_bpm <= 75.9 and match.track.key.endswith("minor") \
            and ("harp" in match.track.instruments or bool(result.notes))
        claims = any(r.startswith("tempo ") for r in match.reasons)
        assert claims == in_targets, match.reasons
        assert claims or any(r.startswith("outside the soft targets") for r in match.reasons)


def test_dual_with_hard_filters_never_violates_them(library: Library) -> None:
    filters = SearchFilters(genre="folk", tempo_max=120)
    result = library.search(query="lively dance", mode="dual", filters=filters, k=8)
    assert result.matches
    assert all(violations(m.track, filters) == [] for m in result.matches)


def test_key_filter_accepts_spellings_and_bare_tonic(library: Library) -> None:
    exact = library.search(mode="targeted", filters=SearchFilters(key="f#m"), k=50)
    assert exact.matches and all(m.track.key == "F# minor" for m in exact.matches)
    tonic = library.search(mode="targeted", filters=SearchFilters(key="D"), k=50)
    assert {m.track.key for m in tonic.matches} == {"D major", "D minor"}


@pytest.mark.parametrize(("filters", "error", "text"), [
    (SearchFilters(key="H minor"), InputError, "cannot parse key 'H minor'"),
    (SearchFilters(tempo_min=140, tempo_max=90), OutOfRangeError, "140-90 is inverted"),
    (SearchFilters(duration_min=100, duration_max=10), OutOfRangeError, "100-10 is inverted"),
    (SearchFilters(instruments=["kazoo"]), UnknownNameError, "unknown instrument 'kazoo'"),
    (SearchFilters(key="A minor", mode="major"), OutOfRangeError, "contradicts"),
])
def test_bad_filters_are_one_line_errors(library: Library, filters, error, text) -> None:
    with pytest.raises(error, match=text) as info:
        library.search(query="x", mode="targeted", filters=filters, k=3)
    assert "\n" not in str(info.value)


def test_negative_duration_and_bad_modes(library: Library) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        SearchFilters(duration_min=-5)
    with pytest.raises(OutOfRangeError, match="broad search needs"):
        library.search(mode="broad", k=3)
    with pytest.raises(OutOfRangeError, match="at least one filter"):
        library.search(mode="targeted", k=3)
    with pytest.raises(OutOfRangeError, match="a query text, a description, or a filter"):
        library.search(mode="dual", k=3)  # the default mode, with nothing to search for


filter_strategy = st.builds(
    SearchFilters,
    tempo_min=st.one_of(st.none(), st.integers(30, 200).map(float)),
    tempo_max=st.one_of(st.none(), st.integers(200, 300).map(float)),
    key=st.one_of(st.none(), st.sampled_from(KEYS + ["A", "E", "bb", "c major"])),
    mode=st.one_of(st.none(), st.sampled_from(["major", "minor"])),
    instruments=st.lists(st.sampled_from(INSTRUMENTS), max_size=2, unique=True),
    genre=st.one_of(st.none(), st.sampled_from(GENRES)),
    mood=st.one_of(st.none(), st.sampled_from(["calm", "happy", "melancholic", "tense"])),
    duration_min=st.one_of(st.none(), st.integers(0, 200).map(float)),
    duration_max=st.one_of(st.none(), st.integers(200, 500).map(float)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=filter_strategy, mode=st.sampled_from(["targeted", "dual"]),
       k=st.integers(1, 30))
def test_targeted_results_never_violate_random_constraints(library: Library, filters, mode,
                                                           k) -> None:
    if filters.key and filters.mode and len(filters.key.split()) > 1 \
            and not filters.key.endswith(filters.mode):
        return  # contradictory on purpose: covered by the error test
    result = library.search(query="music", mode=mode, filters=filters, k=k)
    assert len(result.matches) <= k
    for match in result.matches:
        assert violations(match.track, filters) == [], (filters, match.track)
    if len(result.matches) < k:
        assert result.notes


def test_search_latency_is_reasonable(library: Library) -> None:
    import time

    library.search(query="warm up", k=5)
    started = time.perf_counter()
    library.search(query="bright folk tune on flute", mode="dual", k=10)
    assert time.perf_counter() - started < 2.0  # a sanity bound; benchmarks measure p95


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(library: Library, monkeypatch: pytest.MonkeyPatch):
    from vmb_agent.settings import get_settings

    monkeypatch.setenv("VMB_HOME", str(library.settings.home))
    monkeypatch.delenv("VMB_CHROMA_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_search_json_rows(cli_env, tmp_path: Path) -> None:
    from vmb_agent.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["search", "misty harbour lullaby", "--tempo", "50-80",
                                 "--instruments", "harp", "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["title"] == "Harbour Lullaby"
    for row in rows:
        assert {"id", "path", "title", "duration_s", "tempo_bpm", "key", "reasons"} <= set(row)
        assert 50 <= row["tempo_bpm"] <= 80 and "harp" in row["instruments"]
    description = tmp_path / "d.json"
    description.write_text(MusicDescription(
        text="calm harp lullaby", attributes=MusicAttributes(instruments=["harp"]),
        source=SourceInfo(kind="text")).model_dump_json())
    by_file = runner.invoke(cli, ["search", "--description", str(description), "-k", "2"])
    assert by_file.exit_code == 0 and "1. " in by_file.output


def test_cli_search_errors(cli_env, tmp_path: Path) -> None:
    from vmb_agent.cli import cli

    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    runner = CliRunner()
    for args in (["search", "x", "--tempo", "fast"], ["search", "x", "--tempo", "140-90"],
                 ["search", "x", "--key", "Q"], ["search", "x", "-k", "0"],
                 ["search", "x", "--tempo", "10-20"], ["search", "x", "--instruments", "kazoo"],
                 ["search", "--description", str(tmp_path / "none.json")],
                 ["search", "--description", str(bad_json)],
                 ["search", "x", "--duration", "50-10"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: ") and result.output.count("\n") == 1, args


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["search"], ["search needs a query, a description or a filter", "--description FILE",
                      "--tempo"]),
        (["search", "  "], ["search needs a query, a description or a filter"]),
        (["search", "--mode", "broad"], ["broad search", "a query or a description"]),
        (["search", "--mode", "broad", "--tempo", "90-120"], ["broad search", "a query"]),
        (["search", "--mode", "targeted"], ["targeted search", "a filter", "--tempo"]),
        (["search", "--instruments", ","], ["search needs a query, a description or a filter"]),
    ],
)
def test_cli_search_without_input_says_what_the_mode_needs(cli_env, args, says) -> None:
    from vmb_agent.cli import cli

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "targeted search needs at least one filter" not in result.output
    for text in says:
        assert text in result.output


def test_attribute_index_follows_writes_here_and_elsewhere(tmp_path: Path) -> None:
    tracks = synthetic_tracks(12, seed=3)
    here = Library(Settings(home=tmp_path))
    here.store.upsert(tracks[:8], here.embedder.embed([t.caption for t in tracks[:8]]))
    slow = SearchFilters(tempo_min=30, tempo_max=300)
    assert len(here.search(mode="targeted", filters=slow, k=50).matches) == 8
    index = here.store._index
    here.store.upsert(tracks[8:10], here.embedder.embed([t.caption for t in tracks[8:10]]))
    assert len(here.search(mode="targeted", filters=slow, k=50).matches) == 10
    assert here.store._index is index and len(index) == 10  # extended, not rebuilt
    here.remove(tracks[0].id)
    found = here.search(mode="targeted", filters=slow, k=50).matches
    assert tracks[0].id not in {m.id for m in found} and len(found) == 9
    assert here.store._index is index

    elsewhere = Library(Settings(home=tmp_path))  # e.g. a CLI process next to a server
    elsewhere.store.upsert(tracks[10:], elsewhere.embedder.embed([t.caption for t in tracks[10:]]))
    found = here.search(mode="targeted", filters=slow, k=50).matches
    assert {t.id for t in tracks[1:]} == {m.id for m in found}
    assert here.store._index is not index  # rebuilt after someone else's write
