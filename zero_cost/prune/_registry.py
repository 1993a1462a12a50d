"""The pruning-method registry: one frozen ``PruneMethod`` per method name.

Each method module decorates its factory with ``register``; ``names`` lists the methods and
``get`` returns one or raises a ``KeyError`` that lists the known names. Registering a name
twice raises.

A method's factory receives the ``Network`` to prune and returns a ``RoundScorer``: a
function from the current masks (None before the first round) to one score tensor per
prunable weight, higher = keep. Scores of weights the masks already prune are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._network import Network

RoundScorer = Callable[[Sequence[torch.Tensor] | None], list[torch.Tensor]]
MethodFactory = Callable[["Network"], RoundScorer]


@dataclass(frozen=True)
class PruneMethod:
    """A registered pruning method.

    ``iterations`` is its default number of prune rounds (SynFlow 100, the others 1);
    ``needs_inputs`` and ``needs_labels`` say whether it reads the batch's inputs (SynFlow
    only their shape) and targets.
    """

    name: str
    description: str
    prepare: MethodFactory
    iterations: int = 1
    needs_inputs: bool = False
    needs_labels: bool = False


_REGISTRY: dict[str, PruneMethod] = {}


def register(
    name: str, *, iterations: int = 1, needs_inputs: bool = False, needs_labels: bool = False
) -> Callable[[MethodFactory], MethodFactory]:
    """Decorator registering a method factory under ``name``.

    Raises:
        ValueError: the name is taken.
    """

    def decorator(factory: MethodFactory) -> MethodFactory:
        if name in _REGISTRY:
            raise ValueError(f"pruning method {name!r} is already registered")
        doc = (factory.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = PruneMethod(
            name=name,
            description=doc[0] if doc else "",
            prepare=factory,
            iterations=iterations,
            needs_inputs=needs_inputs or needs_labels,
            needs_labels=needs_labels,
        )
        return factory

    return decorator


def names() -> list[str]:
    """Names of the registered pruning methods, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> PruneMethod:
    """The pruning method called ``name``.

    Raises:
        KeyError: no such method; the message lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown pruning method {name!r}; known: {', '.join(names())}") from None
