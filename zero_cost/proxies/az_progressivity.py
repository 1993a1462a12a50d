"""AZ-NAS progressivity (Lee & Ham, CVPR 2024, "AZ-NAS: Assembling Zero-Cost Proxies for
Network Architecture Search"): how steadily expressivity grows with depth.

With E_b the expressivity of block b (the entropy of the normalised eigenvalues of its
feature covariance, see ``az_expressivity``) for the blocks b = 0..B-1 in forward order
(see ``zero_cost.proxies._az_blocks``; on NAS-Bench-201 the stem, the cells and the
reduction blocks):

    az_progressivity = min over b = 1..B-1 of (E_b - E_{b-1})

as in the authors' ``NB201/ZeroShotProxy/compute_az_nas_score.py``
(github.com/cvlab-yonsei/AZ-NAS). Higher is better (every block adds expressivity); NaN is
reported as -inf, as the reference does. Needs at least two blocks (else ``ValueError``).

Cost: the forward shared with az_expressivity and az_trainability (the scoring batch, train
mode) and one C x C eigendecomposition per block. Deviations: those of az_expressivity
(float64, no re-initialisation, the scoring batch, chunks).
"""

import numpy as np

from ..passes import Passes
from ._az_blocks import az_blocks, nan_to_neg_inf
from ._registry import register


@register("az_progressivity", version="1")
def az_progressivity(passes: Passes) -> float:
    """AZ-NAS progressivity: the smallest increase of expressivity from one block to the next."""
    entropies = np.asarray(az_blocks(passes).entropies(), dtype=np.float64)
    if len(entropies) < 2:
        raise ValueError(f"az_progressivity needs at least 2 blocks, found {len(entropies)}")
    return nan_to_neg_inf(float(np.min(entropies[1:] - entropies[:-1])))
