"""A tiny registry of named backends for each stage (describe, embed, generate, render).

Backends register a *factory* under a name; the factory runs (and imports its heavy
dependencies) only when that backend is first requested, so ``import vmb_agent`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from vmb_agent.errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@describers.register("analysis")`` on a factory or class."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return decorator

    def add(self, name: str, factory: Callable[..., T]) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, **kwargs: object) -> T:
        try:
            factory = self._factories[name]
        except KeyError:
            raise unknown_name(f"{self.kind} backend", name, self._factories) from None
        return factory(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
