"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28 07:52:54.630764
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "architectures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.String(length=256), nullable=False),
        sa.Column("canonical_key", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("is_degenerate", sa.Boolean(), nullable=False),
        sa.Column("params", sa.BigInteger(), nullable=False),
        sa.Column("flops", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_architectures")),
        sa.UniqueConstraint(
            "space",
            "settings",
            "canonical_key",
            name=op.f("uq_architectures_space_settings_canonical_key"),
        ),
    )
    op.create_table(
        "data_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_profiles")),
        sa.UniqueConstraint("key", name=op.f("uq_data_profiles_key")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("items_done", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "accuracies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["architectures.id"],
            name=op.f("fk_accuracies_architecture_id_architectures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accuracies")),
        sa.UniqueConstraint(
            "architecture_id",
            "dataset",
            "metric",
            "value",
            "epochs",
            "source",
            name=op.f("uq_accuracies_architecture_id_dataset_metric_value_epochs_source"),
        ),
    )
    op.create_index(
        "ix_accuracies_dataset_metric", "accuracies", ["dataset", "metric"], unique=False
    )
    op.create_table(
        "score_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proxies", sa.Text(), nullable=False),
        sa.Column("data_profile_id", sa.Integer(), nullable=False),
        sa.Column("init_seed", sa.BigInteger(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["data_profile_id"],
            ["data_profiles.id"],
            name=op.f("fk_score_jobs_data_profile_id_data_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_jobs")),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("proxy", sa.String(length=64), nullable=False),
        sa.Column("proxy_version", sa.String(length=32), nullable=False),
        sa.Column("data_profile_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("log_value", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["architectures.id"],
            name=op.f("fk_scores_architecture_id_architectures"),
        ),
        sa.ForeignKeyConstraint(
            ["data_profile_id"],
            ["data_profiles.id"],
            name=op.f("fk_scores_data_profile_id_data_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
        sa.UniqueConstraint(
            "architecture_id",
            "proxy",
            "proxy_version",
            "data_profile_id",
            "seed",
            name=op.f("uq_scores_architecture_id_proxy_proxy_version_data_profile_id_seed"),
        ),
    )
    op.create_index("ix_scores_profile_proxy", "scores", ["data_profile_id", "proxy"], unique=False)
    op.create_table(
        "job_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("architecture_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["architecture_id"],
            ["architectures.id"],
            name=op.f("fk_job_items_architecture_id_architectures"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["score_jobs.id"],
            name=op.f("fk_job_items_job_id_score_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_items")),
        sa.UniqueConstraint(
            "job_id", "architecture_id", name=op.f("uq_job_items_job_id_architecture_id")
        ),
    )
    op.create_index("ix_job_items_claim", "job_items", ["status", "lease_expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_items_claim", table_name="job_items")
    op.drop_table("job_items")
    op.drop_index("ix_scores_profile_proxy", table_name="scores")
    op.drop_table("scores")
    op.drop_table("score_jobs")
    op.drop_index("ix_accuracies_dataset_metric", table_name="accuracies")
    op.drop_table("accuracies")
    op.drop_table("workers")
    op.drop_table("data_profiles")
    op.drop_table("architectures")
