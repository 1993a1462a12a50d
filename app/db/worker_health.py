"""Is a worker alive on this host? The answer a worker container's health check needs.

A worker records itself in the ``workers`` table when it starts (``JobQueue.register``, with
``socket.gethostname()``) and renews ``heartbeat_at`` every third of its lease
(``JobQueue.heartbeat``), both by the database clock. A container has a hostname of its own,
so a fresh heartbeat from that hostname says that the container's worker runs and reaches
the database.

Raises (every function):
    DatabaseNotMigrated: the database lacks the ``workers`` table.
    DatabaseUnavailable: the database cannot be reached.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from .models import Worker
from .session import db_epoch, transaction


def heartbeat_age(engine: Engine, hostname: str) -> float | None:
    """Seconds since the freshest heartbeat of a worker on ``hostname``, by the database
    clock; None when no worker of that host is registered."""
    with transaction(engine) as session:
        age = session.scalar(
            select(db_epoch() - func.max(Worker.heartbeat_at)).where(Worker.hostname == hostname)
        )
    return None if age is None else max(0.0, age)
