"""outbox: pending work owed to Slack, written in the same transaction as the change that owes it

Revision ID: 0005_outbox
Revises: 0004_roadmaps
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_outbox"
down_revision: str | None = "0004_roadmaps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_work",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_work")),
        sa.UniqueConstraint("kind", "key", name="uq_pending_work_kind_key"),
    )
    op.create_index("ix_pending_work_due", "pending_work", ["not_before"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pending_work_due", table_name="pending_work")
    op.drop_table("pending_work")
