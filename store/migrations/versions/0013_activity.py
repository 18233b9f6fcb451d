"""step_activity: each step's moves counted by triggers (store/activity.py); owners under data_version

The ledger and the digest read each step's latest move and its number of moves from step_activity instead of
grouping every development of the store. The table is filled from the existing rows, then kept by triggers.

Owners and due rules (step_owner, side_default_owner, step_due_rule) get the data_version triggers of migration
0003, so the step answer, which shows them, is cached like the rest of it.

Revision ID: 0013_activity
Revises: 0012_brief
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from store import triggers
from store.activity import FILL, POSTGRESQL_FUNCTIONS, POSTGRESQL_TRIGGERS, SQLITE_TRIGGERS

revision: str = "0013_activity"
down_revision: str | None = "0012_brief"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_TABLES = ("step_owner", "side_default_owner", "step_due_rule")


def upgrade() -> None:
    op.create_table(
        "step_activity",
        sa.Column("step_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("developments", sa.Integer(), nullable=False),
        sa.Column("last_development_on", sa.Date(), nullable=True),
        sa.Column("status_changes", sa.Integer(), nullable=False),
        sa.Column("last_status_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("step_id", name=op.f("pk_step_activity")),
    )
    op.execute(FILL)
    triggers.install(op, SQLITE_TRIGGERS, POSTGRESQL_FUNCTIONS, POSTGRESQL_TRIGGERS)
    triggers.install(op, *triggers.data_version(OWNER_TABLES))


def downgrade() -> None:
    triggers.drop(op, *triggers.data_version(OWNER_TABLES))
    triggers.drop(op, SQLITE_TRIGGERS, POSTGRESQL_FUNCTIONS, POSTGRESQL_TRIGGERS)
    op.drop_table("step_activity")
