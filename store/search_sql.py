"""The full-text search expressions, shared by migration 0006 (which builds the indexes) and store/search.py
(which must repeat them exactly for PostgreSQL to use the index)."""

from __future__ import annotations

# Full-text search (migration 0006, store/search.py). PostgreSQL: GIN indexes on exactly these expressions (a query
# uses an index only when it repeats the index's expression). SQLite: FTS5 tables `development_fts`, `step_fts`
# kept by triggers; a later migration that copies `development` or `step` (batch mode) must re-create them.
SEARCH_SQL = {
    "development": "to_tsvector('english'::regconfig, development.text || ' ' || development.source)",
    # The id's hyphen becomes a space: PostgreSQL's parser would read "SEC-1" as "sec" and the number -1.
    "step": "(setweight(to_tsvector('english'::regconfig, translate(step.key, '-', ' ') || ' ' || step.title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, step.detail || ' ' || step.source), 'B'))",
}
SEARCH_OBJECTS = ("development_fts", "step_fts", "ix_development_search", "ix_step_search")


def in_models(name: str | None, type_: str, _parents: dict | None = None) -> bool:
    """Alembic's include_name: the search objects are managed by hand in migration 0006, not by the models."""
    return not (name and name.startswith(SEARCH_OBJECTS))
