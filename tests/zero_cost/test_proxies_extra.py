"""MeCo, SWAP, the NTK condition number and the linear-region count, each against a value
computed by hand with plain numpy (float64) on tiny networks with hand-set weights, on a
tiny network of each search space, for reproducibility and for their sign convention.

The hand computations follow the definitions in the proxies' docstrings and call nothing
from the library, whose values come from ``score()``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from proxy_support import (
    W1,
    W2,
    X4,
    as_float32_exact,
    mlp,
    space_model,
)
from torch import nn

from zero_cost import proxies
from zero_cost.engine import score

NAMES = ["meco", "swap", "ntk_cond", "linear_regions"]
RTOL = 1e-5  # the library computes in float32 (eigenvalues in float64), the hand in float64


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float32)


def _value(name: str, model: nn.Module, x: np.ndarray | torch.Tensor, **options) -> float:
    inputs = x if isinstance(x, torch.Tensor) else _tensor(x)
    result = score(model, [name], inputs, **options)[name]
    assert result.status == "ok", result.error
    return result.value


def _codes(x: np.ndarray, w1: np.ndarray = W1) -> np.ndarray:
    """The MLP's binary ReLU codes, (samples, units)."""
    return (as_float32_exact(x) @ as_float32_exact(w1).T > 0).astype(np.int64)


# -- meco -----------------------------------------------------------------------------------

# A 1x1-convolution network on 3x2x2 inputs: conv(3->3), ReLU, conv(3->2), global average
# pooling, flatten, linear(2->2). Channel 2 of the first convolution is negative at every
# position of sample 0, so after the ReLU it is constant: its correlations are NaN, set to 0.
CONV1 = np.array([[1.0, -0.5, 0.3], [-0.7, 0.9, 0.4], [-1.0, -1.0, -0.2]])
CONV2 = np.array([[0.6, -0.4, 0.3], [0.2, 0.8, -0.5]])
FC = np.array([[0.5, -1.0], [0.7, 0.3]])
# Sample 0 as (channels, positions); positions are the 2x2 pixels in row-major order.
SAMPLE0 = np.array([[0.5, 1.0, -0.3, 0.8], [0.2, -0.6, 0.9, 0.4], [0.1, 0.7, -0.8, 0.3]])
OTHERS = np.array(
    [
        [[1.5, -0.2, 0.4, 0.1], [0.3, 0.3, -0.9, 0.6], [-0.4, 0.8, 0.2, 0.5]],
        [[-0.6, 0.2, 0.9, -1.1], [0.7, -0.3, 0.1, 0.4], [0.2, 0.2, -0.5, 0.9]],
    ]
)


def _conv_net(conv1: np.ndarray = CONV1, nest_first: bool = False) -> nn.Sequential:
    first = nn.Conv2d(3, conv1.shape[0], 1, bias=False)
    model = nn.Sequential(
        nn.Sequential(nn.Sequential(first)) if nest_first else first,
        nn.ReLU(),
        nn.Conv2d(conv1.shape[0], 2, 1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 2, bias=False),
    )
    with torch.no_grad():
        first.weight.copy_(_tensor(conv1).reshape(conv1.shape[0], 3, 1, 1))
        model[2].weight.copy_(_tensor(CONV2).reshape(2, conv1.shape[0], 1, 1))
        model[5].weight.copy_(_tensor(FC))
    return model


def _conv_batch(first: np.ndarray = SAMPLE0) -> torch.Tensor:
    samples = np.concatenate([first[None], OTHERS])  # (3, channels, positions)
    return _tensor(samples).reshape(3, 3, 2, 2)


