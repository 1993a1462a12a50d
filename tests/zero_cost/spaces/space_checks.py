"""Checks every space's tests make on its networks: a forward pass, a build that depends
on the seed alone, and zero-cost proxies that score it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

import zero_cost
from zero_cost.data import synthetic_batch
from zero_cost.spaces import SearchSpace


def check_forward(model: nn.Module, size: int = 32) -> None:
    """Two images give two finite rows of 10 logits."""
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def check_deterministic(space: SearchSpace, arch: Any) -> None:
    """Equal seeds build equal weights, another seed other weights."""
    first, second, other = (space.build(arch, seed=s).state_dict() for s in (5, 5, 6))
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def check_proxies(model: nn.Module, names: Sequence[str], batch_size: int) -> None:
    """Each proxy scores the model on a synthetic 16x16 batch: status ok, a finite value."""
    batch = synthetic_batch(batch_size, input_shape=(3, 16, 16), num_classes=10, seed=0)
    results = zero_cost.score(model, names, batch.inputs, batch.targets, seed=0)
    for name in names:
        assert results[name].status == "ok", f"{name}: {results[name].error}"
        assert math.isfinite(results[name].value), name
