"""Shared pieces of the proxy tests (``test_proxies*.py``): a two-layer ReLU MLP with hand-set
weights and its samples, a tiny network spec of each search space, and the float32 rounding
that hand computations in float64 apply to the network's values.

Test modules import it by its basename (``from proxy_support import W1, mlp``): pytest's
default ``prepend`` import mode puts this folder on ``sys.path``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from zero_cost import spaces
from zero_cost.data import Batch, synthetic_batch

# Hand-set weights of nn.Sequential(Linear(3, 4), ReLU, Linear(4, 2)), no biases.
W1 = np.array(
    [
        [0.5, -0.3, 0.8],
        [-0.6, 0.4, 0.2],
        [0.3, 0.7, -0.5],
        [-0.2, -0.4, 0.6],
    ]
)
W2 = np.array(
    [
        [0.7, -0.5, 0.3, 0.9],
        [-0.4, 0.6, 0.8, -0.3],
    ]
)
# Four samples whose ReLU codes give a non-singular NASWOT kernel (det K = 32) and whose
# input Jacobians are not constant rows; units 0 and 3 share a code pattern, the samples'
# codes all differ. No pre-activation is (near) zero.
X4 = np.array(
    [
        [1.0, 0.5, -0.5],
        [-0.8, 1.2, 0.3],
        [0.4, -1.0, 0.9],
        [0.9, 0.2, 0.7],
    ]
)
Y4 = np.array([0, 1, 1, 0])
# A fifth sample (e.g. so that ZiCo's halves have unequal sizes, 3 and 2).
X5 = np.vstack([X4, [[-0.3, -0.6, 1.1]]])
Y5 = np.append(Y4, 1)

NB201_ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
)
# A tiny NB101 cell: a 3x3 convolution and a max-pool, both reaching the output.
NB101_SPEC: dict[str, Any] = {
    "matrix": [[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
    "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "output"],
}
# A tiny graph: conv-BN-ReLU, a bias-free conv added back to the ReLU's output, ReLU, head.
GRAPH_SPEC: dict[str, Any] = {
    "input_shape": [3, 16, 16],
    "nodes": [
        {"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"name": "bn", "op": "batchnorm"},
        {"name": "relu", "op": "relu"},
        {"name": "conv2", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1,
         "bias": False},
        {"name": "sum", "op": "add", "inputs": ["relu", "conv2"]},
        {"name": "relu2", "op": "relu"},
        {"name": "pool", "op": "global_avgpool"},
        {"name": "fc", "op": "linear", "out_features": 10},
    ],
}  # fmt: skip


def as_float32_exact(array: np.ndarray) -> np.ndarray:
    """The float64 values of ``array`` rounded to float32, as the network holds them."""
    return array.astype(np.float32).astype(np.float64)


def mlp(w1: np.ndarray = W1, w2: np.ndarray = W2, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """nn.Sequential(Linear, act, Linear), no biases, with the weights ``w1`` and ``w2``."""
    model = nn.Sequential(
        nn.Linear(w1.shape[1], w1.shape[0], bias=False),
        act(),
        nn.Linear(w2.shape[1], w2.shape[0], bias=False),
    )
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(w1, dtype=torch.float32))
        model[2].weight.copy_(torch.tensor(w2, dtype=torch.float32))
    return model


def wider_mlp(width: int) -> nn.Sequential:
    """The hand-set MLP with ``width - 4`` extra hidden units (non-zero weights)."""
    rng = np.random.default_rng(width)
    extra = width - W1.shape[0]
    w1 = np.vstack([W1, rng.uniform(0.1, 1.0, (extra, 3)) * rng.choice([-1, 1], (extra, 3))])
    w2 = np.hstack([W2, rng.uniform(0.1, 1.0, (2, extra)) * rng.choice([-1, 1], (2, extra))])
    return mlp(w1, w2)


def space_model(space_name: str) -> tuple[nn.Module, Batch]:
    """A tiny network of ``space_name`` (nb201, nb101 or graph, from the specs above) and a
    synthetic batch of 8 inputs of shape 3x16x16 with 10 classes."""
    batch = synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=0)
    if space_name == "nb201":
        space = spaces.get("nb201", channels=4, cells_per_stage=1)
        arch = space.parse(NB201_ARCH)
    elif space_name == "nb101":
        space = spaces.get("nb101", stem_channels=8, num_stacks=2, cells_per_stack=1)
        arch = space.parse(NB101_SPEC)
    else:
        space = spaces.get("graph")
        arch = space.parse(GRAPH_SPEC)
    return space.build(arch, num_classes=10, seed=0), batch
