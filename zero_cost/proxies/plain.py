"""Plain: the first-order saliency without absolute value, a baseline of Abdelfattah, Mehrotra,
Dudziak, Lane, "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), as defined in
NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks; NASLib's
``measures/plain.py``).

With L the mean cross-entropy of the batch (``F.cross_entropy``'s default reduction, as
NASLib's ``loss_fn``) computed in train mode with BatchNorm kept:

    plain = sum over Conv2d/Linear weights w of (dL/dw * w)

signed, not absolute (unlike snip's |dL/dw * w|); layers the loss does not depend on add 0.
It is the derivative of the loss when every Conv/Linear weight is scaled by a, d/da L(a w)
at a = 1. Higher is better, as NASLib uses it (no sign change).

Cost: shares the main pass (one forward and one backward of the batch, ``weight_grads``).
"""

from ..passes import Passes
from ._registry import register


@register("plain", version="1", needs={"weight_grads"}, needs_labels=True)
def plain(passes: Passes) -> float:
    """Sum over Conv and Linear weights of gradient times weight (signed)."""
    return passes.sum_over_weights(lambda w, g: (g * w).sum(), passes.weight_grads())
