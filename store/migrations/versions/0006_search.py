"""search: full-text indexes of developments and steps (SQLite FTS5 kept by triggers; PostgreSQL GIN)

SQLite: external-content FTS5 tables `development_fts` and `step_fts` (porter stems, diacritics folded), kept
current by triggers on insert, update and delete, so every door (commands, threads, shortcut, import, bulk
loads, edits) updates the index in the writer's own transaction; existing rows are indexed here ('rebuild').
PostgreSQL: GIN indexes on the very tsvector expressions store/search.py queries (store.models.SEARCH_SQL), which
PostgreSQL keeps current itself. Retractions stay indexed and are filtered out by the query.

Also the index of the status overview's step counts (ix_step_roadmap_tally).

Revision ID: 0006_search
Revises: 0005_outbox
"""

from collections.abc import Sequence

from alembic import op

from store.models import SEARCH_SQL

revision: str = "0006_search"
down_revision: str | None = "0005_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENIZER = "porter unicode61 remove_diacritics 2"
INDEXED = {"development": ("text", "source"), "step": ("key", "title", "detail", "source")}


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_index("ix_step_roadmap_tally", table_name="step")
    if op.get_bind().dialect.name != "sqlite":
        for table in INDEXED:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
        return
    for table in INDEXED:
        for what in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{what}")
        op.execute(f"DROP TABLE IF EXISTS {table}_fts")
