"""AZ-NAS expressivity (Lee & Ham, CVPR 2024, "AZ-NAS: Assembling Zero-Cost Proxies for
Network Architecture Search"), the isotropy of the blocks' feature maps.

For every block b (see ``zero_cost.proxies._az_blocks`` for which outputs are blocks: on
NAS-Bench-201 the stem, the cells and the reduction blocks), its output (N, C, H, W) is read
as N*H*W rows of C features (a 2-D output (N, F): N rows), Sigma_b is their covariance
(rows centred on their mean, divided by the row count) and s its eigenvalues:

    p = s / sum(s),    E_b = -sum_i p_i log(p_i + 1e-8)
    az_expressivity = sum over blocks b of E_b

as in the authors' ``NB201/ZeroShotProxy/compute_az_nas_score.py``
(github.com/cvlab-yonsei/AZ-NAS). Higher is better (more isotropic features); a NaN (a block
whose features are all constant, such as a cell without an input-output path) is reported as
-inf, as the reference does.

Cost: one forward of the scoring batch in train mode (BatchNorm on batch statistics), shared
with az_progressivity and az_trainability, and one C x C eigendecomposition per block.

Deviations from the reference: covariances and eigenvalues in float64 rather than float32
(the reference's float32 eigenvalues of a rank-deficient covariance can fall below -1e-8 and
turn the log into NaN); the network is scored as built (the reference first re-initialises
it with Kaiming-normal fan-in weights) on the scoring batch (its NB201 notebook draws a
Gaussian batch of the same shape); the batch may be split into chunks (the covariance is
then merged over chunks exactly, but BatchNorm normalises each chunk on its own).
"""

from ..passes import Passes
from ._az_blocks import az_blocks, nan_to_neg_inf
from ._registry import register


@register("az_expressivity", version="1")
def az_expressivity(passes: Passes) -> float:
    """AZ-NAS expressivity: sum over blocks of the entropy of their feature covariance spectra."""
    return nan_to_neg_inf(sum(az_blocks(passes).entropies()))
