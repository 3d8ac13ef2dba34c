"""Rendering: MIDI -> audio through a SoundFont, mastering to -14 LUFS / -1 dBTP, file writers
and the video muxer. Submodules import lazily (``render_midi`` pulls tinysoundfont on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.rendering.master import master, true_peak_dbtp
    from vmb_agent.rendering.synth import choose_soundfont, render_midi

_EXPORTS = {
    "render_midi": "vmb_agent.rendering.synth",
    "choose_soundfont": "vmb_agent.rendering.synth",
    "master": "vmb_agent.rendering.master",
    "true_peak_dbtp": "vmb_agent.rendering.master",
}

__all__ = ["choose_soundfont", "master", "render_midi", "true_peak_dbtp"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vmb_agent.rendering' has no attribute {name!r}")
