"""SNIP: connection sensitivity (Lee et al., ICLR 2019, "SNIP: Single-shot Network Pruning
based on Connection Sensitivity"), as summed by Abdelfattah et al. (ICLR 2021).

    snip = sum over Conv/Linear weights w of |w * dL/dw|

with L the mean cross-entropy on the batch (BatchNorm in train mode). This equals the
gradient of the loss with respect to a multiplicative mask of ones. Higher is better.
"""

import torch

from ..passes import Passes
from ._registry import register


def saliency(weight: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per weight |w * dL/dw|, the connection sensitivity (also SNIP pruning's score)."""
    return (weight * grad).abs()


@register("snip", version="1", needs={"weight_grads"}, needs_labels=True)
def snip(passes: Passes) -> float:
    """Sum of |weight * gradient| over Conv and Linear weights (higher is better)."""
    return passes.sum_over_weights(lambda w, g: saliency(w, g).sum(), passes.weight_grads())
