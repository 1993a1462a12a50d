"""The job queue: the only code that moves job items between states.

Jobs enter with ``create_job`` (or ``create_job_once`` under an idempotency key) and are
cancelled with ``cancel_job``; a worker moves its items with the verbs of ``JobQueue``.

PostgreSQL is the queue. A worker claims a small batch of items in one statement
(``SELECT ... FOR UPDATE SKIP LOCKED``), holding a lease it renews by heartbeat; times come
from the database clock. An expired lease is reclaimed by any worker; an item whose lease
expired ``max_attempts`` times is failed. Jobs take turns: the items of jobs waiting at the
same time are claimed alternately (``JobItem.claim_order``), so a job submitted behind a big
one does not wait for it to finish. Every transition is guarded by the expected state
*and* the lease holder, so a worker that lost its lease cannot overwrite another's work.
SQLite runs the same statements under its single-writer lock (``BEGIN IMMEDIATE``).
A worker's verbs run their statements on the session's connection (Core): they load no
objects, and at hundreds of claims a second the ORM's handling of a statement cost more CPU
than the statement (``benchmarks/job_queue.py``, ``docs/scaling.md``).

Item states (``ItemStatus``): queued -> running -> succeeded | failed | cancelled
(running -> queued on a retryable error or a graceful release).

Raises (every function and method):
    DatabaseUnavailable: the database cannot be reached.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Engine,
    Row,
    TextClause,
    Update,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from zero_cost.repeats import ONCE, Repeats

from .models import Architecture, DataProfile, JobItem, Score, ScoreJob, Worker
from .records import (
    ItemInputs,
    KeyedJob,
    ScoreRecord,
    architecture_record,
    job_proxy_versions,
    job_repeats,
    profile_record,
)
from .session import chunks, db_epoch, dialect_insert, transaction
from .statuses import ItemStatus, JobStatus, job_status

ProxyVersions = Sequence[tuple[str, str]]
"""(proxy name, version) pairs, as the API resolved them."""

IS_QUEUED = JobItem.status == literal(ItemStatus.QUEUED.value, literal_execute=True)
"""An item is queued, with the status written into the SQL: the database then matches it to
the condition of the partial index of queued items (``ix_job_items_queued``), which a bound
parameter in a prepared statement's generic plan would not match."""


# -- jobs in and out ---------------------------------------------------------------------


def create_job(
    engine: Engine,
    architecture_ids: Sequence[int],
    proxies: ProxyVersions,
    data_profile_id: int,
    init_seed: int,
    repeats: Repeats = ONCE,
) -> int:
    """A job over ``architecture_ids`` for ``proxies`` (name, version) pairs, each scored
    as ``repeats`` says; its id.

    Items whose scores all exist already are created succeeded: a job whose scores all
    exist is complete at once.
    """
    with transaction(engine) as session:
        job_id = _insert_job(
            session, architecture_ids, proxies, data_profile_id, init_seed, repeats
        )
        assert job_id is not None  # without a key, nothing can conflict
        return job_id


def create_job_once(
    engine: Engine,
    architecture_ids: Sequence[int],
    proxies: ProxyVersions,
    data_profile_id: int,
    init_seed: int,
    idempotency_key: str,
    request_hash: str,
    repeats: Repeats = ONCE,
) -> KeyedJob:
    """``create_job`` unless a job with ``idempotency_key`` exists: then that job.

    The key is written with the job row, in its transaction, so no job is ever without
    its key. Concurrent calls with one key are settled by the unique index (``INSERT ...
    ON CONFLICT DO NOTHING``, then read the winner in the same transaction), never by a
    check before the insert: exactly one creates the job, the others get it with
    ``created`` False and the winner's ``request_hash``, for the caller to compare.
    """
    with transaction(engine) as session:
        job_id = _insert_job(
            session,
            architecture_ids,
            proxies,
            data_profile_id,
            init_seed,
            repeats,
            idempotency_key,
            request_hash,
        )
        if job_id is not None:
            return KeyedJob(job_id, request_hash, created=True)
        winner = job_for_key(session, idempotency_key)
    if winner is None:  # only if the winner was deleted since: jobs never are
        raise RuntimeError(f"idempotency key {idempotency_key!r} conflicted but has no job")
    return winner


