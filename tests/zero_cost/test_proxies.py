"""Each zero-cost proxy against a value computed by hand, plus the proxy registry.

The hand computations use plain numpy (float64) on a two-layer ReLU MLP with hand-set
weights (``proxy_support.py``), following the definitions in the proxy docstrings (Abdelfattah
et al., ICLR 2021, reference implementation); they call nothing from the library, whose values
come from ``score()``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from proxy_support import NB201_ARCH, W1, W2, X4, X5, Y4, Y5, as_float32_exact, mlp, wider_mlp

from zero_cost import proxies, spaces
from zero_cost.data import synthetic_batch
from zero_cost.engine import score

ALL_PROXIES = [
    "snip",
    "grasp",
    "synflow",
    "grad_norm",
    "fisher",
    "jacob_cov",
    "nwot",
    "zico",
    "params",
    "flops",
    # NAS-Bench-Suite-Zero
    "l2_norm",
    "plain",
    "epe_nas",
    "zen",
    # MeCo, SWAP, TE-NAS
    "meco",
    "swap",
    "ntk_cond",
    "linear_regions",
    # AZ-NAS
    "az_expressivity",
    "az_progressivity",
    "az_trainability",
]

RTOL = 1e-5  # the library computes in float32, the hand values in float64


def _score_mlp(name: str, x: np.ndarray = X4, y: np.ndarray | None = Y4, model=None):
    model = mlp() if model is None else model
    inputs = torch.tensor(x, dtype=torch.float32)
    targets = None if y is None else torch.tensor(y, dtype=torch.int64)
    result = score(model, [name], inputs, targets)[name]
    assert result.status == "ok", result.error
    return result


# -- hand computations ------------------------------------------------------------------


class _Forward:
    """Forward and backward of the mean cross-entropy of the MLP, by hand, in float64."""

    def __init__(self, x: np.ndarray, y: np.ndarray, w1=W1, w2=W2) -> None:
        self.x = as_float32_exact(x)
        self.w1 = as_float32_exact(w1)
        self.w2 = as_float32_exact(w2)
        n = len(x)
        self.a1 = self.x @ self.w1.T  # pre-activations (output of Linear 1)
        self.mask = (self.a1 > 0).astype(np.float64)
        self.h = self.a1 * self.mask
        self.a2 = self.h @ self.w2.T  # logits (output of Linear 2)
        shifted = self.a2 - self.a2.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        onehot = np.eye(self.a2.shape[1])[y]
        self.loss = float(-np.log(probs[np.arange(n), y]).mean())
        self.d_a2 = (probs - onehot) / n  # dL/da2 for the mean loss
        self.d_h = self.d_a2 @ self.w2
        self.d_a1 = self.d_h * self.mask
        self.g2 = self.d_a2.T @ self.h  # dL/dW2
        self.g1 = self.d_a1.T @ self.x  # dL/dW1


def _hand_snip() -> float:
    f = _Forward(X4, Y4)
    return float(np.abs(f.w1 * f.g1).sum() + np.abs(f.w2 * f.g2).sum())


def _hand_grad_norm() -> float:
    f = _Forward(X4, Y4)
    return float(np.sqrt((f.g1**2).sum()) + np.sqrt((f.g2**2).sum()))


def _hand_fisher() -> float:
    f = _Forward(X4, Y4)
    total = 0.0
    # a: the output of each Linear (layer 1: before the ReLU); dL/da of the mean loss. Each
    # unit's value counts once per weight feeding it (the layer's in_features).
    for activation, grad, fan_in in ((f.a1, f.d_a1, W1.shape[1]), (f.a2, f.d_a2, W2.shape[1])):
        total += float((0.5 * ((activation * grad) ** 2).mean(axis=0)).sum()) * fan_in
    return total


def _hand_grasp() -> float:
    x = torch.tensor(as_float32_exact(X4), dtype=torch.float64)
    y = torch.tensor(Y4)
    theta = torch.tensor(
        np.concatenate([as_float32_exact(W1).ravel(), as_float32_exact(W2).ravel()]),
        dtype=torch.float64,
    )

    def loss(flat: torch.Tensor) -> torch.Tensor:
        w1 = flat[: W1.size].reshape(W1.shape)
        w2 = flat[W1.size :].reshape(W2.shape)
        logits = torch.relu(x @ w1.T) @ w2.T
        log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        return -log_probs[torch.arange(len(y)), y].mean()

    hessian = torch.autograd.functional.hessian(loss, theta).numpy()
    f = _Forward(X4, Y4)
    g = np.concatenate([f.g1.ravel(), f.g2.ravel()])
    # The hand gradient must agree with autograd's, as a check of the check.
    autograd_g = torch.autograd.functional.jacobian(loss, theta).numpy()
    np.testing.assert_allclose(g, autograd_g, rtol=1e-10, atol=1e-14)
    assert np.abs(hessian).max() > 0
    return float(-(theta.numpy() * (hessian @ g)).sum())


def _hand_synflow(w1: np.ndarray = W1, w2: np.ndarray = W2) -> float:
    """R = 1^T |W2| relu(|W1| 1) on a ones input; synflow = sum |w * dR/dw|."""
    a1, a2 = np.abs(as_float32_exact(w1)), np.abs(as_float32_exact(w2))
    ones_in, ones_out = np.ones(a1.shape[1]), np.ones(a2.shape[0])
    pre = a1 @ ones_in
    hidden = np.maximum(pre, 0)
    back = (ones_out @ a2) * (pre > 0)  # dR/d(pre-activation of the hidden units)
    d_w2 = np.outer(ones_out, hidden)
    d_w1 = np.outer(back, ones_in)
    return float(np.abs(a1 * d_w1).sum() + np.abs(a2 * d_w2).sum())


def _hand_nwot() -> float:
    codes = (_Forward(X4, Y4).a1 > 0).astype(np.float64)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    sign, logdet = np.linalg.slogdet(kernel)
    assert sign != 0
    return float(logdet)


def _hand_jacob_cov() -> float:
    f = _Forward(X4, Y4)
    # d(sum_k y_k)/dx for sample n: W1^T (mask_n * (W2^T 1)).
    jacobian = (f.mask * (f.w2.T @ np.ones(f.w2.shape[0]))) @ f.w1
    assert jacobian.shape == X4.shape
    corr = np.corrcoef(jacobian)
    eigenvalues = np.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def _hand_zico(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    first = np.arange((n + 1) // 2)  # torch.tensor_split's halves: the first one is larger
    second = np.arange((n + 1) // 2, n)
    halves = [_Forward(x[idx], y[idx]) for idx in (first, second)]
    total = 0.0
    for layer in ("g1", "g2"):
        grads = np.stack([getattr(h, layer) for h in halves])
        std = grads.std(axis=0)  # population std over the two halves
        mean_abs = np.abs(grads).mean(axis=0)
        keep = std > 0
        ratio_sum = (mean_abs[keep] / std[keep]).sum()
        if ratio_sum != 0:
            total += math.log(ratio_sum)
    return total


# -- each proxy against its hand value -----------------------------------------------------


def test_snip_by_hand():
    assert _score_mlp("snip").value == pytest.approx(_hand_snip(), rel=RTOL)


def test_grad_norm_is_sum_of_per_layer_norms():
    value = _score_mlp("grad_norm").value
    assert value == pytest.approx(_hand_grad_norm(), rel=RTOL)
    # Not the norm of the whole gradient, which is strictly smaller for two layers.
    f = _Forward(X4, Y4)
    whole = math.sqrt((f.g1**2).sum() + (f.g2**2).sum())
    assert value > whole * (1 + 1e-3)


def test_fisher_by_hand():
    assert _score_mlp("fisher").value == pytest.approx(_hand_fisher(), rel=RTOL)


def test_grasp_by_hand_with_explicit_hessian():
    expected = _hand_grasp()
    assert abs(expected) > 1e-6
    assert _score_mlp("grasp").value == pytest.approx(expected, rel=1e-4)


def test_synflow_closed_form():
    result = _score_mlp("synflow", y=None)
    expected = _hand_synflow()
    assert result.value == pytest.approx(expected, rel=1e-12)
    assert result.log_value == pytest.approx(math.log(expected), rel=1e-12)


def test_synflow_ignores_weight_signs():
    # Absolute weights: flipping every sign leaves synflow unchanged.
    flipped = mlp(-W1, -W2)
    assert _score_mlp("synflow", y=None, model=flipped).value == pytest.approx(
        _hand_synflow(), rel=1e-12
    )


def test_nwot_by_hand():
    assert _score_mlp("nwot", y=None).value == pytest.approx(_hand_nwot(), rel=1e-12)
    assert _hand_nwot() == pytest.approx(math.log(32.0))


def test_jacob_cov_by_hand():
    assert _score_mlp("jacob_cov", y=None).value == pytest.approx(_hand_jacob_cov(), rel=RTOL)


@pytest.mark.parametrize(("x", "y"), [(X4, Y4), (X5, Y5)], ids=["halves-2-2", "halves-3-2"])
def test_zico_by_hand(x, y):
    assert _score_mlp("zico", x=x, y=y).value == pytest.approx(_hand_zico(x, y), rel=RTOL)


def test_params_counts_weights():
    assert _score_mlp("params", y=None).value == W1.size + W2.size == 20


def test_flops_two_per_multiply_add():
    assert _score_mlp("flops", y=None).value == 2 * (3 * 4 + 4 * 2)


# -- sign conventions: higher is better ------------------------------------------------------


@pytest.mark.parametrize("name", ALL_PROXIES)
def test_docstring_says_higher_is_better(name):
    module = sys.modules[proxies.get(name).compute.__module__]
    assert "higher is better" in " ".join((module.__doc__ or "").lower().split())


@pytest.mark.parametrize("name", ["params", "flops", "synflow"])
def test_wider_mlp_scores_higher(name):
    values = [_score_mlp(name, y=None, model=wider_mlp(w)).value for w in (4, 6, 10)]
    assert values[0] < values[1] < values[2]


def test_wider_nb201_scores_higher_on_size_proxies_and_synflow():
    batch = synthetic_batch(2, input_shape=(3, 16, 16), seed=0)
    results = []
    for channels in (4, 8):
        space = spaces.get("nb201", channels=channels, cells_per_stage=1)
        model = space.build(space.parse(NB201_ARCH), num_classes=10, seed=0)
        results.append(score(model, ["params", "flops", "synflow"], batch.inputs))
    for name in ("params", "flops"):
        assert results[0][name].value < results[1][name].value
    assert results[0]["synflow"].log_value < results[1]["synflow"].log_value


def test_nwot_prefers_distinguishable_samples():
    # A batch with a repeated sample has a singular kernel (-inf); distinct codes do better.
    repeated = np.vstack([X4[:3], X4[:1]])
    model = mlp()
    worse = score(model, ["nwot"], torch.tensor(repeated, dtype=torch.float32))["nwot"]
    assert worse.value == -math.inf
    assert _score_mlp("nwot", y=None).value > worse.value


# -- registry ----------------------------------------------------------------------------------


def test_registry_names():
    assert proxies.names() == sorted(ALL_PROXIES)
    assert set(proxies.names()) == set(ALL_PROXIES)


def test_get_unknown_name_lists_known_ones():
    with pytest.raises(KeyError) as excinfo:
        proxies.get("no_such_proxy")
    message = str(excinfo.value)
    assert "no_such_proxy" in message
    for name in ALL_PROXIES:
        assert name in message


def test_register_duplicate_name_raises():
    before = dict(proxies._REGISTRY)
    with pytest.raises(ValueError, match="already registered"):

        @proxies.register("snip", version="99")
        def snip_again(passes):  # pragma: no cover - never called
            return 0.0

    assert proxies._REGISTRY == before
    assert proxies.get("snip").version != "99"


def test_register_unknown_need_raises():
    with pytest.raises(ValueError, match="unknown products"):
        proxies.register("_test_bad_needs", version="1", needs={"no_such_product"})
    assert "_test_bad_needs" not in proxies.names()


@pytest.mark.parametrize("name", ALL_PROXIES)
def test_proxy_info_is_complete(name):
    info = proxies.get(name)
    assert info.name == name
    assert isinstance(info.version, str) and info.version
    assert isinstance(info.description, str) and info.description.strip()
    assert info.needs <= proxies.MAIN_PASS_NEEDS
    assert callable(info.compute)


def test_log_scale_and_label_flags():
    assert proxies.get("synflow").log_scale
    assert [n for n in ALL_PROXIES if proxies.get(n).log_scale] == ["synflow"]
    labelled = {n for n in ALL_PROXIES if proxies.get(n).needs_labels}
    assert labelled == {"snip", "grasp", "grad_norm", "fisher", "zico", "plain", "epe_nas"}


# -- every proxy on a small NB201 network -------------------------------------------------------


@pytest.fixture(scope="module")
def nb201_setup():
    space = spaces.get("nb201", channels=4, cells_per_stage=1)
    model = space.build(space.parse(NB201_ARCH), num_classes=10, seed=0)
    batch = synthetic_batch(8, input_shape=(3, 16, 16), num_classes=10, seed=0)
    return model, batch


@pytest.mark.parametrize("name", proxies.names())
def test_each_proxy_on_nb201_is_ok_and_finite(nb201_setup, name):
    model, batch = nb201_setup
    result = score(model, [name], batch.inputs, batch.targets, seed=0)[name]
    assert result.proxy == name
    assert result.status == "ok", result.error
    assert result.error is None
    assert math.isfinite(result.value)
    if proxies.get(name).log_scale:
        assert result.log_value is not None and math.isfinite(result.log_value)
    else:
        assert result.log_value is None
