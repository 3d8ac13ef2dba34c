"""Explicitly conditioned generation: both bridges + overrides -> music (stage 3 of the paper).

``generate_music`` is what the SDK calls; ``resolve_conditions`` turns the bridges into explicit
:class:`~vmb_agent.types.Conditions`; ``compose`` is the symbolic composer. Submodules import
lazily so ``import vmb_agent.generation`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer import Composition, compose
    from vmb_agent.generation.conditions import resolve_conditions
    from vmb_agent.generation.pipeline import generate_music, generators
    from vmb_agent.generation.styles import STYLES, normalize_style, style_catalog

_EXPORTS = {
    "generate_music": "vmb_agent.generation.pipeline",
    "generators": "vmb_agent.generation.pipeline",
    "resolve_conditions": "vmb_agent.generation.conditions",
    "compose": "vmb_agent.generation.composer",
    "Composition": "vmb_agent.generation.composer",
    "STYLES": "vmb_agent.generation.styles",
    "normalize_style": "vmb_agent.generation.styles",
    "style_catalog": "vmb_agent.generation.styles",
}

__all__ = [
    "STYLES",
    "Composition",
    "compose",
    "generate_music",
    "generators",
    "normalize_style",
    "resolve_conditions",
    "style_catalog",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vmb_agent.generation' has no attribute {name!r}")
