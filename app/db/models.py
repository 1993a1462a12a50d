"""The database schema as SQLAlchemy 2.0 ORM models.

Alembic migrations in ``migrations/`` create the same schema; a test checks that
autogenerate finds no difference. Times that leases compare against are stored as epoch
seconds (``Float``) and always come from the database clock (``db_epoch()``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from zero_cost.repeats import Repeats

from .statuses import ItemStatus, PredictorStatus, PruneStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def status_check(statuses: type[StrEnum]) -> CheckConstraint:
    """A CHECK that ``status`` holds one of ``statuses`` (named ``ck_<table>_status``)."""
    values = ", ".join(f"'{status.value}'" for status in statuses)
    return CheckConstraint(f"status IN ({values})", name="status")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Architecture(Base):
    """One architecture per (space, settings, identity key): a submitted spec, after purely
    syntactic normalisation. ``canonical_key`` is its function-equivalence class, which
    several architectures may share."""

    __tablename__ = "architectures"
    __table_args__ = (
        UniqueConstraint("space", "settings", "identity_key"),
        Index("ix_architectures_canonical_key", "canonical_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space: Mapped[str] = mapped_column(String(32))
    settings: Mapped[str] = mapped_column(String(256), doc="canonical JSON of space settings")
    identity_key: Mapped[str] = mapped_column(String(64))
    canonical_key: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text, doc="JSON of the normalised spec")
    is_degenerate: Mapped[bool] = mapped_column(Boolean)
    params: Mapped[int] = mapped_column(BigInteger)
    flops: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DataProfile(Base):
    """A scoring batch definition, content-hashed: same config (and upload) = same profile."""

    __tablename__ = "data_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    config: Mapped[str] = mapped_column(Text, doc="canonical JSON of the batch parameters")
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, doc="uploaded .npz")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScoreJob(Base):
    """A request to score architectures with proxies on a data profile, each proxy
    ``repeat_init_seeds`` x ``repeat_batches`` times (``zero_cost.repeats``).

    ``idempotency_key`` is the client's ``Idempotency-Key`` header, unique so that a retried
    request finds its job instead of creating another; ``request_hash`` (SHA-256 of the
    canonical request) tells a retry from another request that reuses the key.
    """

    __tablename__ = "score_jobs"
    __table_args__ = (Index("ix_score_jobs_idempotency_key", "idempotency_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proxies: Mapped[str] = mapped_column(
        Text, doc="JSON list of [proxy name, version] pairs, as the API resolved them"
    )
    data_profile_id: Mapped[int] = mapped_column(ForeignKey("data_profiles.id"))
    init_seed: Mapped[int] = mapped_column(BigInteger)
    repeat_init_seeds: Mapped[int] = mapped_column(Integer, server_default="1")
    repeat_batches: Mapped[int] = mapped_column(Integer, server_default="1")
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(
        String(64), nullable=True, doc="hex SHA-256 of the canonical request body"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


QUEUED = f"status = '{ItemStatus.QUEUED.value}'"
"""The condition of the partial index of queued job items."""


class JobItem(Base):
    """One architecture of a job: the unit of work the queue hands out.

    Queued items are claimed in ``claim_order``, then id: item k of a job is given the
    smallest ``claim_order`` queued when the job was submitted, plus k, so that jobs waiting
    at the same time take turns item for item (``app.db.queue``). The claim index holds the
    queued items only; the queries that should use it name the status as a literal, which
    the database can match to the index's condition.
    """

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "architecture_id"),
        Index("ix_job_items_claim", "status", "lease_expires_at"),
        Index(
            "ix_job_items_queued",
            "claim_order",
            "id",
            postgresql_where=text(QUEUED),
            sqlite_where=text(QUEUED),
        ),
        status_check(ItemStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("score_jobs.id", ondelete="CASCADE"))
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    claim_order: Mapped[int] = mapped_column(BigInteger, server_default="0")


class Score(Base):
    """One proxy's value for an architecture on a data profile with an init seed.

    Repeated (``repeat_init_seeds`` or ``repeat_batches`` above 1): the summary of the proxy
    scored with init seeds ``seed, seed + 1, ...`` on the profile's batch drawn with its
    seed plus ``0, 1, ...`` (``zero_cost.repeats``): ``value`` the mean (geometric for
    log-scale proxies), ``std`` the standard deviation (of the logs for those); ``std`` is 0
    for a single score. ``value``, ``log_value`` and ``std`` are NULL when not finite;
    ``status`` says why ("nonfinite") and ``error`` holds the message.
    """

    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint(
            "architecture_id",
            "proxy",
            "proxy_version",
            "data_profile_id",
            "seed",
            "repeat_init_seeds",
            "repeat_batches",
            name="uq_scores_key",
        ),
        Index("ix_scores_profile_proxy", "data_profile_id", "proxy"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    proxy: Mapped[str] = mapped_column(String(64))
    proxy_version: Mapped[str] = mapped_column(String(32))
    data_profile_id: Mapped[int] = mapped_column(ForeignKey("data_profiles.id"))
    seed: Mapped[int] = mapped_column(BigInteger)
    repeat_init_seeds: Mapped[int] = mapped_column(Integer, server_default="1")
    repeat_batches: Mapped[int] = mapped_column(Integer, server_default="1")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    log_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    std: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float] = mapped_column(Float)
    device: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @classmethod
    def repeated(cls, repeats: Repeats) -> list[ColumnElement[bool]]:
        """The conditions that select scores repeated as ``repeats`` says."""
        return [
            cls.repeat_init_seeds == repeats.init_seeds,
            cls.repeat_batches == repeats.batches,
        ]


class Accuracy(Base):
    """A trained accuracy a user reports for an architecture. An identical report is one row."""

    __tablename__ = "accuracies"
    __table_args__ = (
        UniqueConstraint("architecture_id", "dataset", "metric", "value", "epochs", "source"),
        Index("ix_accuracies_dataset_metric", "dataset", "metric"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    dataset: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(Integer, doc="0 when not given")
    source: Mapped[str] = mapped_column(String(128), doc="'' when not given")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Worker(Base):
    """A worker process, with the database time of its last heartbeat."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    items_done: Mapped[int] = mapped_column(BigInteger, default=0)


