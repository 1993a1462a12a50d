"""The records the database layer speaks in: frozen dataclasses, never sessions or rows,
and the functions that make them from rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from zero_cost.repeats import ONCE, Repeats

from .models import Accuracy, Architecture, DataProfile, Predictor, PruneJob, Score, ScoreJob
from .statuses import FINISHED_ITEM_STATUSES, JobStatus, job_status


@dataclass(frozen=True)
class NewArchitecture:
    space: str
    settings: str
    identity_key: str
    canonical_key: str
    spec: str
    is_degenerate: bool
    params: int
    flops: int


@dataclass(frozen=True)
class ArchitectureRecord:
    id: int
    space: str
    settings: str
    identity_key: str
    canonical_key: str
    spec: str
    is_degenerate: bool
    params: int
    flops: int


@dataclass(frozen=True)
class ProfileRecord:
    id: int
    key: str
    source: str
    config: dict
    blob: bytes | None


@dataclass(frozen=True)
class ScoreRecord:
    """A stored score; its fields are the columns of ``models.Score``. Repeated (either
    count above 1): the summary over the repeats, ``std`` their standard deviation."""

    architecture_id: int
    proxy: str
    proxy_version: str
    data_profile_id: int
    seed: int
    value: float | None
    log_value: float | None
    status: str
    error: str | None
    seconds: float
    device: str
    repeat_init_seeds: int = 1
    repeat_batches: int = 1
    std: float | None = None

    @property
    def repeats(self) -> Repeats:
        return Repeats(self.repeat_init_seeds, self.repeat_batches)


@dataclass(frozen=True)
class AccuracyRecord:
    architecture_id: int
    dataset: str
    metric: str
    value: float
    epochs: int
    source: str


@dataclass(frozen=True)
class JobRecord:
    """A score job: the (proxy, version) pairs the API resolved for it, its data profile,
    seed and repeats, its item counts by status and (up to a limit) its items' errors."""

    id: int
    proxy_versions: list[tuple[str, str]]
    data_profile_id: int
    init_seed: int
    cancelled: bool
    counts: dict[str, int]
    errors: list[dict] = field(default_factory=list)
    repeats: Repeats = ONCE

    @property
    def proxies(self) -> list[str]:
        return [name for name, _ in self.proxy_versions]

    @property
    def status(self) -> JobStatus:
        return job_status(self.counts, self.cancelled)

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in FINISHED_ITEM_STATUSES)


def job_summary(row: ScoreJob, counts: dict[str, int]) -> JobSummary:
    return JobSummary(
        row.id,
        job_proxy_versions(row.proxies),
        row.data_profile_id,
        row.init_seed,
        row.cancelled,
        counts,
        repeats=job_repeats(row),
        created_at=row.created_at,
    )


def job_repeats(row: ScoreJob) -> Repeats:
    return Repeats(row.repeat_init_seeds, row.repeat_batches)


def job_proxy_versions(stored: str) -> list[tuple[str, str]]:
    """A job row's ``proxies`` column (JSON ``[[name, version], ...]``) as pairs."""
    return [(name, version) for name, version in json.loads(stored)]


@dataclass(frozen=True)
class KeyedJob:
    """The job an idempotency key maps to, with the hash of the request that created it."""

    id: int
    request_hash: str | None
    created: bool


@dataclass(frozen=True)
class JobSummary(JobRecord):
    """A job as the dashboard lists it: its record (without item errors) and creation time."""

    created_at: datetime | None = None


@dataclass(frozen=True)
class PredictorConfig:
    """What a predictor is trained for: its versions are numbered per distinct config."""

    dataset: str
    metric: str
    data_profile_id: int
    seed: int
    space: str
    proxies: tuple[str, ...]
    features: str
    min_labels: int


@dataclass(frozen=True)
class PredictorRecord:
    """A stored predictor without its model bytes (``Storage.predictor_model``)."""

    id: int
    config: PredictorConfig
    version: int
    status: str
    error: str | None
    n_reported: int | None
    n_labels: int | None
    mode: str | None
    fallback_reason: str | None
    metrics: dict | None
    learning_curve: list | None
    oof: dict[int, float] | None
    created_at: datetime | None


def predictor_record(row: Predictor) -> PredictorRecord:
    def loads(text: str | None) -> object:
        return None if text is None else json.loads(text)

    oof = loads(row.oof)
    return PredictorRecord(
        id=row.id,
        config=PredictorConfig(
            row.dataset,
            row.metric,
            row.data_profile_id,
            row.seed,
            row.space,
            tuple(json.loads(row.proxies)),
            row.features,
            row.min_labels,
        ),
        version=row.version,
        status=row.status,
        error=row.error,
        n_reported=row.n_reported,
        n_labels=row.n_labels,
        mode=row.mode,
        fallback_reason=row.fallback_reason,
        metrics=loads(row.metrics),
        learning_curve=loads(row.learning_curve),
        oof=None if oof is None else {int(k): v for k, v in oof.items()},
        created_at=row.created_at,
    )


