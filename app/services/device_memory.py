"""Refusing at submission what cannot fit the workers' device memory (``ZC_DEVICE_MEMORY_BYTES``).

Each architecture's need is ``zero_cost.memory.estimate`` on the profile's batch: params and
activations counted from the space without allocating the network. Counting activations runs
one sample through the network (tens of milliseconds for an NB201 cell), so estimates are
kept per (space, settings, spec, batch) for the life of the process, and nothing is counted
when no limit is configured.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache

from zero_cost import memory, spaces

from ..config import Settings
from ..db.records import ProfileRecord
from ..db.storage import Storage
from ..errors import InvalidRequest
from ..profiles import batch_shape


@lru_cache(maxsize=100_000)
def _estimate(
    space: str, settings: str, spec: str, batch_size: int, num_classes: int
) -> memory.MemoryEstimate:
    searched = spaces.get(space, **json.loads(settings))
    return memory.estimate(searched, searched.parse(json.loads(spec)), batch_size, num_classes)


def check_fits_device(
    storage: Storage,
    settings: Settings,
    architectures: Sequence[tuple[str, int]],
    profile: ProfileRecord,
) -> None:
    """Refuse (422 ``exceeds_device_memory``, naming the field, the estimate and the limit)
    the first of ``architectures``, (request field, architecture id) pairs, whose estimate
    on ``profile``'s batch is over the limit. Nothing is checked without a limit, or for a
    profile whose batch size is only known once its data is loaded (a per-class draw from
    an .npz)."""
    limit = settings.device_memory_bytes
    shape = batch_shape(profile.source, profile.config)
    if limit is None or shape is None:
        return
    records = storage.get_architectures(architecture_id for _, architecture_id in architectures)
    for field, architecture_id in architectures:
        record = records[architecture_id]
        need = _estimate(record.space, record.settings, record.spec, *shape)
        if need.total_bytes > limit:
            raise InvalidRequest(
                "exceeds_device_memory",
                f"{field}: architecture {architecture_id} needs an estimated "
                f"{memory.format_bytes(need.total_bytes)} of device memory on a batch of "
                f"{shape[0]} ({memory.format_bytes(need.parameter_bytes)} for parameters, "
                f"{memory.format_bytes(need.activation_bytes)} for activations); the limit is "
                f"{memory.format_bytes(limit)} (ZC_DEVICE_MEMORY_BYTES)",
                field,
            )
