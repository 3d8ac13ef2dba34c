"""``vmb chat`` offline mode through a real pseudo-terminal: describe, edit in words, search,
pick a reference, generate, play, quit."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from test_mcp_server import make_media, server_env

pytestmark = pytest.mark.timeout(240)

PROMPT = "vmb> "


class Terminal:
    """A child process on a pty: send lines, read until the prompt comes back."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, close_fds=True
        )
        os.close(slave)
        self.transcript = ""

    def read_until(self, marker: str, timeout: float = 120) -> str:
        start = len(self.transcript)
        deadline = time.monotonic() + timeout
        while marker not in self.transcript[start:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {marker!r} in: {self.transcript[start:][-2000:]}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                self.transcript += data.decode(errors="replace").replace("\r\n", "\n")
        return self.transcript[start:]

    def say(self, line: str, timeout: float = 120) -> str:
        os.write(self.master, (line + "\n").encode())
        return self.read_until(PROMPT, timeout)

    def close(self) -> None:
        os.close(self.master)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def test_offline_chat_session_in_a_terminal(tmp_path: Path) -> None:
    from vmb_agent.sdk import VMB
    from vmb_agent.settings import Settings

    media = make_media(tmp_path / "media")
    home = tmp_path / "home"
    env = server_env(home, media["image"].parent, TERM="dumb", PATH="/usr/bin:/bin",
                     VMB_PLAYER="echo PLAYED")  # fmt: skip
    VMB(Settings(home=home)).add_to_library([media["piano_c_major"].parent])

    terminal = Terminal([sys.executable, "-m", "vmb_agent", "chat"], env)
    try:
        assert "offline mode" in terminal.read_until(PROMPT, timeout=60)
        assert "more like 2" in terminal.say("help")
        described = terminal.say(f"describe {media['image']}")
        assert "tempo" in described and "energy" in described
        edited = terminal.say("faster, in D minor, add piano, no drums")
        assert "tempo" in edited and "key D minor" in edited and "instruments:" in edited
        assert "duration 8 s" in terminal.say("8 seconds")
        assert "valence" in terminal.say("darker")
        found = terminal.say("search")
        assert "  1. " in found and "  2. " in found
        assert "references:" in terminal.say("more like 2")
        assert "error:" in terminal.say("more like 9")  # one line, session goes on
        generated = terminal.say("generate", timeout=180)
        assert "wrote " in generated and ".wav" in generated
        wav = generated.split("wrote ", 1)[1].split(" (", 1)[0]
        assert Path(wav).is_file() and Path(wav).is_relative_to(home)
        assert "PLAYED " + wav in terminal.say("play")
        os.write(terminal.master, b"quit\n")
        assert "bye" in terminal.read_until("bye", timeout=30)
        assert terminal.process.wait(timeout=30) == 0
    finally:
        terminal.close()
