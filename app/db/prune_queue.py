"""The prune queue: the only code that moves a prune job between states.

A prune job enters queued once per deduplication key (``create_prune_job``: a request for
a key already stored answers that job, whatever its state). Workers prune when no job item
is claimable, after predictors: a queued job (or a running one whose lease expired) is
claimed one at a time, as an item is, with its attempts counted; the worker's heartbeat
renews the lease while it prunes (SynFlow's 100 rounds may outlast one lease); finishing
is guarded by the lease holder. A retryable failure goes back to the queue while attempts
are left (``ZC_MAX_ATTEMPTS``); a lease that expired that many times fails the job.

States (``PruneStatus``): queued -> running -> succeeded | failed (running -> queued on a
retryable error or a graceful release).
"""

from __future__ import annotations

from sqlalchemy import Engine, Update, and_, or_, select, update

from .models import Architecture, DataProfile, PruneJob
from .records import (
    PruneConfig,
    PruneInputs,
    PruneResult,
    architecture_record,
    profile_record,
    prune_config,
    prune_layers_json,
)
from .session import db_epoch, dialect_insert, transaction
from .statuses import PruneStatus

KEY = (
    "architecture_id",
    "method",
    "density",
    "scope",
    "iterations",
    "data_profile_id",
    "init_seed",
    "version",
)


def create_prune_job(engine: Engine, config: PruneConfig) -> tuple[int, bool]:
    """Queue ``config`` unless its key is stored: the job's id and whether it is new.

    Concurrent requests for one key make one row (``INSERT ... ON CONFLICT DO NOTHING`` on
    the unique key, then read back). A stored job that failed is queued again (its attempts
    and error cleared): the failure may have passed (lost workers, a device error), and a
    request that can never succeed fails again with its reason.
    """
    with transaction(engine) as session:
        values = {
            "architecture_id": config.architecture_id,
            "method": config.method,
            "version": config.version,
            "density": config.density,
            "target_kind": config.target_kind,
            "target": config.target,
            "scope": config.scope,
            "iterations": config.iterations,
            "data_profile_id": config.data_profile_id,
            "init_seed": config.init_seed,
            "status": PruneStatus.QUEUED,
            "attempts": 0,
        }
        inserted = session.execute(
            dialect_insert(session, PruneJob)
            .values(**values)
            .on_conflict_do_nothing(index_elements=list(KEY))
            .returning(PruneJob.id)
        ).scalar()
        if inserted is not None:
            return inserted, True
        found = session.scalar(
            select(PruneJob.id).where(*(getattr(PruneJob, name) == values[name] for name in KEY))
        )
        session.execute(
            update(PruneJob)
            .where(PruneJob.id == found, PruneJob.status == PruneStatus.FAILED)
            .values(
                status=PruneStatus.QUEUED,
                attempts=0,
                error=None,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return found, False


class PruneQueue:
    """Claim, read, heartbeat, finish and release prune jobs for one worker id."""

    def __init__(
        self, engine: Engine, worker_id: str, lease_seconds: float, max_attempts: int
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    def claim(self) -> tuple[int, int] | None:
        """Lease one queued prune job (or a running one whose lease expired): its id and
        attempt number; None when there is none."""
        with transaction(self.engine) as session:
            now = db_epoch()
            expired = and_(PruneJob.status == PruneStatus.RUNNING, PruneJob.lease_expires_at < now)
            session.execute(
                update(PruneJob)
                .where(expired, PruneJob.attempts >= self.max_attempts)
                .values(
                    status=PruneStatus.FAILED,
                    lease_owner=None,
                    error=f"lease expired {self.max_attempts} times: the worker was lost",
                )
            )
            candidate = (
                select(PruneJob.id)
                .where(or_(PruneJob.status == PruneStatus.QUEUED, expired))
                .order_by(PruneJob.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            row = session.execute(
                update(PruneJob)
                .where(PruneJob.id.in_(candidate.scalar_subquery()))
                .values(
                    status=PruneStatus.RUNNING,
                    lease_owner=self.worker_id,
                    lease_expires_at=now + self.lease_seconds,
                    attempts=PruneJob.attempts + 1,
                )
                .returning(PruneJob.id, PruneJob.attempts)
            ).first()
            return None if row is None else (row[0], row[1])

    def inputs(self, job_id: int) -> PruneInputs:
        """The job's config, architecture and data profile, read in one transaction."""
        with transaction(self.engine) as session:
            job = session.get(PruneJob, job_id)
            return PruneInputs(
                config=prune_config(job),
                architecture=architecture_record(session.get(Architecture, job.architecture_id)),
                profile=profile_record(session.get(DataProfile, job.data_profile_id)),
            )

    def heartbeat(self) -> set[int]:
        """Extend the leases of this worker's running prune jobs; the ids it holds."""
        with transaction(self.engine) as session:
            held = session.execute(
                update(PruneJob)
                .where(
                    PruneJob.lease_owner == self.worker_id, PruneJob.status == PruneStatus.RUNNING
                )
                .values(lease_expires_at=db_epoch() + self.lease_seconds)
                .returning(PruneJob.id)
            ).all()
        return {job_id for (job_id,) in held}

    def _guarded(self, job_id: int) -> Update:
        return update(PruneJob).where(
            PruneJob.id == job_id,
            PruneJob.lease_owner == self.worker_id,
            PruneJob.status == PruneStatus.RUNNING,
        )

    def succeed(self, job_id: int, result: PruneResult) -> bool:
        """Store the masks and summary; False if this worker no longer holds the lease."""
        with transaction(self.engine) as session:
            statement = self._guarded(job_id).values(
                status=PruneStatus.SUCCEEDED,
                lease_owner=None,
                error=None,
                layers=prune_layers_json(result.layers),
                masks=result.masks,
                seconds=result.seconds,
                device=result.device,
            )
            return session.execute(statement).rowcount == 1

    def fail(self, job_id: int, attempts: int, error: str, retry: bool) -> bool:
        """Record why pruning failed: back to the queue when ``retry`` and attempts are
        left, else failed for good. False if this worker no longer holds the lease."""
        with transaction(self.engine) as session:
            if retry and attempts < self.max_attempts:
                values = {"status": PruneStatus.QUEUED, "lease_expires_at": None}
            else:
                values = {"status": PruneStatus.FAILED}
            statement = self._guarded(job_id).values(lease_owner=None, error=error, **values)
            return session.execute(statement).rowcount == 1

    def release(self) -> int:
        """Give back every prune job this worker holds, without counting the attempt."""
        with transaction(self.engine) as session:
            return session.execute(
                update(PruneJob)
                .where(
                    PruneJob.lease_owner == self.worker_id, PruneJob.status == PruneStatus.RUNNING
                )
                .values(
                    status=PruneStatus.QUEUED,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=PruneJob.attempts - 1,
                )
            ).rowcount
