"""A tiny name → factory registry, shared by models and losses.

Notebooks and run configurations name things by the paper's names (``"dresunet"``,
``"saal"``); the registry turns a name and keyword arguments into an object, so a run's
``config.json`` is enough to rebuild what it trained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        key = name.lower()

        def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
            if key in self._factories and self._factories[key] is not factory:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[key] = factory
            return factory

        return deco

    def build(self, name: str, **kwargs: Any) -> Any:
        key = name.lower()
        if key not in self._factories:
            known = ", ".join(sorted(self._factories)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._factories[key](**kwargs)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._factories
