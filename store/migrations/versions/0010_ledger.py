"""ledger: sequencing between steps (step_dependency) and each government's own account of a step (step_claim)

Both tables feed cached status answers (blockers and claims appear in the step and cluster views), so they get the
data_version triggers of migration 0003.

Revision ID: 0010_ledger
Revises: 0009_cards
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010_ledger"
down_revision: str | None = "0009_cards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("step_dependency", "step_claim")
STATUS_CHECK = "status IN ('proposed', 'agreed', 'in_progress', 'done', 'stalled', 'dropped')"


def upgrade() -> None:
    op.create_table(
        "step_dependency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("blocker_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("step_id <> blocker_id", name=op.f("ck_step_dependency_not_self")),
        sa.ForeignKeyConstraint(["step_id"], ["step.id"], name=op.f("fk_step_dependency_step_id_step")),
        sa.ForeignKeyConstraint(["blocker_id"], ["step.id"], name=op.f("fk_step_dependency_blocker_id_step")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_dependency")),
        sa.UniqueConstraint("step_id", "blocker_id", name="uq_step_dependency_pair"),
    )
    op.create_index("ix_step_dependency_blocker_id", "step_dependency", ["blocker_id"], unique=False)
    op.create_table(
        "step_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("side_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("claimed_on", sa.Date(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_step_claim_status")),
        sa.ForeignKeyConstraint(["step_id"], ["step.id"], name=op.f("fk_step_claim_step_id_step")),
        sa.ForeignKeyConstraint(["side_id"], ["side.id"], name=op.f("fk_step_claim_side_id_side")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_claim")),
        sa.UniqueConstraint("step_id", "side_id", name="uq_step_claim_step_side"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            # bump_data_version() comes from migration 0003.
            op.execute(
                f"CREATE TRIGGER trg_{table}_data_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
            )
    else:
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER trg_{table}_{event.lower()}_data_version AFTER {event} ON {table} "
                    "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER trg_{table}_data_version ON {table}")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER trg_{table}_{event}_data_version")
    op.drop_table("step_claim")
    op.drop_index("ix_step_dependency_blocker_id", table_name="step_dependency")
    op.drop_table("step_dependency")
