"""Apply masks to a model with PyTorch's own pruning mechanism, so that it trains as usual.

``apply`` calls ``torch.nn.utils.prune.custom_from_mask`` on every masked weight: the module
gets a parameter ``weight_orig`` and a buffer ``weight_mask``, and ``weight`` becomes
``weight_orig * weight_mask``, recomputed before every forward, so pruned weights stay zero
through training (their gradients are zero). ``torch.nn.utils.prune.remove`` makes it
permanent.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from ..passes import WEIGHT_LAYERS


def apply(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Prune ``model`` in place: each weight named in ``masks`` is zero where its mask is False.

    Raises:
        ValueError: a mask names no Conv2d/Linear weight of the model, is not boolean, or
            differs from the weight in shape; nothing is pruned then.
    """
    modules = dict(model.named_modules())
    targets = []
    for name, mask in masks.items():
        module_name, _, attribute = name.rpartition(".")
        module = modules.get(module_name)
        if attribute != "weight" or not isinstance(module, WEIGHT_LAYERS):
            raise ValueError(f"{name!r} is not the weight of a Conv2d or Linear module")
        if mask.dtype != torch.bool or mask.shape != module.weight.shape:
            raise ValueError(
                f"mask of {name!r} must be bool of shape {tuple(module.weight.shape)}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        targets.append((module, mask))
    for module, mask in targets:
        prune.custom_from_mask(module, "weight", mask.to(module.weight.device))
