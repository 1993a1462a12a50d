"""SWAP: sample-wise activation patterns (Peng, Song, Fayek, Ciesielski and Chang, ICLR
2024, "SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS").

The batch of N samples goes forward once, in train mode. Every unit of every ReLU's input
(each channel at each position) has a sample-wise activation pattern: the N-bit vector
a_u = (1[z_u(x_1) > 0], ..., 1[z_u(x_N) > 0]). The SWAP score is the number of distinct
patterns over all units of all ReLU modules:

    swap = |{ a_u : u a unit of an nn.ReLU input }|

(at most min(units, 2^N)). Higher is better (more distinct patterns: a more expressive
network). Cost: shares the main pass's forward and its ReLU codes with nwot and
linear_regions (need ``relu_codes``); counting sorts one integer key per unit per 32
samples.

Following the authors' code (github.com/pym1024/SWAP, ``src/metrics/swap.py``): ReLU
outputs are hooked, ``sign`` gives the binary code, codes are concatenated over layers and
``torch.unique`` counts the distinct rows of the (units x samples) matrix; the network is in
train mode. This is the plain SWAP score, without the paper's regularisation (the score
times exp(-(params - mu)^2 / sigma)), which is what its headline NAS-Bench-201 correlation
(0.90 on CIFAR-100) uses: mu and sigma are tuned per search space to steer model size and
the reference code leaves them off by default, so they do not carry over to arbitrary
graphs; combine with ``params`` instead. Deviations: (1) the reference counts only ReLUs
applied to 4-D (image) tensors; here every ``nn.ReLU`` counts, which is the same on
NAS-Bench-201 and NAS-Bench-101 (all their ReLUs act on feature maps) and also defines the
score for MLPs. (2) The reference averages 32 re-initialisations of the weights on a batch
of 16 CIFAR images; here the model's own weights and the scoring batch are used once. A
model without ``nn.ReLU`` modules raises ValueError.
"""

import torch

from ..passes import Passes
from ._registry import register

_BITS = 32  # samples packed per key word (exact in float64 sums and in int64 shifts)


def _pattern_ids(codes: list[torch.Tensor]) -> torch.Tensor:
    """One integer per unit, equal for two units exactly when their patterns are equal.

    ``codes`` are (N, units) boolean matrices; the units' N-bit patterns are refined 32
    samples at a time: the current id (below 2^31) and the next 32 bits form one int64
    key, and the ids become the ranks of the distinct keys."""
    size = codes[0].shape[0]
    ids = None
    for start in range(0, size, _BITS):
        powers = 2.0 ** torch.arange(min(_BITS, size - start), dtype=torch.float64)
        powers = powers.to(codes[0].device)
        # bits (samples start..start+31) of every unit, as an exact integer below 2^32
        word = torch.cat([(c[start : start + _BITS].T.double() @ powers).long() for c in codes])
        key = word if ids is None else (ids << _BITS) | word
        ids = torch.unique(key, return_inverse=True)[1]
    assert ids is not None
    return ids


@register("swap", version="1", needs={"relu_codes"})
def swap(passes: Passes) -> float:
    """Number of distinct sample-wise ReLU activation patterns over all units."""
    codes = [c for c in passes.relu_codes() if c.shape[1] > 0]
    if not codes:
        raise ValueError("swap counts nn.ReLU activation patterns; the model has no nn.ReLU")
    return float(torch.unique(_pattern_ids(codes)).numel())
