"""SynFlow: iterative synaptic flow (Tanaka et al., NeurIPS 2020, "Pruning neural networks
without any data by iteratively conserving synaptic flow"), in the single-shot form of
Abdelfattah et al. (ICLR 2021).

With every parameter replaced by its absolute value, BatchNorm bypassed, float64 arithmetic
and an all-ones input of batch size 1, R is the sum of the network's outputs and

    synflow = sum over Conv/Linear weights w of |w * dR/dw|

Higher is better. Values reach 1e60 and more, so the score is also reported as its natural
log (``log_value``). The network is evaluated functionally (``torch.func.functional_call``)
on absolute float64 copies of its parameters and floating-point buffers, so none of them is
changed. One thing is changed for the duration of the call: every BatchNorm layer gets an
instance attribute ``forward`` that returns its input, deleted afterwards so that the
class's ``forward`` applies again.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call

from ..passes import Passes
from ._registry import register


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@contextmanager
def _batchnorm_bypassed(model: nn.Module) -> Iterator[None]:
    """Make every BatchNorm layer the identity for the duration of the block, by setting an
    instance attribute ``forward`` that is deleted on exit."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.forward = _identity
    try:
        yield
    finally:
        for norm in norms:
            del norm.forward


@register("synflow", version="1", log_scale=True)
def synflow(passes: Passes) -> float:
    """Sum of |w * dR/dw| with absolute float64 weights, BatchNorm bypassed, ones input."""
    model = passes.model
    weight_names = set(passes.weight_names)
    tensors = {}
    for name, param in model.named_parameters():
        tensors[name] = param.detach().double().abs().requires_grad_(name in weight_names)
    for name, buffer in model.named_buffers():
        tensors[name] = buffer.detach().double().abs() if buffer.is_floating_point() else buffer
    shape, device = (1, *passes.inputs.shape[1:]), passes.inputs.device
    ones = torch.ones(shape, dtype=torch.float64, device=device)
    with _batchnorm_bypassed(model):
        output = functional_call(model, tensors, (ones,))
    weights = [tensors[name] for name in passes.weight_names]
    grads = torch.autograd.grad(output.sum(), weights, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=ones.device)
    for weight, grad in zip(weights, grads, strict=True):
        if grad is not None:
            total += (weight.detach() * grad).abs().sum()
    return float(total)
