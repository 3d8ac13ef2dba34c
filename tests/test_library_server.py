"""The same library code against a real Chroma server (`chroma run` on loopback)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmb_agent.errors import LibraryError, NotFoundError
from vmb_agent.library import Library
from vmb_agent.settings import Settings
from vmb_agent.types import SearchFilters

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chroma_cli() -> str | None:
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory):
    import httpx

    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the `chroma` CLI is not installed")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "w")  # noqa: SIM115 -- closed after the server stops
    server = subprocess.Popen([cli, "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma server did not start: {(data / 'server.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_server_mode_add_search_remove(chroma_url: str, tmp_path: Path) -> None:
    from test_library import write_midi

    music = tmp_path / "music"
    music.mkdir()
    write_midi(music / "waltz.mid", bpm=96.0, program=46)
    write_midi(music / "march.mid", bpm=128.0, program=56, drums=False, tonic=60, minor=False)
    library = Library(Settings(home=tmp_path / "home", chroma_url=chroma_url,
                               collection="server_test"))
    assert library.store.location == chroma_url
    report = library.add([music])
    assert len(report.added) == 2
    assert library.add([music]).unchanged and library.stats().tracks == 2
    assert not (tmp_path / "home" / "library" / "chroma").exists()  # nothing embedded

    found = library.search(query="harp waltz", mode="targeted",
                           filters=SearchFilters(tempo_min=90, tempo_max=100), k=5)
    assert [m.track.tempo_bpm for m in found.matches] == [96.0]
    assert found.matches[0].track.instruments == ["harp", "drums"]
    dual = library.search(query="brass march in C major", k=2)
    assert dual.matches[0].track.key == "C major"

    # A second client (another process would do the same) sees the same data.
    other = Library(Settings(home=tmp_path / "other", chroma_url=chroma_url,
                             collection="server_test"))
    assert {t.id for t in other.list(limit=10)} == set(report.added)
    removed = other.remove(report.added[0])
    with pytest.raises(NotFoundError):
        library.get(removed.id)


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    library = Library(Settings(home=tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}"))
    with pytest.raises(LibraryError, match="cannot open the music library at http://127.0.0.1"):
        library.stats()
    bad = Library(Settings(home=tmp_path, chroma_url="not a url"))
    with pytest.raises(LibraryError, match="not a URL"):
        bad.stats()
