"""AZ-NAS trainability (Lee & Ham, CVPR 2024, "AZ-NAS: Assembling Zero-Cost Proxies for
Network Architecture Search"): how close to 1 the spectral norm of each block's Jacobian is.

For every pair of consecutive blocks (f_in, f_out) (see ``zero_cost.proxies._az_blocks``; on
NAS-Bench-201 the stem, the cells and the reduction blocks), with v a Rademacher vector
shaped like f_out (entries +-1 with probability 1/2, ``torch.bernoulli`` on the global RNG)
and g = v^T (d f_out / d f_in) one vector-Jacobian product:

* if g == v exactly (an identity block), the pair scores -inf;
* else, for a block that downsamples by s, g is pixel-unshuffled by s (to C_in*s^2 channels
  at f_out's size); with g and v read as R = N*H_out*W_out rows of channels,
  M = g^T v / R estimates the block's (transposed, channel-wise) Jacobian, as E[v v^T] = I;
  with sigma its largest singular value the pair scores  -sigma - 1/(sigma + 1e-6) + 2
  (0 at sigma = 1, below it whether gradients grow or vanish);

    az_trainability = mean over pairs of the pair scores

as in the authors' ``NB201/ZeroShotProxy/compute_az_nas_score.py``
(github.com/cvlab-yonsei/AZ-NAS): one draw per pair, last pair first. Higher is better; NaN
is reported as -inf, as the reference does. Needs at least two blocks (else ``ValueError``).

Cost: the forward shared with az_expressivity and az_progressivity (the scoring batch, train
mode), then one backward through each block (together one backward of the trunk) and one
SVD per pair. Randomness: the draws run on torch's global RNG reseeded with the engine's
seed, on a stream of their own, so the value depends neither on the other proxies requested
nor on the chunking (see ``_az_blocks``; the reference draws right after its forward on the
same stream, which gives the same draws when the forward draws nothing). Deviations: the
products accumulate in float64; no re-initialisation; the scoring batch; with several chunks
the Jacobian estimates are summed over chunks (each chunk uses its rows of the whole batch's
draws); a block that changes the spatial size other than by an integer downsampling factor
(a valid convolution, 8x8 -> 6x6) raises ``ValueError`` (the reference fails there too).
"""

from ..passes import Passes
from ._az_blocks import az_blocks, mean, nan_to_neg_inf
from ._registry import register


@register("az_trainability", version="1")
def az_trainability(passes: Passes) -> float:
    """AZ-NAS trainability: mean over block pairs of -sigma - 1/sigma + 2, sigma a Jacobian norm."""
    scores = az_blocks(passes).pair_scores()
    if not scores:
        raise ValueError("az_trainability needs at least 2 blocks, found 1")
    return nan_to_neg_inf(mean(scores))
