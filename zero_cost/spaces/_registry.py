"""The search-space registry: one ``SearchSpace`` subclass per space name.

Each space module decorates its class with ``register``; ``names`` lists the registered
spaces and ``get`` returns one, configured, or raises a ``KeyError`` that lists the known
names. Registering a name twice raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._base import SearchSpace, SpecError

_REGISTRY: dict[str, type[SearchSpace]] = {}


def register(cls: type[SearchSpace]) -> type[SearchSpace]:
    """Class decorator adding a space to the registry under ``cls.name``.

    Raises:
        ValueError: a space of that name is already registered.
    """
    if cls.name in _REGISTRY:
        raise ValueError(f"search space {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Names of the registered search spaces, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **settings: Any) -> SearchSpace:
    """The search space called ``name``, configured with ``settings``.

    Raises:
        KeyError: no space of that name; the message lists the known ones.
        SpecError: a setting is invalid for that space.
    """
    try:
        cls: Callable[..., SearchSpace] = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown search space {name!r}; known: {', '.join(names())}") from None
    try:
        return cls(**settings)
    except TypeError as exc:
        raise SpecError(f"invalid settings for search space {name!r}: {exc}") from None
