"""AZ-NAS's expressivity, progressivity and trainability (Lee & Ham, CVPR 2024).

Hand computations use plain numpy (float64) on small networks with hand-set weights,
following the definitions in the proxies' docstrings; only the Rademacher draws of
trainability come from torch (``torch.bernoulli`` after ``torch.manual_seed(seed)``, one
draw per pair of blocks, last pair first), since they are the global RNG's stream. The
library's values come from ``score()``.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pytest
import torch
from proxy_support import NB101_SPEC, NB201_ARCH, W1, W2, X5, as_float32_exact
from torch import nn

from zero_cost import proxies, spaces
from zero_cost.data import synthetic_batch
from zero_cost.engine import score
from zero_cost.passes import Passes
from zero_cost.proxies._az_blocks import az_blocks

AZ = ["az_expressivity", "az_progressivity", "az_trainability"]
RTOL = 1e-5  # the library's features are float32, the hand values float64

# nn.Sequential(Linear(3, 4), ReLU, Linear(4, 4), ReLU, Linear(4, 2)), no biases: the shared
# MLP's W1, a square middle layer whose first two rows are the shared W2, and W2 as the head.
W_MID = np.vstack([W2, [[0.2, 0.9, -0.6, 0.5], [0.8, 0.1, 0.4, -0.7]]])
W_HEAD = W2
X6 = np.vstack([X5, [[0.6, 0.8, -0.9]]])  # the shared five samples and a sixth

# A small ResNet-style graph: stem conv-BN-ReLU, one residual basic block, ReLU, head.
DROPOUT_GRAPH_SPEC: dict[str, Any] = {
    "input_shape": [3, 8, 8],
    "nodes": [
        {"name": "stem", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "stem_bn", "op": "batchnorm"},
        {"name": "stem_relu", "op": "relu"},
        {"name": "conv1", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "bn1", "op": "batchnorm"},
        {"name": "relu1", "op": "relu"},
        {"name": "conv2", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "bn2", "op": "batchnorm"},
        {"name": "sum", "op": "add", "inputs": ["stem_relu", "bn2"]},
        {"name": "relu2", "op": "relu"},
        {"name": "drop", "op": "dropout", "p": 0.5},
        {"name": "pool", "op": "global_avgpool"},
        {"name": "fc", "op": "linear", "out_features": 10},
    ],
}


def _linear(weight: np.ndarray) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    return layer


def _mlp3(w1: np.ndarray = W1, w2: np.ndarray = W_MID, w3: np.ndarray = W_HEAD) -> nn.Sequential:
    return nn.Sequential(_linear(w1), nn.ReLU(), _linear(w2), nn.ReLU(), _linear(w3))


def _score(model: nn.Module, x: np.ndarray, names=AZ, seed: int = 0, chunks: int = 1) -> dict:
    inputs = torch.tensor(x, dtype=torch.float32)
    return score(model, names, inputs, seed=seed, chunks=chunks)


def _value(model: nn.Module, x: np.ndarray, name: str, **kwargs) -> float:
    result = _score(model, x, [name], **kwargs)[name]
    assert result.status == "ok", result.error
    return result.value


# -- hand computations -----------------------------------------------------------------------


def _entropy(rows: np.ndarray) -> float:
    """AZ-NAS's expressivity of one block: entropy of the normalised covariance spectrum."""
    centred = rows - rows.mean(axis=0)
    sigma = centred.T @ centred / len(rows)
    s = np.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float(-(p * np.log(p + 1e-8)).sum())


def _pair_score(g_in_rows: np.ndarray, v_rows: np.ndarray) -> float:
    mat = g_in_rows.T @ v_rows / len(v_rows)
    s = np.linalg.svd(mat, compute_uv=False).max()
    return float(-s - 1 / (s + 1e-6) + 2)


