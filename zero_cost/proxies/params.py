"""Number of trainable parameters (a baseline proxy; Abdelfattah et al., ICLR 2021).

Higher is better. Counts every trainable parameter of the network as built, which for the
benchmark spaces equals the benchmark's official figure.
"""

from ..passes import Passes
from ._registry import register


@register("params", version="1")
def params(passes: Passes) -> float:
    """Number of trainable parameters."""
    return float(sum(p.numel() for p in passes.model.parameters() if p.requires_grad))
