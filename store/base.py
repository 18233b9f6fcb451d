"""The database handle every domain module shares: sessions (one per call, one transaction), the mapping of
connectivity failures to StoreUnavailable, and the dialect-specific INSERTs that uniqueness relies on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from store.errors import StoreUnavailable

UNAVAILABLE = "the roadmap store is unavailable, try again in a moment"


class Database:
    def __init__(self, engine: Engine):
        self.engine = engine
        # Readers use a deferred transaction on SQLite; writers take the write lock at BEGIN (store.db).
        self.read_engine = engine.execution_options(readonly=True)
        # The version read before every cached answer is one statement: on PostgreSQL in autocommit, so it costs
        # no BEGIN and no ROLLBACK round trip (SQLite's BEGIN is in-process and cheap).
        self.version_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else self.read_engine
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed at the end of the block when `write`, rolled back otherwise."""
        with unavailable_on_outage(), Session(self.engine if write else self.read_engine, expire_on_commit=False) as s:
            yield s
            if write:
                s.commit()

    def ping(self) -> None:
        with self.session() as s:
            s.exec(select(1)).one()


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Turn a lost or refused connection into StoreUnavailable (a constraint violation stays what it is)."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, IntegrityError) or not is_connectivity_error(exc):
            raise
        raise StoreUnavailable(UNAVAILABLE) from exc


def is_connectivity_error(exc: DBAPIError) -> bool:
    if getattr(exc, "connection_invalidated", False):
        return True
    msg = str(exc.orig if exc.orig is not None else exc).lower()
    markers = (
        "connection",
        "could not connect",
        "server closed",
        "terminating",
        "timeout",
        "unable to open",
        "database is locked",
        "disk i/o",
        "no such table",
    )
    return isinstance(exc, OperationalError) and any(m in msg for m in markers)


def dialect_insert(s: Session, model, values: dict):
    """An INSERT of the session's dialect: plain insert() has no ON CONFLICT clause."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model).values(**values)


def insert_ignore(s: Session, model, values: dict, conflict_cols: list[str]):
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    return dialect_insert(s, model, values).on_conflict_do_nothing(index_elements=conflict_cols)


def upsert(s: Session, model, values: dict, conflict_cols: list[str]):
    """INSERT … ON CONFLICT DO UPDATE for the session's dialect: the row ends up holding `values`."""
    ins = dialect_insert(s, model, values)
    changed = {k: ins.excluded[k] for k in values if k not in conflict_cols}
    return ins.on_conflict_do_update(index_elements=conflict_cols, set_=changed)


def opt_str(value) -> str | None:
    return None if value is None else str(value)
