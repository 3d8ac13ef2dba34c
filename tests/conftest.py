"""Shared fixtures. Every test runs with its own VMB_HOME so nothing touches the user's data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "vmb_agent" / "examples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The audio tagger costs ~0.5 s CPU per generation and the suite generates hundreds of pieces;
# tests/test_style_check.py turns it on where the tags are what is tested.
os.environ.setdefault("VMB_MEASURE_TAGS", "0")


def use_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point VMB_HOME at ``home`` for one test, with no allowed-roots or Chroma-server settings
    leaking in from the environment (settings cache cleared before and after)."""
    from vmb_agent.settings import get_settings

    monkeypatch.setenv("VMB_HOME", str(home))
    monkeypatch.delenv("VMB_ALLOWED_ROOTS", raising=False)
    monkeypatch.delenv("VMB_CHROMA_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def vmb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh VMB_HOME for this test."""
    yield from use_home(tmp_path / "vmb-home", monkeypatch)
