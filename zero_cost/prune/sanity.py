"""Sanity checks for pruning at initialisation (Frankle et al., ICLR 2021, "Pruning Neural
Networks at Initialization: Why Are We Missing the Mark?"; Su et al., NeurIPS 2020,
"Sanity-Checking Pruning Methods: Random Tickets can Win the Jackpot").

Each transform keeps what a method decided per layer, how many weights each layer keeps,
and destroys something else; if the pruned network trains as well after it, the method's
choice of *which* weights (or of their values) carried no information:

* ``shuffle``: the kept positions of every layer, randomly permuted within the layer.
* ``invert``: every layer keeps its lowest-scoring weights instead of its highest.
* ``reinit``: the kept weights get fresh values from their layer's initial distribution.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .select import keep_lowest


def shuffle(masks: Mapping[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Each layer's mask with its entries randomly permuted (same kept count per layer).

    Permutations come from a ``torch.Generator`` seeded with ``seed`` (CPU; layers in the
    masks' order), so equal seeds give equal masks on every device.
    """
    generator = torch.Generator().manual_seed(seed)
    shuffled = {}
    for name, mask in masks.items():
        order = torch.randperm(mask.numel(), generator=generator).to(mask.device)
        shuffled[name] = mask.flatten()[order].view(mask.shape)
    return shuffled


def invert(
    masks: Mapping[str, torch.Tensor], scores: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Masks keeping, in every layer, as many weights as ``masks`` does but those with the
    **lowest** ``scores`` (e.g. from ``zero_cost.prune.scores``); ties keep the earlier.

    Raises:
        ValueError: the scores lack a layer of the masks or differ in shape.
    """
    inverted = {}
    for name, mask in masks.items():
        if name not in scores or scores[name].shape != mask.shape:
            raise ValueError(f"no scores of shape {tuple(mask.shape)} for {name!r}")
        inverted[name] = keep_lowest(scores[name], int(mask.sum()))
    return inverted


def reinit(model: nn.Module, masks: Mapping[str, torch.Tensor], seed: int = 0) -> None:
    """Re-initialise the weights ``masks`` names in ``model``, in place.

    Each weight tensor is replaced by a seeded random permutation of its own values: at
    initialisation, a fresh draw from the layer's initial distribution, whatever scheme made
    it (a kept weight's new value comes from a uniformly random position of its layer). The
    masks are unchanged. On a model already pruned by ``zero_cost.prune.apply`` the
    unmasked ``weight_orig`` is re-initialised.

    Raises:
        ValueError: a mask names no weight of the model.
    """
    generator = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name in masks:
            module_name, _, attribute = name.rpartition(".")
            module = modules.get(module_name)
            if attribute != "weight" or module is None:
                raise ValueError(f"{name!r} is not the weight of a module of the model")
            weight = getattr(module, "weight_orig", module.weight)
            order = torch.randperm(weight.numel(), generator=generator).to(weight.device)
            weight.copy_(weight.flatten()[order].view(weight.shape))
