"""Shared pieces of the pruning tests (``test_prune_*.py``): small VGG-like networks built
through the ``graph`` space and a batch for them.

Test modules import it by its basename (``from prune_support import small_vgg``), as the
proxy tests import ``proxy_support``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from zero_cost import spaces
from zero_cost.data import Batch, synthetic_batch


def _conv(name: str, out: int, bias: bool) -> dict[str, Any]:
    conv = {"name": name, "op": "conv2d", "out_channels": out, "kernel_size": 3, "padding": 1}
    return conv | {"bias": bias}


def vgg_spec(
    plan: list[int | str], num_classes: int = 10, norm: bool = True, bias: bool = True
) -> dict[str, Any]:
    """A VGG-style graph spec on 3x16x16 inputs: conv3x3 (+ BN) + ReLU per number in
    ``plan``, a 2x2 max-pool per "M", then global average pooling and a linear head."""
    nodes: list[dict[str, Any]] = []
    for index, entry in enumerate(plan):
        if entry == "M":
            nodes.append({"name": f"pool{index}", "op": "maxpool", "kernel_size": 2})
            continue
        nodes.append(_conv(f"conv{index}", int(entry), bias))
        if norm:
            nodes.append({"name": f"bn{index}", "op": "batchnorm"})
        nodes.append({"name": f"relu{index}", "op": "relu"})
    nodes.append({"name": "gap", "op": "global_avgpool"})
    nodes.append({"name": "fc", "op": "linear", "out_features": num_classes, "bias": bias})
    return {"input_shape": [3, 16, 16], "nodes": nodes}


SMALL_PLAN: list[int | str] = [4, "M", 32, "M", 64, 64]
"""Layer sizes 108, 1152, 18432, 36864 and 640 weights: a thin first layer, as in VGG."""


def small_vgg(seed: int = 0, norm: bool = True, bias: bool = True) -> nn.Module:
    """The ``SMALL_PLAN`` network, 10 classes, built by the graph space."""
    space = spaces.get("graph")
    return space.build(space.parse(vgg_spec(SMALL_PLAN, norm=norm, bias=bias)), seed=seed)


def batch(size: int = 16, seed: int = 0) -> Batch:
    """A synthetic batch for the networks above: 3x16x16 inputs, 10 classes."""
    return synthetic_batch(size, input_shape=(3, 16, 16), num_classes=10, seed=seed)
