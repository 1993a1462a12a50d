"""idempotency keys of score jobs

Revision ID: 0003_idempotency_keys
Revises: 0002_predictors
Create Date: 2026-11-28 11:00:00

Two nullable columns and a unique index: no table rebuild on SQLite (a batch rebuild would
drop ``score_jobs`` with foreign keys on, cascading to ``job_items``), and existing jobs keep
NULL keys, which never conflict.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_idempotency_keys"
down_revision = "0002_predictors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("score_jobs", sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    op.add_column("score_jobs", sa.Column("request_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_score_jobs_idempotency_key", "score_jobs", ["idempotency_key"], unique=True)


def downgrade() -> None:
    # The index first: SQLite refuses to drop an indexed column.
    op.drop_index("ix_score_jobs_idempotency_key", table_name="score_jobs")
    op.drop_column("score_jobs", "request_hash")
    op.drop_column("score_jobs", "idempotency_key")
