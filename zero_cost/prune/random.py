"""Random pruning: every weight scores an independent standard normal draw, so the weights
kept are a uniformly random subset (globally: the same expected fraction of every layer).
The baseline of Tanaka et al. (NeurIPS 2020), whose reference code draws normal scores.

Draws come from a ``torch.Generator`` seeded with the call's ``seed``, on the CPU (so masks
do not depend on the device), layer after layer and round after round; the global RNG is
neither read nor changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._network import Network
from ._registry import RoundScorer, register


@register("random")
def random(network: Network) -> RoundScorer:
    """Standard normal draws, seeded; keeps a uniformly random subset."""
    generator = torch.Generator().manual_seed(network.seed)
    weights = network.weights

    def score_round(masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        return [torch.randn(w.shape, generator=generator).to(w.device) for w in weights]

    return score_round