def _rademacher(seed: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The draws of trainability: after manual_seed(seed), one per shape, in order."""
    torch.manual_seed(seed)
    draws = []
    for shape in shapes:
        bits = torch.bernoulli(torch.full(shape, 0.5, dtype=torch.float32))
        draws.append(((bits - 0.5) * 2).double().numpy())
    return draws


class _HandMLP:
    """The MLP's blocks by hand: the outputs of Linear 1, ReLU, Linear 2, ReLU (the last
    Linear produces the network's output, the logits, and is not a block)."""

    def __init__(self, x: np.ndarray = X6, w1=W1, w2=W_MID) -> None:
        self.x, self.w1, self.w2 = as_float32_exact(x), as_float32_exact(w1), as_float32_exact(w2)
        self.a1 = self.x @ self.w1.T
        self.h1 = np.maximum(self.a1, 0)
        self.a2 = self.h1 @ self.w2.T
        self.h2 = np.maximum(self.a2, 0)
        self.blocks = [self.a1, self.h1, self.a2, self.h2]

    def entropies(self) -> list[float]:
        return [_entropy(b) for b in self.blocks]

    def trainability(self, seed: int = 0) -> float:
        n = len(self.x)
        v3, v2, v1 = _rademacher(seed, [(n, 4)] * 3)  # pairs (a2, h2), (h1, a2), (a1, h1)
        scores = [
            _pair_score(v3 * (self.a2 > 0), v3),  # ReLU: g = v * mask
            _pair_score(v2 @ self.w2, v2),  # a2 = h1 W_MID^T: g = v W_MID
            _pair_score(v1 * (self.a1 > 0), v1),
        ]
        return float(np.mean(scores))


# A CNN of 1x1 convolutions whose second conv has stride 2: exercises the (N*H*W, C) rows of
# 4-D feature maps and the pixel-unshuffle of a downsampling block's input gradient.
_CNN_RNG = np.random.default_rng(7)
C1 = np.round(_CNN_RNG.uniform(-1, 1, (3, 2)), 2)
C2 = np.round(_CNN_RNG.uniform(-1, 1, (4, 3)), 2)
X_IMG = np.round(_CNN_RNG.normal(size=(3, 2, 4, 4)), 2)


def _cnn() -> nn.Sequential:
    model = nn.Sequential(
        nn.Conv2d(2, 3, 1, bias=False),
        nn.ReLU(),
        nn.Conv2d(3, 4, 1, stride=2, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 2),
    )
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(C1, dtype=torch.float32)[:, :, None, None])
        model[2].weight.copy_(torch.tensor(C2, dtype=torch.float32)[:, :, None, None])
    return model


