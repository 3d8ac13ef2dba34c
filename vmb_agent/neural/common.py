"""What the neural backends share: weights, the ``[neural]`` extra, the device, loaded models.

Nothing here imports torch at module level; :func:`require` and :func:`torch_device` import it
when a backend is created. Nothing ever downloads: a hub id is looked up in the local Hugging
Face cache only (``HF_HUB_OFFLINE=1`` is set before transformers or diffusers load).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vmb_agent.errors import BackendUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.settings import Settings

T = TypeVar("T")

#: the modules every neural backend needs, and the extra that installs them
NEURAL_MODULES = ("torch", "transformers")
EXTRA_HINT = "extra [neural] not installed (pip install 'vmb-agent[neural]')"
WEIGHT_FILES = ("config.json", "model_index.json")  # transformers / diffusers folders


@dataclass(frozen=True)
class Needs:
    """What a neural backend needs: Python modules, and weights named by a setting."""

    modules: tuple[str, ...]
    field: str  # the Settings field holding the weights' folder or hub id
    #: "module:function" that checks the weights' folder further (cheap, no torch), raising a
    #: one-line BackendUnavailableError, e.g. that a pipeline's scheduler can load
    check: str = ""

    @property
    def variable(self) -> str:
        return f"VMB_{self.field.upper()}"

    def check_folder(self, folder: Path) -> None:
        if self.check:
            module, _, function = self.check.partition(":")
            getattr(importlib.import_module(module), function)(folder)


#: each neural backend (by name) and what it needs (`vmb backends` reads this too)
NEEDS: dict[str, Needs] = {
    "musicgen-melody": Needs(NEURAL_MODULES, "musicgen_model"),
    "stable-audio": Needs((*NEURAL_MODULES, "diffusers"), "stable_audio_model",
                          check="vmb_agent.neural.stable_audio:check_pipeline_folder"),
    "clap": Needs(NEURAL_MODULES, "clap_model"),
    "vlm": Needs(NEURAL_MODULES, "vlm_model"),
}


def prepare(backend: str, settings: Settings | None) -> tuple[Settings, Path]:
    """The settings (the environment's when None) and the folder of ``backend``'s weights.
    A missing extra or missing weights fail here, in one line, before any work: backends call
    this when they are created."""
    if settings is None:
        from vmb_agent.sdk import load_settings

        settings = load_settings()
    needs = NEEDS[backend]
    require(backend, needs.modules)
    folder = resolve_weights(getattr(settings, needs.field), needs.variable, backend=backend)
    needs.check_folder(folder)
    return settings, folder


def missing_modules(modules: tuple[str, ...] = NEURAL_MODULES) -> list[str]:
    """The modules of ``modules`` that are not installed (found without importing them)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def go_offline() -> None:
    """Make the Hugging Face libraries answer from local files only (never a download)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def require(backend: str, modules: tuple[str, ...] = NEURAL_MODULES) -> None:
    """Raise a one-line ``BackendUnavailableError`` if ``modules`` are not installed."""
    missing = missing_modules(modules)
    if missing:
        raise BackendUnavailableError(f"{backend}: {EXTRA_HINT}; missing: {', '.join(missing)}.")
    go_offline()


def weights_problem(value: str | Path | None, variable: str) -> str | None:
    """Why the weights named by ``value`` (the setting ``variable``) cannot be loaded, or None.
    Cheap: no torch, no model loading (``vmb backends`` asks this for every backend)."""
    try:
        resolve_weights(value, variable, backend="")
    except BackendUnavailableError as exc:
        return str(exc).removeprefix(": ")
    return None


def resolve_weights(value: str | Path | None, variable: str, *, backend: str) -> Path:
    """The local folder holding a model's weights.

    ``value`` is a folder (with ``config.json`` or ``model_index.json``) or a hub id such as
    ``facebook/musicgen-melody``, resolved from the local Hugging Face cache only.
    """
    prefix = f"{backend}: " if backend else ": "
    if value is None or not str(value).strip():
        raise BackendUnavailableError(
            f"{prefix}no weights: set {variable} to a model folder, or to a hub id in the local "
            "Hugging Face cache (nothing is downloaded)."
        )
    text = str(value).strip()
    folder = Path(text).expanduser()
    if folder.is_dir():
        if any((folder / name).is_file() for name in WEIGHT_FILES):
            return folder
        raise BackendUnavailableError(
            f"{prefix}no weights at {folder} ({variable}): the folder has no "
            f"{' or '.join(WEIGHT_FILES)}."
        )
    looks_like_id = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    if not looks_like_id:
        raise BackendUnavailableError(f"{prefix}no weights at {folder} ({variable}): no such folder.")
    cached = _cached_snapshot(text)
    if cached is None:
        raise BackendUnavailableError(
            f"{prefix}no weights at {text} ({variable}): not a folder, and not in the local "
            "Hugging Face cache (nothing is downloaded; fetch it yourself, or give a folder)."
        )
    return cached


def _cached_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of ``repo_id`` in the local hub cache, or None."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    go_offline()
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or a malformed id): the caller says so
        return None
    return path if any((path / name).is_file() for name in WEIGHT_FILES) else None


def torch_device(setting: str) -> str:
    """``VMB_DEVICE`` (auto / cpu / cuda) as a torch device name; cuda asked for but absent is a
    one-line error."""
    import torch

    if setting == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if setting == "cuda" and not available:
        raise BackendUnavailableError("VMB_DEVICE=cuda, but torch sees no CUDA device here.")
    return "cuda" if available else "cpu"


_models: dict[tuple[Any, ...], Any] = {}
_models_lock = threading.Lock()


_loading: dict[tuple[Any, ...], threading.Lock] = {}


def cached_model(key: tuple[Any, ...], load: Callable[[], T]) -> T:
    """One loaded model per ``key`` (backend, folder, device) for the process: a model is
    loaded once and reused by every later call. Each key loads under its own lock, so a
    model that takes minutes to load never holds up the others (a search's loaded CLAP while
    MusicGen loads)."""
    with _models_lock:
        if key in _models:
            return _models[key]
        lock = _loading.setdefault(key, threading.Lock())
    with lock:
        with _models_lock:
            if key in _models:  # loaded by the call this one waited for
                return _models[key]
        model = load()
        with _models_lock:
            _models[key] = model
        return model


@contextmanager
def running(backend: str, folder: Path) -> Iterator[None]:
    """Around a loaded model's work: torch's and the libraries' runtime failures (CUDA out of
    memory is a RuntimeError) become one line naming the backend and the weights."""
    try:
        yield
    except (RuntimeError, ValueError) as exc:
        raise inference_failure(backend, folder, exc) from exc


def inference_failure(backend: str, folder: Path, exc: Exception) -> BackendUnavailableError:
    """A one-line error for a model that loaded but failed while running (out of memory, a
    processor without a chat template, weights that do not fit their config)."""
    return BackendUnavailableError(
        f"{backend}: the model at {folder} failed while running "
        f"({type(exc).__name__}: {_first_line(exc)})."
    )


def load_failure(backend: str, folder: Path, exc: Exception) -> BackendUnavailableError:
    """A one-line error for weights that are present but cannot be loaded."""
    return BackendUnavailableError(
        f"{backend}: the weights at {folder} could not be loaded ({_first_line(exc)})."
    )


def _first_line(exc: Exception) -> str:
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)[:200]
