"""What a pruning method scores: a model's prunable weights, the batch and the seed.

Prunable weights are the ``weight`` of every Conv2d and Linear module (the layers the
engine's passes differentiate, ``zero_cost.passes.WEIGHT_LAYERS``), named by their qualified
parameter name, e.g. ``"features.0.weight"``; biases and normalisation layers are never
pruned, as in the papers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..passes import WEIGHT_LAYERS, Passes

if TYPE_CHECKING:
    from ._registry import PruneMethod

CHUNK_SIZE = 256
"""Samples per forward/backward when scoring on a batch: the reference code's prune batch
size. Scoring runs in eval mode, where samples are independent, so the gradients summed over
chunks are the whole batch's (to float rounding)."""


def prunable_weights(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified weight name, module) of every Conv2d and Linear module, in module order."""
    return [
        (f"{name}.weight" if name else "weight", module)
        for name, module in model.named_modules()
        if isinstance(module, WEIGHT_LAYERS)
    ]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put the model in eval mode for the block, then restore every module's flag."""
    flags = [m.training for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in zip(model.modules(), flags, strict=True):
            module.training = flag


@dataclass(frozen=True)
class Network:
    """A model to prune, with the batch on its device.

    Attributes:
        model: the network; never changed by scoring.
        names: qualified names of its prunable weights, in module order.
        inputs, targets: the batch (None when the method needs none).
        seed: seeds the method's own randomness (random scores).
    """

    model: nn.Module
    names: tuple[str, ...]
    inputs: torch.Tensor | None
    targets: torch.Tensor | None
    seed: int

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def weights(self) -> list[torch.Tensor]:
        """The prunable weights, in ``names`` order."""
        return [self.model.get_parameter(name) for name in self.names]

    def masked_model(self, masks: Sequence[torch.Tensor] | None) -> nn.Module:
        """The model itself without masks; with them, a copy whose prunable weights are the
        model's multiplied by the masks."""
        if masks is None:
            return self.model
        masked = copy.deepcopy(self.model)
        with torch.no_grad():
            for name, mask in zip(self.names, masks, strict=True):
                masked.get_parameter(name).mul_(mask)
        return masked

    def passes(self, model: nn.Module, needs: set[str]) -> Passes:
        """The engine's passes over the batch on ``model`` (the model or a masked copy),
        ``CHUNK_SIZE`` samples at a time."""
        assert self.inputs is not None
        chunks = math.ceil(self.inputs.shape[0] / CHUNK_SIZE)
        return Passes(model, self.inputs, self.targets, frozenset(needs), chunks)


def network(
    model: nn.Module,
    method: PruneMethod,
    inputs: torch.Tensor | None,
    targets: torch.Tensor | None,
    seed: int,
) -> Network:
    """The ``Network`` ``method`` scores: ``model`` with the batch on the model's device.

    Raises:
        ValueError: the model has no Conv2d/Linear weight, is already pruned by
            ``torch.nn.utils.prune``, or the method needs inputs or targets it was not given.
    """
    named = prunable_weights(model)
    if not named:
        raise ValueError("the model has no Conv2d or Linear weight to prune")
    if any(hasattr(module, "weight_orig") for _, module in named):
        raise ValueError("the model is already pruned (torch.nn.utils.prune); score it before")
    if method.needs_inputs and inputs is None:
        raise ValueError(f"pruning method {method.name!r} needs inputs")
    if method.needs_labels and targets is None:
        raise ValueError(f"pruning method {method.name!r} needs targets (labels)")
    device = named[0][1].weight.device
    return Network(
        model=model,
        names=tuple(name for name, _ in named),
        inputs=None if inputs is None else inputs.to(device),
        targets=None if targets is None else targets.to(device),
        seed=seed,
    )
