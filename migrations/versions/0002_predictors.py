"""learned predictors

Revision ID: 0002_predictors
Revises: 0001_initial
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_predictors"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("data_profile_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("space", sa.String(length=32), nullable=False),
        sa.Column("proxies", sa.Text(), nullable=False),
        sa.Column("features", sa.String(length=32), nullable=False),
        sa.Column("min_labels", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("n_reported", sa.Integer(), nullable=True),
        sa.Column("n_labels", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("fallback_reason", sa.Text(), nullable=True),
        sa.Column("metrics", sa.Text(), nullable=True),
        sa.Column("learning_curve", sa.Text(), nullable=True),
        sa.Column("oof", sa.Text(), nullable=True),
        sa.Column("model", sa.LargeBinary(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["data_profile_id"],
            ["data_profiles.id"],
            name=op.f("fk_predictors_data_profile_id_data_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictors")),
        sa.UniqueConstraint(
            "dataset",
            "metric",
            "data_profile_id",
            "seed",
            "space",
            "proxies",
            "features",
            "version",
            name="uq_predictors_version",
        ),
    )
    op.create_index("ix_predictors_claim", "predictors", ["status", "lease_expires_at"])
    op.create_index("ix_predictors_dataset_metric", "predictors", ["dataset", "metric"])


def downgrade() -> None:
    op.drop_index("ix_predictors_dataset_metric", table_name="predictors")
    op.drop_index("ix_predictors_claim", table_name="predictors")
    op.drop_table("predictors")
