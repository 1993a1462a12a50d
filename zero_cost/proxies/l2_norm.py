"""L2 norm of the weights, the data-free baseline of NAS-Bench-Suite-Zero (Krishnakumar, White,
Zela, Tu, Safari, Hutter, NeurIPS 2022 Datasets and Benchmarks, "NAS-Bench-Suite-Zero:
Accelerating Research on Zero Cost Proxies"; NASLib's ``measures/l2_norm.py``).

    l2_norm = sum over Conv2d/Linear layers of ||W||_2

the Frobenius norm of each layer's weight tensor (biases excluded), summed over layers (not
the norm of all weights together), exactly as NASLib. Higher is better, as NASLib uses it
(no sign change): at a given initialisation it grows with the number of weights, like
``params``.

Cost: no forward or backward pass and no batch; one norm per weight tensor.
"""

from ..passes import Passes
from ._registry import register


@register("l2_norm", version="1")
def l2_norm(passes: Passes) -> float:
    """Sum over Conv and Linear layers of the L2 (Frobenius) norm of the weight."""
    return passes.sum_over_weights(lambda w, _: w.norm(), passes.weights)
