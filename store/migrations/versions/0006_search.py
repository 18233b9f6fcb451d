"""search: full-text indexes of developments and steps (SQLite FTS5 kept by triggers; PostgreSQL GIN)

SQLite: external-content FTS5 tables `development_fts` and `step_fts` (porter stems, diacritics folded), kept
current by triggers on insert, update and delete, so every door (commands, threads, shortcut, import, bulk
loads, edits) updates the index in the writer's own transaction; existing rows are indexed here ('rebuild').
PostgreSQL: GIN indexes on the very tsvector expressions store/search.py queries (store.search_sql.SEARCH_SQL), which
PostgreSQL keeps current itself. Retractions stay indexed and are filtered out by the query.

Also the index of the status overview's step counts (ix_step_roadmap_tally), and development_version: writes to
development bump a counter of their own, so cached step and pair answers survive them (store/cache.py).

Revision ID: 0006_search
Revises: 0005_outbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.search_sql import SEARCH_SQL

revision: str = "0006_search"
down_revision: str | None = "0005_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENIZER = "porter unicode61 remove_diacritics 2"
INDEXED = {"development": ("text", "source"), "step": ("key", "title", "detail", "source")}


def upgrade() -> None:
    _development_version()
    # Not search, but the same round of speed-ups: the status overview counts steps per cluster, side and status
    # of one roadmap; led by roadmap_id, the count reads this index alone instead of every step row.
    op.create_index("ix_step_roadmap_tally", "step", ["roadmap_id", "cluster_id", "side_id", "status"])
    if op.get_bind().dialect.name != "sqlite":
        for table in INDEXED:
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin ({SEARCH_SQL[table]})")
        return
    for table, cols in INDEXED.items():
        fts = f"{table}_fts"
        listed = ", ".join(cols)
        new = ", ".join(f"new.{c}" for c in cols)
        old = ", ".join(f"old.{c}" for c in cols)
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({listed}, content='{table}', content_rowid='id', "
            f"tokenize='{TOKENIZER}')"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old}); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {listed} ON {table} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new}); END"
        )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def _development_version() -> None:
    """development_version: development writes bump their own counter (store/cache.py), not data_version's row."""
    op.create_table(
        "development_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_development_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_development_version")),
    )
    op.execute("INSERT INTO development_version (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_development_version() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE development_version SET n = n + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        op.execute("DROP TRIGGER IF EXISTS trg_development_data_version ON development")
        op.execute(
            "CREATE TRIGGER trg_development_data_version AFTER INSERT OR UPDATE OR DELETE ON development "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_development_version()"
        )
        return
    for event in ("INSERT", "UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS trg_development_{event.lower()}_data_version")
        op.execute(
            f"CREATE TRIGGER trg_development_{event.lower()}_data_version AFTER {event} ON development "
            "BEGIN UPDATE development_version SET n = n + 1 WHERE id = 1; END"
        )


def _data_version_again() -> None:
    """Back to 0003's trigger: development writes bump data_version."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_development_data_version ON development")
        op.execute(
            "CREATE TRIGGER trg_development_data_version AFTER INSERT OR UPDATE OR DELETE ON development "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
        )
        op.execute("DROP FUNCTION IF EXISTS bump_development_version()")
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_development_{event.lower()}_data_version")
            op.execute(
                f"CREATE TRIGGER trg_development_{event.lower()}_data_version AFTER {event} ON development "
                "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
            )
    op.drop_table("development_version")


def downgrade() -> None:
    _data_version_again()
    op.drop_index("ix_step_roadmap_tally", table_name="step")
    if op.get_bind().dialect.name != "sqlite":
        for table in INDEXED:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
        return
    for table in INDEXED:
        for what in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{what}")
        op.execute(f"DROP TABLE IF EXISTS {table}_fts")
