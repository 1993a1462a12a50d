"""Search spaces: parse, validate, canonicalise and build architectures.

One way in::

    from zero_cost import spaces
    sp = spaces.get("nb201")
    arch = sp.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|")
    model = sp.build(arch, num_classes=10, seed=0)

Each space lives in its own module and registers itself with ``register``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._base import SearchSpace, SpecError

__all__ = ["SearchSpace", "SpecError", "get", "names", "register"]

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


from . import graph, nb101, nb201  # noqa: E402,F401  (register the built-in spaces)
