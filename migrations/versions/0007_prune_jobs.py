"""prune jobs

Revision ID: 0007_prune_jobs
Revises: 0006_repeated_scores
Create Date: 2026-12-01 08:00:00

Pruning at initialisation as a job (``POST /v1/prune-jobs``): one row per architecture,
method, target density, scope, iterations, data profile, init seed and library version, with
its lease, attempts, error, per-layer summary and the masks packed into bits.
Downgrading drops the table and its stored masks.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_prune_jobs"
down_revision = "0006_repeated_scores"
branch_labels = None
depends_on = None

STATUSES = "status IN ('queued', 'running', 'succeeded', 'failed')"


def upgrade() -> None:
    op.create_table(
        "prune_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("density", sa.Float(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("data_profile_id", sa.Integer(), nullable=False),
        sa.Column("init_seed", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("layers", sa.Text(), nullable=True),
        sa.Column("masks", sa.LargeBinary(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("device", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(STATUSES, name=op.f("ck_prune_jobs_status")),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["architectures.id"],
            name=op.f("fk_prune_jobs_architecture_id_architectures"),
        ),
        sa.ForeignKeyConstraint(
            ["data_profile_id"],
            ["data_profiles.id"],
            name=op.f("fk_prune_jobs_data_profile_id_data_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prune_jobs")),
        sa.UniqueConstraint(
            "architecture_id",
            "method",
            "density",
            "scope",
            "iterations",
            "data_profile_id",
            "init_seed",
            "version",
            name="uq_prune_jobs_key",
        ),
    )
    op.create_index("ix_prune_jobs_claim", "prune_jobs", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_index("ix_prune_jobs_claim", table_name="prune_jobs")
    op.drop_table("prune_jobs")
