"""GraSP pruning (Wang et al., ICLR 2020, "Picking Winning Tickets Before Training by
Preserving Gradient Flow").

With g = dL/dw and H the Hessian of the mean cross-entropy L of the batch, removing a weight
w changes the gradient norm g.g by about -2 w (H g). GraSP's score is S(-w) = -w * (H g),
the per-weight term of the grasp proxy (``zero_cost.proxies.grasp.saliency``, H g from the
engine's main pass), and GraSP removes the weights with the **largest** S(-w), whose removal
least reduces (or most increases) gradient flow. So it keeps the weights with the largest
w * (H g); this module reports that, higher = keep, as the reference code (Tanaka et al.'s
Synaptic-Flow, ``Pruners/pruners.py``) does. The logits are divided by a temperature of 200
before the loss, as in Wang et al.'s and Tanaka et al.'s code (the grasp proxy uses 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..proxies.grasp import saliency
from ._network import Network
from ._registry import RoundScorer, register

TEMPERATURE = 200.0
"""Softmax temperature of the loss, the value of the reference implementations."""


class _Tempered(nn.Module):
    """The wrapped model's logits divided by ``TEMPERATURE``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) / TEMPERATURE


@register("grasp", needs_labels=True)
def grasp(network: Network) -> RoundScorer:
    """w * (H g) at temperature 200 (Wang et al., ICLR 2020); keeps the largest."""

    def score_round(masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        passes = network.passes(_Tempered(network.masked_model(masks)), {"hessian_grad"})
        return [
            torch.zeros_like(w) if hg is None else -saliency(w.detach(), hg)
            for w, hg in zip(passes.weights, passes.hessian_grad(), strict=True)
        ]

    return score_round
