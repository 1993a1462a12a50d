"""one record per submitted architecture

Revision ID: 0005_architecture_identity
Revises: 0004_proxy_versions_checks
Create Date: 2026-12-01 02:00:00

Architectures were unique per (space, settings, canonical_key), the function-equivalence
class: on NAS-Bench-201 two different cells of one class (different parameter counts,
different benchmark accuracies) were stored as one row, the first spec submitted for the
class, and a later cell of the class got that row's id. They are now unique per
(space, settings, identity_key), the submitted spec after purely syntactic normalisation;
``canonical_key`` stays, indexed, as the function class.

Existing rows: every row keeps its id, its stored spec (the first submitted of its class)
and everything attached to it (scores, accuracies, job items). Its identity key is computed
from that spec: for nb201 the cell itself, for the other spaces the canonical key (already
their identity). What a merged row cannot give back is the other cells that were folded
into it: they were never stored, and accuracies reported for them stay attached to the
stored cell. Submit those cells again to get records of their own.

Downgrading restores the old unique key; it fails if two rows of one function class now
exist (the old schema cannot hold them).

On SQLite the table is rebuilt with foreign keys off (``app.db.migrations`` turns them off
for every migration run and checks them afterwards), so the rows that refer to it are kept.
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0005_architecture_identity"
down_revision = "0004_proxy_versions_checks"
branch_labels = None
depends_on = None

architectures = sa.table(
    "architectures",
    sa.column("id", sa.Integer),
    sa.column("space", sa.String),
    sa.column("spec", sa.Text),
    sa.column("canonical_key", sa.String),
    sa.column("identity_key", sa.String),
)


def _identity_key(space: str, spec: str, canonical_key: str) -> str:
    """The identity key of a stored row, as ``zero_cost.spaces`` computes it today (spelled
    out here: a migration must not change when the code does)."""
    if space == "nb201":  # the stored spec is the normalised cell string
        return hashlib.sha256(f"nb201-cell:{json.loads(spec)}".encode()).hexdigest()
    return canonical_key


def upgrade() -> None:
    op.add_column("architectures", sa.Column("identity_key", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            architectures.c.id,
            architectures.c.space,
            architectures.c.spec,
            architectures.c.canonical_key,
        )
    ).all()
    for row in rows:
        connection.execute(
            architectures.update()
            .where(architectures.c.id == row.id)
            .values(identity_key=_identity_key(row.space, row.spec, row.canonical_key))
        )
    with op.batch_alter_table("architectures") as batch:
        batch.alter_column("identity_key", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint(op.f("uq_architectures_space_settings_canonical_key"), "unique")
        batch.create_unique_constraint(
            op.f("uq_architectures_space_settings_identity_key"),
            ["space", "settings", "identity_key"],
        )
        batch.create_index(op.f("ix_architectures_canonical_key"), ["canonical_key"])


def downgrade() -> None:
    with op.batch_alter_table("architectures") as batch:
        batch.drop_index(op.f("ix_architectures_canonical_key"))
        batch.drop_constraint(op.f("uq_architectures_space_settings_identity_key"), "unique")
        batch.create_unique_constraint(
            op.f("uq_architectures_space_settings_canonical_key"),
            ["space", "settings", "canonical_key"],
        )
        batch.drop_column("identity_key")