def job_for_key(session: Session, idempotency_key: str) -> KeyedJob | None:
    """The job created with ``idempotency_key``, if any (``created`` False)."""
    row = session.execute(
        select(ScoreJob.id, ScoreJob.request_hash).where(
            ScoreJob.idempotency_key == idempotency_key
        )
    ).first()
    return None if row is None else KeyedJob(row.id, row.request_hash, created=False)


def cancel_job(engine: Engine, job_id: int) -> JobStatus | None:
    """Cancel a job that is not finished: its queued items are cancelled, running ones
    finish. Returns the job's status afterwards (a finished job is left as it is, and its
    status returned), or None when there is no such job."""
    with transaction(engine) as session:
        job = session.get(ScoreJob, job_id, with_for_update=True)
        if job is None:
            return None
        counts = dict(
            session.execute(
                select(JobItem.status, func.count())
                .where(JobItem.job_id == job_id)
                .group_by(JobItem.status)
            ).all()
        )
        status = job_status(counts, job.cancelled)
        if status not in {JobStatus.QUEUED, JobStatus.RUNNING}:
            return status
        job.cancelled = True
        session.execute(
            update(JobItem)
            .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.QUEUED)
            .values(status=ItemStatus.CANCELLED, finished_at=db_epoch())
        )
        return JobStatus.CANCELLED


def item_counts(
    session: Session, job_ids: Sequence[int] | None = None
) -> dict[int, dict[str, int]]:
    """job id -> its item counts by status, for ``job_ids`` (default: every job)."""
    statement = select(JobItem.job_id, JobItem.status, func.count()).group_by(
        JobItem.job_id, JobItem.status
    )
    if job_ids is not None:
        statement = statement.where(JobItem.job_id.in_(list(job_ids)))
    counts: dict[int, dict[str, int]] = {}
    for job_id, status, count in session.execute(statement):
        counts.setdefault(job_id, {})[status] = int(count)
    return counts