def _rows(feature: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N*H*W, C)."""
    return feature.transpose(0, 2, 3, 1).reshape(-1, feature.shape[1])


class _HandCNN:
    def __init__(self) -> None:
        x, c1, c2 = as_float32_exact(X_IMG), as_float32_exact(C1), as_float32_exact(C2)
        self.c2 = c2
        self.a1 = np.einsum("oc,nchw->nohw", c1, x)
        self.h1 = np.maximum(self.a1, 0)
        self.a2 = np.einsum("oc,nchw->nohw", c2, self.h1[:, :, ::2, ::2])
        self.h2 = np.maximum(self.a2, 0)
        self.blocks = [self.a1, self.h1, self.a2, self.h2]

    def entropies(self) -> list[float]:
        return [_entropy(_rows(b)) for b in self.blocks]

    def trainability(self, seed: int = 0) -> float:
        v3, v2, v1 = _rademacher(seed, [(3, 4, 2, 2), (3, 4, 2, 2), (3, 3, 4, 4)])
        # The stride-2 1x1 conv: g reaches the even pixels only, W^T v there.
        g2 = np.zeros((3, 3, 4, 4))
        g2[:, :, ::2, ::2] = np.einsum("oc,nohw->nchw", self.c2, v2)
        # pixel_unshuffle by 2: channel c*4 + di*2 + dj at (i, j) is g2[c, 2i + di, 2j + dj]
        unshuffled = g2.reshape(3, 3, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(3, 12, 2, 2)
        scores = [
            _pair_score(_rows(v3 * (self.a2 > 0)), _rows(v3)),
            _pair_score(_rows(unshuffled), _rows(v2)),
            _pair_score(_rows(v1 * (self.a1 > 0)), _rows(v1)),
        ]
        return float(np.mean(scores))


# -- each proxy against its hand value ---------------------------------------------------------


def test_blocks_of_the_mlp_exclude_the_logits():
    passes = Passes(_mlp3(), torch.tensor(X6, dtype=torch.float32), None, frozenset())
    assert az_blocks(passes).names == ["0", "1", "2", "3"]


def test_mlp_has_inactive_and_active_units():
    # Otherwise the ReLU pairs would be identities (-inf) or zero Jacobians.
    hand = _HandMLP()
    for pre in (hand.a1, hand.a2):
        assert (pre > 0).any() and (pre < 0).any()
        assert np.abs(pre).min() > 1e-3


def test_expressivity_by_hand():
    expected = sum(_HandMLP().entropies())
    assert _value(_mlp3(), X6, "az_expressivity") == pytest.approx(expected, rel=RTOL)


def test_progressivity_by_hand():
    entropies = _HandMLP().entropies()
    expected = min(b - a for a, b in zip(entropies, entropies[1:], strict=False))
    assert _value(_mlp3(), X6, "az_progressivity") == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("seed", [0, 3])
def test_trainability_by_hand(seed):
    expected = _HandMLP().trainability(seed)
    assert _value(_mlp3(), X6, "az_trainability", seed=seed) == pytest.approx(expected, rel=RTOL)


def test_cnn_blocks_are_the_feature_maps():
    passes = Passes(_cnn(), torch.tensor(X_IMG, dtype=torch.float32), None, frozenset())
    assert az_blocks(passes).names == ["0", "1", "2", "3"]  # not Flatten's or Linear's output


def test_cnn_expressivity_and_progressivity_by_hand():
    entropies = _HandCNN().entropies()
    results = _score(_cnn(), X_IMG)
    assert results["az_expressivity"].value == pytest.approx(sum(entropies), rel=RTOL)
    expected = min(b - a for a, b in zip(entropies, entropies[1:], strict=False))
    assert results["az_progressivity"].value == pytest.approx(expected, rel=RTOL)


def test_cnn_trainability_by_hand_with_downsampling():
    expected = _HandCNN().trainability()
    assert _value(_cnn(), X_IMG, "az_trainability") == pytest.approx(expected, rel=RTOL)


# -- the three spaces ----------------------------------------------------------------------------


def _nb201(arch: str = NB201_ARCH) -> nn.Module:
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    return space.build(space.parse(arch), num_classes=10, seed=0)


def _nb101() -> nn.Module:
    space = spaces.get("nb101", stem_channels=8, num_stacks=2, cells_per_stack=1)
    return space.build(space.parse(NB101_SPEC), num_classes=10, seed=0)


def _graph() -> nn.Module:
    space = spaces.get("graph")
    return space.build(space.parse(DROPOUT_GRAPH_SPEC), num_classes=10, seed=0)


SPACE_MODELS = {
    # space: (builder, input shape, expected blocks)
    "nb201": (_nb201, (3, 16, 16), ["stem", "cells.0", "cells.1", "cells.2", "cells.3", "cells.4"]),
    # stem, cell, max-pool downsample, cell
    "nb101": (_nb101, (3, 16, 16), ["stem", "cells.0", "cells.1", "cells.2"]),
    # stem, stem_bn, stem_relu, sum (closing the residual block), relu2, drop; not the
    # nodes inside the residual branch, nor the 2-D head (pool, fc)
    "graph": (
        _graph,
        (3, 8, 8),
        ["layers.0", "layers.1", "layers.2", "layers.8", "layers.9", "layers.10"],
    ),
}


@pytest.mark.parametrize("space", sorted(SPACE_MODELS))
def test_blocks_on_each_space(space):
    build, shape, expected = SPACE_MODELS[space]
    batch = synthetic_batch(8, input_shape=shape, num_classes=10, seed=0)
    assert az_blocks(Passes(build(), batch.inputs, None, frozenset())).names == expected


@pytest.mark.parametrize("space", sorted(SPACE_MODELS))
def test_each_space_is_ok_finite_and_reproducible(space):
    build, shape, _ = SPACE_MODELS[space]
    batch = synthetic_batch(8, input_shape=shape, num_classes=10, seed=0)
    model = build()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    first = score(model, AZ, batch.inputs, batch.targets, seed=1)
    second = score(model, AZ, batch.inputs, batch.targets, seed=1)
    for name in AZ:
        assert first[name].status == "ok", first[name].error
        assert math.isfinite(first[name].value)
        assert first[name].value == second[name].value  # bit-identical
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name])
    assert all(not m._forward_hooks for m in model.modules())


def test_trainability_depends_on_the_seed_only_through_its_draws():
    model = _nb201()
    batch = synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=0)
    values = [score(model, AZ, batch.inputs, seed=s) for s in (0, 1)]
    assert values[0]["az_expressivity"].value == values[1]["az_expressivity"].value
    assert values[0]["az_trainability"].value != values[1]["az_trainability"].value


def test_value_does_not_depend_on_other_proxies_using_the_rng():
    # The graph has a dropout node: snip's forward consumes random numbers first.
    model = _graph()
    batch = synthetic_batch(8, input_shape=(3, 8, 8), num_classes=10, seed=0)
    alone = score(model, ["az_trainability"], batch.inputs, batch.targets, seed=2)
    after = score(model, ["snip", "az_trainability"], batch.inputs, batch.targets, seed=2)
    assert alone["az_trainability"].value == after["az_trainability"].value


# -- one shared forward ----------------------------------------------------------------------


def _count_forwards(model: nn.Module, names: list[str], chunks: int = 1) -> int:
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        batch = synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=0)
        results = score(model, names, batch.inputs, chunks=chunks)
    finally:
        handle.remove()
    assert all(r.status == "ok" for r in results.values()), results
    return len(calls)


def test_the_three_share_one_forward():
    model = _nb201()
    assert _count_forwards(model, AZ) == 1
    assert _count_forwards(model, ["az_expressivity"]) == 1
    assert _count_forwards(model, list(reversed(AZ))) == 1
    assert _count_forwards(model, AZ, chunks=2) == 2  # one per chunk


@pytest.mark.parametrize("chunks", [2, 4])
def test_chunks_do_not_change_the_values_without_batchnorm(chunks):
    # The chunks' merged covariances are the whole batch's; each chunk uses its rows of the
    # whole batch's draws, and the Jacobian estimates are summed over the chunks. The same
    # float32 terms summed in another order: equal to float32 rounding (a few 1e-8 relative
    # on some CPUs' kernels), not bit for bit.
    whole = _score(_mlp3(), X6)
    chunked = _score(_mlp3(), X6, chunks=chunks)
    for name in AZ:
        assert chunked[name].status == "ok", chunked[name].error
        assert chunked[name].value == pytest.approx(whole[name].value, rel=1e-6)


# -- sign conventions: higher is better --------------------------------------------------------


@pytest.mark.parametrize("name", AZ)
def test_docstring_says_higher_is_better(name):
    module = sys.modules[proxies.get(name).compute.__module__]
    assert "higher is better" in " ".join((module.__doc__ or "").lower().split())


def test_collapsed_features_are_less_expressive():
    # A rank-1 first layer puts every block's features on one direction: entropy ~0.
    collapsed = np.outer([0.5, -0.6, 0.3, -0.2], [1.0, 0.5, -0.4])
    assert _value(_mlp3(w1=collapsed), X6, "az_expressivity") < 0.5 * _value(
        _mlp3(), X6, "az_expressivity"
    )


def test_a_collapsing_layer_is_less_progressive():
    # A rank-1 second layer loses the first layer's expressivity: a large negative step.
    collapsed = np.outer([0.7, -0.4, 0.2, 0.8], [0.5, 0.4, -0.3, 0.6])
    worse = _value(_mlp3(w2=collapsed), X6, "az_progressivity")
    better = _value(_mlp3(), X6, "az_progressivity")
    assert worse < better - 0.3


def _linear_chain(scale: float) -> nn.Sequential:
    # Blocks: Linear 1's and Linear 2's outputs; the pair's Jacobian is Linear 2's weight,
    # scale * Q.
    q, _ = np.linalg.qr(np.array([[2.0, 1, 0, 1], [1, 3, 1, 0], [0, 1, 2, 1], [1, 0, 1, 3]]))
    return nn.Sequential(_linear(np.eye(4)), _linear(scale * q), _linear(W_HEAD))


def test_norm_preserving_blocks_are_more_trainable():
    x = synthetic_batch(256, input_shape=(4,), seed=0).inputs.double().numpy()
    values = {s: _value(_linear_chain(s), x, "az_trainability") for s in (0.2, 1.0, 5.0)}
    assert values[1.0] > -0.2  # sigma ~ 1: the maximum, 0
    assert values[0.2] < values[1.0] - 2  # vanishing
    assert values[5.0] < values[1.0] - 2  # exploding


# -- edge cases ----------------------------------------------------------------------------------


def test_cell_without_path_and_identity_cell():
    batch = synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=0)
    zero = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    results = score(_nb201(zero), AZ, batch.inputs)
    # Constant (zero) features: NaN entropy, reported as -inf like the reference.
    assert results["az_expressivity"].value == -math.inf
    assert results["az_expressivity"].status == "nonfinite"
    # Zero Jacobians into the zero cells: -1/(0 + 1e-6) + 2 per such pair, still finite.
    assert results["az_trainability"].status == "ok"
    assert results["az_trainability"].value < -1e5
    identity = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    results = score(_nb201(identity), AZ, batch.inputs)
    assert results["az_trainability"].value == -math.inf  # g == v: an identity block
    assert results["az_expressivity"].status == "ok"


def test_too_few_blocks_raise():
    x = X6
    one_block = nn.Sequential(_linear(W1), _linear(W_HEAD))  # Linear 1's output; the logits
    results = _score(one_block, x)
    assert results["az_expressivity"].status == "ok"
    for name in ("az_progressivity", "az_trainability"):
        assert results[name].status == "error"
        assert "at least 2 blocks" in results[name].error
    results = _score(nn.Sequential(_linear(W_HEAD[:, :3])), x)
    assert all(r.status == "error" and "no blocks" in r.error for r in results.values())


def test_parallel_branches_are_not_blocks():
    # Two convs read the input side by side; only their concat and what follows are cut
    # points. The 3x3 valid conv shrinks 8x8 to 6x6, which trainability cannot pair.
    spec = {
        "input_shape": [3, 8, 8],
        "nodes": [
            {"name": "a", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"name": "b", "op": "conv2d", "out_channels": 4, "kernel_size": 1, "inputs": ["input"]},
            {"name": "cat", "op": "concat", "inputs": ["a", "b"]},
            {"name": "relu", "op": "relu"},
            {"name": "skip", "op": "identity"},
            {"name": "valid", "op": "conv2d", "out_channels": 4, "kernel_size": 3},
            {"name": "pool", "op": "global_avgpool"},
            {"name": "fc", "op": "linear", "out_features": 10},
        ],
    }  # fmt: skip
    space = spaces.get("graph")
    model = space.build(space.parse(spec), num_classes=10, seed=0)
    batch = synthetic_batch(8, input_shape=(3, 8, 8), num_classes=10, seed=0)
    # cat, relu, valid (the identity node is skipped: it passes relu's output through)
    assert az_blocks(Passes(model, batch.inputs, None, frozenset())).names == [
        "layers.2",
        "layers.3",
        "layers.5",
    ]
    for chunks in (1, 2):  # only trainability fails, whether its backwards are lazy or not
        results = score(model, AZ, batch.inputs, chunks=chunks)
        assert results["az_expressivity"].status == "ok"
        assert results["az_progressivity"].status == "ok"
        assert results["az_trainability"].status == "error"
        assert "integer downsampling" in results["az_trainability"].error
