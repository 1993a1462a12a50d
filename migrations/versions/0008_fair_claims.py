"""fair claims

Revision ID: 0008_fair_claims
Revises: 0007_prune_jobs
Create Date: 2026-12-01 10:00:00

Jobs take turns: ``job_items`` gets ``claim_order`` (the queue claims queued items in that
order, then by id; a new job's item k gets the smallest order queued at its submission plus
k) and a partial index of the queued items on (claim_order, id) that claims scan in order.
Existing items get their position within their job, so jobs queued before the upgrade take
turns too.
Downgrading drops the column and its index (claims go back to id order).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_fair_claims"
down_revision = "0007_prune_jobs"
branch_labels = None
depends_on = None

QUEUED = "status = 'queued'"

job_items = sa.table(
    "job_items",
    sa.column("id", sa.Integer),
    sa.column("job_id", sa.Integer),
    sa.column("claim_order", sa.BigInteger),
)


def upgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.add_column(
            sa.Column("claim_order", sa.BigInteger(), server_default="0", nullable=False)
        )
    first = job_items.alias("first")
    first_of_job = (
        sa.select(sa.func.min(first.c.id))
        .where(first.c.job_id == job_items.c.job_id)
        .scalar_subquery()
    )
    op.execute(job_items.update().values(claim_order=job_items.c.id - first_of_job))
    op.create_index(
        "ix_job_items_queued",
        "job_items",
        ["claim_order", "id"],
        postgresql_where=sa.text(QUEUED),
        sqlite_where=sa.text(QUEUED),
    )


def downgrade() -> None:
    op.drop_index("ix_job_items_queued", table_name="job_items")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("claim_order")
