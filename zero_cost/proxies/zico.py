"""ZiCo: zero-shot proxy from the inverse coefficient of variation of gradients (Li et al.,
ICLR 2023, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients").

The batch is split into two halves (the original scores two minibatches). For every
Conv/Linear layer, with g_b the weight gradient of the mean cross-entropy of half b:

    zico = sum over layers of log( sum over weights with std_b(g_b) > 0 of
                                   mean_b |g_b| / std_b(g_b) )

(std over the two halves, population form; a layer whose sum is 0 is skipped), as in the
authors' code. Higher is better. Each half is chunked like the main pass.
"""

import torch
import torch.nn.functional as F

from ..passes import Passes
from ._registry import register


@register("zico", version="1", needs_labels=True)
def zico(passes: Passes) -> float:
    """Sum over layers of log(sum of mean|g| / std(g)) across two half batches."""
    size = passes.inputs.shape[0]
    if size < 2:
        raise ValueError("zico needs a batch of at least 2 samples")
    halves = torch.tensor_split(torch.arange(size, device=passes.inputs.device), 2)
    per_half: list[list[torch.Tensor | None]] = []
    for half in halves:
        grads: list[torch.Tensor | None] = [None] * len(passes.weights)
        for index in passes.chunk_indices(len(half)):
            rows = half[index]
            loss = F.cross_entropy(
                passes.model(passes.inputs[rows]), passes.targets[rows], reduction="sum"
            )
            parts = torch.autograd.grad(loss / len(half), passes.weights, allow_unused=True)
            for position, part in enumerate(parts):
                if part is not None:
                    current = grads[position]
                    grads[position] = part if current is None else current + part
        per_half.append(grads)
    total = 0.0
    for first, second in zip(*per_half, strict=True):
        if first is None or second is None:
            continue
        stacked = torch.stack([first, second]).double()
        std = stacked.std(dim=0, correction=0)
        nonzero = std > 0
        ratio_sum = float((stacked.abs().mean(dim=0)[nonzero] / std[nonzero]).sum())
        if ratio_sum != 0:
            total += torch.log(torch.tensor(ratio_sum, dtype=torch.float64)).item()
    return total
