"""Installing the triggers that keep counters (store/activity.py, store/tallies.py) and the data_version bumps
(store/cache.py), for migrations from 0013 on: one dict of bodies per database, installed and dropped alike."""

from __future__ import annotations

from typing import Any


def install(op: Any, sqlite: dict[str, str], functions: dict[str, str], triggers: dict[str, tuple]) -> None:
    """SQLite: `CREATE TRIGGER name body`; PostgreSQL: plpgsql functions, then triggers (table, events, function[,
    "STATEMENT"]), row triggers unless said."""
    if op.get_bind().dialect.name == "postgresql":
        for name, body in functions.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$")
        for name, (table, events, function, *level) in triggers.items():
            each = level[0] if level else "ROW"
            op.execute(f"CREATE TRIGGER {name} {events} ON {table} FOR EACH {each} EXECUTE FUNCTION {function}()")
    else:
        for name, body in sqlite.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def drop(op: Any, sqlite: dict[str, str], functions: dict[str, str], triggers: dict[str, tuple]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, *_rest) in triggers.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        for name in functions:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in sqlite:
            op.execute(f"DROP TRIGGER {name}")


def data_version(tables: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str], dict[str, tuple]]:
    """The triggers that bump data_version on any write to `tables` (as migration 0003 made them): row triggers on
    SQLite, statement triggers on PostgreSQL (bump_data_version() comes from 0003), in install()'s shape."""
    bump = "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
    sqlite = {
        f"trg_{t}_{e.lower()}_data_version": f"AFTER {e} ON {t} {bump}"
        for t in tables
        for e in ("INSERT", "UPDATE", "DELETE")
    }
    statement = {
        f"trg_{t}_data_version": (t, "AFTER INSERT OR UPDATE OR DELETE", "bump_data_version", "STATEMENT")
        for t in tables
    }
    return sqlite, {}, statement
