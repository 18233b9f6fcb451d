"""pair_count: reciprocal pairs counted by each step's cluster, side and state, kept by triggers (store/tallies.py)

The status answers, `commitments` and the digest read the counts instead of joining every pair after each status
change. Filled from the existing pairs, then kept by the triggers.

Revision ID: 0014_pair_count
Revises: 0013_activity
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from store import triggers
from store.tallies import FILL, POSTGRESQL_FUNCTIONS, POSTGRESQL_TRIGGERS, SQLITE_TRIGGERS

revision: str = "0014_pair_count"
down_revision: str | None = "0013_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pair_count",
        sa.Column("a_cluster_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("b_cluster_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("a_side_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("a_state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("b_side_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("b_state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "a_cluster_id", "b_cluster_id", "a_side_id", "a_state", "b_side_id", "b_state", name=op.f("pk_pair_count")
        ),
    )
    op.execute(FILL)
    triggers.install(op, SQLITE_TRIGGERS, POSTGRESQL_FUNCTIONS, POSTGRESQL_TRIGGERS)


def downgrade() -> None:
    triggers.drop(op, SQLITE_TRIGGERS, POSTGRESQL_FUNCTIONS, POSTGRESQL_TRIGGERS)
    op.drop_table("pair_count")
