"""Every engine of every stage, and whether it can run here: what ``vmb backends`` prints.

The answer is cheap and imports no torch: an extra is checked with ``importlib.util.find_spec``
and weights with :func:`vmb_agent.neural.common.weights_problem` (a folder, or a hub id in the
local cache). Plugin backends (entry points) are listed with their distribution; whether one
can run is known only by creating it, so they are shown as available.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.neural.common import NEEDS as NEURAL_NEEDS
from vmb_agent.neural.common import Needs
from vmb_agent.types import BackendInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.registry import Registry
    from vmb_agent.settings import Settings


#: the built-in backends that need more than the base install (the rest always run)
NEEDS: dict[tuple[str, str], Needs] = {
    ("render", "musicgen-melody"): NEURAL_NEEDS["musicgen-melody"],
    ("render", "stable-audio"): NEURAL_NEEDS["stable-audio"],
    ("embed", "clap"): NEURAL_NEEDS["clap"],
    ("describe", "vlm"): NEURAL_NEEDS["vlm"],
}

#: stage -> the Settings field that selects its backend
SELECTED_BY = {"describe": "describe_backend", "embed": "embed_backend",
               "generate": "generate_backend", "render": "render_backend"}  # fmt: skip


def stage_registries() -> dict[str, Registry]:
    from vmb_agent.describe import describers
    from vmb_agent.generation.pipeline import generators
    from vmb_agent.library.embed import embedders
    from vmb_agent.rendering.renderers import renderers

    return {"describe": describers, "embed": embedders, "generate": generators,
            "render": renderers}  # fmt: skip


def unavailable_reason(stage: str, name: str, settings: Settings) -> str:
    """Why the built-in backend ``stage.name`` cannot run here ('' when it can)."""
    from vmb_agent.errors import BackendUnavailableError
    from vmb_agent.neural.common import (
        EXTRA_HINT,
        missing_modules,
        resolve_weights,
        weights_problem,
    )

    needs = NEEDS.get((stage, name))
    if needs is None:
        return ""
    missing = missing_modules(needs.modules)
    if missing:
        return f"{EXTRA_HINT}; missing: {', '.join(missing)}"
    value = getattr(settings, needs.field)
    problem = weights_problem(value, needs.variable)
    if problem:
        return problem
    try:
        needs.check_folder(resolve_weights(value, needs.variable, backend=name))
    except BackendUnavailableError as exc:
        return str(exc).removeprefix(f"{name}: ")
    return ""


def list_backends(settings: Settings) -> list[BackendInfo]:
    """Every backend of every stage (built-in and plugins), in stage order."""
    rows = []
    for stage, registry in stage_registries().items():
        chosen = getattr(settings, SELECTED_BY[stage])
        for name in registry.names():
            origin = registry.origin(name)
            reason = unavailable_reason(stage, name, settings) if origin == "built-in" else ""
            needs = NEEDS.get((stage, name))
            rows.append(BackendInfo(
                stage=stage, name=name, selected=name == chosen, available=not reason,
                reason=reason, origin=origin, setting=needs.variable if needs else "",
            ))  # fmt: skip
    return rows
