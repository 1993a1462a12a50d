"""Layers the search spaces build with: torch's functions, with cheaper backward passes.

Scoring an untrained network is dominated by backward passes, and GraSP differentiates the
backward pass itself (a Hessian-gradient product). Two of torch's CPU kernels make that
second-order pass needlessly slow, so the builders use these drop-in equivalents:

* ``BatchNorm2d``: an ``nn.BatchNorm2d`` (same parameters, buffers, state dict and eval
  behaviour) whose training-mode backward is differentiated by closed-form formulas, a few
  fused passes over the activations instead of torch's generic double backward. Forward and
  first-order gradients are torch's own kernels, bit for bit.
* ``AvgPool3x3``: ``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`` as a
  separable box sum divided by the neighbour count; the box sum is self-adjoint, so its
  backward (and double backward) is the same cheap box sum.

Both agree with torch's modules to float rounding (tests/zero_cost/test_layers.py checks
values, gradients and second-order gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import FunctionCtx, once_differentiable


def _box_sum_3x3(x: torch.Tensor) -> torch.Tensor:
    """Sum over each position's 3x3 neighbourhood of the last two dims, zeros outside."""
    padded = F.pad(x, (1, 1, 1, 1))
    rows = padded[..., :-2] + padded[..., 1:-1]
    rows += padded[..., 2:]
    sums = rows[..., :-2, :] + rows[..., 1:-1, :]
    sums += rows[..., 2:, :]
    return sums


class _BoxSum3x3(torch.autograd.Function):
    """The 3x3 box sum with zero padding, a symmetric linear map: its adjoint is itself."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        return _box_sum_3x3(x)

    @staticmethod
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return _BoxSum3x3.apply(grad)


class AvgPool3x3(nn.Module):
    """The mean of each position's in-image 3x3 neighbours: the function of
    ``nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = _box_sum_3x3(x.new_ones((1, 1) + tuple(x.shape[-2:])))
        return _BoxSum3x3.apply(x) / counts


def _channel_view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-channel vector shaped to broadcast over ``like`` (channels in dim 1)."""
    return values.view((1, -1) + (1,) * (like.dim() - 2))


class _BatchNormTrain(torch.autograd.Function):
    """Batch normalisation with batch statistics (torch's kernel), updating running stats."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        running_mean: torch.Tensor | None,
        running_var: torch.Tensor | None,
        momentum: float,
        eps: float,
    ) -> torch.Tensor:
        out, mean, invstd = torch.native_batch_norm(
            x, weight, bias, running_mean, running_var, True, momentum, eps
        )
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor) -> tuple:
        x, weight, mean, invstd = ctx.saved_tensors
        grad_x, grad_weight, grad_bias = _BatchNormBackward.apply(
            grad_out, x, weight, mean, invstd, ctx.eps
        )
        return (
            grad_x,
            grad_weight if ctx.needs_input_grad[1] else None,
            grad_bias if ctx.needs_input_grad[2] else None,
            None,
            None,
            None,
            None,
        )


class _BatchNormBackward(torch.autograd.Function):
    """The training-mode backward (torch's kernel) as a function of (grad_out, x, weight),
    with its own derivative in closed form.

    Per channel, with M values, xh = (x - mean) * r, r = 1 / sqrt(var + eps),
    a = mean(dy) and b = mean(dy * xh), the backward is::

        dx = weight * r * (dy - a - xh * b),  dweight = M * b,  dbias = M * a

    Given the gradients v, u, w of dx, dweight, dbias, and c = mean(v), d = mean(v * xh),
    e = mean(v * dy), its derivative is::

        d/d dy     = weight * r * (v - c - xh * d) + u * xh + w
        d/d x      = weight * r^2 * (-xh * (e - c*a - 3*d*b) - b * (v - c) - d * (dy - a))
                     + u * r * (dy - a - xh * b)
        d/d weight = M * r * (e - c*a - d*b)
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        grad_out: torch.Tensor,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        mean: torch.Tensor,
        invstd: torch.Tensor,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scale = weight if weight is not None else torch.ones_like(mean)
        grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
            grad_out, x, scale, None, None, mean, invstd, True, eps, [True, True, True]
        )
        ctx.save_for_backward(grad_out, x, scale, mean, invstd, grad_weight, grad_bias)
        return grad_x, grad_weight, grad_bias

    @staticmethod
    @once_differentiable
    def backward(
        ctx: FunctionCtx,
        v: torch.Tensor | None,
        u: torch.Tensor | None,
        w: torch.Tensor | None,
    ) -> tuple:
        dy, x, scale, mean, invstd, grad_weight, grad_bias = ctx.saved_tensors
        need_dy, need_x, need_weight = ctx.needs_input_grad[:3]
        dims = [0, *range(2, x.dim())]
        count = x.numel() // x.shape[1]
        r = _channel_view(invstd, x)
        a = _channel_view(grad_bias, x) / count
        b = _channel_view(grad_weight, x) / count
        gamma_r = _channel_view(scale, x) * r
        xh = torch.addcmul(_channel_view(-mean * invstd, x), x, r)
        grad_dy = grad_x = grad_w = None
        if v is not None:
            c = v.mean(dims, keepdim=True)
            d = (v * xh).mean(dims, keepdim=True)
            if need_dy:
                grad_dy = torch.addcmul(-gamma_r * c, xh, -gamma_r * d)
                grad_dy.addcmul_(v, gamma_r)
            if need_x or need_weight:
                e = (v * dy).mean(dims, keepdim=True)
            if need_x:
                k = gamma_r * r
                grad_x = torch.addcmul(k * (b * c + d * a), xh, -k * (e - c * a - 3 * d * b))
                grad_x.addcmul_(v, -k * b)
                grad_x.addcmul_(dy, -k * d)
            if need_weight:
                grad_w = (count * r * (e - c * a - d * b)).flatten()
        if u is not None:
            u = _channel_view(u, x)
            if need_dy:
                grad_dy = u * xh if grad_dy is None else grad_dy.addcmul_(u, xh)
            if need_x:
                term = torch.addcmul(dy - a, xh, -b) * (u * r)
                grad_x = term if grad_x is None else grad_x.add_(term)
        if w is not None and need_dy:
            w = _channel_view(w, x)
            grad_dy = w.expand_as(dy).clone() if grad_dy is None else grad_dy.add_(w)
        return grad_dy, grad_x, grad_w, None, None, None


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with a closed-form double backward in training mode (see the
    module docstring); everything else, eval mode included, is torch's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Torch's own path where the fast one does not apply: eval mode, no autograd, and
        # one value per channel (which torch refuses in training mode, with its message).
        if not self.training or not torch.is_grad_enabled() or x.numel() == x.shape[1]:
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        track = self.track_running_stats
        return _BatchNormTrain.apply(
            x,
            self.weight,
            self.bias,
            self.running_mean if track else None,
            self.running_var if track else None,
            factor,
            self.eps,
        )