def _insert_job(
    session: Session,
    architecture_ids: Sequence[int],
    proxies: ProxyVersions,
    data_profile_id: int,
    init_seed: int,
    repeats: Repeats,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> int | None:
    """Insert a job and its items; None (and nothing written) if another job holds
    ``idempotency_key``. A NULL key never conflicts."""
    architecture_ids = list(dict.fromkeys(architecture_ids))
    job_id = session.scalar(
        dialect_insert(session, ScoreJob)
        .values(
            proxies=json.dumps([[name, version] for name, version in proxies]),
            data_profile_id=data_profile_id,
            init_seed=init_seed,
            repeat_init_seeds=repeats.init_seeds,
            repeat_batches=repeats.batches,
            cancelled=False,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        .on_conflict_do_nothing(index_elements=[ScoreJob.idempotency_key])
        .returning(ScoreJob.id)
    )
    if job_id is None:
        return None
    complete = _fully_scored(
        session, architecture_ids, proxies, data_profile_id, init_seed, repeats
    )
    now = session.scalar(select(db_epoch()))
    # Turns: this job's items take their places from the front of the queue, after the
    # items waiting as long; two jobs waiting alike alternate (see JobItem.claim_order).
    front = session.scalar(select(func.min(JobItem.claim_order)).where(IS_QUEUED))
    rows = [
        {
            "job_id": job_id,
            "architecture_id": a,
            "status": ItemStatus.SUCCEEDED if a in complete else ItemStatus.QUEUED,
            "attempts": 0,
            "finished_at": now if a in complete else None,
            "claim_order": (front or 0) + position,
        }
        for position, a in enumerate(architecture_ids)
    ]
    for chunk in chunks(rows):
        session.execute(dialect_insert(session, JobItem).values(list(chunk)))
    return job_id


def _stored_versions(
    session: Session,
    architecture_ids: Sequence[int],
    proxies: ProxyVersions,
    data_profile_id: int,
    seed: int,
    repeats: Repeats,
) -> dict[int, set[tuple[str, str]]]:
    """architecture id -> the (proxy, version) pairs of ``proxies`` it has scores of."""
    have: dict[int, set[tuple[str, str]]] = {}
    connection = session.connection()
    for chunk in chunks(list(architecture_ids)):
        rows = connection.execute(
            select(Score.architecture_id, Score.proxy, Score.proxy_version).where(
                Score.architecture_id.in_(chunk),
                Score.data_profile_id == data_profile_id,
                Score.seed == seed,
                *Score.repeated(repeats),
                Score.proxy.in_([name for name, _ in proxies]),
            )
        )
        for architecture_id, proxy, version in rows:
            have.setdefault(architecture_id, set()).add((proxy, version))
    return have


def _fully_scored(
    session: Session,
    architecture_ids: Sequence[int],
    proxies: ProxyVersions,
    data_profile_id: int,
    seed: int,
    repeats: Repeats,
) -> set[int]:
    wanted = set(proxies)
    have = _stored_versions(session, architecture_ids, proxies, data_profile_id, seed, repeats)
    return {a for a, got in have.items() if wanted <= got}


# -- a worker's items --------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedItem:
    item_id: int
    job_id: int
    architecture_id: int
    attempts: int


class JobQueue:
    """Claim, read, heartbeat, complete, fail and release job items for one worker id."""

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
        """Lease up to ``limit`` items: queued ones, or running ones whose lease expired.

        Queued items go in ``claim_order`` (then id), so jobs waiting at the same time take
        turns; an item whose lease expired goes first, alone.
        """
        with transaction(self.engine) as session:
            connection = session.connection()
            now = db_epoch()
            expired = and_(JobItem.status == ItemStatus.RUNNING, JobItem.lease_expires_at < now)
            cancelled_jobs = select(ScoreJob.id).where(ScoreJob.cancelled)
            # Items of a cancelled job that came back after the cancel (expired, retried or
            # released while it ran) are cancelled, never handed out again.
            connection.execute(
                update(JobItem)
                .where(
                    or_(JobItem.status == ItemStatus.QUEUED, expired),
                    JobItem.job_id.in_(cancelled_jobs),
                )
                .values(status=ItemStatus.CANCELLED, lease_owner=None, finished_at=now)
            )
            connection.execute(
                update(JobItem)
                .where(expired, JobItem.attempts >= self.max_attempts)
                .values(
                    status=ItemStatus.FAILED,
                    lease_owner=None,
                    finished_at=now,
                    error=f"lease expired {self.max_attempts} times: the worker was lost",
                )
            )
            # An item whose lease expired is handed out alone: it may be what killed its
            # worker, and in a batch it would take its batch-mates' attempts down with it
            # (a poisoned item failed innocent items "lease expired N times").
            orphan = connection.scalar(
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
                    else and_(IS_QUEUED, JobItem.job_id.not_in(cancelled_jobs))
                )
                .order_by(JobItem.claim_order, JobItem.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = connection.execute(
                update(JobItem)
                .where(JobItem.id.in_(candidates.scalar_subquery()))
                .values(
                    status=ItemStatus.RUNNING,
                    lease_owner=self.worker_id,
                    lease_expires_at=now + self.lease_seconds,
                    attempts=JobItem.attempts + 1,
                )
                .returning(JobItem.id, JobItem.job_id, JobItem.architecture_id, JobItem.attempts)
            ).all()
        return sorted((ClaimedItem(*row) for row in rows), key=lambda item: item.item_id)

    def inputs(self, item: ClaimedItem) -> ItemInputs:
        """What scoring the item needs: ``inputs_many`` of the one item."""
        return self.inputs_many([item])[item.item_id]

    def inputs_many(self, items: Sequence[ClaimedItem]) -> dict[int, ItemInputs]:
        """item id -> what scoring the item needs (its architecture, data profile, seed and
        repeats, and the (proxy, version) pairs of its job not stored yet), read in one
        transaction with a few queries whatever the number of items: one each for the
        jobs, architectures and profiles, and one per job for the stored scores.

        Raises:
            KeyError: an item's job, architecture or data profile does not exist.
        """
        if not items:
            return {}
        with transaction(self.engine) as session:
            jobs = _rows_by_id(session, ScoreJob, {item.job_id for item in items})
            architectures = _rows_by_id(
                session, Architecture, {item.architecture_id for item in items}
            )
            profiles = {
                profile_id: profile_record(row)
                for profile_id, row in _rows_by_id(
                    session, DataProfile, {job.data_profile_id for job in jobs.values()}
                ).items()
            }
            by_job: dict[int, list[ClaimedItem]] = {}
            for item in items:
                by_job.setdefault(item.job_id, []).append(item)
            inputs = {}
            for job_id, mine in by_job.items():
                job = jobs[job_id]
                proxies = job_proxy_versions(job.proxies)
                repeats = job_repeats(job)
                have = _stored_versions(
                    session,
                    [item.architecture_id for item in mine],
                    proxies,
                    job.data_profile_id,
                    job.init_seed,
                    repeats,
                )
                for item in mine:
                    stored = have.get(item.architecture_id, set())
                    inputs[item.item_id] = ItemInputs(
                        architecture=architecture_record(architectures[item.architecture_id]),
                        profile=profiles[job.data_profile_id],
                        missing=[pair for pair in proxies if pair not in stored],
                        seed=job.init_seed,
                        repeats=repeats,
                    )
            return inputs

    def heartbeat(self) -> set[int]:
        """Extend the leases of this worker's items; return the ids it still holds.

        The item rows are locked in id order, as ``complete_many`` locks them: the two,
        run from two threads of one worker, cannot deadlock.
        """
        with transaction(self.engine) as session:
            connection = session.connection()
            now = db_epoch()
            mine = (
                select(JobItem.id)
                .where(JobItem.lease_owner == self.worker_id, JobItem.status == ItemStatus.RUNNING)
                .order_by(JobItem.id)
                .with_for_update()
            )
            held = connection.execute(
                update(JobItem)
                .where(JobItem.id.in_(mine.scalar_subquery()))
                .values(lease_expires_at=now + self.lease_seconds)
                .returning(JobItem.id)
            ).all()
            connection.execute(
                update(Worker).where(Worker.id == self.worker_id).values(heartbeat_at=now)
            )
        return {item_id for (item_id,) in held}

    def complete(self, item: ClaimedItem, scores: Sequence[ScoreRecord]) -> bool:
        """Store the scores and mark the item succeeded, in one transaction.

        Returns False (and stores nothing) if this worker no longer holds the item's lease.
        """
        return item.item_id in self.complete_many([(item, scores)])

    def complete_many(self, done: Sequence[tuple[ClaimedItem, Sequence[ScoreRecord]]]) -> set[int]:
        """Store the scores of each (item, scores) pair and mark the items succeeded, in one
        transaction; return the ids of the items completed.

        An item whose lease this worker no longer holds is left as it is and none of its
        scores are stored; the others complete. The items are locked in id order and the
        scores inserted in unique-key order, so that concurrent calls cannot deadlock.
        """
        if not done:
            return set()
        with transaction(self.engine) as session:
            completed = self._finish_many(
                session, [item.item_id for item, _ in done], ItemStatus.SUCCEEDED, error=None
            )
            self._store_scores(
                session,
                [score for item, scores in done if item.item_id in completed for score in scores],
            )
        return completed

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
                    status=ItemStatus.QUEUED, lease_owner=None, lease_expires_at=None, error=error
                )
                moved = session.execute(done).rowcount == 1
            else:
                moved = self._finish(session, item, status=ItemStatus.FAILED, error=error)
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
                .where(JobItem.lease_owner == self.worker_id, JobItem.status == ItemStatus.RUNNING)
                .values(
                    status=ItemStatus.QUEUED,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=JobItem.attempts - 1,
                )
            )
            return result.rowcount

    def _guarded(self, item: ClaimedItem) -> Update:
        return update(JobItem).where(
            JobItem.id == item.item_id,
            JobItem.lease_owner == self.worker_id,
            JobItem.status == ItemStatus.RUNNING,
        )

    def _finish(self, session: Session, item: ClaimedItem, status: str, error: str | None) -> bool:
        return bool(self._finish_many(session, [item.item_id], status, error))

    def _finish_many(
        self, session: Session, item_ids: Sequence[int], status: str, error: str | None
    ) -> set[int]:
        """Move those of ``item_ids`` this worker holds to ``status`` (locked in id order)
        and count them done for the worker; their ids."""
        connection = session.connection()
        held = (
            select(JobItem.id)
            .where(
                JobItem.id.in_(list(item_ids)),
                JobItem.lease_owner == self.worker_id,
                JobItem.status == ItemStatus.RUNNING,
            )
            .order_by(JobItem.id)
            .with_for_update()
        )
        finished = connection.scalars(
            update(JobItem)
            .where(JobItem.id.in_(held.scalar_subquery()))
            .values(status=status, lease_owner=None, finished_at=db_epoch(), error=error)
            .returning(JobItem.id)
        ).all()
        if finished:
            connection.execute(
                update(Worker)
                .where(Worker.id == self.worker_id)
                .values(items_done=Worker.items_done + len(finished))
            )
        return set(finished)

    @staticmethod
    def _store_scores(session: Session, scores: Sequence[ScoreRecord]) -> None:
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
                    s.repeat_init_seeds,
                    s.repeat_batches,
                ),
            )
            _insert_scores(session, [score.__dict__ for score in ordered])


