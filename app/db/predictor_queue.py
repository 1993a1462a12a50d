"""The predictor queue: the only code that moves a predictor's training between states.

A training enters queued (``create_predictor``, the next version of its configuration).
Workers train predictors when no job item is claimable: a queued one (or a running one
whose lease expired) is claimed the same way as an item, one at a time, and finished
guarded by the lease holder. Training takes seconds, well within a lease, so its lease is
not renewed by the heartbeat.

States (``PredictorStatus``): queued -> running -> succeeded | failed.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, Update, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .models import Predictor
from .records import PredictorConfig, TrainedPredictor
from .session import db_epoch, transaction
from .statuses import PredictorStatus


def create_predictor(engine: Engine, config: PredictorConfig) -> int:
    """Queue a predictor for training: the next version of its config. Returns its id."""
    for attempt in range(5):
        try:
            with transaction(engine) as session:
                same = predictor_config_filter(config)
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
                    status=PredictorStatus.QUEUED,
                )
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:  # a concurrent request took the version: number again
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def predictor_config_filter(config: PredictorConfig) -> list:
    """The conditions that select the predictors of ``config`` (every version)."""
    return [
        Predictor.dataset == config.dataset,
        Predictor.metric == config.metric,
        Predictor.data_profile_id == config.data_profile_id,
        Predictor.seed == config.seed,
        Predictor.space == config.space,
        Predictor.proxies == json.dumps(list(config.proxies)),
        Predictor.features == config.features,
    ]


def is_pending(engine: Engine, config: PredictorConfig) -> bool:
    """Whether a training of ``config`` is queued or running."""
    with transaction(engine) as session:
        found = session.scalar(
            select(func.count())
            .select_from(Predictor)
            .where(
                *predictor_config_filter(config),
                Predictor.status.in_([PredictorStatus.QUEUED, PredictorStatus.RUNNING]),
            )
        )
        return bool(found)


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
            expired = and_(
                Predictor.status == PredictorStatus.RUNNING, Predictor.lease_expires_at < now
            )
            candidate = (
                select(Predictor.id)
                .where(or_(Predictor.status == PredictorStatus.QUEUED, expired))
                .order_by(Predictor.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            return session.execute(
                update(Predictor)
                .where(Predictor.id.in_(candidate.scalar_subquery()))
                .values(
                    status=PredictorStatus.RUNNING,
                    lease_owner=self.worker_id,
                    lease_expires_at=now + self.lease_seconds,
                )
                .returning(Predictor.id)
            ).scalar()

    def _guarded(self, predictor_id: int) -> Update:
        return update(Predictor).where(
            Predictor.id == predictor_id,
            Predictor.lease_owner == self.worker_id,
            Predictor.status == PredictorStatus.RUNNING,
        )

    def succeed(self, predictor_id: int, result: TrainedPredictor) -> bool:
        """Store a trained predictor; False if this worker no longer holds its lease."""
        with transaction(self.engine) as session:
            statement = self._guarded(predictor_id).values(
                status=PredictorStatus.SUCCEEDED,
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
                status=PredictorStatus.FAILED, lease_owner=None, error=error
            )
            return session.execute(statement).rowcount == 1
