"""NASWOT: neural architecture search without training (Mellor et al., ICML 2021).

Every ReLU's input is turned into a binary code per sample (1 where positive). Summed over
all ReLU modules, K[i, j] counts the units on which samples i and j agree (both active or
both inactive), and

    nwot = log |det K|

computed in train mode (BatchNorm uses batch statistics) as in the reference code. Higher is
better. Only ReLU modules count (``nn.ReLU``); a network whose codes cannot tell samples
apart has a singular K: -inf.
"""

import torch

from ..passes import Passes
from ._registry import register


@register("nwot", version="1", needs={"relu_codes"})
def nwot(passes: Passes) -> float:
    """log-determinant of the kernel of binary ReLU codes."""
    return float(torch.linalg.slogdet(passes.relu_kernel()).logabsdet)
