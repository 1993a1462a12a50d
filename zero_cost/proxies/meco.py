"""MeCo: minimum eigenvalue of the correlation of feature maps (Jiang, Wang and Bie,
NeurIPS 2023, "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
Eigenvalue of Correlation").

One sample x (the first of the batch) goes forward once, in train mode, with no gradient.
For every module output f (a tensor of shape (1, C, ...)), P(f) is the C x C Pearson
correlation matrix of its channels, each channel's values over the spatial positions being
the observations, with NaN entries (constant channels) set to 0, and

    meco = sum over module outputs f of lambda_min(P(f))

Higher is better. A (1, F) output has one observation per variable, so its matrix is all
NaN, hence 0, and it adds 0, as in the reference. Cost: one forward of one sample and one
symmetric eigenvalue problem of size C per module output.

Following the authors' code (github.com/HamsterMimi/MeCo, ``correlation/NAS_Bench_201.py``
and ``foresight/pruners/measures/meco.py``): a forward hook on every module (containers
included), the first sample of the hooked output, ``torch.corrcoef`` with NaN and inf set
to 0, the smallest real eigenvalue, non-finite per-module values dropped, batch size 1.
Deviations: (1) a tensor returned by several modules (an ``nn.Sequential`` and its last
layer, ``nn.Identity``, the network and its classifier) counts once, not once per module,
so that the score does not depend on how the modules are nested (the reference's count
does, and its NB201 model nests its ops differently from ours); an in-place op that returns
its modified input counts again. (2) Correlations and eigenvalues are computed in float64 with
``eigvalsh`` (the matrix is symmetric) instead of float32 ``eig``. The reference batch is one
CIFAR image; here it is the first sample of the scoring batch. Supports any model; BatchNorm
in train mode needs more than one value per channel in that sample (torch raises otherwise,
e.g. for BatchNorm1d on feature vectors).
"""

import torch
from torch import nn

from ..passes import Passes
from ._registry import register


def _min_correlation_eigenvalue(output: torch.Tensor) -> float:
    """lambda_min of the channel correlation of the first sample of ``output``; 0 when each
    channel has a single value (the reference's all-NaN matrix, zeroed)."""
    features = output[0].detach().reshape(output.shape[1], -1).double()
    channels, positions = features.shape
    if positions < 2:
        return 0.0
    corr = torch.corrcoef(features).reshape(channels, channels)
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr)[0])


@register("meco", version="1")
def meco(passes: Passes) -> float:
    """Sum over module outputs of the minimum eigenvalue of the channel correlation."""
    seen: list[tuple[torch.Tensor, int]] = []
    values: list[float] = []

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        if any(output is tensor and output._version == version for tensor, version in seen):
            return  # the same feature map, returned again by an enclosing module
        seen.append((output, output._version))
        values.append(_min_correlation_eigenvalue(output))

    handles = [m.register_forward_hook(hook) for m in passes.model.modules()]
    try:
        with torch.no_grad():
            passes.model(passes.inputs[:1])
    finally:
        for handle in handles:
            handle.remove()
    per_output = torch.tensor(values, dtype=torch.float64)
    return float(per_output[torch.isfinite(per_output)].sum())
