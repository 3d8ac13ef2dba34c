"""VMB — Visuals Music Bridge: image / video / text -> music description -> references -> music.

    from vmb_agent import VMB
    vmb = VMB()
    description = vmb.describe("vmb_agent/examples/harbour.jpg")
    matches = vmb.search(description=description, mode="dual", k=5)
    result = vmb.generate(description, reference_ids=[m.id for m in matches.matches[:2]])

Submodules load lazily (``import vmb_agent`` imports no numpy, torch or chromadb).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "VMB": "vmb_agent.sdk",
    "AsyncVMB": "vmb_agent.sdk",
    "VMBError": "vmb_agent.errors",
    "Settings": "vmb_agent.settings",
    "MusicAttributes": "vmb_agent.types",
    "MusicDescription": "vmb_agent.types",
    "Section": "vmb_agent.types",
    "Evidence": "vmb_agent.types",
    "SearchFilters": "vmb_agent.types",
    "SearchResult": "vmb_agent.types",
    "TrackInfo": "vmb_agent.types",
    "TrackMatch": "vmb_agent.types",
    "GenerationOverrides": "vmb_agent.types",
    "GenerationResult": "vmb_agent.types",
    "Conditions": "vmb_agent.types",
}

__all__ = [
    "VMB",
    "AsyncVMB",
    "Conditions",
    "Evidence",
    "GenerationOverrides",
    "GenerationResult",
    "MusicAttributes",
    "MusicDescription",
    "SearchFilters",
    "SearchResult",
    "Section",
    "Settings",
    "TrackInfo",
    "TrackMatch",
    "VMBError",
]

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.errors import VMBError
    from vmb_agent.sdk import VMB, AsyncVMB
    from vmb_agent.settings import Settings
    from vmb_agent.types import (
        Conditions,
        Evidence,
        GenerationOverrides,
        GenerationResult,
        MusicAttributes,
        MusicDescription,
        SearchFilters,
        SearchResult,
        Section,
        TrackInfo,
        TrackMatch,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vmb_agent' has no attribute {name!r}")
