"""Fisher (Theis et al., 2018, "Faster gaze prediction with dense networks and Fisher
pruning"; Turner et al., ICLR 2020), as summed by Abdelfattah et al. (ICLR 2021).

For the output activation a of every Conv/Linear layer (per sample n and channel k):

    fisher = sum over layers and channels of 0.5 * mean_n (sum over positions of a * dL/da)^2

with L the mean cross-entropy on the batch. Higher is better.
"""

from ..passes import Passes
from . import register


@register("fisher", version="1", needs={"fisher"}, needs_labels=True)
def fisher(passes: Passes) -> float:
    """Sum over Conv/Linear output channels of 0.5 * mean_n (sum a * dL/da)^2."""
    return sum(float(channel_sums.sum()) for channel_sums in passes.fisher_per_layer())