def architecture_record(row: Architecture) -> ArchitectureRecord:
    return ArchitectureRecord(
        row.id,
        row.space,
        row.settings,
        row.identity_key,
        row.canonical_key,
        row.spec,
        row.is_degenerate,
        row.params,
        row.flops,
    )


def score_record(row: Score) -> ScoreRecord:
    return ScoreRecord(
        row.architecture_id,
        row.proxy,
        row.proxy_version,
        row.data_profile_id,
        row.seed,
        row.value,
        row.log_value,
        row.status,
        row.error,
        row.seconds,
        row.device,
        row.repeat_init_seeds,
        row.repeat_batches,
        row.std,
    )


def accuracy_record(row: Accuracy) -> AccuracyRecord:
    return AccuracyRecord(
        row.architecture_id, row.dataset, row.metric, row.value, row.epochs, row.source
    )


def profile_record(row: DataProfile) -> ProfileRecord:
    return ProfileRecord(row.id, row.key, row.source, json.loads(row.config), row.blob)


PROFILE_COLUMNS_WITHOUT_BLOB = (
    DataProfile.id,
    DataProfile.key,
    DataProfile.source,
    DataProfile.config,
)
"""Select these, and make records with ``profile_without_blob``, to leave uploads unread."""


def profile_without_blob(row: tuple) -> ProfileRecord:
    """A profile from a row of ``PROFILE_COLUMNS_WITHOUT_BLOB`` (``blob`` None)."""
    profile_id, key, source, config = row
    return ProfileRecord(profile_id, key, source, json.loads(config), None)


@dataclass(frozen=True)
class ItemInputs:
    """What a worker needs to score a job item: the (proxy, version) pairs of its job that
    the architecture has no stored score of on the profile with the seed and repeats."""

    architecture: ArchitectureRecord
    profile: ProfileRecord
    missing: list[tuple[str, str]]
    seed: int
    repeats: Repeats = ONCE


@dataclass(frozen=True)
class TrainedPredictor:
    """What training stores on a predictor row."""

    n_reported: int
    n_labels: int
    mode: str
    fallback_reason: str | None
    metrics: dict
    learning_curve: list
    oof: dict[int, float]
    model: bytes


@dataclass(frozen=True)
class PruneConfig:
    """What a prune job computes: its deduplication key (all but ``target_kind`` and
    ``target``, the form of the target the first request gave)."""

    architecture_id: int
    method: str
    version: str
    density: float
    target_kind: str
    target: float
    scope: str
    iterations: int
    data_profile_id: int
    init_seed: int


@dataclass(frozen=True)
class PrunedLayer:
    """One weight's mask: its shape and how many of its ``total`` entries are ``kept``."""

    name: str
    shape: tuple[int, ...]
    total: int
    kept: int


@dataclass(frozen=True)
class PruneResult:
    """What a worker stores on a succeeded prune job: the layers in mask order and their
    masks packed (``numpy.packbits`` of each flattened mask, concatenated)."""

    layers: list[PrunedLayer]
    masks: bytes
    seconds: float
    device: str


@dataclass(frozen=True)
class PruneRecord:
    """A stored prune job without its packed masks (``Storage.prune_masks``)."""

    id: int
    config: PruneConfig
    status: str
    attempts: int
    error: str | None
    layers: list[PrunedLayer] | None
    seconds: float | None
    device: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class PruneInputs:
    """What a worker needs to prune: the job's config, its architecture and data profile."""

    config: PruneConfig
    architecture: ArchitectureRecord
    profile: ProfileRecord


def prune_config(row: PruneJob) -> PruneConfig:
    return PruneConfig(
        row.architecture_id,
        row.method,
        row.version,
        row.density,
        row.target_kind,
        row.target,
        row.scope,
        row.iterations,
        row.data_profile_id,
        row.init_seed,
    )


def prune_layers_json(layers: list[PrunedLayer]) -> str:
    return json.dumps(
        [{"name": x.name, "shape": list(x.shape), "total": x.total, "kept": x.kept} for x in layers]
    )


def prune_record(row: PruneJob) -> PruneRecord:
    layers = None
    if row.layers is not None:
        layers = [
            PrunedLayer(x["name"], tuple(x["shape"]), x["total"], x["kept"])
            for x in json.loads(row.layers)
        ]
    return PruneRecord(
        id=row.id,
        config=prune_config(row),
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        layers=layers,
        seconds=row.seconds,
        device=row.device,
        created_at=row.created_at,
    )
