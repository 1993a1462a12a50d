"""Scoring one job item with ``zero_cost``, inside the scoring child: build the architecture,
draw the profile's batch (cached on the device), refuse what exceeds the limits, compute the
missing proxies at the versions the job asked for, as often as the job's repeats say."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import torch

import zero_cost
from zero_cost import proxies as proxy_registry
from zero_cost import spaces
from zero_cost.repeats import ONCE, Repeats, score_repeated

from ..db.records import ArchitectureRecord, ProfileRecord, ScoreRecord
from ..profiles import ProfileError, load_batch


class ItemRefused(ValueError):
    """The item can never be scored as asked (over the limits, shape mismatch): no retry."""


class ProxyVersionMismatch(RuntimeError):
    """The job names a proxy version this worker does not compute: another worker (of
    another release) may, so the item is retried."""


def is_retryable(error: BaseException) -> bool:
    """Whether trying the item again may succeed: not for refusals or invalid specs."""
    return not isinstance(error, ItemRefused | spaces.SpecError | KeyError)


@dataclass(frozen=True)
class Limits:
    max_params: int
    max_flops: int


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` if given (``cuda:N`` pins the worker to visible CUDA device N, counted
    after ``CUDA_VISIBLE_DEVICES``), else the first visible CUDA device, else the CPU.

    Raises:
        ValueError: a CUDA device is asked for that is not visible.
    """
    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= visible:
            raise ValueError(
                f"device {requested!r} asked for (ZC_DEVICE or --device), but {visible} CUDA "
                "device(s) are visible (CUDA_VISIBLE_DEVICES renumbers them from 0)"
            )
    return device


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is the device running out of memory: CUDA's allocator, or a library
    that says so (cuDNN, cuBLAS), as ``zero_cost.engine`` tells it."""
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error)
    )


def out_of_memory_message(error: BaseException, device: torch.device) -> str:
    """What an item that ran out of device memory records: the device, what the allocation
    that failed asked for (when torch says), and the settings that lower the need."""
    asked = re.search(r"Tried to allocate ([0-9.]+ [KMGT]?i?B)", str(error))
    needed = f" (an allocation of {asked.group(1)} failed)" if asked else ""
    return (
        f"DeviceOutOfMemory: scoring ran out of memory on {device}{needed}; lower "
        "ZC_ITEMS_IN_FLIGHT (items scored at once on the device) or the data profile's "
        "batch size"
    )


class ItemScorer:
    """Scores architectures on data profiles on one device, keeping batches there."""

    def __init__(self, device: torch.device, limits: Limits, data_dir: str | None) -> None:
        self.device = device
        self.limits = limits
        self.data_dir = data_dir
        self._batches: dict[tuple[int, int], zero_cost.data.Batch] = {}
        self._uploads: dict[int, bytes] = {}

    def batch(self, profile: ProfileRecord, index: int = 0) -> zero_cost.data.Batch:
        """The profile's batch ``index``: drawn with the profile's seed plus ``index``. An
        uploaded profile's file is the one ``keep_upload`` kept."""
        if (profile.id, index) not in self._batches:
            config = {**profile.config, "seed": profile.config["seed"] + index}
            blob = self._uploads.get(profile.id)
            batch = load_batch(profile.source, config, blob, self.data_dir)
            self._batches[profile.id, index] = batch.to(self.device)
        return self._batches[profile.id, index]

    def keep_upload(self, profile: ProfileRecord) -> None:
        """Keep an uploaded profile's file: the worker sends it with the first request for
        the profile only, whatever becomes of that request, and later batches of the
        profile (other repeats) are drawn from it."""
        if profile.blob is not None:
            self._uploads[profile.id] = profile.blob

    def prepare(
        self, architecture: ArchitectureRecord, profile: ProfileRecord, batches: int = 1
    ) -> tuple[spaces.SearchSpace, Any, list[zero_cost.data.Batch]]:
        """The architecture's space and parsed spec, and the profile's first ``batches``
        batches, after checking that the architecture is within the limits and fits them.

        Raises:
            ItemRefused: over the parameter/FLOP limits or incompatible with the profile.
        """
        self.keep_upload(profile)
        if architecture.params > self.limits.max_params:
            raise ItemRefused(
                f"architecture has {architecture.params:,} parameters; the limit is "
                f"{self.limits.max_params:,} (ZC_MAX_PARAMS)"
            )
        if architecture.flops > self.limits.max_flops:
            raise ItemRefused(
                f"architecture needs {architecture.flops:,} FLOPs per sample; the limit is "
                f"{self.limits.max_flops:,} (ZC_MAX_FLOPS)"
            )
        try:
            drawn = [self.batch(profile, index) for index in range(batches)]
        except ProfileError as error:
            raise ItemRefused(f"data profile {profile.id}: {error}") from error
        space = spaces.get(architecture.space, **json.loads(architecture.settings))
        arch = space.parse(json.loads(architecture.spec))
        expected = tuple(drawn[0].inputs.shape[1:])
        if tuple(space.input_shape(arch)) != expected:
            raise ItemRefused(
                f"architecture expects inputs of shape {tuple(space.input_shape(arch))}, "
                f"the data profile has {expected}"
            )
        return space, arch, drawn

    def score(
        self,
        architecture: ArchitectureRecord,
        profile: ProfileRecord,
        proxies: list[tuple[str, str]],
        seed: int,
        repeats: Repeats = ONCE,
    ) -> list[ScoreRecord]:
        """Scores of ``proxies``, (name, version) pairs (status ok, nonfinite or error), for
        the architecture; repeated, the summaries over init seeds ``seed, seed + 1, ...``
        and the profile's batches ``0, 1, ...`` (``zero_cost.repeats``).

        Raises:
            ItemRefused: over the parameter/FLOP limits or incompatible with the profile.
            ProxyVersionMismatch: this worker's version of a proxy is not the one asked for.
        """
        self.keep_upload(profile)
        proxy_names = [name for name, _ in proxies]
        for name, version in proxies:
            have = proxy_registry.get(name).version
            if have != version:
                raise ProxyVersionMismatch(
                    f"the job asks for {name} version {version}; this worker computes "
                    f"version {have} (another worker may have it)"
                )
        space, arch, batches = self.prepare(architecture, profile, repeats.batches)

        def build(init_seed: int) -> torch.nn.Module:
            try:
                return space.build(arch, num_classes=batches[0].num_classes, seed=init_seed)
            except spaces.SpecError as error:
                raise ItemRefused(str(error)) from error

        seeds = range(seed, seed + repeats.init_seeds)
        results = score_repeated(build, proxy_names, batches, seeds, self.device)
        return [
            ScoreRecord(
                architecture_id=architecture.id,
                proxy=name,
                proxy_version=result.version,
                data_profile_id=profile.id,
                seed=seed,
                repeat_init_seeds=repeats.init_seeds,
                repeat_batches=repeats.batches,
                value=result.value if math.isfinite(result.value) else None,
                log_value=(
                    result.log_value
                    if result.log_value is not None and math.isfinite(result.log_value)
                    else None
                ),
                std=result.std if math.isfinite(result.std) else None,
                status=result.status,
                error=result.error,
                seconds=result.seconds,
                device=str(self.device),
            )
            for name, result in results.items()
        ]