def _min_corr_eigenvalue(features: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(features)
    corr[~np.isfinite(corr)] = 0.0
    return float(np.linalg.eigvalsh(corr)[0])


def _hand_meco(conv1: np.ndarray = CONV1) -> float:
    x = as_float32_exact(SAMPLE0)
    pre = as_float32_exact(conv1) @ x
    post = np.maximum(pre, 0.0)
    out = as_float32_exact(CONV2) @ post
    # The pooled, flattened and linear outputs have one value per channel: they add 0.
    return sum(_min_corr_eigenvalue(f) for f in (pre, post, out))


def test_meco_by_hand():
    pre = as_float32_exact(CONV1) @ as_float32_exact(SAMPLE0)
    assert (pre[2] < 0).all()  # the dead channel that exercises the NaN handling
    expected = _hand_meco()
    assert abs(expected) > 0.1
    assert _value("meco", _conv_net(), _conv_batch()) == pytest.approx(expected, rel=RTOL)


def test_meco_uses_only_the_first_sample():
    base = _value("meco", _conv_net(), _conv_batch())
    changed = _conv_batch()
    changed[1:] = -changed[1:] * 3.0
    assert _value("meco", _conv_net(), changed) == base
    other_first = _conv_batch(OTHERS[0])
    assert _value("meco", _conv_net(), other_first) != pytest.approx(base, rel=1e-3)


def test_meco_counts_a_feature_map_once_however_deeply_nested():
    nested = _value("meco", _conv_net(nest_first=True), _conv_batch())
    assert nested == pytest.approx(_hand_meco(), rel=RTOL)


def test_meco_mlp_outputs_add_nothing():
    # Each (1, F) output has one value per variable: all-NaN correlation, zeroed.
    assert _value("meco", mlp(), X4) == 0.0


def test_meco_prefers_decorrelated_channels():
    # MeCo's claim: a larger minimum eigenvalue (less redundant channels) is better. Copying
    # one filter into all three makes the first layer's channels perfectly correlated
    # (lambda_min = 0), and the ReLU and second layer follow.
    copied = np.repeat(CONV1[:1], 3, axis=0)
    worse = _value("meco", _conv_net(copied), _conv_batch())
    assert worse == pytest.approx(_hand_meco(copied), rel=RTOL, abs=1e-9)
    assert worse < _value("meco", _conv_net(), _conv_batch()) - 0.1


# -- swap -----------------------------------------------------------------------------------


def _hand_swap(x: np.ndarray, w1: np.ndarray = W1) -> int:
    return len(np.unique(_codes(x, w1).T, axis=0))  # distinct columns: per-unit patterns


def test_swap_by_hand():
    expected = _hand_swap(X4)
    assert expected == 3  # units 0 and 3 share their pattern (0, 0, 1, 1)
    assert _value("swap", mlp(), X4) == expected


def test_swap_counts_patterns_over_more_than_32_samples():
    # Patterns longer than one 32-bit key word: 70 samples, 40 units, some units duplicated.
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(40, 3))
    w1[20:30] = w1[:10] * 2.0  # same patterns as units 0..9
    w2 = rng.normal(size=(2, 40))
    x = rng.normal(size=(70, 3))
    expected = _hand_swap(x, w1)
    assert expected == 30
    assert _value("swap", mlp(w1, w2), x) == expected


def test_swap_prefers_units_with_different_patterns():
    # Higher is better: if every unit is a positive multiple of one unit, all units fire on
    # the same samples and there is a single pattern.
    same = np.outer([1.0, 0.5, 2.0, 0.3], W1[0])
    assert _value("swap", mlp(same), X4) == 1 < _value("swap", mlp(), X4)


def test_swap_needs_relu():
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    result = score(model, ["swap"], _tensor(X4))["swap"]
    assert result.status == "error"
    assert "no nn.ReLU" in (result.error or "")


# -- linear_regions --------------------------------------------------------------------------


def _hand_linear_regions(x: np.ndarray, w1: np.ndarray = W1) -> int:
    return len(np.unique(_codes(x, w1), axis=0))  # distinct rows: per-sample patterns


def test_linear_regions_by_hand():
    # A fifth sample 2 * x_0 lies in x_0's region (no biases: the same code).
    x = np.vstack([X4, 2.0 * X4[:1]])
    expected = _hand_linear_regions(x)
    assert expected == 4
    assert _value("linear_regions", mlp(), x) == expected
    assert _value("linear_regions", mlp(), X4) == 4


def test_linear_regions_prefers_more_regions():
    # Positive weights on positive inputs: every unit is always active, the network is
    # linear on all samples, a single region. The hand-set MLP cuts them into four.
    linear = _value("linear_regions", mlp(np.abs(W1)), np.abs(X4))
    assert linear == 1 < _value("linear_regions", mlp(), X4)


# -- ntk_cond -------------------------------------------------------------------------------


