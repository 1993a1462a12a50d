"""Condition number of the neural tangent kernel (Chen, Gong and Wang, ICLR 2021, "Neural
Architecture Search on ImageNet in Four GPU Hours: A Theoretically Inspired Perspective",
TE-NAS).

With f(x_n) the sum of the network's outputs (logits) for sample n, g_n = d f(x_n) / d W the
gradient with respect to every parameter named ``weight`` (Conv, Linear and BatchNorm
scales), and the empirical NTK Theta[n, m] = <g_n, g_m> over the batch,

    ntk_cond = -log(lambda_max(Theta) / lambda_min(Theta))

TE-NAS finds that a lower condition number means better trainability, so the score is the
negated condition number; its natural log is taken because the number spans many decades
(the ranking is the same). Higher is better. A numerically rank-deficient NTK (lambda_min <=
N * eps * lambda_max, eps of float64, numpy's ``matrix_rank`` tolerance; e.g. two identical
samples) scores -inf; an all-zero NTK, NaN. Cost: one forward of the
batch (chunked like the main pass) and one backward per sample through it, since in train
mode BatchNorm couples the samples; about N times a plain gradient.

Following the authors' ``get_ntk_n`` (github.com/VITA-Group/TENAS,
``lib/procedures/ntk.py``), called with ``train_mode=True``: one forward of the batch in
train mode, then per sample ``logit[n].backward(ones_like)``, the gradients of parameters
whose name contains "weight" concatenated, Theta = G G^T and eigenvalues[-1] /
eigenvalues[0]. Deviations: gradients come from ``torch.autograd.grad`` (no ``.grad`` is
touched), a parameter counts when the last part of its name is ``weight``, Theta and its
eigenvalues are computed in float64, and the scoring batch is used (TE-NAS: 72 CIFAR images
on NAS-Bench-201). Raises ValueError for a batch of fewer than 2 samples.
"""

import math

import torch

from ..passes import Passes
from ._registry import register


@register("ntk_cond", version="1")
def ntk_cond(passes: Passes) -> float:
    """Negated log condition number of the empirical NTK of the summed logits."""
    size = passes.inputs.shape[0]
    if size < 2:
        raise ValueError("ntk_cond needs a batch of at least 2 samples")
    weights = [
        p
        for name, p in passes.model.named_parameters()
        if name.rsplit(".", 1)[-1] == "weight" and p.requires_grad
    ]
    if not weights:
        raise ValueError("ntk_cond needs parameters named 'weight'; the model has none")
    rows: list[list[torch.Tensor]] = [[] for _ in weights]  # per weight, g_n flattened
    for index in passes.chunk_indices():
        outputs = passes.model(passes.inputs[index])
        sums = outputs.flatten(1).sum(1)
        if not sums.requires_grad:
            raise ValueError("ntk_cond: the model's output does not depend on its weights")
        for n in range(len(index)):
            grads = torch.autograd.grad(
                sums[n], weights, retain_graph=n < len(index) - 1, allow_unused=True
            )
            for position, (weight, grad) in enumerate(zip(weights, grads, strict=True)):
                grad = torch.zeros_like(weight) if grad is None else grad.detach()
                rows[position].append(grad.flatten())
    kernel = torch.zeros((size, size), dtype=torch.float64, device=passes.inputs.device)
    for per_sample in rows:
        block = torch.stack(per_sample).double()
        kernel += block @ block.T
        per_sample.clear()
    eigenvalues = torch.linalg.eigvalsh(kernel)  # ascending
    smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
    if not largest > 0:
        return math.nan
    # numerically rank-deficient: numpy's matrix_rank tolerance, N * eps * lambda_max
    if not smallest > size * torch.finfo(torch.float64).eps * largest:
        return -math.inf
    return math.log(smallest) - math.log(largest)
