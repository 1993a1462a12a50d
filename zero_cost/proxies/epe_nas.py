"""EPE-NAS (Lopes, Alirezazadeh, Alexandre, ICANN 2021, "EPE-NAS: Efficient Performance
Estimation Without Training for Neural Architecture Search"), as NASLib's
``measures/epe_nas.py`` (taken from the authors' ``VascoLopes/EPE-NAS`` ``search.py``).

J_n = d(sum of all outputs)/d(x_n) is the input Jacobian of sample n (one backward of the
summed outputs of the whole batch, in train mode), flattened. The samples are grouped by
label c (in order of first appearance); C_c is the Pearson correlation matrix of the rows
J_n of class c (``np.corrcoef``, float64), and with k = 1e-5 and K the number of outputs:

    s_c = sum over i, j of log(|C_c[i, j]| + k)
    K <= 100:  epe_nas = sum over c of |s_c|
    K > 100:   s_c is divided by n_c (the class's sample count), and
               epe_nas = sum over c, c' of |s_c - s_c'| / (number of classes present)

A class with a single sample has C_c = 1 (NaN if its Jacobian is constant), so for K <= 100
it adds log(1 + k); for K > 100 it is skipped (NASLib's ``len()`` of the 0-d matrix raises
and its ``except`` skips the class). A class whose Jacobians include a constant row has NaN
correlations, and the score is NaN as in NASLib (whose predictor turns NaN into -1e8; here
the engine reports it as non-finite). Higher is better, as NASLib uses it (no sign change):
Jacobians of one class that are less correlated give larger |s_c|.

Cost: shares the main pass's ``input_jacobian`` (one forward and one backward of the batch
with respect to the input; with several chunks BatchNorm uses each chunk's statistics), plus
a no-grad forward of one sample in eval mode to read K, and the per-class correlations.
"""

import numpy as np
import torch

from ..passes import Passes
from ._registry import register

K = 1e-5
MANY_CLASSES = 100  # above this, NASLib scores the spread of the class scores


def _num_outputs(passes: Passes) -> int:
    """The model's output width (NASLib's ``y.shape[-1]``), from one sample in eval mode."""
    with torch.no_grad(), passes.eval_mode():
        return int(passes.model(passes.inputs[:1]).shape[-1])


def _epe_score(jacobian: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """EPE-NAS's per-class correlation score of ``jacobian`` (one row per sample)."""
    per_class: dict[int, list[int]] = {}
    for row, label in enumerate(labels.tolist()):
        per_class.setdefault(label, []).append(row)
    many = n_classes > MANY_CLASSES
    scores = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for rows in per_class.values():
            if len(rows) == 1:
                if many:
                    continue
                corr = np.corrcoef(jacobian[rows[0]])  # 1.0, NaN for a constant row
            else:
                corr = np.corrcoef(jacobian[rows])
            s = np.sum(np.log(np.abs(corr) + K))
            if many:
                s /= len(rows)
            scores.append(s)
    total = 0.0
    if not many:
        for s in scores:
            total += np.absolute(s)
        return float(total)
    for s in scores:
        for other in scores:
            total += np.absolute(s - other)
    if scores:
        total /= len(scores)
    return float(total)


@register("epe_nas", version="1", needs={"input_jacobian"}, needs_labels=True)
def epe_nas(passes: Passes) -> float:
    """Per-class sum of log |correlation| of input Jacobians (EPE-NAS)."""
    labels = passes.targets.detach().cpu()
    if labels.dim() != 1 or labels.is_floating_point():
        raise ValueError("epe_nas needs one integer class label per sample")
    jacobian = passes.input_jacobian().detach().double().cpu().numpy()
    return _epe_score(jacobian, labels.numpy(), _num_outputs(passes))
