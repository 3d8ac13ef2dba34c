"""A tiny registry of named backends for each stage (describe, embed, generate, render).

Backends register a *factory* under a name; the factory runs (and imports its heavy
dependencies) only when that backend is first requested, so ``import vmb_agent`` stays fast.

Third-party packages add backends without editing VMB through the entry-point group
:data:`ENTRY_POINT_GROUP`, one entry point per backend named ``<stage>.<name>`` and pointing at
its factory, e.g. in the plugin's ``pyproject.toml``::

    [project.entry-points."vmb_agent.backends"]
    "render.my-synth" = "my_package.vmb:MySynthRenderer"

They are looked up the first time a registry is asked for a name it does not hold (reading
entry points costs ~10 ms, so VMB's own backends never pay for it), and loaded only when used.

A factory with a ``settings`` parameter is given the caller's :class:`~vmb_agent.settings.Settings`
(the neural backends read their weights' folder and device there); others are called bare.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from vmb_agent.errors import unknown_name

T = TypeVar("T")

ENTRY_POINT_GROUP = "vmb_agent.backends"


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._discovered = False
        self._plugins: dict[str, str] = {}  # name -> "plugin <distribution>"
        self._shared: dict[tuple[str, str | None], T] = {}
        self._shared_lock = threading.Lock()

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@describers.register("analysis")`` on a factory or class."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return decorator

    def add(self, name: str, factory: Callable[..., T]) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._factories)

    def create(self, name: str, *, settings: object | None = None) -> T:
        return _call(self.factory(name), settings)

    def factory(self, name: str) -> Callable[..., T]:
        if name not in self._factories:
            self._discover()
        try:
            return self._factories[name]
        except KeyError:
            raise unknown_name(f"{self.kind} backend", name, self._factories) from None

    def shared(self, name: str, settings: Any | None = None) -> T:
        """The process-wide backend ``name``: made once, then reused. One whose factory takes
        ``settings`` (a neural backend: its weights' folder; any plugin) is kept per distinct
        settings."""
        factory = self.factory(name)  # an unknown name fails here, listing the known ones
        key = settings.model_dump_json() if settings is not None and takes_settings(factory) else None
        with self._shared_lock:
            if (name, key) not in self._shared:
                self._shared[(name, key)] = self.create(name, settings=settings)
            return self._shared[(name, key)]

    def forget_shared(self) -> None:
        """Drop the shared backends (tests that change the environment between calls)."""
        with self._shared_lock:
            self._shared.clear()

    def origin(self, name: str) -> str:
        """``built-in``, or the distribution a plugin backend comes from."""
        self._discover()
        return self._plugins.get(name, "built-in")

    def __contains__(self, name: object) -> bool:
        if name not in self._factories:
            self._discover()
        return name in self._factories

    def _discover(self) -> None:
        """Add the installed plugins' backends of this stage (once; a built-in name wins)."""
        if self._discovered:
            return
        self._discovered = True
        from importlib.metadata import entry_points

        for entry in entry_points(group=ENTRY_POINT_GROUP):
            kind, _, name = entry.name.partition(".")
            if kind == self.kind and name and name not in self._factories:
                self._factories[name] = _lazy(entry)
                dist = getattr(entry, "dist", None)
                self._plugins[name] = f"plugin {getattr(dist, 'name', None) or entry.value}"


def takes_settings(factory: Callable[..., Any]) -> bool:
    try:
        return "settings" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _call(factory: Callable[..., Any], settings: object | None) -> Any:
    if settings is not None and takes_settings(factory):
        return factory(settings=settings)
    return factory()


def _lazy(entry: Any) -> Callable[..., Any]:
    """A factory that imports the plugin only when the backend is created."""

    def factory(settings: object | None = None) -> Any:
        return _call(entry.load(), settings)

    return factory
