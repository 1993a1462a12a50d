"""How much to keep: the target density and the per-round schedule.

A target is given either as ``sparsity`` (the fraction of prunable weights removed) or as
``compression`` (prunable weights before over after, Tanaka et al.'s 10**x axis); the two are
related by ``sparsity = 1 - 1 / compression``. Pruning over ``n`` rounds follows the
exponential schedule of Tanaka et al. (NeurIPS 2020, Algorithm 1): after round ``k`` the
network keeps the fraction ``density ** (k / n)``, i.e. ``(1 / compression) ** (k / n)``,
so every round removes the same fraction of the weights still there.
"""

from __future__ import annotations

import math


def density(sparsity: float | None = None, compression: float | None = None) -> float:
    """The fraction of prunable weights to keep, from exactly one of the two targets.

    Raises:
        ValueError: neither or both given, sparsity outside [0, 1), compression below 1 or
            not finite.
    """
    if (sparsity is None) == (compression is None):
        raise ValueError("give exactly one of sparsity and compression")
    if sparsity is not None:
        if not 0 <= sparsity < 1:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
        return 1.0 - float(sparsity)
    assert compression is not None
    if not (math.isfinite(compression) and compression >= 1):
        raise ValueError(f"compression must be a finite number >= 1, got {compression}")
    return 1.0 / float(compression)


def keep_fractions(target: float, iterations: int) -> list[float]:
    """The fraction of all prunable weights kept after each of ``iterations`` rounds,
    ``target ** (k / iterations)`` for k = 1 .. iterations (the last is ``target``).

    Raises:
        ValueError: iterations is not a positive integer.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    return [target ** (k / iterations) for k in range(1, iterations + 1)]
