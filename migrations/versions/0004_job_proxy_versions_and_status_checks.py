"""job proxy versions and status checks

Revision ID: 0004_proxy_versions_checks
Revises: 0003_idempotency_keys
Create Date: 2026-12-01 01:30:00

``score_jobs.proxies`` held the proxy names of a job; workers looked up each proxy's version
when they scored. It now holds the (name, version) pairs the API resolved, so that a worker
scores exactly what was asked. An existing job gets, for each proxy, the version of the
scores stored for its items (the most common, if several), so that a job finished before
a proxy's version changed still names the scores it produced; a proxy without stored scores
gets the installed version, which is what a worker would score it with (the registry is
read here for that alone). Downgrading keeps the names.

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
SCORED_VERSIONS = sa.text(
    "SELECT s.proxy, s.proxy_version FROM scores s"
    " JOIN job_items i ON i.architecture_id = s.architecture_id"
    " JOIN score_jobs j ON j.id = i.job_id"
    " WHERE j.id = :job AND s.data_profile_id = j.data_profile_id AND s.seed = j.init_seed"
    " GROUP BY s.proxy, s.proxy_version ORDER BY count(*) DESC, s.proxy_version DESC"
)


def _installed_version(name: str) -> str:
    try:
        return proxy_registry.get(name).version
    except KeyError:
        return UNREGISTERED


def _with_versions(connection: sa.Connection, job_id: int, names: list[str]) -> list[list[str]]:
    scored: dict[str, str] = {}
    for proxy, version in connection.execute(SCORED_VERSIONS, {"job": job_id}):
        scored.setdefault(proxy, version)  # the most common first
    return [[name, scored.get(name) or _installed_version(name)] for name in names]


def _rewrite_proxies(convert) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(score_jobs.c.id, score_jobs.c.proxies)).all()
    for job_id, stored in rows:
        connection.execute(
            score_jobs.update()
            .where(score_jobs.c.id == job_id)
            .values(proxies=json.dumps(convert(connection, job_id, json.loads(stored))))
        )


def _check(statuses: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))


def upgrade() -> None:
    _rewrite_proxies(_with_versions)
    with op.batch_alter_table("job_items") as batch:
        batch.create_check_constraint(op.f("ck_job_items_status"), _check(ITEM_STATUSES))
    with op.batch_alter_table("predictors") as batch:
        batch.create_check_constraint(op.f("ck_predictors_status"), _check(PREDICTOR_STATUSES))


def downgrade() -> None:
    with op.batch_alter_table("predictors") as batch:
        batch.drop_constraint(op.f("ck_predictors_status"), type_="check")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_constraint(op.f("ck_job_items_status"), type_="check")
    _rewrite_proxies(lambda connection, job_id, pairs: [name for name, _ in pairs])