def _hand_ntk_cond(x: np.ndarray) -> float:
    x, w1, w2 = as_float32_exact(x), as_float32_exact(W1), as_float32_exact(W2)
    mask = (x @ w1.T > 0).astype(np.float64)
    hidden = (x @ w1.T) * mask
    # f(x_n) = 1^T W2 relu(W1 x_n): d f / d W2 = 1 h_n^T, d f / d W1 = (mask_n * W2^T 1) x_n^T
    grad_w2 = np.stack([np.outer(np.ones(w2.shape[0]), h).ravel() for h in hidden])
    back = mask * (w2.T @ np.ones(w2.shape[0]))
    grad_w1 = np.stack([np.outer(b, xn).ravel() for b, xn in zip(back, x, strict=True)])
    jacobian = np.hstack([grad_w1, grad_w2])
    eigenvalues = np.linalg.eigvalsh(jacobian @ jacobian.T)
    assert eigenvalues[0] > 0
    return -math.log(eigenvalues[-1] / eigenvalues[0])


def test_ntk_cond_by_hand():
    expected = _hand_ntk_cond(X4)
    assert expected < -0.5
    assert _value("ntk_cond", mlp(), X4) == pytest.approx(expected, rel=RTOL)


def test_ntk_cond_chunked_equals_unchunked_without_batchnorm():
    whole = _value("ntk_cond", mlp(), X4)
    assert _value("ntk_cond", mlp(), X4, chunks=3) == pytest.approx(whole, rel=1e-6)


def test_ntk_cond_prefers_a_well_conditioned_kernel():
    # TE-NAS: a lower condition number trains better, so it must score higher. Replacing
    # sample 3 by a near copy of sample 0 makes the kernel nearly singular.
    near_copy = X4.copy()
    near_copy[3] = X4[0] + 0.01
    worse = _value("ntk_cond", mlp(), near_copy)
    assert worse == pytest.approx(_hand_ntk_cond(near_copy), rel=1e-4)
    assert worse < _value("ntk_cond", mlp(), X4) - 3.0


def test_ntk_cond_singular_kernel_is_minus_infinity():
    repeated = np.vstack([X4[:3], X4[:1]])
    result = score(mlp(), ["ntk_cond"], _tensor(repeated))["ntk_cond"]
    assert result.status == "nonfinite"
    assert result.value == -math.inf


def test_ntk_cond_needs_two_samples():
    result = score(mlp(), ["ntk_cond"], _tensor(X4[:1]))["ntk_cond"]
    assert result.status == "error"
    assert "at least 2 samples" in (result.error or "")


# -- every search space, reproducibility, registry --------------------------------------------


@pytest.mark.parametrize("kind", ["nb201", "nb101", "graph"])
def test_ok_and_finite_on_every_space(kind):
    model, batch = space_model(kind)
    inputs = batch.inputs
    results = score(model, NAMES, inputs, seed=0)
    for name in NAMES:
        assert results[name].status == "ok", f"{name}: {results[name].error}"
        assert math.isfinite(results[name].value), name
        assert results[name].log_value is None
    assert 1 <= results["linear_regions"].value <= 8
    assert results["swap"].value >= 1


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_is_bit_identical(name):
    model, batch = space_model("nb201")
    inputs = batch.inputs
    first = score(model, [name], inputs, seed=7)[name]
    second = score(model, [name], inputs, seed=7)[name]
    assert first.status == "ok", first.error
    assert first.value == second.value


def test_shared_codes_give_the_values_scored_alone():
    # swap and linear_regions read nwot's ReLU codes from one main pass.
    model, batch = space_model("nb201")
    inputs = batch.inputs
    together = score(model, ["nwot", "swap", "linear_regions"], inputs)
    for name in ("swap", "linear_regions"):
        assert together[name].value == score(model, [name], inputs)[name].value


@pytest.mark.parametrize("name", NAMES)
def test_registration(name):
    info = proxies.get(name)
    assert info.version == "1"
    assert info.description.strip()
    assert not info.needs_labels and not info.log_scale
    shared = {"swap", "linear_regions"}
    assert info.needs == (frozenset({"relu_codes"}) if name in shared else frozenset())
    module = sys.modules[info.compute.__module__]
    assert "higher is better" in " ".join((module.__doc__ or "").lower().split())