class Predictor(Base):
    """A learned accuracy predictor, trained by a worker from the stored scores and
    accuracies; versioned per (dataset, metric, profile, seed, space, proxies, features).

    ``model`` is ``zero_cost.predictor.Predictor.to_bytes()`` (an ``.npz`` of the training
    data, never a pickle), written and read only by the service. ``oof`` maps architecture
    id -> out-of-fold prediction; ``n_reported`` is how many architectures had an accuracy
    for (dataset, metric) when training started (for automatic retraining).
    """

    __tablename__ = "predictors"
    __table_args__ = (
        UniqueConstraint(
            "dataset",
            "metric",
            "data_profile_id",
            "seed",
            "space",
            "proxies",
            "features",
            "version",
            name="uq_predictors_version",
        ),
        Index("ix_predictors_dataset_metric", "dataset", "metric"),
        Index("ix_predictors_claim", "status", "lease_expires_at"),
        status_check(PredictorStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    data_profile_id: Mapped[int] = mapped_column(ForeignKey("data_profiles.id"))
    seed: Mapped[int] = mapped_column(BigInteger)
    space: Mapped[str] = mapped_column(String(32))
    proxies: Mapped[str] = mapped_column(Text, doc="JSON list of proxy names")
    features: Mapped[str] = mapped_column(String(32), doc="'proxies' or 'proxies+encoding'")
    min_labels: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PredictorStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_reported: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_labels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fallback_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[str | None] = mapped_column(Text, nullable=True, doc="JSON")
    learning_curve: Mapped[str | None] = mapped_column(Text, nullable=True, doc="JSON")
    oof: Mapped[str | None] = mapped_column(Text, nullable=True, doc="JSON {id: prediction}")
    model: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PruneJob(Base):
    """Pruning at initialisation of one architecture (``zero_cost.prune.masks``), stored once
    per (architecture, method, target density, scope, iterations, data profile, init seed,
    library version): a repeated request finds this row instead of computing again.

    ``density`` is the fraction of weights the target keeps, rounded to 12 significant
    digits so that ``sparsity`` 0.9 and ``compression`` 10 are one target; ``target_kind``
    and ``target`` are what the first request asked (and what the worker computes with).
    ``masks`` holds the masks packed: each layer's flattened boolean mask through
    ``numpy.packbits``, concatenated in ``layers`` order (``layers``: JSON list of
    ``{name, shape, total, kept}``).
    """

    __tablename__ = "prune_jobs"
    __table_args__ = (
        UniqueConstraint(
            "architecture_id",
            "method",
            "density",
            "scope",
            "iterations",
            "data_profile_id",
            "init_seed",
            "version",
            name="uq_prune_jobs_key",
        ),
        Index("ix_prune_jobs_claim", "status", "lease_expires_at"),
        status_check(PruneStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    architecture_id: Mapped[int] = mapped_column(ForeignKey("architectures.id"))
    method: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32), doc="zero_cost's version")
    density: Mapped[float] = mapped_column(Float)
    target_kind: Mapped[str] = mapped_column(String(16), doc="'sparsity' or 'compression'")
    target: Mapped[float] = mapped_column(Float)
    scope: Mapped[str] = mapped_column(String(16))
    iterations: Mapped[int] = mapped_column(Integer)
    data_profile_id: Mapped[int] = mapped_column(ForeignKey("data_profiles.id"))
    init_seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PruneStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    layers: Mapped[str | None] = mapped_column(Text, nullable=True, doc="JSON")
    masks: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    device: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
