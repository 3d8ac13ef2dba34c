"""Shared fixtures. Every test runs with its own VMB_HOME so nothing touches the user's data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "vmb_agent" / "examples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def vmb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh VMB_HOME for this test (settings cache cleared before and after)."""
    from vmb_agent.settings import get_settings

    home = tmp_path / "vmb-home"
    monkeypatch.setenv("VMB_HOME", str(home))
    monkeypatch.delenv("VMB_ALLOWED_ROOTS", raising=False)
    monkeypatch.delenv("VMB_CHROMA_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
