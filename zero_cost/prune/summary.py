"""What masks keep: per-layer kept fractions, the sparsity achieved and layer collapse.

A layer has **collapsed** when all its weights are pruned (Tanaka et al., NeurIPS 2020): no
signal crosses it, so the network's output no longer depends on its input and it cannot
be trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerSummary:
    """One weight's mask: ``kept`` of ``total`` entries."""

    name: str
    kept: int
    total: int

    @property
    def fraction(self) -> float:
        """The fraction kept."""
        return self.kept / self.total


@dataclass(frozen=True)
class MaskSummary:
    """All masks of a model, layer by layer in the masks' order."""

    layers: tuple[LayerSummary, ...]

    @property
    def kept(self) -> int:
        return sum(layer.kept for layer in self.layers)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers)

    @property
    def sparsity(self) -> float:
        """The fraction of prunable weights pruned."""
        return 1 - self.kept / self.total

    @property
    def compression(self) -> float:
        """Prunable weights over kept weights (infinite when none is kept)."""
        return self.total / self.kept if self.kept else math.inf

    @property
    def collapsed(self) -> tuple[str, ...]:
        """Names of the layers whose weights are all pruned."""
        return tuple(layer.name for layer in self.layers if layer.kept == 0)


def summarize(masks: Mapping[str, torch.Tensor]) -> MaskSummary:
    """The ``MaskSummary`` of ``masks`` (bool tensors keyed by weight name)."""
    return MaskSummary(
        tuple(LayerSummary(name, int(mask.sum()), mask.numel()) for name, mask in masks.items())
    )
