"""SNIP pruning (Lee et al., ICLR 2019, "SNIP: Single-shot Network Pruning based on
Connection Sensitivity").

Score of a weight w: its connection sensitivity |w * dL/dw|, L the mean cross-entropy of
the batch, the per-weight term of the snip proxy (``zero_cost.proxies.snip.saliency``,
computed by the engine's main pass). Keeps the weights with the **largest** scores.
Single-shot by default; with more rounds each scores the network with the current masks
applied (pruned weights score 0). The reference code (Tanaka et al.'s Synaptic-Flow) also
divides by the scores' sum, which changes no ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..proxies.snip import saliency
from ._network import Network
from ._registry import RoundScorer, register


@register("snip", needs_labels=True)
def snip(network: Network) -> RoundScorer:
    """|w * dL/dw| on the batch (Lee et al., ICLR 2019); keeps the largest."""

    def score_round(masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        passes = network.passes(network.masked_model(masks), {"weight_grads"})
        return [
            torch.zeros_like(w) if g is None else saliency(w.detach(), g)
            for w, g in zip(passes.weights, passes.weight_grads(), strict=True)
        ]

    return score_round
