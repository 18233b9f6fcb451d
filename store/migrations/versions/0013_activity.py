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
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for name, body in POSTGRESQL_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$")
        for name, (table, events, function) in POSTGRESQL_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {events} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()")
        for table in OWNER_TABLES:
            # bump_data_version() comes from migration 0003.
            op.execute(
                f"CREATE TRIGGER trg_{table}_data_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
            )
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        for table in OWNER_TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER trg_{table}_{event.lower()}_data_version AFTER {event} ON {table} "
                    "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNER_TABLES:
            op.execute(f"DROP TRIGGER trg_{table}_data_version ON {table}")
        for name, (table, _events, _function) in POSTGRESQL_TRIGGERS.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        for name in POSTGRESQL_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for table in OWNER_TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER trg_{table}_{event}_data_version")
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("step_activity")
