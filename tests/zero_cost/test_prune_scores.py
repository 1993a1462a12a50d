"""The pruning scores against their definitions, on the hand-set MLP of ``proxy_support``
(Linear 3->4, ReLU, Linear 4->2, no biases), and SynFlow's conservation law.

SNIP and GraSP are recomputed here with plain autograd, SynFlow in closed form with numpy;
the sums of SNIP's and SynFlow's scores are the snip and synflow proxies.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from proxy_support import W1, W2, X4, Y4, as_float32_exact, mlp
from prune_support import batch, small_vgg

from zero_cost import prune, score
from zero_cost.prune.grasp import TEMPERATURE

INPUTS = torch.tensor(X4, dtype=torch.float32)
TARGETS = torch.tensor(Y4, dtype=torch.int64)


def _scores(method: str, model=None) -> list[torch.Tensor]:
    model = mlp() if model is None else model
    values = prune.scores(model, method, inputs=INPUTS, targets=TARGETS)
    assert list(values) == ["0.weight", "2.weight"]
    return list(values.values())


def test_snip_is_the_connection_sensitivity():
    model = mlp()
    loss = F.cross_entropy(model(INPUTS), TARGETS)
    weights = [model[0].weight, model[2].weight]
    grads = torch.autograd.grad(loss, weights)
    expected = [(w * g).abs() for w, g in zip(weights, grads, strict=True)]
    for got, want in zip(_scores("snip"), expected, strict=True):
        torch.testing.assert_close(got, want.detach(), rtol=1e-6, atol=0)
    total = sum(float(s.sum()) for s in _scores("snip"))
    assert total == pytest.approx(score(mlp(), ["snip"], INPUTS, TARGETS)["snip"].value)


def test_grasp_keeps_large_w_times_hessian_gradient_at_temperature_200():
    model = mlp()
    weights = [model[0].weight, model[2].weight]
    loss = F.cross_entropy(model(INPUTS) / TEMPERATURE, TARGETS)
    grads = torch.autograd.grad(loss, weights, create_graph=True)
    z = sum((g.detach() * g).sum() for g in grads)
    hessian_grads = torch.autograd.grad(z, weights)
    got = _scores("grasp")
    for value, w, hg in zip(got, weights, hessian_grads, strict=True):
        torch.testing.assert_close(value, (w * hg).detach(), rtol=1e-5, atol=1e-12)
    # The sign: GraSP removes the largest -w * Hg (the grasp proxy's terms), keeps the largest
    # w * Hg; the kept weight of a one-weight budget has the largest w * Hg.
    masks = prune.masks(mlp(), "grasp", compression=20, inputs=INPUTS, targets=TARGETS)
    flat = torch.cat([v.flatten() for v in got])
    kept = torch.cat([m.flatten() for m in masks.values()])
    assert kept.sum() == 1 and flat[kept].item() == flat.max().item()


def test_synflow_in_closed_form():
    # R = 1^T |W2| h with h = |W1| 1 (a ones input; every h > 0, so the ReLU passes it):
    # dR/d|W2|[i, j] = h[j] and dR/d|W1|[j, k] = sum_i |W2|[i, j].
    a1, a2 = np.abs(as_float32_exact(W1)), np.abs(as_float32_exact(W2))
    hidden = a1.sum(axis=1)
    expected = [a1 * a2.sum(axis=0)[:, None], a2 * hidden[None, :]]
    got = _scores("synflow")
    for value, want in zip(got, expected, strict=True):
        assert value.dtype == torch.float64
        np.testing.assert_allclose(value.numpy(), want, rtol=1e-12)
    total = sum(float(s.sum()) for s in got)
    assert total == score(mlp(), ["synflow"], INPUTS)["synflow"].value


def test_magnitude_and_random_scores():
    model = mlp()
    for value, weight in zip(_scores("magnitude", model), (W1, W2), strict=True):
        np.testing.assert_array_equal(value.numpy(), np.abs(weight.astype(np.float32)))
    generator = torch.Generator().manual_seed(0)
    expected = [torch.randn((4, 3), generator=generator), torch.randn((2, 4), generator=generator)]
    for value, want in zip(_scores("random"), expected, strict=True):
        assert torch.equal(value, want)


def test_pruned_weights_score_zero_in_later_synflow_rounds():
    # Two rounds at compression 4: the second round scores the masked network, so weights
    # pruned in the first cannot come back and the final kept count is exact.
    model = small_vgg()
    data = batch()
    masks = prune.masks(model, "synflow", compression=4, iterations=2, inputs=data.inputs)
    assert prune.summarize(masks).compression == pytest.approx(4, rel=1e-4)


def test_synflow_conserves_flow_through_every_layer():
    # Tanaka et al. (NeurIPS 2020), Theorem 2: in a network without biases or normalisation,
    # with positively homogeneous activations (ReLU, max and average pooling), the synaptic
    # flow |w * dR/dw| summed over any layer equals R, the same for every layer.
    model = small_vgg(norm=False, bias=False)
    data = batch()
    sums = [float(s.sum()) for s in prune.scores(model, "synflow", inputs=data.inputs).values()]
    assert len(sums) == 5
    for value in sums[1:]:
        assert value == pytest.approx(sums[0], rel=1e-12)
    # With biases the law fails (biases carry part of the flow).
    model = small_vgg(norm=False, bias=True)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.fill_(0.5)
    sums = [float(s.sum()) for s in prune.scores(model, "synflow", inputs=data.inputs).values()]
    assert max(sums) > 1.01 * min(sums)
