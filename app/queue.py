"""The job queue: the only code that moves job items between states.

PostgreSQL is the queue. A worker claims a small batch of items in one statement
(``SELECT ... FOR UPDATE SKIP LOCKED``), holding a lease it renews by heartbeat; times come
from the database clock. An expired lease is reclaimed by any worker; an item whose lease
expired ``max_attempts`` times is failed. Every transition is guarded by the expected state
*and* the lease holder, so a worker that lost its lease cannot overwrite another's work.
SQLite runs the same statements under its single-writer lock (``BEGIN IMMEDIATE``).

Item states: queued -> running -> succeeded | failed | cancelled (running -> queued on a
retryable error or a graceful release).

Learned predictors are trained by the same workers, when no item is claimable: a queued
``predictors`` row (or a running one whose lease expired) is claimed the same way, one at a
time, and finished guarded by the lease holder. (Training takes seconds, well within a
lease, so its lease is not renewed by the heartbeat.)
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, or_, select, update

from .db.models import JobItem, Predictor, Score, ScoreJob, Worker
from .db.session import db_epoch, transaction
from .db.storage import ScoreRecord, dialect_insert


@dataclass(frozen=True)
class ClaimedItem:
    item_id: int
    job_id: int
    architecture_id: int
    attempts: int


class JobQueue:
    """Claim, heartbeat, complete, fail and release job items for one worker id."""

    def __init__(
        self, engine: Engine, worker_id: str, lease_seconds: float, max_attempts: int
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    def register(self, device: str) -> None:
        """Record this worker (for /metrics and operators)."""
        with transaction(self.engine) as session:
            session.execute(delete(Worker).where(Worker.id == self.worker_id))
            session.add(
                Worker(
                    id=self.worker_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    device=device,
                    started_at=session.scalar(select(db_epoch())),
                    heartbeat_at=session.scalar(select(db_epoch())),
                    items_done=0,
                )
            )

    def unregister(self) -> None:
        with transaction(self.engine) as session:
            session.execute(delete(Worker).where(Worker.id == self.worker_id))

    def claim(self, limit: int) -> list[ClaimedItem]:
        """Lease up to ``limit`` items: queued ones, or running ones whose lease expired."""
        with transaction(self.engine) as session:
            now = db_epoch()
            expired = and_(JobItem.status == "running", JobItem.lease_expires_at < now)
            cancelled_jobs = select(ScoreJob.id).where(ScoreJob.cancelled)
            # Items of a cancelled job that came back after the cancel (expired, retried or
            # released while it ran) are cancelled, never handed out again.
            session.execute(
                update(JobItem)
                .where(
                    or_(JobItem.status == "queued", expired),
                    JobItem.job_id.in_(cancelled_jobs),
                )
                .values(status="cancelled", lease_owner=None, finished_at=now)
            )
            session.execute(
                update(JobItem)
                .where(expired, JobItem.attempts >= self.max_attempts)
                .values(
                    status="failed",
                    lease_owner=None,
                    finished_at=now,
                    error=f"lease expired {self.max_attempts} times: the worker was lost",
                )
            )
            # An item whose lease expired is handed out alone: it may be what killed its
            # worker, and in a batch it would take its batch-mates' attempts down with it
            # (a poisoned item failed innocent items "lease expired N times").
            orphan = session.scalar(
                select(JobItem.id)
                .where(expired, JobItem.job_id.not_in(cancelled_jobs))
                .order_by(JobItem.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            candidates = (
                select(JobItem.id)
                .where(
                    JobItem.id == orphan
                    if orphan is not None
                    else and_(JobItem.status == "queued", JobItem.job_id.not_in(cancelled_jobs))
                )
                .order_by(JobItem.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = session.execute(
                update(JobItem)
                .where(JobItem.id.in_(candidates.scalar_subquery()))
                .values(
                    status="running",
                    lease_owner=self.worker_id,
                    lease_expires_at=now + self.lease_seconds,
                    attempts=JobItem.attempts + 1,
                )
                .returning(JobItem.id, JobItem.job_id, JobItem.architecture_id, JobItem.attempts)
            ).all()
        return sorted((ClaimedItem(*row) for row in rows), key=lambda item: item.item_id)

    def heartbeat(self) -> set[int]:
        """Extend the leases of this worker's items; return the ids it still holds."""
        with transaction(self.engine) as session:
            now = db_epoch()
            held = session.execute(
                update(JobItem)
                .where(JobItem.lease_owner == self.worker_id, JobItem.status == "running")
                .values(lease_expires_at=now + self.lease_seconds)
                .returning(JobItem.id)
            ).all()
            session.execute(
                update(Worker).where(Worker.id == self.worker_id).values(heartbeat_at=now)
            )
        return {item_id for (item_id,) in held}

    def complete(self, item: ClaimedItem, scores: Sequence[ScoreRecord]) -> bool:
        """Store the scores and mark the item succeeded, in one transaction.

        Returns False (and stores nothing) if this worker no longer holds the item's lease.
        """
        with transaction(self.engine) as session:
            if not self._finish(session, item, status="succeeded", error=None):
                session.rollback()
                return False
            self._store_scores(session, scores)
            return True

    def fail(
        self, item: ClaimedItem, error: str, retry: bool, scores: Sequence[ScoreRecord] = ()
    ) -> bool:
        """Record an item's error, storing the scores it did compute.

        With ``retry`` and attempts left the item goes back to the queue; otherwise it is
        failed for good. Returns False if this worker no longer holds the lease.
        """
        requeue = retry and item.attempts < self.max_attempts
        with transaction(self.engine) as session:
            if requeue:
                done = self._guarded(item).values(
                    status="queued", lease_owner=None, lease_expires_at=None, error=error
                )
                moved = session.execute(done).rowcount == 1
            else:
                moved = self._finish(session, item, status="failed", error=error)
            if not moved:
                session.rollback()
                return False
            self._store_scores(session, scores)
            return True

    def release(self) -> int:
        """Give back every item this worker holds, without counting the attempt."""
        with transaction(self.engine) as session:
            result = session.execute(
                update(JobItem)
                .where(JobItem.lease_owner == self.worker_id, JobItem.status == "running")
                .values(
                    status="queued",
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=JobItem.attempts - 1,
                )
            )
            return result.rowcount

    def _guarded(self, item: ClaimedItem) -> object:
        return update(JobItem).where(
            JobItem.id == item.item_id,
            JobItem.lease_owner == self.worker_id,
            JobItem.status == "running",
        )

    def _finish(self, session: object, item: ClaimedItem, status: str, error: str | None) -> bool:
        statement = self._guarded(item).values(
            status=status, lease_owner=None, finished_at=db_epoch(), error=error
        )
        if session.execute(statement).rowcount != 1:
            return False
        session.execute(
            update(Worker)
            .where(Worker.id == self.worker_id)
            .values(items_done=Worker.items_done + 1)
        )
        return True

    @staticmethod
    def _store_scores(session: object, scores: Sequence[ScoreRecord]) -> None:
        if scores:
            # In unique-key order, so that two workers storing scores of one architecture
            # (from two jobs) take the index locks in the same order and cannot deadlock.
            ordered = sorted(
                scores,
                key=lambda s: (
                    s.architecture_id,
                    s.proxy,
                    s.proxy_version,
                    s.data_profile_id,
                    s.seed,
                ),
            )
            session.execute(
                dialect_insert(session, Score)
                .values([score.__dict__ for score in ordered])
                .on_conflict_do_nothing()
            )


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


