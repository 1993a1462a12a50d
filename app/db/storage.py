"""Storage: every database read and write of the service except the state changes of the
queues (``app.db.queue``, ``app.db.predictor_queue``, ``app.db.prune_queue``).

Each public method of ``Storage`` is one transaction and speaks in domain terms (the
records of ``app.db.records``), never in sessions or rows. Writes that must be idempotent
under concurrency use ``INSERT ... ON CONFLICT DO NOTHING`` against the unique
constraints, then read back.

Raises (every method):
    DatabaseUnavailable: the database cannot be reached (the API answers 503).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, case, func, select, tuple_
from sqlalchemy.orm import Session

from zero_cost.repeats import ONCE, Repeats

from .models import (
    Accuracy,
    Architecture,
    DataProfile,
    JobItem,
    Predictor,
    PruneJob,
    Score,
    ScoreJob,
    Worker,
)
from .pages import PagedReads
from .queue import item_counts, job_for_key
from .records import (
    PROFILE_COLUMNS_WITHOUT_BLOB,
    AccuracyRecord,
    ArchitectureRecord,
    JobRecord,
    KeyedJob,
    NewArchitecture,
    PredictorRecord,
    ProfileRecord,
    PruneRecord,
    ScoreRecord,
    architecture_record,
    job_proxy_versions,
    job_repeats,
    predictor_record,
    profile_record,
    profile_without_blob,
    prune_record,
    score_record,
)
from .session import chunks, db_epoch, dialect_insert, transaction
from .statuses import PredictorStatus, job_status

SCORE_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Storage(PagedReads):
    """The service's data, in domain terms. Thread-safe; one transaction per method."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- architectures ---------------------------------------------------------------------

    def add_architectures(self, items: Sequence[NewArchitecture]) -> list[tuple[int, bool]]:
        """Insert architectures not stored yet; return (id, created) per item, in order.

        Idempotent: concurrent calls with overlapping items create one row per
        (space, settings, identity_key), and all callers get the same ids.
        """
        unique = {(i.space, i.settings, i.identity_key): i for i in items}
        created: set[tuple[str, str, str]] = set()
        # Insert in key order: concurrent batches then take the unique index's row locks in
        # the same order, so overlapping inserts wait for each other instead of deadlocking.
        ordered = [unique[key] for key in sorted(unique)]
        with transaction(self.engine) as session:
            for chunk in chunks(ordered):
                statement = (
                    dialect_insert(session, Architecture)
                    .values([i.__dict__ for i in chunk])
                    .on_conflict_do_nothing()
                    .returning(Architecture.space, Architecture.settings, Architecture.identity_key)
                )
                created.update(tuple(row) for row in session.execute(statement))
            ids = self._ids_by_key(session, list(unique))
        return [
            (
                ids[(i.space, i.settings, i.identity_key)],
                (i.space, i.settings, i.identity_key) in created,
            )
            for i in items
        ]

    @staticmethod
    def _ids_by_key(
        session: Session, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], int]:
        ids = {}
        columns = tuple_(Architecture.space, Architecture.settings, Architecture.identity_key)
        for chunk in chunks(keys):
            rows = session.execute(
                select(
                    Architecture.space,
                    Architecture.settings,
                    Architecture.identity_key,
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
            for chunk in chunks(ids):
                for row in session.scalars(select(Architecture).where(Architecture.id.in_(chunk))):
                    found[row.id] = architecture_record(row)
        return found

    def spaces_of(self, ids: Iterable[int]) -> set[str]:
        """The spaces of the stored architectures among ``ids``."""
        found: set[str] = set()
        with transaction(self.engine) as session:
            for chunk in chunks(list(dict.fromkeys(ids))):
                query = select(Architecture.space).where(Architecture.id.in_(chunk)).distinct()
                found.update(session.scalars(query))
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
            return profile_record(row)

    def profile_id_for_key(self, key: str) -> int | None:
        """The id of the profile with content hash ``key``, if it exists."""
        with transaction(self.engine) as session:
            return session.scalar(select(DataProfile.id).where(DataProfile.key == key))

    def get_profile(self, profile_id: int, blob: bool = True) -> ProfileRecord | None:
        """The profile; without its uploaded bytes (``blob`` None) unless ``blob``."""
        if blob:
            with transaction(self.engine) as session:
                row = session.get(DataProfile, profile_id)
                return None if row is None else profile_record(row)
        with transaction(self.engine) as session:
            found = session.execute(
                select(*PROFILE_COLUMNS_WITHOUT_BLOB).where(DataProfile.id == profile_id)
            ).first()
            return None if found is None else profile_without_blob(found)

    # -- jobs (created and cancelled by ``app.db.queue``) -----------------------------------

    def job_for_key(self, idempotency_key: str) -> KeyedJob | None:
        """The job created with ``idempotency_key``, if any (``created`` False)."""
        with transaction(self.engine) as session:
            return job_for_key(session, idempotency_key)

    def get_job(self, job_id: int, max_errors: int = 100) -> JobRecord | None:
        """The job with item counts by status and up to ``max_errors`` per-item errors."""
        with transaction(self.engine) as session:
            job = session.get(ScoreJob, job_id)
            if job is None:
                return None
            # Counts first: on PostgreSQL each statement sees what was committed when it
            # started, and an item's status and error change together, so errors read after
            # counts include those of every item the counts show finished.
            counts = item_counts(session, [job_id]).get(job_id, {})
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
                job_proxy_versions(job.proxies),
                job.data_profile_id,
                job.init_seed,
                job.cancelled,
                counts,
                errors,
                job_repeats(job),
            )

    def jobs_by_status(self) -> dict[str, int]:
        """Number of jobs in each status (for /metrics)."""
        with transaction(self.engine) as session:
            per_job = item_counts(session)
            cancelled = set(session.scalars(select(ScoreJob.id).where(ScoreJob.cancelled)))
        totals: dict[str, int] = {}
        for job_id, counts in per_job.items():
            status = job_status(counts, job_id in cancelled)
            totals[status] = totals.get(status, 0) + 1
        return totals

    # -- scores ----------------------------------------------------------------------------

    def scores_for(
        self,
        architecture_ids: Sequence[int],
        data_profile_id: int,
        seed: int,
        proxies: Sequence[tuple[str, str]],
        repeats: Repeats = ONCE,
    ) -> dict[int, dict[str, ScoreRecord]]:
        """architecture id -> proxy -> score, for the given proxy versions and repeats."""
        wanted = set(proxies)
        result: dict[int, dict[str, ScoreRecord]] = {}
        with transaction(self.engine) as session:
            for chunk in chunks(list(architecture_ids)):
                rows = session.scalars(
                    select(Score).where(
                        Score.architecture_id.in_(chunk),
                        Score.data_profile_id == data_profile_id,
                        Score.seed == seed,
                        *Score.repeated(repeats),
                        Score.proxy.in_([name for name, _ in wanted]),
                    )
                )
                for row in rows:
                    if (row.proxy, row.proxy_version) in wanted:
                        result.setdefault(row.architecture_id, {})[row.proxy] = score_record(row)
        return result

    def score_counts_by_profile(self) -> dict[int, int]:
        """data profile id -> number of stored scores, for the profiles that have any."""
        with transaction(self.engine) as session:
            rows = session.execute(
                select(Score.data_profile_id, func.count())
                .group_by(Score.data_profile_id)
                .order_by(Score.data_profile_id)
            )
            return {profile_id: int(count) for profile_id, count in rows}

    def scored_architecture_ids(
        self, data_profile_id: int, seed: int, repeats: Repeats = ONCE
    ) -> list[int]:
        """Ids of the architectures with at least one score on a profile with a seed and
        repeats, ascending."""
        with transaction(self.engine) as session:
            return list(
                session.scalars(
                    select(Score.architecture_id)
                    .where(
                        Score.data_profile_id == data_profile_id,
                        Score.seed == seed,
                        *Score.repeated(repeats),
                    )
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
            for chunk in chunks(ordered):
                result = session.execute(
                    dialect_insert(session, Accuracy)
                    .values([item.__dict__ for item in chunk])
                    .on_conflict_do_nothing()
                    .returning(Accuracy.id)
                )
                created += len(result.all())
        return created

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

    def get_predictor(self, predictor_id: int) -> PredictorRecord | None:
        with transaction(self.engine) as session:
            row = session.get(Predictor, predictor_id)
            return None if row is None else predictor_record(row)

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
            conditions.append(Predictor.status == PredictorStatus.SUCCEEDED)
        with transaction(self.engine) as session:
            row = session.scalars(
                select(Predictor).where(*conditions).order_by(Predictor.id.desc()).limit(1)
            ).first()
            return None if row is None else predictor_record(row)

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

    # -- prune jobs ------------------------------------------------------------------------

    def get_prune_job(self, job_id: int) -> PruneRecord | None:
        """A prune job without its masks."""
        with transaction(self.engine) as session:
            row = session.get(PruneJob, job_id)
            return None if row is None else prune_record(row)

    def prune_masks(self, job_id: int) -> bytes | None:
        """A prune job's packed masks (None until it succeeded)."""
        with transaction(self.engine) as session:
            return session.scalar(select(PruneJob.masks).where(PruneJob.id == job_id))

    def prune_jobs_by_status(self) -> dict[str, int]:
        """Number of prune jobs in each status (for /metrics)."""
        with transaction(self.engine) as session:
            rows = session.execute(select(PruneJob.status, func.count()).group_by(PruneJob.status))
            return {status: int(count) for status, count in rows}
