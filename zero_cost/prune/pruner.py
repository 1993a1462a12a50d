"""Pruning at initialisation: scores and masks of a model's Conv2d/Linear weights.

``masks`` prunes to a target sparsity (or compression) in one or more rounds: each round
scores the network with the current masks applied and keeps the highest-scoring weights
among those still kept, following the exponential schedule of Tanaka et al. (NeurIPS 2020)
(``zero_cost.prune.schedule``). ``scores`` is one round's scores on the unpruned network,
for ``masks_from_scores`` and the sanity checks.

Scoring runs in eval mode (as the reference code, Synaptic-Flow's ``prune_loop``, does):
BatchNorm uses its running statistics (SynFlow bypasses it) and dropout is off. The model is
left as it was: mode flags restored, no parameter, buffer or ``.grad`` changed; multi-round
data-dependent methods score a masked copy of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..engine import _deterministic
from ._network import eval_mode, network
from ._registry import get
from .schedule import density, keep_fractions
from .select import Scope, check_scope, select


def scores(
    model: nn.Module,
    method: str,
    *,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """One round of ``method``'s scores for every prunable weight of the unpruned model.

    Returns:
        One tensor per Conv2d/Linear weight, keyed by qualified parameter name (e.g.
        ``"features.0.weight"``), on the model's device; higher = keep.

    Raises:
        KeyError: unknown method.
        ValueError: see ``masks``.
    """
    info = get(method)
    net = network(model, info, inputs, targets, seed)
    with eval_mode(model), _deterministic(net.device):
        values = info.prepare(net)(None)
    return dict(zip(net.names, values, strict=True))


def masks(
    model: nn.Module,
    method: str,
    *,
    sparsity: float | None = None,
    compression: float | None = None,
    scope: Scope = "global",
    iterations: int | None = None,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Boolean masks of the weights ``method`` keeps at the target sparsity.

    Args:
        model: the network; unchanged by the call.
        method: a registered method (``zero_cost.prune.names()``): snip, grasp, synflow,
            magnitude, random.
        sparsity, compression: the target, exactly one: the fraction of prunable weights
            removed, or weights before over after (``sparsity = 1 - 1 / compression``).
        scope: "global" ranks all weights together; "layerwise" keeps the same fraction of
            every layer.
        iterations: prune rounds on the exponential schedule; default the method's own
            (synflow 100, the others 1).
        inputs, targets: the batch; snip and grasp need both, synflow the inputs' shape.
        seed: seeds the random method; equal arguments give equal masks.

    Returns:
        One bool tensor per Conv2d/Linear weight, keyed by qualified parameter name (e.g.
        ``"features.0.weight"``), True where the weight is kept, on the model's device.
        Biases and normalisation layers are never pruned.

    Raises:
        KeyError: unknown method.
        ValueError: invalid target, scope or iterations, inputs or targets missing for the
            method, a model without Conv2d/Linear weights or one already pruned.
    """
    info = get(method)
    check_scope(scope)
    schedule = keep_fractions(
        density(sparsity, compression), info.iterations if iterations is None else iterations
    )
    net = network(model, info, inputs, targets, seed)
    kept: Sequence[torch.Tensor] | None = None
    with eval_mode(model), _deterministic(net.device):
        score_round = info.prepare(net)
        for fraction in schedule:
            kept = select(score_round(kept), fraction, scope, within=kept)
    assert kept is not None
    return dict(zip(net.names, kept, strict=True))
