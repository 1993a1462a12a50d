"""Iterative SynFlow pruning (Tanaka et al., NeurIPS 2020, "Pruning neural networks without
any data by iteratively conserving synaptic flow").

With every parameter and floating-point buffer replaced by its absolute value, BatchNorm
bypassed, float64 arithmetic (values overflow float32 on deep networks) and an all-ones
input of the batch's shape (batch size 1), R is the sum of the outputs and the score of a
weight w is its synaptic flow |w * dR/dw|, the per-weight term of the synflow proxy
(``zero_cost.proxies.synflow.SynapticFlow``). No labels and no image content are used.
Keeps the weights with the **largest** scores.

Pruning is iterative, 100 rounds by default, on the exponential schedule: round k of n keeps
``(1 / compression) ** (k / n)`` of the weights, each round re-scoring the network with the
current masks applied (pruned weights score 0), which is what avoids layer collapse. The
absolute float64 copy of the model is made once and only re-masked each round.

The reference code evaluates BatchNorm in eval mode on absolute running statistics; at
initialisation (mean 0, variance 1) that is the identity up to the constant factor
1/sqrt(1 + eps) per layer, which changes no ranking. Bypassing it is the proxy's convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..proxies.synflow import SynapticFlow
from ._network import Network
from ._registry import RoundScorer, register


@register("synflow", iterations=100, needs_inputs=True)
def synflow(network: Network) -> RoundScorer:
    """|w * dR/dw| of the absolute network on a ones input (Tanaka et al., NeurIPS 2020)."""
    assert network.inputs is not None
    flow = SynapticFlow(network.model, network.names, network.inputs.shape[1:], network.device)
    weights = network.weights

    def score_round(masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        return [
            torch.zeros_like(w, dtype=torch.float64) if s is None else s
            for w, s in zip(weights, flow.saliencies(masks), strict=True)
        ]

    return score_round
