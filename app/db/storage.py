"""Storage: every database read and write of the service except the queue's (``app.queue``).

Each public method of ``Storage`` is one transaction and speaks in domain terms (records
below), never in sessions or rows. Writes that must be idempotent under concurrency use
``INSERT ... ON CONFLICT DO NOTHING`` against the unique constraints, then read back.

Raises (every method):
    DatabaseUnavailable: the database cannot be reached (the API answers 503).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, and_, case, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import (
    Accuracy,
    Architecture,
    DataProfile,
    JobItem,
    Predictor,
    Score,
    ScoreJob,
    Worker,
)
from .session import db_epoch, transaction

CHUNK = 500  # rows per IN (...) list or multi-row INSERT
SCORE_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class NewArchitecture:
    space: str
    settings: str
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
    id: int
    proxies: list[str]
    data_profile_id: int
    init_seed: int
    cancelled: bool
    counts: dict[str, int]
    errors: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        """queued, running, succeeded, failed (every item failed) or cancelled."""
        if self.cancelled:
            return "cancelled"
        pending = self.counts.get("queued", 0) + self.counts.get("running", 0)
        if pending:
            started = self.counts.get("running", 0) + self.finished
            return "running" if started else "queued"
        total = sum(self.counts.values())
        return "failed" if total and self.counts.get("failed", 0) == total else "succeeded"

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("succeeded", "failed", "cancelled"))


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


def _predictor(row: Predictor) -> PredictorRecord:
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


def dialect_insert(session: Session, model: type) -> object:
    """A dialect-specific INSERT supporting ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _architecture(row: Architecture) -> ArchitectureRecord:
    return ArchitectureRecord(
        row.id,
        row.space,
        row.settings,
        row.canonical_key,
        row.spec,
        row.is_degenerate,
        row.params,
        row.flops,
    )


def _score(row: Score) -> ScoreRecord:
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
    )


def _accuracy(row: Accuracy) -> AccuracyRecord:
    return AccuracyRecord(
        row.architecture_id, row.dataset, row.metric, row.value, row.epochs, row.source
    )


