"""owners and reminders: step owners, side default owners, conditional due dates, reminder claims, snoozes,
opt-outs, the users' time zones, holidays

Revision ID: 0007_owners
Revises: 0006_search
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_owners"
down_revision: str | None = "0006_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString
T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "step_owner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("owner", S(length=32), nullable=False),
        sa.Column("added_by", S(length=64), nullable=False),
        sa.Column("added_at", T(), nullable=False),
        sa.ForeignKeyConstraint(["step_id"], ["step.id"], name=op.f("fk_step_owner_step_id_step")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_owner")),
        sa.UniqueConstraint("step_id", "owner", name="uq_step_owner_step_owner"),
    )
    op.create_index("ix_step_owner_owner", "step_owner", ["owner"], unique=False)
    op.create_table(
        "side_default_owner",
        sa.Column("side_id", sa.Integer(), nullable=False),
        sa.Column("owner", S(length=32), nullable=False),
        sa.Column("set_by", S(length=64), nullable=False),
        sa.Column("set_at", T(), nullable=False),
        sa.ForeignKeyConstraint(["side_id"], ["side.id"], name=op.f("fk_side_default_owner_side_id_side")),
        sa.PrimaryKeyConstraint("side_id", name=op.f("pk_side_default_owner")),
    )
    op.create_table(
        "step_due_rule",
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("after_step_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("created_by", S(length=64), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.ForeignKeyConstraint(["step_id"], ["step.id"], name=op.f("fk_step_due_rule_step_id_step")),
        sa.ForeignKeyConstraint(["after_step_id"], ["step.id"], name=op.f("fk_step_due_rule_after_step_id_step")),
        sa.PrimaryKeyConstraint("step_id", name=op.f("pk_step_due_rule")),
    )
    op.create_index("ix_step_due_rule_after_step_id", "step_due_rule", ["after_step_id"], unique=False)
    op.create_table(
        "reminder_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", S(length=32), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("claimed_by", S(length=120), nullable=False),
        sa.Column("claimed_at", T(), nullable=False),
        sa.Column("finished_at", T(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("channel", S(length=32), nullable=True),
        sa.Column("message_ts", S(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_run")),
        sa.UniqueConstraint("user_id", "local_date", name="uq_reminder_run_user_date"),
    )
    op.create_table(
        "reminder_snooze",
        sa.Column("user_id", S(length=32), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["step_id"], ["step.id"], name=op.f("fk_reminder_snooze_step_id_step")),
        sa.PrimaryKeyConstraint("user_id", "step_id", name=op.f("pk_reminder_snooze")),
    )
    op.create_table(
        "reminder_opt_out",
        sa.Column("user_id", S(length=32), nullable=False),
        sa.Column("at", T(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_reminder_opt_out")),
    )
    op.create_table(
        "user_timezone",
        sa.Column("user_id", S(length=32), nullable=False),
        sa.Column("tz", S(length=64), nullable=False),
        sa.Column("fetched_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_timezone")),
    )
    op.create_table(
        "roadmap_holiday",
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"], name=op.f("fk_roadmap_holiday_roadmap_id_roadmap")),
        sa.PrimaryKeyConstraint("roadmap_id", "day", name=op.f("pk_roadmap_holiday")),
    )


def downgrade() -> None:
    for table in ("roadmap_holiday", "user_timezone", "reminder_opt_out", "reminder_snooze", "reminder_run"):
        op.drop_table(table)
    op.drop_index("ix_step_due_rule_after_step_id", table_name="step_due_rule")
    op.drop_table("step_due_rule")
    op.drop_table("side_default_owner")
    op.drop_index("ix_step_owner_owner", table_name="step_owner")
    op.drop_table("step_owner")
