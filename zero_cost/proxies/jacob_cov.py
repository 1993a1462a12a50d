"""Jacobian covariance (Mellor et al., 2020, "Neural Architecture Search without Training",
arXiv v1), as used by Abdelfattah et al. (ICLR 2021).

J holds, per sample, the gradient of the sum of the network's outputs with respect to the
input. With C the correlation matrix of the rows of J and v its eigenvalues:

    jacob_cov = -sum(log(v + k) + 1 / (v + k)),  k = 1e-5

computed with a symmetric eigensolver in float64. Higher is better. A network whose
Jacobian has a constant row (e.g. no input-output path) has no correlation matrix: NaN.
"""

import torch

from ..passes import Passes
from ._registry import register

K = 1e-5


@register("jacob_cov", version="1", needs={"input_jacobian"})
def jacob_cov(passes: Passes) -> float:
    """-sum(log(v + k) + 1/(v + k)) over eigenvalues v of the Jacobian correlation matrix."""
    jacobian = passes.input_jacobian().double()
    centred = jacobian - jacobian.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    if not bool((norms > 0).all()):
        return float("nan")
    unit = centred / norms[:, None]
    eigenvalues = torch.linalg.eigvalsh(unit @ unit.T)
    return float(-(torch.log(eigenvalues + K) + 1.0 / (eigenvalues + K)).sum())
