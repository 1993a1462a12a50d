"""The NAS-Bench-Suite-Zero proxies l2_norm, plain, epe_nas and zen.

Each is checked against a value computed by hand with plain numpy (float64) on a tiny network
with hand-set weights (zen redraws its weights: the test draws the same Gaussian values from
a generator seeded like the proxy's, then computes by hand), on the three search spaces, for
reproducibility and for its sign convention (higher is better).
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np
import pytest
import torch
from proxy_support import (
    W1,
    W2,
    X4,
    X5,
    Y4,
    as_float32_exact,
    mlp,
    space_model,
    wider_mlp,
)
from torch import nn

from zero_cost import proxies, spaces
from zero_cost.data import synthetic_batch
from zero_cost.engine import score

NAMES = ["l2_norm", "plain", "epe_nas", "zen"]

NB201_CONV = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
NB201_SKIP = (
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|"
    "+|skip_connect~0|skip_connect~1|skip_connect~2|"
)
K = 1e-5  # EPE-NAS's constant
RTOL = 1e-5  # the library computes in float32, the hand values in float64


def _score(name: str, model: nn.Module, x: np.ndarray, y: np.ndarray | None, **kwargs):
    inputs = torch.tensor(x, dtype=torch.float32)
    targets = None if y is None else torch.tensor(y, dtype=torch.int64)
    return score(model, [name], inputs, targets, **kwargs)[name]


def _ok(name: str, model: nn.Module, x: np.ndarray, y: np.ndarray | None, **kwargs) -> float:
    result = _score(name, model, x, y, **kwargs)
    assert result.status == "ok", result.error
    return result.value


def _logits(x: np.ndarray, w1: np.ndarray = W1, w2: np.ndarray = W2) -> np.ndarray:
    return np.maximum(x @ w1.T, 0) @ w2.T


def _mean_ce(logits: np.ndarray, y: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


# -- l2_norm ---------------------------------------------------------------------------------


def test_l2_norm_by_hand():
    w1, w2 = as_float32_exact(W1), as_float32_exact(W2)
    expected = math.sqrt((w1**2).sum()) + math.sqrt((w2**2).sum())
    assert _ok("l2_norm", mlp(), X4, None) == pytest.approx(expected, rel=1e-6)
    # The sum of per-layer norms, not the norm of all weights together (strictly smaller).
    assert expected > math.sqrt((w1**2).sum() + (w2**2).sum()) * (1 + 1e-3)


def test_l2_norm_grows_with_width_and_weight_scale():
    values = [_ok("l2_norm", wider_mlp(w), X4, None) for w in (4, 6, 10)]
    assert values[0] < values[1] < values[2]
    doubled = _ok("l2_norm", mlp(2 * W1, 2 * W2), X4, None)
    assert doubled == pytest.approx(2 * values[0], rel=1e-6)


# -- plain -----------------------------------------------------------------------------------


def _hand_plain(x: np.ndarray, y: np.ndarray) -> float:
    """sum over weights of dL/dw * w, L the mean cross-entropy, by hand."""
    x, w1, w2 = as_float32_exact(x), as_float32_exact(W1), as_float32_exact(W2)
    n = len(x)
    a1 = x @ w1.T
    mask = (a1 > 0).astype(np.float64)
    h = a1 * mask
    a2 = h @ w2.T
    probs = np.exp(a2 - a2.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    d_a2 = (probs - np.eye(a2.shape[1])[y]) / n
    g2 = d_a2.T @ h
    g1 = ((d_a2 @ w2) * mask).T @ x
    return float((g1 * w1).sum() + (g2 * w2).sum())


def _loss_slope(x: np.ndarray, y: np.ndarray, step: float = 1e-6) -> float:
    """d/da of the mean cross-entropy with every weight scaled by a, at a = 1."""
    x, w1, w2 = as_float32_exact(x), as_float32_exact(W1), as_float32_exact(W2)

    def loss(a: float) -> float:
        return _mean_ce(_logits(x, a * w1, a * w2), y)

    return (loss(1 + step) - loss(1 - step)) / (2 * step)


def test_plain_by_hand():
    expected = _hand_plain(X4, Y4)
    assert _ok("plain", mlp(), X4, Y4) == pytest.approx(expected, rel=RTOL)
    # The same quantity as the slope of the loss along the weights (a check of the check).
    assert expected == pytest.approx(_loss_slope(X4, Y4), rel=1e-6)


def test_plain_is_signed_not_absolute():
    # Labels the network already predicts: scaling the weights up lowers the loss, so plain
    # (gradient times weight, no absolute value, no sign change) is negative.
    correct = _logits(as_float32_exact(X4), as_float32_exact(W1), as_float32_exact(W2))
    y = correct.argmax(axis=1)
    value = _ok("plain", mlp(), X4, y)
    assert value < 0
    assert value == pytest.approx(_loss_slope(X4, y), rel=RTOL)
    # The opposite labels: positive.
    assert _ok("plain", mlp(), X4, 1 - y) > 0


# -- epe_nas ---------------------------------------------------------------------------------


def _hand_jacobian(x: np.ndarray, w1: np.ndarray = W1, w2: np.ndarray = W2) -> np.ndarray:
    """Per sample, d(sum of outputs)/dx of the ReLU MLP: W1^T (mask_n * (W2^T 1))."""
    x, w1, w2 = as_float32_exact(x), as_float32_exact(w1), as_float32_exact(w2)
    mask = (x @ w1.T > 0).astype(np.float64)
    return (mask * (w2.T @ np.ones(w2.shape[0]))) @ w1


def _class_score(rows: np.ndarray) -> float:
    """sum over i, j of log(|corr_ij| + k), the Pearson correlations of the rows, by hand."""
    centered = rows - rows.mean(axis=1, keepdims=True)
    norms = np.sqrt((centered**2).sum(axis=1))
    corr = (centered @ centered.T) / np.outer(norms, norms)
    return float(np.log(np.abs(corr) + K).sum())


def test_epe_nas_by_hand():
    jacobian = _hand_jacobian(X4)
    s0 = _class_score(jacobian[[0, 3]])
    s1 = _class_score(jacobian[[1, 2]])
    expected = abs(s0) + abs(s1)
    assert s0 < 0 and s1 < 0
    assert _ok("epe_nas", mlp(), X4, Y4) == pytest.approx(expected, rel=RTOL)


def test_epe_nas_single_sample_class_adds_log_one_plus_k():
    y = np.array([0, 1, 1, 0, 2])  # class 2 has one sample: its "correlation" is 1
    jacobian = _hand_jacobian(X5)
    expected = (
        abs(_class_score(jacobian[[0, 3]]))
        + abs(_class_score(jacobian[[1, 2]]))
        + abs(math.log(1 + K))
    )
    assert _ok("epe_nas", mlp(), X5, y) == pytest.approx(expected, rel=RTOL)


def test_epe_nas_more_than_100_outputs_scores_the_spread_of_class_scores():
    rng = np.random.default_rng(0)
    w2 = rng.uniform(-1, 1, (101, 4))
    y = np.array([0, 1, 1, 0, 2])  # class 2 (one sample) is skipped above 100 outputs
    jacobian = _hand_jacobian(X5, W1, w2)
    scores = [_class_score(jacobian[[0, 3]]) / 2, _class_score(jacobian[[1, 2]]) / 2]
    expected = sum(abs(a - b) for a in scores for b in scores) / len(scores)
    assert expected > 0
    assert _ok("epe_nas", mlp(W1, w2), X5, y) == pytest.approx(expected, rel=RTOL)


def test_epe_nas_constant_jacobian_row_is_nonfinite():
    # A zero input switches every ReLU off: its Jacobian is 0, its correlations NaN.
    x = np.vstack([X4[:3], np.zeros((1, 3))])
    result = _score("epe_nas", mlp(), x, Y4)
    assert result.status == "nonfinite"
    assert math.isnan(result.value)


def test_epe_nas_prefers_less_correlated_jacobians():
    # Without the ReLU every sample has the same Jacobian W1^T W2^T 1: all correlations are 1,
    # the floor of the score (4 entries per class of log(1 + k)); the ReLU network's
    # sample-dependent Jacobians score higher.
    linear = _ok("epe_nas", mlp(act=nn.Identity), X4, Y4)
    assert linear == pytest.approx(8 * math.log(1 + K), rel=1e-4)
    assert _ok("epe_nas", mlp(), X4, Y4) > 100 * linear


# -- zen -------------------------------------------------------------------------------------


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, bias=False),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 3),
    )


def _conv3x3(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """'Same' 3x3 convolution (cross-correlation) with zero padding, by hand."""
    n, _, height, width = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], height, width))
    for di in range(3):
        for dj in range(3):
            window = padded[:, :, di : di + height, dj : dj + width]
            out += np.einsum("nchw,oc->nohw", window, w[:, :, di, dj])
    return out


def _hand_zen(seed: int, shape: tuple[int, ...]) -> float:
    # The proxy's draws: conv weight, linear weight, then input and perturbation.
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn((2, 1, 3, 3), generator=generator).double().numpy()
    torch.randn((3, 2), generator=generator)  # the classifier, after the pooling
    x32 = torch.randn(shape, generator=generator).numpy()
    e32 = torch.randn(shape, generator=generator).numpy()
    mixed = (x32 + np.float32(1e-2) * e32).astype(np.float64)  # formed in float32, as torch

    def features(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = _conv3x3(x, w)
        mean = a.mean(axis=(0, 2, 3), keepdims=True)
        biased = a.var(axis=(0, 2, 3), keepdims=True)
        unbiased = a.var(axis=(0, 2, 3), ddof=1)
        return np.maximum((a - mean) / np.sqrt(biased + 1e-5), 0), unbiased

    f1, v1 = features(x32.astype(np.float64))
    f2, v2 = features(mixed)
    expected_norm = np.abs(f1 - f2).reshape(shape[0], -1).sum(axis=1).mean()
    running_var = 0.9 * (0.9 * 1.0 + 0.1 * v1) + 0.1 * v2
    return float(np.log(expected_norm) + np.log(np.sqrt(running_var.mean())))


def test_zen_by_hand():
    shape = (4, 1, 5, 5)
    batch = np.zeros(shape)  # zen uses only the batch's shape
    for seed in (0, 3):
        value = _ok("zen", _tiny_cnn(), batch, None, seed=seed)
        assert value == pytest.approx(_hand_zen(seed, shape), rel=RTOL)


def _reference_zen(model: nn.Module, pre_gap: str, shape: tuple[int, ...], seed: int) -> float:
    """NASLib's compute_zen_score transcribed literally, on a deep copy whose BatchNorm layers
    get PyTorch's default momentum and fresh running statistics, with the proxy's draws."""
    net = copy.deepcopy(model).train()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                if m.weight is None:
                    continue
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                m.reset_running_stats()
        outputs: list[torch.Tensor] = []
        if pre_gap == "pool-input":
            taps = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
            assert len(taps) == 1
            taps[0].register_forward_hook(lambda m, args, out: outputs.append(args[0]))
        else:
            net.cells.register_forward_hook(lambda m, args, out: outputs.append(out))
        x = torch.randn(shape, generator=generator)
        x2 = torch.randn(shape, generator=generator)
        net(x)
        net(x + 1e-2 * x2)
        nas_score = torch.mean(torch.sum(torch.abs(outputs[0] - outputs[1]), dim=[1, 2, 3]))
        log_bn_scaling_factor = 0.0
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                log_bn_scaling_factor += torch.log(torch.sqrt(torch.mean(m.running_var)))
        return float(torch.log(nas_score) + log_bn_scaling_factor)


@pytest.mark.parametrize("space_name", ["nb201", "nb101"])
def test_zen_matches_literal_reference_transcription(space_name):
    model, batch = space_model(space_name)
    pre_gap = "pool-input" if space_name == "nb201" else "cells-output"
    expected = _reference_zen(model, pre_gap, tuple(batch.inputs.shape), seed=0)
    result = score(model, ["zen"], batch.inputs, seed=0)["zen"]
    assert result.status == "ok", result.error
    assert result.value == pytest.approx(expected, rel=RTOL)


def test_zen_without_global_pooling_raises():
    result = _score("zen", mlp(), X4, None)
    assert result.status == "error"
    assert "ValueError" in result.error and "global average pooling" in result.error


def test_zen_leaves_model_unchanged_and_ignores_other_proxies():
    model, batch = space_model("nb201")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    alone = score(model, ["zen"], batch.inputs, batch.targets, seed=1)["zen"].value
    together = score(model, NAMES, batch.inputs, batch.targets, seed=1)["zen"].value
    assert alone == together
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # Its value depends on the seed (random weights and inputs).
    assert score(model, ["zen"], batch.inputs, seed=2)["zen"].value != alone


def test_zen_with_chunks_is_finite():
    model, batch = space_model("nb201")
    result = score(model, ["zen"], batch.inputs, chunks=2)["zen"]
    assert result.status == "ok", result.error
    assert math.isfinite(result.value)


def test_zen_prefers_deeper_and_wider_networks():
    # Zen-score measures expressivity: convolution cells beat skip connections, and the same
    # cell with twice the channels beats the narrow one.
    batch = synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=0)

    def zen(arch: str, channels: int) -> float:
        space = spaces.get("nb201", channels=channels, cells_per_stage=1)
        model = space.build(space.parse(arch), num_classes=10, seed=0)
        result = score(model, ["zen"], batch.inputs)["zen"]
        assert result.status == "ok", result.error
        return result.value

    assert zen(NB201_CONV, 4) > zen(NB201_SKIP, 4) + 1
    assert zen(NB201_CONV, 8) > zen(NB201_CONV, 4) + 1


# -- all four on the search spaces -----------------------------------------------------------


@pytest.mark.parametrize("space_name", ["nb201", "nb101", "graph"])
@pytest.mark.parametrize("name", NAMES)
def test_on_each_space_ok_finite_and_reproducible(space_name, name):
    model, batch = space_model(space_name)
    first = score(model, [name], batch.inputs, batch.targets, seed=0)[name]
    second = score(model, [name], batch.inputs, batch.targets, seed=0)[name]
    assert first.status == "ok", first.error
    assert math.isfinite(first.value)
    assert first.value == second.value  # bit-identical
    assert first.log_value is None


@pytest.mark.parametrize("name", NAMES)
def test_registration(name):
    info = proxies.get(name)
    assert info.version == "1"
    assert info.description.strip()
    assert not info.log_scale
    module = sys.modules[info.compute.__module__]
    assert "higher is better" in " ".join((module.__doc__ or "").lower().split())
    expected_needs = {
        "l2_norm": set(),
        "plain": {"weight_grads"},
        "epe_nas": {"input_jacobian"},
        "zen": set(),
    }[name]
    assert info.needs == expected_needs
    assert info.needs_labels == (name in {"plain", "epe_nas"})
