"""From scores to masks: keep the highest-scoring weights, globally or layer by layer.

``global`` ranks all prunable weights together and keeps ``round(density * total)``;
``layerwise`` keeps ``round(density * size)`` of every layer. Higher scores are kept; NaN
scores rank lowest. Ties are broken by position, the earlier weight kept (layers in module
order, each flattened row-major), so equal scores always give equal masks. The threshold is
found with ``torch.kthvalue`` rather than a full sort, which on VGG-16's 15 M weights is
several times faster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch

from .schedule import density

Scope = Literal["global", "layerwise"]
SCOPES: tuple[str, ...] = ("global", "layerwise")


def check_scope(scope: str) -> None:
    """Raise ``ValueError`` unless ``scope`` is "global" or "layerwise"."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")


def masks_from_scores(
    scores: Mapping[str, torch.Tensor],
    *,
    sparsity: float | None = None,
    compression: float | None = None,
    scope: Scope = "global",
) -> dict[str, torch.Tensor]:
    """Boolean masks keeping the highest ``scores`` at the given sparsity or compression.

    Args:
        scores: one tensor per weight, e.g. from ``zero_cost.prune.scores``.
        sparsity, compression: the target; exactly one (see ``zero_cost.prune.schedule``).
        scope: "global" (rank all weights together) or "layerwise" (the same fraction of
            every layer).

    Raises:
        ValueError: invalid target or scope.
    """
    check_scope(scope)
    kept = select(list(scores.values()), density(sparsity, compression), scope)
    return dict(zip(scores, kept, strict=True))


def select(
    scores: Sequence[torch.Tensor],
    fraction: float,
    scope: Scope,
    within: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Masks keeping ``fraction`` of all weights, the highest scores, chosen only among the
    weights ``within`` keeps (all when None; fewer when it keeps fewer than asked)."""
    if within is None:
        candidates = [None] * len(scores)
        values = [_ranked(s.flatten()) for s in scores]
    else:
        candidates = [m.flatten().nonzero().squeeze(1) for m in within]
        values = [_ranked(s.flatten()[i]) for s, i in zip(scores, candidates, strict=True)]
    if scope == "global":
        total = sum(s.numel() for s in scores)
        flat = _keep_highest(torch.cat(values), round(fraction * total))
        kept = [part.clone() for part in torch.split(flat, [len(v) for v in values])]
    else:
        sizes = [s.numel() for s in scores]
        kept = [_keep_highest(v, round(fraction * n)) for v, n in zip(values, sizes, strict=True)]
    masks = []
    for s, index, keep in zip(scores, candidates, kept, strict=True):
        if index is None:
            masks.append(keep.view(s.shape))
            continue
        mask = torch.zeros(s.numel(), dtype=torch.bool, device=s.device)
        masks.append(mask.index_fill_(0, index[keep], True).view(s.shape))
    return masks


def keep_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """A mask of ``scores``' shape keeping its ``count`` lowest entries (ties: earlier)."""
    return _keep_highest(_ranked(-scores.flatten()), count).view(scores.shape)


def _ranked(values: torch.Tensor) -> torch.Tensor:
    """Scores as float64 with NaN replaced by -inf, so that NaN ranks lowest."""
    values = values.double()
    nan = values.isnan()
    return torch.where(nan, -torch.inf, values) if nan.any() else values


def _keep_highest(values: torch.Tensor, count: int) -> torch.Tensor:
    """Mask of the ``count`` highest of a 1-d tensor; among equal values the earlier ones."""
    size = values.numel()
    if count <= 0:
        return torch.zeros(size, dtype=torch.bool, device=values.device)
    if count >= size:
        return torch.ones(size, dtype=torch.bool, device=values.device)
    threshold = torch.kthvalue(values, size - count + 1).values
    above = values > threshold
    ties = values == threshold
    room = count - int(above.count_nonzero())
    if room == int(ties.count_nonzero()):
        return above | ties
    return above | (ties & (ties.cumsum(0) <= room))
