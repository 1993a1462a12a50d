"""Layer collapse (Tanaka et al., NeurIPS 2020, Fig. 1) on a small VGG-like network, and the
mask summary. The full VGG-16 critical-compression run is ``benchmarks/prune.py``."""

from __future__ import annotations

import math

import pytest
import torch
from prune_support import batch, small_vgg

from zero_cost import prune

COMPRESSION = 10**3.5  # keeps 18 of 57,196 weights; the first layer has 108


def _collapsed(method: str, seed: int = 0) -> tuple[str, ...]:
    data = batch()
    masks = prune.masks(
        small_vgg(seed, bias=False), method, compression=COMPRESSION, inputs=data.inputs, seed=seed
    )
    return prune.summarize(masks).collapsed


@pytest.mark.parametrize("seed", [0, 1])
def test_synflow_avoids_the_collapse_that_random_pruning_hits(seed):
    # Bias-free, as Tanaka et al.'s zero-initialised biases: non-zero (absolute) biases feed
    # flow past the earlier layers, and SynFlow then empties them first.
    assert "layers.0.weight" in _collapsed("random", seed)
    assert _collapsed("synflow", seed) == ()


def test_summary():
    masks = {
        "a.weight": torch.tensor([[True, False], [False, False]]),
        "b.weight": torch.zeros(3, dtype=torch.bool),
    }
    summary = prune.summarize(masks)
    assert [(layer.name, layer.kept, layer.total) for layer in summary.layers] == [
        ("a.weight", 1, 4),
        ("b.weight", 0, 3),
    ]
    assert summary.layers[0].fraction == 0.25
    assert (summary.kept, summary.total) == (1, 7)
    assert summary.sparsity == pytest.approx(6 / 7)
    assert summary.compression == 7
    assert summary.collapsed == ("b.weight",)
    empty = prune.summarize({"a.weight": torch.zeros(2, dtype=torch.bool)})
    assert empty.compression == math.inf
