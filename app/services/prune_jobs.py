"""Prune jobs: pruning at initialisation (``zero_cost.prune``) queued, deduplicated, read
back with per-layer summaries, and their masks served as safetensors.

One job per (architecture, method, target density, scope, iterations, data profile, init
seed, zero_cost version): a repeated request answers the stored job in its current state.
Masks are stored packed (``pack_masks``): each layer's flattened boolean mask through
``numpy.packbits``, concatenated in layer order, beside each layer's name and shape.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

import zero_cost
from zero_cost import prune

from ..config import Settings
from ..db import prune_queue
from ..db.records import PruneConfig, PrunedLayer, PruneRecord
from ..db.storage import Storage
from ..errors import Conflict, InvalidRequest, NotFound
from ..schemas import PrunedLayerOut, PruneJobIn, PruneJobList, PruneJobOut
from .architectures import resolve_architecture
from .data_profiles import profile_description, resolve_profile
from .device_memory import check_fits_device

DENSITY_DIGITS = 12
"""Significant digits of a stored target density: sparsity 0.9 and compression 10 (whose
densities differ in the last bit) are one target."""


def target_density(sparsity: float | None, compression: float | None) -> float:
    """The fraction of weights a target keeps, rounded to ``DENSITY_DIGITS`` digits."""
    return float(f"{prune.density(sparsity, compression):.{DENSITY_DIGITS}g}")


def prune_job_out(
    storage: Storage, record: PruneRecord, created: bool | None = None
) -> PruneJobOut:
    config = record.config
    layers = summary = None
    if record.layers is not None:
        summary = prune.MaskSummary(
            tuple(prune.LayerSummary(x.name, x.kept, x.total) for x in record.layers)
        )
        layers = [
            PrunedLayerOut(
                name=x.name,
                shape=list(x.shape),
                total=x.total,
                kept=x.kept,
                fraction=x.kept / x.total,
            )
            for x in record.layers
        ]
    achieved_compression = None if summary is None else summary.compression
    return PruneJobOut(
        id=record.id,
        status=record.status,
        created=created,
        architecture_id=config.architecture_id,
        method=config.method,
        version=config.version,
        requested=config.target_kind,
        sparsity=1 - config.density,
        compression=1 / config.density,
        scope=config.scope,
        iterations=config.iterations,
        data_profile_id=config.data_profile_id,
        data_profile=profile_description(storage, config.data_profile_id),
        init_seed=config.init_seed,
        attempts=record.attempts,
        error=record.error,
        achieved_sparsity=None if summary is None else summary.sparsity,
        achieved_compression=(
            achieved_compression
            if achieved_compression is not None and math.isfinite(achieved_compression)
            else None
        ),
        layers=layers,
        collapsed=None if summary is None else list(summary.collapsed),
        seconds=record.seconds,
        device=record.device,
        created_at=record.created_at,
    )


def create_prune_job(storage: Storage, settings: Settings, body: PruneJobIn) -> PruneJobOut:
    """Queue pruning of the architecture, unless an equal job is stored: then that job, in
    its current state (``created`` false).

    Raises:
        InvalidRequest: unknown method or architecture, no target or two, data unavailable
            (the field at fault named).
    """
    if body.method not in prune.names():
        raise InvalidRequest(
            "unknown_method",
            f"method: unknown pruning method {body.method!r}; known: {', '.join(prune.names())}",
            "method",
        )
    if body.sparsity is None and body.compression is None:
        raise InvalidRequest(
            "target_required", "sparsity: give exactly one of sparsity and compression", "sparsity"
        )
    if body.sparsity is not None and body.compression is not None:
        raise InvalidRequest(
            "target_conflict",
            "compression: give exactly one of sparsity and compression, not both",
            "compression",
        )
    kind, target = (
        ("sparsity", body.sparsity)
        if body.sparsity is not None
        else ("compression", body.compression)
    )
    architecture_id = resolve_architecture(storage, body.architecture, "architecture")
    profile = resolve_profile(storage, settings, body.data)
    check_fits_device(storage, settings, [("architecture", architecture_id)], profile)
    config = PruneConfig(
        architecture_id=architecture_id,
        method=body.method,
        version=zero_cost.__version__,
        density=target_density(body.sparsity, body.compression),
        target_kind=kind,
        target=float(target),
        scope=body.scope,
        iterations=prune.get(body.method).iterations
        if body.iterations is None
        else body.iterations,
        data_profile_id=profile.id,
        init_seed=body.init_seed,
    )
    job_id, created = prune_queue.create_prune_job(storage.engine, config)
    return prune_job_out(storage, storage.get_prune_job(job_id), created)


def get_prune_job(storage: Storage, job_id: int) -> PruneJobOut:
    record = storage.get_prune_job(job_id)
    if record is None:
        raise NotFound("prune job", job_id)
    return prune_job_out(storage, record)


def list_prune_jobs(
    storage: Storage,
    status: str | None,
    architecture_id: int | None,
    limit: int,
    offset: int = 0,
) -> PruneJobList:
    """Prune jobs, the newest first, of one status and architecture when given."""
    records, count = storage.list_prune_jobs(
        status=status, architecture_id=architecture_id, limit=limit, offset=offset
    )
    data = [prune_job_out(storage, r) for r in records]
    return PruneJobList(data=data, count=count, limit=limit, offset=offset)


def prune_masks_file(storage: Storage, job_id: int) -> tuple[bytes, str]:
    """The job's masks as a safetensors file (``zero_cost.prune.load_masks`` reads it) and
    a file name for it.

    Raises:
        NotFound: no such job.
        Conflict: the job has not succeeded (yet).
    """
    record = storage.get_prune_job(job_id)
    if record is None:
        raise NotFound("prune job", job_id)
    blob = storage.prune_masks(job_id)
    if record.status != "succeeded" or blob is None or record.layers is None:
        raise Conflict(
            "job_not_succeeded",
            f"prune job {job_id} is {record.status}: masks exist once it succeeded",
        )
    masks = unpack_masks(record.layers, blob)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "masks.safetensors"
        prune.save_masks(path, masks)
        content = path.read_bytes()
    config = record.config
    return content, f"prune-{job_id}-{config.method}-a{config.architecture_id}.safetensors"


def pack_masks(masks: Mapping[str, torch.Tensor]) -> tuple[list[PrunedLayer], bytes]:
    """Masks (bool tensors, in layer order) as layer summaries and packed bits."""
    layers, chunks = [], []
    for name, mask in masks.items():
        flat = mask.detach().cpu().numpy().astype(bool).ravel()
        layers.append(PrunedLayer(name, tuple(mask.shape), flat.size, int(flat.sum())))
        chunks.append(np.packbits(flat).tobytes())
    return layers, b"".join(chunks)


def unpack_masks(layers: list[PrunedLayer], blob: bytes) -> dict[str, torch.Tensor]:
    """The masks ``pack_masks`` packed, as CPU bool tensors in layer order."""
    packed = np.frombuffer(blob, dtype=np.uint8)
    masks, offset = {}, 0
    for layer in layers:
        size = (layer.total + 7) // 8
        bits = np.unpackbits(packed[offset : offset + size], count=layer.total).astype(bool)
        masks[layer.name] = torch.from_numpy(bits.reshape(layer.shape))
        offset += size
    if offset != packed.size:
        raise ValueError(f"packed masks hold {packed.size} bytes, the layers {offset}")
    return masks
