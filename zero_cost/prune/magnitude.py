"""Magnitude pruning at initialisation: the score of a weight is |w|, and the weights with
the **largest** magnitudes are kept. The baseline of Tanaka et al. (NeurIPS 2020) and Frankle
et al. (ICLR 2021); data-free. Several rounds give the same masks as one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._network import Network
from ._registry import RoundScorer, register


@register("magnitude")
def magnitude(network: Network) -> RoundScorer:
    """|w|; keeps the largest magnitudes."""
    weights = network.weights

    def score_round(masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        return [w.detach().abs() for w in weights]

    return score_round
