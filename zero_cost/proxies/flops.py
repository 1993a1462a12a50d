"""FLOPs of one forward pass of a single sample (a baseline proxy; Abdelfattah et al., 2021).

Counted with ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs; conv,
linear and matrix products are counted, elementwise ops are not), in eval mode so that
BatchNorm does not need a batch. Higher is better.
"""

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..passes import Passes
from ._registry import register


@register("flops", version="1")
def flops(passes: Passes) -> float:
    """FLOPs of a forward pass of one sample, as torch.utils.flop_counter counts them."""
    model, sample = passes.model, passes.inputs[:1]
    counter = FlopCounterMode(display=False)
    with passes.eval_mode(), counter, torch.no_grad():
        model(sample)
    return float(counter.get_total_flops())
