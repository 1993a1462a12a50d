"""job proxy versions and status checks

Revision ID: 0004_proxy_versions_checks
Revises: 0003_idempotency_keys
Create Date: 2026-12-01 01:30:00

``score_jobs.proxies`` held the proxy names of a job; workers looked up each proxy's version
when they scored. It now holds the (name, version) pairs the API resolved, so that a worker
scores exactly what was asked. Existing jobs get the versions the installed proxies have
now, which is what a worker would have scored them with; downgrading keeps the names.

``job_items.status`` and ``predictors.status`` get CHECK constraints naming the statuses of
``app.db.statuses`` (spelled out here: a migration must not change when the code does). On
SQLite the two tables are rebuilt (batch mode); nothing references either table, so the
rebuild cascades nowhere, and every row is copied.
"""

import json

import sqlalchemy as sa
from alembic import op

from zero_cost import proxies as proxy_registry

revision = "0004_proxy_versions_checks"
down_revision = "0003_idempotency_keys"
branch_labels = None
depends_on = None

ITEM_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
PREDICTOR_STATUSES = ("queued", "running", "succeeded", "failed")
UNREGISTERED = "unregistered"  # the version of a proxy this installation does not have

score_jobs = sa.table("score_jobs", sa.column("id", sa.Integer), sa.column("proxies", sa.Text))


def _version(name: str) -> str:
    try:
        return proxy_registry.get(name).version
    except KeyError:
        return UNREGISTERED


def _rewrite_proxies(convert) -> None:
    connection = op.get_bind()
    for job_id, stored in connection.execute(sa.select(score_jobs.c.id, score_jobs.c.proxies)):
        connection.execute(
            score_jobs.update()
            .where(score_jobs.c.id == job_id)
            .values(proxies=json.dumps(convert(json.loads(stored))))
        )


def _check(statuses: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))


def upgrade() -> None:
    _rewrite_proxies(lambda names: [[name, _version(name)] for name in names])
    with op.batch_alter_table("job_items") as batch:
        batch.create_check_constraint(op.f("ck_job_items_status"), _check(ITEM_STATUSES))
    with op.batch_alter_table("predictors") as batch:
        batch.create_check_constraint(op.f("ck_predictors_status"), _check(PREDICTOR_STATUSES))


def downgrade() -> None:
    with op.batch_alter_table("predictors") as batch:
        batch.drop_constraint(op.f("ck_predictors_status"), type_="check")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_constraint(op.f("ck_job_items_status"), type_="check")
    _rewrite_proxies(lambda pairs: [name for name, _ in pairs])
