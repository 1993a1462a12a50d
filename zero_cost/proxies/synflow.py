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
class's ``forward`` applies again. ``SynapticFlow`` computes the per-weight terms; iterative
SynFlow pruning (``zero_cost.prune``) reuses it round after round on the masked network.
"""

from collections.abc import Iterator, Sequence
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


class SynapticFlow:
    """A model linearised for SynFlow, made once and evaluated as often as needed.

    Holds absolute float64 copies of the model's parameters and floating-point buffers
    (the model itself is never changed) and an all-ones input of batch size 1; ``saliencies``
    evaluates the model functionally on them with BatchNorm bypassed. SynFlow pruning calls
    it once per round with that round's masks, so the copies are made only once.
    """

    def __init__(
        self,
        model: nn.Module,
        weight_names: Sequence[str],
        input_shape: Sequence[int],
        device: torch.device,
    ) -> None:
        self.model = model
        self.weight_names = list(weight_names)
        names = set(self.weight_names)
        self.tensors: dict[str, torch.Tensor] = {}
        for name, param in model.named_parameters():
            self.tensors[name] = param.detach().double().abs().requires_grad_(name in names)
        for name, buffer in model.named_buffers():
            floating = buffer.is_floating_point()
            self.tensors[name] = buffer.detach().double().abs() if floating else buffer
        self.ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)

    def saliencies(self, masks: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor | None]:
        """Per weight (in ``weight_names`` order) |w * dR/dw|, R the sum of the outputs;
        None for a weight R does not depend on. With ``masks`` (one per weight), each weight
        is multiplied by its mask first, so pruned weights score 0."""
        tensors = self.tensors
        if masks is not None:
            tensors = dict(tensors)
            for name, mask in zip(self.weight_names, masks, strict=True):
                tensors[name] = (tensors[name].detach() * mask).requires_grad_(True)
        with _batchnorm_bypassed(self.model):
            output = functional_call(self.model, tensors, (self.ones,))
        weights = [tensors[name] for name in self.weight_names]
        grads = torch.autograd.grad(output.sum(), weights, allow_unused=True)
        return [
            None if grad is None else (weight.detach() * grad).abs()
            for weight, grad in zip(weights, grads, strict=True)
        ]


@register("synflow", version="1", log_scale=True)
def synflow(passes: Passes) -> float:
    """Sum of |w * dR/dw| with absolute float64 weights, BatchNorm bypassed, ones input."""
    flow = SynapticFlow(
        passes.model, passes.weight_names, passes.inputs.shape[1:], passes.inputs.device
    )
    total = torch.zeros((), dtype=torch.float64, device=flow.ones.device)
    for saliency in flow.saliencies():
        if saliency is not None:
            total += saliency.sum()
    return float(total)
