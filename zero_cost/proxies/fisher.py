"""Fisher (Theis et al., 2018, "Faster gaze prediction with dense networks and Fisher
pruning"; Turner et al., ICLR 2020), as summed by Abdelfattah et al. (ICLR 2021).

For the output activation a of every Conv/Linear layer (per sample n and channel k):

    F_k = 0.5 * mean_n (sum over positions of a * dL/da)^2

with L the mean cross-entropy on the batch. As in the reference implementation, each
channel's value is given to every weight of that channel (its fan-in: input channels x
kernel area) and the per-weight scores are summed:

    fisher = sum over layers and channels k of F_k * fan_in

Higher is better. Version 2: version 1 summed the F_k without the fan-in.
"""

from ..passes import Passes
from ._registry import register


@register("fisher", version="2", needs={"fisher"}, needs_labels=True)
def fisher(passes: Passes) -> float:
    """Sum over Conv/Linear weights of their channel's 0.5 * mean_n (sum a * dL/da)^2."""
    return sum(
        float(channel_sums.sum()) * weight[0].numel()
        for channel_sums, weight in zip(passes.fisher_per_layer(), passes.weights, strict=True)
    )
