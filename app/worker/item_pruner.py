"""Pruning one prune job with ``zero_cost.prune``, inside the scoring child (as items are
scored, under the same time limit): refuse what exceeds the limits, build the architecture
with the job's init seed, take the profile's batch (cached on the device) and compute the
masks the job asks for, packed for storage."""

from __future__ import annotations

import time

import zero_cost
from zero_cost import prune, spaces

from .. import services
from ..db.records import PruneInputs, PruneResult
from .item_scorer import ItemRefused, ItemScorer, ProxyVersionMismatch


def is_retryable(error: BaseException) -> bool:
    """Whether pruning again may succeed: not for refusals, invalid specs or targets."""
    return not isinstance(error, ValueError | KeyError | spaces.SpecError)


def prune_job(inputs: PruneInputs, scorer: ItemScorer) -> PruneResult:
    """The job's masks and per-layer summary, on the scorer's device within its limits.

    Raises:
        ItemRefused: over the parameter/FLOP limits, or incompatible with the profile.
        ValueError, KeyError: the library refuses the request (e.g. a network without
            Conv2d/Linear weights).
    """
    config, device = inputs.config, scorer.device
    scorer.keep_upload(inputs.profile)
    if config.version != zero_cost.__version__:
        raise ProxyVersionMismatch(
            f"the job asks for masks of zero_cost {config.version}; this worker has "
            f"{zero_cost.__version__} (another worker may have it)"
        )
    space, arch, (batch,) = scorer.prepare(inputs.architecture, inputs.profile)
    try:
        model = space.build(arch, num_classes=batch.num_classes, seed=config.init_seed)
    except spaces.SpecError as error:
        raise ItemRefused(str(error)) from error
    model = model.to(device)
    started = time.perf_counter()
    masks = prune.masks(
        model,
        config.method,
        scope=config.scope,
        iterations=config.iterations,
        inputs=batch.inputs,
        targets=batch.targets,
        seed=config.init_seed,
        **{config.target_kind: config.target},
    )
    seconds = time.perf_counter() - started
    layers, packed = services.pack_masks(masks)
    return PruneResult(layers=layers, masks=packed, seconds=seconds, device=str(device))
