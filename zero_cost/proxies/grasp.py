"""GraSP: gradient signal preservation (Wang et al., ICLR 2020, "Picking Winning Tickets
Before Training by Preserving Gradient Flow"), as summed by Abdelfattah et al. (ICLR 2021).

    grasp = sum over Conv/Linear weights w of -w * (H g)

with g = dL/dw, H the Hessian of the mean cross-entropy L (temperature T = 1), and H g
obtained as the gradient of g.detach() . g. Higher is better: the reference implementation
reports ``-theta * Hg`` summed, and Abdelfattah et al. rank with it as is.
"""

import torch

from ..passes import Passes
from ._registry import register


def saliency(weight: torch.Tensor, hessian_grad: torch.Tensor) -> torch.Tensor:
    """Per weight -w * (H g), GraSP's score S(-w); GraSP pruning removes the largest."""
    return -(weight * hessian_grad)


@register("grasp", version="1", needs={"hessian_grad"}, needs_labels=True)
def grasp(passes: Passes) -> float:
    """Sum over Conv and Linear weights of -weight * (Hessian-gradient product)."""
    return passes.sum_over_weights(lambda w, hg: saliency(w, hg).sum(), passes.hessian_grad())
