"""Number of linear regions (Chen, Gong and Wang, ICLR 2021, "Neural Architecture Search on
ImageNet in Four GPU Hours: A Theoretically Inspired Perspective", TE-NAS).

A ReLU network is linear on each region of input space where its activation pattern (which
ReLU units are active) is constant, so the number of distinct patterns among N inputs counts
the linear regions those inputs fall in. With c(x) the binary code of sample x over all
units of all ReLU inputs (1 where the input is > 0),

    linear_regions = |{ c(x_n) : n = 1..N }|

an integer between 1 and N. Higher is better (more regions: a more expressive network).
Cost: shares the main pass's forward and its ReLU codes with nwot and swap (need
``relu_codes``), plus one sort of the N codes.

Following the authors' ``LinearRegionCount`` (github.com/VITA-Group/TENAS,
``lib/procedures/linear_region_counter.py``): ReLU outputs are hooked, ``sign`` gives the
code, codes are concatenated over layers and the count is sum_n 1 / #{m : c(x_m) = c(x_n)},
which is the number of distinct codes; the network is in train mode. Deviations: (1) TE-NAS
counts the regions of a thin proxy network (1 channel, one cell, no stem) on 3000 random
1x3x3 crops of training images, so that patterns collide often enough to count; a scoring
service must score the model it is given at its input shape, so here the scoring batch goes
through the model itself (as ZenNAS's port of the TE-NAS score does with random inputs).
With many units the N codes are then almost always all distinct and the score saturates at
N: it mostly singles out degenerate networks (dead or constant ReLUs, no input-output path)
rather than ranking healthy ones. (2) Every ``nn.ReLU`` counts, not only those on 4-D
tensors (the same on NAS-Bench-201/101, whose ReLUs all act on feature maps). A model
without ``nn.ReLU`` modules raises ValueError.
"""

import torch

from ..passes import Passes
from ._registry import register


@register("linear_regions", version="1", needs={"relu_codes"})
def linear_regions(passes: Passes) -> float:
    """Number of distinct ReLU activation patterns among the batch's samples."""
    codes = [c for c in passes.relu_codes() if c.shape[1] > 0]
    if not codes:
        raise ValueError(
            "linear_regions counts nn.ReLU activation patterns; the model has no nn.ReLU"
        )
    return float(torch.unique(torch.cat(codes, dim=1), dim=0).shape[0])
