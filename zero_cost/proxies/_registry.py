"""The proxy registry: one frozen ``ProxyInfo`` per proxy name.

Each proxy module decorates its function with ``register``; ``names`` lists the registered
proxies and ``get`` returns one or raises a ``KeyError`` that lists the known names.
Registering a name twice raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..passes import Passes

# What a proxy can ask of the shared main pass (forward + backward on the scoring batch).
MAIN_PASS_NEEDS = frozenset(
    {"weight_grads", "fisher", "hessian_grad", "relu_codes", "input_jacobian"}
)


@dataclass(frozen=True)
class ProxyInfo:
    """A registered proxy: its identity, version and what it needs.

    ``version`` changes whenever the definition changes, so stored scores of an older
    definition are never confused with new ones. ``needs`` names the products of the shared
    main pass the proxy reads; ``needs_labels`` says whether it uses the batch's targets;
    ``log_scale`` marks proxies whose values span many decades (reported with their log).
    """

    name: str
    version: str
    description: str
    compute: Callable[[Passes], float]
    needs: frozenset[str] = frozenset()
    needs_labels: bool = False
    log_scale: bool = False


_REGISTRY: dict[str, ProxyInfo] = {}


def register(
    name: str,
    *,
    version: str,
    needs: frozenset[str] | set[str] = frozenset(),
    needs_labels: bool = False,
    log_scale: bool = False,
) -> Callable[[Callable[[Passes], float]], Callable[[Passes], float]]:
    """Decorator registering a proxy function under ``name``.

    Raises:
        ValueError: the name is taken or ``needs`` names something the main pass lacks.
    """
    unknown = set(needs) - MAIN_PASS_NEEDS
    if unknown:
        raise ValueError(f"proxy {name!r} needs unknown products {sorted(unknown)}")

    def decorator(fn: Callable[[Passes], float]) -> Callable[[Passes], float]:
        if name in _REGISTRY:
            raise ValueError(f"proxy {name!r} is already registered")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ProxyInfo(
            name=name,
            version=version,
            description=doc[0] if doc else "",
            compute=fn,
            needs=frozenset(needs),
            needs_labels=needs_labels,
            log_scale=log_scale,
        )
        return fn

    return decorator


def names() -> list[str]:
    """Names of the registered proxies, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> ProxyInfo:
    """The proxy called ``name``.

    Raises:
        KeyError: no such proxy; the message lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown proxy {name!r}; known: {', '.join(names())}") from None
