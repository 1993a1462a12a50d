"""repeated scores

Revision ID: 0006_repeated_scores
Revises: 0005_architecture_identity
Create Date: 2026-12-01 07:00:00

A score may now summarise a proxy scored several times, over init seeds and over batches of
the data profile (``zero_cost.repeats``). ``scores`` gets ``repeat_init_seeds`` and
``repeat_batches`` (how many of each; 1 and 1 for a single score) and ``std`` (the standard
deviation over the repeats), and its unique key includes the two counts, so a single score
and a mean over five seeds of the same architecture are two records. ``score_jobs`` gets the
two counts a job asked for. Existing rows are single scores: counts 1, ``std`` 0 where the
value is stored (NULL where it is not, as for the value).

Downgrading deletes the repeated scores (the old key cannot hold them beside the single
ones) and the repeat counts of jobs.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_repeated_scores"
down_revision = "0005_architecture_identity"
branch_labels = None
depends_on = None

OLD_KEY = ["architecture_id", "proxy", "proxy_version", "data_profile_id", "seed"]
OLD_KEY_NAME = "uq_scores_architecture_id_proxy_proxy_version_data_profile_id_seed"

scores = sa.table(
    "scores",
    sa.column("value", sa.Float),
    sa.column("std", sa.Float),
    sa.column("repeat_init_seeds", sa.Integer),
    sa.column("repeat_batches", sa.Integer),
)


def _count_column(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="1", nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(_count_column("repeat_init_seeds"))
        batch.add_column(_count_column("repeat_batches"))
        batch.add_column(sa.Column("std", sa.Float(), nullable=True))
        batch.drop_constraint(op.f(OLD_KEY_NAME), "unique")
        batch.create_unique_constraint(
            "uq_scores_key", [*OLD_KEY, "repeat_init_seeds", "repeat_batches"]
        )
    op.execute(scores.update().where(scores.c.value.is_not(None)).values(std=0.0))
    with op.batch_alter_table("score_jobs") as batch:
        batch.add_column(_count_column("repeat_init_seeds"))
        batch.add_column(_count_column("repeat_batches"))


def downgrade() -> None:
    with op.batch_alter_table("score_jobs") as batch:
        batch.drop_column("repeat_batches")
        batch.drop_column("repeat_init_seeds")
    op.execute(
        scores.delete().where(sa.or_(scores.c.repeat_init_seeds != 1, scores.c.repeat_batches != 1))
    )
    with op.batch_alter_table("scores") as batch:
        batch.drop_constraint("uq_scores_key", "unique")
        batch.create_unique_constraint(op.f(OLD_KEY_NAME), OLD_KEY)
        batch.drop_column("std")
        batch.drop_column("repeat_batches")
        batch.drop_column("repeat_init_seeds")