class PredictorQueue:
    """Claim and finish queued predictor trainings for one worker id."""

    def __init__(self, engine: Engine, worker_id: str, lease_seconds: float) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds

    def claim(self) -> int | None:
        """Lease one queued predictor (or a running one whose lease expired); its id."""
        with transaction(self.engine) as session:
            now = db_epoch()
            expired = and_(Predictor.status == "running", Predictor.lease_expires_at < now)
            candidate = (
                select(Predictor.id)
                .where(or_(Predictor.status == "queued", expired))
                .order_by(Predictor.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            return session.execute(
                update(Predictor)
                .where(Predictor.id.in_(candidate.scalar_subquery()))
                .values(
                    status="running",
                    lease_owner=self.worker_id,
                    lease_expires_at=now + self.lease_seconds,
                )
                .returning(Predictor.id)
            ).scalar()

    def _guarded(self, predictor_id: int) -> object:
        return update(Predictor).where(
            Predictor.id == predictor_id,
            Predictor.lease_owner == self.worker_id,
            Predictor.status == "running",
        )

    def succeed(self, predictor_id: int, result: TrainedPredictor) -> bool:
        """Store a trained predictor; False if this worker no longer holds its lease."""
        with transaction(self.engine) as session:
            statement = self._guarded(predictor_id).values(
                status="succeeded",
                lease_owner=None,
                error=None,
                n_reported=result.n_reported,
                n_labels=result.n_labels,
                mode=result.mode,
                fallback_reason=result.fallback_reason,
                metrics=json.dumps(result.metrics),
                learning_curve=json.dumps(result.learning_curve),
                oof=json.dumps({str(k): v for k, v in result.oof.items()}),
                model=result.model,
            )
            return session.execute(statement).rowcount == 1

    def fail(self, predictor_id: int, error: str) -> bool:
        """Record why training failed; False if this worker no longer holds its lease."""
        with transaction(self.engine) as session:
            statement = self._guarded(predictor_id).values(
                status="failed", lease_owner=None, error=error
            )
            return session.execute(statement).rowcount == 1
