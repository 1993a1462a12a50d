"""Paged reads: the lists the API serves, filtered and cut into pages, each with the total
count of what matches (a mixin of ``Storage``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, Engine, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from .models import (
    Accuracy,
    Architecture,
    DataProfile,
    JobItem,
    Predictor,
    PruneJob,
    Score,
    ScoreJob,
)
from .queue import item_counts
from .records import (
    PROFILE_COLUMNS_WITHOUT_BLOB,
    AccuracyRecord,
    JobSummary,
    PredictorRecord,
    ProfileRecord,
    ScoreRecord,
    accuracy_record,
    architecture_record,
    job_proxy_versions,
    job_repeats,
    job_summary,
    predictor_record,
    profile_without_blob,
    prune_record,
    score_record,
)
from .session import transaction
from .statuses import JobStatus, job_status

Page = tuple[list, int]
"""The records of one page, and how many match in all."""


class PagedReads:
    """The paged list reads of ``Storage``."""

    engine: Engine

    def list_architectures(
        self,
        *,
        space: str | None = None,
        canonical_key: str | None = None,
        has_accuracy: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Architectures of a space, of a function class, with or without an accuracy."""
        conditions = _equal({Architecture.space: space, Architecture.canonical_key: canonical_key})
        if has_accuracy is not None:
            reported = exists().where(Accuracy.architecture_id == Architecture.id)
            conditions.append(reported if has_accuracy else ~reported)
        return self._page(Architecture, conditions, limit, offset, architecture_record)

    def list_profiles(self, limit: int, offset: int) -> tuple[list[ProfileRecord], int]:
        """The profiles, oldest first, without their uploaded bytes (``blob`` is None)."""
        with transaction(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(DataProfile))
            rows = session.execute(
                select(*PROFILE_COLUMNS_WITHOUT_BLOB)
                .order_by(DataProfile.id)
                .limit(limit)
                .offset(offset)
            )
            return [profile_without_blob(row) for row in rows], int(total or 0)

    def list_jobs(
        self, *, status: JobStatus | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[JobSummary], int]:
        """Score jobs, the newest first, with item counts; of one status when given (a job's
        status is derived from its items, so that filter is applied here, not in SQL)."""
        newest_first = select(ScoreJob).order_by(ScoreJob.id.desc())
        with transaction(self.engine) as session:
            if status is None:
                total = session.scalar(select(func.count()).select_from(ScoreJob))
                jobs = list(session.scalars(newest_first.limit(limit).offset(offset)))
                counts = item_counts(session, [job.id for job in jobs])
                return [job_summary(job, counts.get(job.id, {})) for job in jobs], int(total)
            # Jobs first: on PostgreSQL each statement sees what was committed when it
            # started, so counts read afterwards cover every job read (a job has its items
            # from the transaction that created it).
            jobs = list(session.scalars(newest_first))
            counts = item_counts(session)
            matching = [
                job for job in jobs if job_status(counts.get(job.id, {}), job.cancelled) == status
            ]
        page = matching[offset : offset + limit]
        return [job_summary(job, counts.get(job.id, {})) for job in page], len(matching)

    def list_scores(
        self,
        *,
        architecture_ids: Sequence[int] | None = None,
        proxy: str | None = None,
        data_profile_id: int | None = None,
        repeat_init_seeds: int | None = None,
        repeat_batches: int | None = None,
        job_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[ScoreRecord], int]:
        """Scores of some architectures, of a proxy, on a profile, repeated so often; with
        ``job_id``, the scores that job asked for (its architectures, profile, seed, repeats
        and proxy versions)."""
        conditions = _equal(
            {
                Score.proxy: proxy,
                Score.data_profile_id: data_profile_id,
                Score.repeat_init_seeds: repeat_init_seeds,
                Score.repeat_batches: repeat_batches,
            }
        )
        if architecture_ids is not None:
            conditions.append(Score.architecture_id.in_(list(architecture_ids)))
        if job_id is not None:
            with transaction(self.engine) as session:
                conditions += _job_scores(session, job_id)
        return self._page(Score, conditions, limit, offset, score_record)

    def list_accuracies(
        self,
        *,
        architecture_id: int | None = None,
        dataset: str | None = None,
        metric: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AccuracyRecord], int]:
        """Accuracies of an architecture, of a dataset and metric."""
        conditions = _equal(
            {
                Accuracy.architecture_id: architecture_id,
                Accuracy.dataset: dataset,
                Accuracy.metric: metric,
            }
        )
        return self._page(Accuracy, conditions, limit, offset, accuracy_record)

    def list_predictors(
        self,
        *,
        dataset: str | None = None,
        metric: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[PredictorRecord], int]:
        """Predictors of a dataset and metric, the newest first."""
        conditions = _equal({Predictor.dataset: dataset, Predictor.metric: metric})
        return self._page(
            Predictor, conditions, limit, offset, predictor_record, Predictor.id.desc()
        )

    def list_prune_jobs(
        self,
        *,
        status: str | None = None,
        architecture_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Prune jobs (without masks) of a status and architecture, the newest first."""
        conditions = _equal({PruneJob.status: status, PruneJob.architecture_id: architecture_id})
        return self._page(PruneJob, conditions, limit, offset, prune_record, PruneJob.id.desc())

    def _page(
        self,
        model: type,
        conditions: list[ColumnElement[bool]],
        limit: int,
        offset: int,
        convert: Callable,
        order: ColumnElement | None = None,
    ) -> Page:
        """Rows of ``model`` meeting every condition, by id (or ``order``), and how many."""
        where = and_(True, *conditions)
        with transaction(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(model).where(where))
            rows = session.scalars(
                select(model)
                .where(where)
                .order_by(model.id if order is None else order)
                .limit(limit)
                .offset(offset)
            )
            return [convert(row) for row in rows], int(total or 0)


def _equal(filters: dict) -> list[ColumnElement[bool]]:
    """``column == value`` for each filter that is not None."""
    return [column == value for column, value in filters.items() if value is not None]


def _job_scores(session: Session, job_id: int) -> list[ColumnElement[bool]]:
    """The conditions that select the scores job ``job_id`` asked for (none if no such job:
    then nothing matches)."""
    job = session.get(ScoreJob, job_id)
    if job is None:
        return [Score.id.is_(None)]
    pairs = job_proxy_versions(job.proxies)
    return [
        Score.architecture_id.in_(select(JobItem.architecture_id).where(JobItem.job_id == job_id)),
        Score.data_profile_id == job.data_profile_id,
        Score.seed == job.init_seed,
        *Score.repeated(job_repeats(job)),
        or_(*(and_(Score.proxy == name, Score.proxy_version == v) for name, v in pairs)),
    ]
