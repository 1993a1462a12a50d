"""GradNorm (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies for Lightweight NAS").

    grad_norm = sum over Conv/Linear layers of ||dL/dW||_2

the per-layer Euclidean norms of the weight gradients of the mean cross-entropy, summed (as
the reference implementation does, not the norm of the whole gradient). Higher is better.
"""

from ..passes import Passes
from ._registry import register


@register("grad_norm", version="1", needs={"weight_grads"}, needs_labels=True)
def grad_norm(passes: Passes) -> float:
    """Sum over Conv and Linear layers of the L2 norm of the weight gradient."""
    return passes.sum_over_weights(lambda w, g: g.norm(), passes.weight_grads())
