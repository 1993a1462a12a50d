"""zero_cost.layers: the builders' layers compute torch's functions, to every order GraSP uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zero_cost.layers import AvgPool3x3, BatchNorm2d


def _pair(**options: object) -> tuple[nn.BatchNorm2d, BatchNorm2d]:
    torch.manual_seed(0)
    reference = nn.BatchNorm2d(3, **options).double()
    if reference.affine:
        with torch.no_grad():
            reference.weight.uniform_(0.5, 1.5)
            reference.bias.normal_()
    ours = BatchNorm2d(3, **options).double()
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _second_order(module: nn.Module, x: torch.Tensor, seed: int = 1) -> list[torch.Tensor]:
    """Gradients of a GraSP-like product z = g . stop_grad(g) with g = d loss / d params,x."""
    torch.manual_seed(seed)
    weights = torch.randn_like(x)
    leaves = [x, *(p for p in module.parameters())]
    loss = (module(x).tanh() * weights).sum()
    grads = torch.autograd.grad(loss, leaves, create_graph=True)
    z = sum((g.detach() * g).sum() for g in grads)
    return list(torch.autograd.grad(z, leaves))


@pytest.mark.parametrize(
    "options",
    [{}, {"affine": False}, {"momentum": None}, {"track_running_stats": False}],
    ids=["default", "no-affine", "cumulative-average", "untracked"],
)
def test_batch_norm_matches_torch_to_second_order(options: dict) -> None:
    reference, ours = _pair(**options)
    x = torch.randn(4, 3, 5, 6, dtype=torch.float64) * 2 + 1
    for _ in range(2):  # running statistics evolve alike over several batches
        xr, xo = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        yr, yo = reference(xr), ours(xo)
        assert torch.equal(yr, yo)
        (gr,) = torch.autograd.grad(yr.square().sum(), xr)
        (go,) = torch.autograd.grad(yo.square().sum(), xo)
        assert torch.equal(gr, go)
        for expected, actual in zip(
            _second_order(reference, xr), _second_order(ours, xo), strict=True
        ):
            torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)
        x = x * 0.5 - 0.3
    for name, buffer in reference.state_dict().items():
        assert torch.equal(buffer, ours.state_dict()[name]), name
    reference.eval(), ours.eval()
    assert torch.equal(reference(x), ours(x))


def test_batch_norm_gradgradcheck() -> None:
    _, ours = _pair()
    x = torch.randn(3, 3, 2, 2, dtype=torch.float64, requires_grad=True)

    def function(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(ours, {"weight": weight, "bias": bias}, (x,))

    inputs = (x, ours.weight.detach().clone().requires_grad_(True), ours.bias.detach().clone())
    inputs[2].requires_grad_(True)
    assert torch.autograd.gradcheck(function, inputs)
    assert torch.autograd.gradgradcheck(function, inputs)


def test_batch_norm_refuses_one_value_per_channel_like_torch() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3)(torch.randn(1, 3, 1, 1))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 2, 1, 1), (2, 1, 1, 4)])
def test_avg_pool_matches_torch_to_second_order(shape: tuple[int, ...]) -> None:
    reference = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(AvgPool3x3()(x), reference(x), rtol=1e-12, atol=1e-12)
    conv = nn.Conv2d(shape[1], shape[1], 1).double()
    for expected, actual in zip(
        _second_order(nn.Sequential(conv, reference), x),
        _second_order(nn.Sequential(conv, AvgPool3x3()), x),
        strict=True,
    ):
        torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)
    assert torch.autograd.gradgradcheck(AvgPool3x3(), (x,))
