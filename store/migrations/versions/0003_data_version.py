"""data_version: one counter that every write to the roadmap bumps, inside the writing transaction

Status answers are cached per process, keyed by this counter: a cached answer is reused only while no step,
pair, development, cluster or side has changed. Triggers do the bumping, so no write path (the API, an import, a
bulk load) can forget it, and the new value becomes visible atomically with the data at commit.

Revision ID: 0003_data_version
Revises: 0002_status
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_data_version"
down_revision: str | None = "0002_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("side", "cluster", "step", "reciprocity", "development")


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_data_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    op.execute("INSERT INTO data_version (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table in TABLES:
            # Once per statement: a bulk insert bumps once, not once per row.
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
        op.execute("DROP FUNCTION bump_data_version()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER trg_{table}_{event}_data_version")
    op.drop_table("data_version")