def _rows_by_id(session: Session, model: type, ids: set[int]) -> dict[int, Row]:
    """id -> the row of ``model``'s table, for ``ids`` (in bounded IN lists): plain rows,
    with the model's attribute names, read without the ORM's bookkeeping."""
    table = model.__table__
    connection = session.connection()
    rows = {}
    for chunk in chunks(sorted(ids)):
        rows.update(
            (row.id, row) for row in connection.execute(select(table).where(table.c.id.in_(chunk)))
        )
    return rows


SCORE_COLUMNS = [c for c in Score.__table__.columns if c.name not in {"id", "created_at"}]
"""The columns a ``ScoreRecord`` fills."""


def _unnest_insert() -> TextClause:
    """PostgreSQL's INSERT of any number of scores in one statement of constant text (one
    parse, one plan): each column as an array parameter, unnested back into rows in order,
    skipping rows whose key is stored."""
    dialect = postgresql.dialect()
    names = ", ".join(column.name for column in SCORE_COLUMNS)
    arrays = ", ".join(
        f"CAST(:{column.name} AS {column.type.compile(dialect)}[])" for column in SCORE_COLUMNS
    )
    return text(
        f"INSERT INTO scores ({names}) SELECT {names}"
        f" FROM unnest({arrays}) WITH ORDINALITY AS given ({names}, n)"
        " ORDER BY n ON CONFLICT DO NOTHING"
    )


_UNNEST_INSERT = _unnest_insert()


def _insert_scores(session: Session, rows: Sequence[dict]) -> None:
    """Insert score rows (dicts of ``SCORE_COLUMNS``) in the order given, skipping those
    whose key is stored: one statement on PostgreSQL (a multi-row VALUES would be parsed
    again for each count of rows, and executemany sends a statement per row); executemany
    on SQLite, whose driver loops in C."""
    connection = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        columns = {column.name: [row[column.name] for row in rows] for column in SCORE_COLUMNS}
        connection.execute(_UNNEST_INSERT, columns)
    else:
        connection.execute(dialect_insert(session, Score).on_conflict_do_nothing(), list(rows))