class Storage:
    """The service's data, in domain terms. Thread-safe; one transaction per method."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- architectures ---------------------------------------------------------------------

    def add_architectures(self, items: Sequence[NewArchitecture]) -> list[tuple[int, bool]]:
        """Insert architectures not stored yet; return (id, created) per item, in order.

        Idempotent: concurrent calls with overlapping items create one row per
        (space, settings, canonical_key), and all callers get the same ids.
        """
        unique = {(i.space, i.settings, i.canonical_key): i for i in items}
        created: set[tuple[str, str, str]] = set()
        # Insert in key order: concurrent batches then take the unique index's row locks in
        # the same order, so overlapping inserts wait for each other instead of deadlocking.
        ordered = [unique[key] for key in sorted(unique)]
        with transaction(self.engine) as session:
            for chunk in _chunks(ordered):
                statement = (
                    dialect_insert(session, Architecture)
                    .values([i.__dict__ for i in chunk])
                    .on_conflict_do_nothing()
                    .returning(
                        Architecture.space, Architecture.settings, Architecture.canonical_key
                    )
                )
                created.update(tuple(row) for row in session.execute(statement))
            ids = self._ids_by_key(session, list(unique))
        return [
            (
                ids[(i.space, i.settings, i.canonical_key)],
                (i.space, i.settings, i.canonical_key) in created,
            )
            for i in items
        ]

    @staticmethod
    def _ids_by_key(
        session: Session, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], int]:
        ids = {}
        columns = tuple_(Architecture.space, Architecture.settings, Architecture.canonical_key)
        for chunk in _chunks(keys):
            rows = session.execute(
                select(
                    Architecture.space,
                    Architecture.settings,
                    Architecture.canonical_key,
                    Architecture.id,
                ).where(columns.in_(chunk))
            )
            ids.update({(s, st, k): i for s, st, k, i in rows})
        return ids

    def get_architectures(self, ids: Iterable[int]) -> dict[int, ArchitectureRecord]:
        """The stored architectures among ``ids``."""
        ids = list(dict.fromkeys(ids))
        found = {}
        with transaction(self.engine) as session:
            for chunk in _chunks(ids):
                for row in session.scalars(select(Architecture).where(Architecture.id.in_(chunk))):
                    found[row.id] = _architecture(row)
        return found

    # -- data profiles ---------------------------------------------------------------------

    def get_or_create_profile(
        self, key: str, source: str, config: dict, blob: bytes | None = None
    ) -> ProfileRecord:
        """The profile with content hash ``key``, created if new."""
        with transaction(self.engine) as session:
            session.execute(
                dialect_insert(session, DataProfile)
                .values(
                    key=key, source=source, config=json.dumps(config, sort_keys=True), blob=blob
                )
                .on_conflict_do_nothing()
            )
            row = session.scalars(select(DataProfile).where(DataProfile.key == key)).one()
            return ProfileRecord(row.id, row.key, row.source, json.loads(row.config), row.blob)

    def get_profile(self, profile_id: int) -> ProfileRecord | None:
        with transaction(self.engine) as session:
            row = session.get(DataProfile, profile_id)
            if row is None:
                return None
            return ProfileRecord(row.id, row.key, row.source, json.loads(row.config), row.blob)

    # -- jobs ------------------------------------------------------------------------------

    def create_job(
        self,
        architecture_ids: Sequence[int],
        proxies: Sequence[tuple[str, str]],
        data_profile_id: int,
        init_seed: int,
    ) -> int:
        """A job over ``architecture_ids`` for ``proxies`` (name, version) pairs.

        Items whose scores all exist already are created succeeded: a job whose scores all
        exist is complete at once.
        """
        with transaction(self.engine) as session:
            job_id = self._insert_job(
                session, architecture_ids, proxies, data_profile_id, init_seed, None, None
            )
            assert job_id is not None  # without a key, nothing can conflict
            return job_id

    def create_job_once(
        self,
        architecture_ids: Sequence[int],
        proxies: Sequence[tuple[str, str]],
        data_profile_id: int,
        init_seed: int,
        idempotency_key: str,
        request_hash: str,
    ) -> KeyedJob:
        """``create_job`` unless a job with ``idempotency_key`` exists: then that job.

        The key is written with the job row, in its transaction, so no job is ever without
        its key. Concurrent calls with one key are settled by the unique index (``INSERT ...
        ON CONFLICT DO NOTHING``, then read the winner in the same transaction), never by a
        check before the insert: exactly one creates the job, the others get it with
        ``created`` False and the winner's ``request_hash``, for the caller to compare.
        """
        with transaction(self.engine) as session:
            job_id = self._insert_job(
                session,
                architecture_ids,
                proxies,
                data_profile_id,
                init_seed,
                idempotency_key,
                request_hash,
            )
            if job_id is not None:
                return KeyedJob(job_id, request_hash, created=True)
            winner = self._job_for_key(session, idempotency_key)
        if winner is None:  # only if the winner was deleted since: jobs never are
            raise RuntimeError(f"idempotency key {idempotency_key!r} conflicted but has no job")
        return winner

    def job_for_key(self, idempotency_key: str) -> KeyedJob | None:
        """The job created with ``idempotency_key``, if any (``created`` False)."""
        with transaction(self.engine) as session:
            return self._job_for_key(session, idempotency_key)

    @staticmethod
    def _job_for_key(session: Session, idempotency_key: str) -> KeyedJob | None:
        row = session.execute(
            select(ScoreJob.id, ScoreJob.request_hash).where(
                ScoreJob.idempotency_key == idempotency_key
            )
        ).first()
        return None if row is None else KeyedJob(row.id, row.request_hash, created=False)

    def _insert_job(
        self,
        session: Session,
        architecture_ids: Sequence[int],
        proxies: Sequence[tuple[str, str]],
        data_profile_id: int,
        init_seed: int,
        idempotency_key: str | None,
        request_hash: str | None,
    ) -> int | None:
        """Insert a job and its items; None (and nothing written) if another job holds
        ``idempotency_key``. A NULL key never conflicts."""
        architecture_ids = list(dict.fromkeys(architecture_ids))
        job_id = session.scalar(
            dialect_insert(session, ScoreJob)
            .values(
                proxies=json.dumps([name for name, _ in proxies]),
                data_profile_id=data_profile_id,
                init_seed=init_seed,
                cancelled=False,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
            .on_conflict_do_nothing(index_elements=[ScoreJob.idempotency_key])
            .returning(ScoreJob.id)
        )
        if job_id is None:
            return None
        complete = self._fully_scored(
            session, architecture_ids, proxies, data_profile_id, init_seed
        )
        now = session.scalar(select(db_epoch()))
        rows = [
            {
                "job_id": job_id,
                "architecture_id": a,
                "status": "succeeded" if a in complete else "queued",
                "attempts": 0,
                "finished_at": now if a in complete else None,
            }
            for a in architecture_ids
        ]
        for chunk in _chunks(rows):
            session.execute(dialect_insert(session, JobItem).values(list(chunk)))
        return job_id

    @staticmethod
    def _fully_scored(
        session: Session,
        architecture_ids: Sequence[int],
        proxies: Sequence[tuple[str, str]],
        data_profile_id: int,
        seed: int,
    ) -> set[int]:
        wanted = set(proxies)
        have: dict[int, set[tuple[str, str]]] = {}
        for chunk in _chunks(architecture_ids):
            rows = session.execute(
                select(Score.architecture_id, Score.proxy, Score.proxy_version).where(
                    Score.architecture_id.in_(chunk),
                    Score.data_profile_id == data_profile_id,
                    Score.seed == seed,
                    Score.proxy.in_([name for name, _ in proxies]),
                )
            )
            for architecture_id, proxy, version in rows:
                have.setdefault(architecture_id, set()).add((proxy, version))
        return {a for a, got in have.items() if wanted <= got}

    def get_job(self, job_id: int, max_errors: int = 100) -> JobRecord | None:
        """The job with item counts by status and up to ``max_errors`` per-item errors."""
        with transaction(self.engine) as session:
            job = session.get(ScoreJob, job_id)
            if job is None:
                return None
            counts = dict(
                session.execute(
                    select(JobItem.status, func.count())
                    .where(JobItem.job_id == job_id)
                    .group_by(JobItem.status)
                ).all()
            )
            errors = [
                {"architecture_id": a, "status": s, "attempts": n, "error": e}
                for a, s, n, e in session.execute(
                    select(JobItem.architecture_id, JobItem.status, JobItem.attempts, JobItem.error)
                    .where(JobItem.job_id == job_id, JobItem.error.is_not(None))
                    .order_by(JobItem.id)
                    .limit(max_errors)
                )
            ]
            return JobRecord(
                job.id,
                json.loads(job.proxies),
                job.data_profile_id,
                job.init_seed,
                job.cancelled,
                counts,
                errors,
            )

    def cancel_job(self, job_id: int) -> bool:
        """Cancel a job: its queued items are cancelled, running ones finish. False if unknown."""
        with transaction(self.engine) as session:
            job = session.get(ScoreJob, job_id, with_for_update=True)
            if job is None:
                return False
            job.cancelled = True
            session.execute(
                update(JobItem)
                .where(JobItem.job_id == job_id, JobItem.status == "queued")
                .values(status="cancelled", finished_at=db_epoch())
            )
            return True

    def jobs_by_status(self) -> dict[str, int]:
        """Number of jobs in each status (for /metrics)."""
        with transaction(self.engine) as session:
            rows = session.execute(
                select(JobItem.job_id, JobItem.status, func.count()).group_by(
                    JobItem.job_id, JobItem.status
                )
            ).all()
            cancelled = set(session.scalars(select(ScoreJob.id).where(ScoreJob.cancelled)))
        per_job: dict[int, dict[str, int]] = {}
        for job_id, status, count in rows:
            per_job.setdefault(job_id, {})[status] = count
        totals: dict[str, int] = {}
        for job_id, counts in per_job.items():
            status = JobRecord(job_id, [], 0, 0, job_id in cancelled, counts).status
            totals[status] = totals.get(status, 0) + 1
        return totals

    def recent_jobs(self, limit: int = 10) -> list[JobSummary]:
        """The ``limit`` newest jobs, newest first, with item counts by status."""
        with transaction(self.engine) as session:
            jobs = list(session.scalars(select(ScoreJob).order_by(ScoreJob.id.desc()).limit(limit)))
            counts: dict[int, dict[str, int]] = {job.id: {} for job in jobs}
            if jobs:
                rows = session.execute(
                    select(JobItem.job_id, JobItem.status, func.count())
                    .where(JobItem.job_id.in_(list(counts)))
                    .group_by(JobItem.job_id, JobItem.status)
                )
                for job_id, status, count in rows:
                    counts[job_id][status] = int(count)
            return [
                JobSummary(
                    job.id,
                    json.loads(job.proxies),
                    job.data_profile_id,
                    job.init_seed,
                    job.cancelled,
                    counts[job.id],
                    created_at=job.created_at,
                )
                for job in jobs
            ]

    # -- scores ----------------------------------------------------------------------------

    def scores_for(
        self,
        architecture_ids: Sequence[int],
        data_profile_id: int,
        seed: int,
        proxies: Sequence[tuple[str, str]],
    ) -> dict[int, dict[str, ScoreRecord]]:
        """architecture id -> proxy -> score, for the given proxy versions."""
        wanted = set(proxies)
        result: dict[int, dict[str, ScoreRecord]] = {}
        with transaction(self.engine) as session:
            for chunk in _chunks(list(architecture_ids)):
                rows = session.scalars(
                    select(Score).where(
                        Score.architecture_id.in_(chunk),
                        Score.data_profile_id == data_profile_id,
                        Score.seed == seed,
                        Score.proxy.in_([name for name, _ in wanted]),
                    )
                )
                for row in rows:
                    if (row.proxy, row.proxy_version) in wanted:
                        result.setdefault(row.architecture_id, {})[row.proxy] = _score(row)
        return result

    def list_scores(
        self,
        *,
        architecture_id: int | None = None,
        proxy: str | None = None,
        data_profile_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[ScoreRecord], int]:
        """A page of scores matching the filters, and the total count."""
        filters = {
            Score.architecture_id: architecture_id,
            Score.proxy: proxy,
            Score.data_profile_id: data_profile_id,
        }
        return self._page(Score, filters, limit, offset, _score)

    def score_counts_by_profile(self) -> dict[int, int]:
        """data profile id -> number of stored scores, for the profiles that have any."""
        with transaction(self.engine) as session:
            rows = session.execute(
                select(Score.data_profile_id, func.count())
                .group_by(Score.data_profile_id)
                .order_by(Score.data_profile_id)
            )
            return {profile_id: int(count) for profile_id, count in rows}

    def scored_architecture_ids(self, data_profile_id: int, seed: int) -> list[int]:
        """Ids of the architectures with at least one score on a profile and seed, ascending."""
        with transaction(self.engine) as session:
            return list(
                session.scalars(
                    select(Score.architecture_id)
                    .where(Score.data_profile_id == data_profile_id, Score.seed == seed)
                    .distinct()
                    .order_by(Score.architecture_id)
                )
            )

    def profiles_with_scores(self) -> list[int]:
        """Ids of the data profiles that have at least one score."""
        with transaction(self.engine) as session:
            return list(
                session.scalars(
                    select(Score.data_profile_id).distinct().order_by(Score.data_profile_id)
                )
            )

    def proxies_with_scores(self, data_profile_id: int) -> list[str]:
        """Names of the proxies with scores on a data profile."""
        with transaction(self.engine) as session:
            return list(
                session.scalars(
                    select(Score.proxy)
                    .where(Score.data_profile_id == data_profile_id)
                    .distinct()
                    .order_by(Score.proxy)
                )
            )

    def score_seconds_histogram(self) -> tuple[list[int], int, float]:
        """Cumulative counts of scores per ``SCORE_SECONDS_BUCKETS`` bound, the total count
        and the total seconds (a Prometheus histogram computed in the database)."""
        columns = [func.count(case((Score.seconds <= b, 1))) for b in SCORE_SECONDS_BUCKETS]
        with transaction(self.engine) as session:
            row = session.execute(
                select(*columns, func.count(), func.coalesce(func.sum(Score.seconds), 0.0))
            ).one()
        return [int(c) for c in row[:-2]], int(row[-2]), float(row[-1])

    # -- accuracies ------------------------------------------------------------------------

    def add_accuracies(self, items: Sequence[AccuracyRecord]) -> int:
        """Store accuracies; an identical report is stored once. Returns rows created."""
        created = 0
        # In unique-key order, as for architectures: concurrent overlapping reports then wait
        # for each other on the unique index instead of deadlocking (PostgreSQL).
        ordered = sorted(set(items), key=lambda i: tuple(i.__dict__.values()))
        with transaction(self.engine) as session:
            for chunk in _chunks(ordered):
                result = session.execute(
                    dialect_insert(session, Accuracy)
                    .values([item.__dict__ for item in chunk])
                    .on_conflict_do_nothing()
                    .returning(Accuracy.id)
                )
                created += len(result.all())
        return created

    def list_accuracies(
        self,
        *,
        architecture_id: int | None = None,
        dataset: str | None = None,
        metric: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AccuracyRecord], int]:
        """A page of accuracies matching the filters, and the total count."""
        filters = {
            Accuracy.architecture_id: architecture_id,
            Accuracy.dataset: dataset,
            Accuracy.metric: metric,
        }
        return self._page(Accuracy, filters, limit, offset, _accuracy)

    def _page(
        self,
        model: type[Score] | type[Accuracy],
        filters: dict,
        limit: int,
        offset: int,
        convert: Callable,
    ) -> tuple[list, int]:
        """Rows of ``model`` whose columns equal the non-None ``filters``, by id, and the
        total count."""
        where = and_(
            True, *(column == value for column, value in filters.items() if value is not None)
        )
        with transaction(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(model).where(where))
            rows = session.scalars(
                select(model).where(where).order_by(model.id).limit(limit).offset(offset)
            )
            return [convert(row) for row in rows], int(total or 0)

    def accuracy_datasets(self) -> list[tuple[str, str, int]]:
        """(dataset, metric, architectures with a report) for every reported pair, the most
        reported first."""
        count = func.count(Accuracy.architecture_id.distinct())
        with transaction(self.engine) as session:
            rows = session.execute(
                select(Accuracy.dataset, Accuracy.metric, count)
                .group_by(Accuracy.dataset, Accuracy.metric)
                .order_by(count.desc(), Accuracy.dataset, Accuracy.metric)
            )
            return [(dataset, metric, int(n)) for dataset, metric, n in rows]

    def mean_accuracies(self, dataset: str, metric: str) -> dict[int, float]:
        """architecture id -> mean reported value for (dataset, metric)."""
        with transaction(self.engine) as session:
            rows = session.execute(
                select(Accuracy.architecture_id, func.avg(Accuracy.value))
                .where(Accuracy.dataset == dataset, Accuracy.metric == metric)
                .group_by(Accuracy.architecture_id)
            )
            return {architecture_id: float(value) for architecture_id, value in rows}

    # -- health and metrics ----------------------------------------------------------------

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        with transaction(self.engine) as session:
            session.execute(select(1))

    def queue_depth(self) -> dict[str, int]:
        """Job items by status."""
        with transaction(self.engine) as session:
            rows = session.execute(select(JobItem.status, func.count()).group_by(JobItem.status))
            return {status: int(count) for status, count in rows}

    def workers(self) -> list[dict]:
        """Known workers with seconds since their last heartbeat (database clock)."""
        with transaction(self.engine) as session:
            now = session.scalar(select(db_epoch()))
            rows = session.scalars(select(Worker).order_by(Worker.id))
            return [
                {
                    "id": w.id,
                    "hostname": w.hostname,
                    "pid": w.pid,
                    "device": w.device,
                    "items_done": w.items_done,
                    "seconds_since_heartbeat": max(0.0, now - w.heartbeat_at),
                }
                for w in rows
            ]

    # -- learned predictors ----------------------------------------------------------------

    def create_predictor(self, config: PredictorConfig) -> int:
        """Queue a predictor for training: the next version of its config. Returns its id."""
        for attempt in range(5):
            try:
                with transaction(self.engine) as session:
                    same = self._predictor_config(config)
                    latest = session.scalar(select(func.max(Predictor.version)).where(*same))
                    row = Predictor(
                        dataset=config.dataset,
                        metric=config.metric,
                        data_profile_id=config.data_profile_id,
                        seed=config.seed,
                        space=config.space,
                        proxies=json.dumps(list(config.proxies)),
                        features=config.features,
                        min_labels=config.min_labels,
                        version=(latest or 0) + 1,
                        status="queued",
                    )
                    session.add(row)
                    session.flush()
                    return row.id
            except IntegrityError:  # a concurrent request took the version: number again
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _predictor_config(config: PredictorConfig) -> list:
        return [
            Predictor.dataset == config.dataset,
            Predictor.metric == config.metric,
            Predictor.data_profile_id == config.data_profile_id,
            Predictor.seed == config.seed,
            Predictor.space == config.space,
            Predictor.proxies == json.dumps(list(config.proxies)),
            Predictor.features == config.features,
        ]

    def get_predictor(self, predictor_id: int) -> PredictorRecord | None:
        with transaction(self.engine) as session:
            row = session.get(Predictor, predictor_id)
            return None if row is None else _predictor(row)

    def list_predictors(
        self, *, dataset: str | None = None, metric: str | None = None, limit: int = 100
    ) -> list[PredictorRecord]:
        """Predictors matching the filters, the newest first."""
        conditions = []
        if dataset is not None:
            conditions.append(Predictor.dataset == dataset)
        if metric is not None:
            conditions.append(Predictor.metric == metric)
        with transaction(self.engine) as session:
            rows = session.scalars(
                select(Predictor)
                .where(and_(True, *conditions))
                .order_by(Predictor.id.desc())
                .limit(limit)
            )
            return [_predictor(row) for row in rows]

    def latest_predictor(
        self,
        *,
        dataset: str,
        metric: str,
        data_profile_id: int | None = None,
        seed: int | None = None,
        proxies: Sequence[str] | None = None,
        succeeded: bool = True,
    ) -> PredictorRecord | None:
        """The newest predictor matching the filters (only succeeded ones by default)."""
        conditions = [Predictor.dataset == dataset, Predictor.metric == metric]
        if data_profile_id is not None:
            conditions.append(Predictor.data_profile_id == data_profile_id)
        if seed is not None:
            conditions.append(Predictor.seed == seed)
        if proxies is not None:
            conditions.append(Predictor.proxies == json.dumps(list(proxies)))
        if succeeded:
            conditions.append(Predictor.status == "succeeded")
        with transaction(self.engine) as session:
            row = session.scalars(
                select(Predictor).where(*conditions).order_by(Predictor.id.desc()).limit(1)
            ).first()
            return None if row is None else _predictor(row)

    def pending_predictor(self, config: PredictorConfig) -> bool:
        """Whether a predictor of this config is queued or running."""
        with transaction(self.engine) as session:
            found = session.scalar(
                select(func.count())
                .select_from(Predictor)
                .where(*self._predictor_config(config), Predictor.status.in_(["queued", "running"]))
            )
            return bool(found)

    def predictor_model(self, predictor_id: int) -> bytes | None:
        """The stored model bytes (``zero_cost.predictor.Predictor.to_bytes()``)."""
        with transaction(self.engine) as session:
            return session.scalar(select(Predictor.model).where(Predictor.id == predictor_id))

    def labelled_count(self, dataset: str, metric: str) -> int:
        """How many architectures have an accuracy for (dataset, metric)."""
        with transaction(self.engine) as session:
            count = session.scalar(
                select(func.count(Accuracy.architecture_id.distinct())).where(
                    Accuracy.dataset == dataset, Accuracy.metric == metric
                )
            )
            return int(count or 0)
