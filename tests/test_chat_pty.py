"""``vmb chat`` offline mode through a real pseudo-terminal: describe, edit in words, search,
pick a reference, generate, play, quit."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import REPO
from test_mcp_server import make_media, server_env

pytestmark = pytest.mark.timeout(240)

PROMPT = "vmb> "


class Terminal:
    """A child process on a pty: send lines, read until the prompt comes back."""

    def __init__(self, argv: list[str], env: dict[str, str], columns: int = 0) -> None:
        self.master, slave = pty.openpty()
        if columns:  # the window size a terminal emulator would set (rows, columns)
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
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

    # wide enough that the long temporary paths stay on their line (wrapping has its own test)
    terminal = Terminal([sys.executable, "-m", "vmb_agent", "chat"], env, columns=400)
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


def test_chat_wraps_on_words_and_show_follows_the_edits(tmp_path: Path) -> None:
    """In a 60-column terminal no line runs past the edge and no word is cut; "piano only"
    leaves only the piano, and ``show`` prints prose written for the edited tempo and key."""
    home = tmp_path / "home"
    env = server_env(home, tmp_path, TERM="dumb", PATH="/usr/bin:/bin")
    terminal = Terminal([sys.executable, "-m", "vmb_agent", "chat"], env, columns=60)
    try:
        terminal.read_until(PROMPT, timeout=60)
        terminal.say("text: a calm folk tune for piano, strings, bass and drums at 80 bpm")
        assert "instruments: piano\n" in terminal.say("piano only, 140 bpm, in D major")
        shown = terminal.say("show")
        lines = shown.split("\n")[1:-1]  # between the echoed command and the next prompt
        assert all(len(line) <= 60 for line in lines), lines
        assert len(lines) > 4  # the prose is longer than one 60-column line
        joined = " ".join(line.strip() for line in lines)
        assert "at about 140 BPM" in joined and "in D major" in joined and "80 BPM" not in joined
        assert "The piano carries the melody, unaccompanied." in joined
        assert "instruments piano;" in joined
        help_lines = terminal.say("help").split("\n")[1:-1]
        assert all(len(line) <= 60 for line in help_lines), help_lines
        os.write(terminal.master, b"quit\n")
        terminal.read_until("bye", timeout=30)
    finally:
        terminal.close()
