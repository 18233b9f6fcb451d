"""The database handle every domain module shares: sessions (one per call, one transaction), the mapping of
connectivity failures to StoreUnavailable, and the dialect-specific INSERTs that uniqueness relies on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
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


def insert_of(dialect: str) -> Callable:
    """The `insert()` of a dialect, the one with an ON CONFLICT clause (plain insert() has none)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_insert(s: Session, model, values: dict):
    """An INSERT of the session's dialect, with `values`."""
    return insert_of(s.get_bind().dialect.name)(model).values(**values)


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


# -- exactly-once runs (digest_run, reminder_run) ----------------------------------------------------------------


def claim_run(
    s: Session,
    model,
    key: dict,
    worker: str,
    *,
    now: datetime,
    stale_after: timedelta,
    retry_after: Callable[[int], timedelta],
    finished: tuple[str, ...] = ("sent",),
) -> int | None:
    """Claim the run of `model` unique on `key` for `worker`: its id, or None if it is not this worker's to do.

    The first claim is INSERT … ON CONFLICT DO NOTHING RETURNING on the unique key. An existing row is taken over
    only when it failed and its backoff (`retry_after(attempts)`) is over, or when it has been 'claimed' for longer
    than `stale_after` (its worker crashed mid-send: the caller must check Slack before sending again); never when
    its status is one of `finished`. The takeover is a compare-and-set on the attempt count, so two workers never
    both win it; the row's `attempts` counts this attempt."""
    values = dict(key, status="claimed", claimed_by=worker, claimed_at=now)
    ins = insert_ignore(s, model, dict(values, attempts=1), list(key)).returning(model.id)
    new_id = s.exec(ins).scalar()
    if new_id is not None:
        return new_id
    row = s.exec(select(model).filter_by(**key)).scalar_one()
    if row.status in finished:
        return None
    if row.status == "claimed" and row.claimed_at > now - stale_after:
        return None
    if row.status == "failed" and row.claimed_at > now - retry_after(row.attempts):
        return None
    return s.exec(
        update(model)
        .where(model.id == row.id, model.status == row.status, model.attempts == row.attempts)
        .values(**values, attempts=row.attempts + 1)
        .returning(model.id)
    ).scalar()


def finish_run(
    s: Session, model, run_id: int, attempts: int, *, status: str, now: datetime, error: str | None, **values
) -> bool:
    """Record how a claimed attempt ended: `status`, when, the reason of a failure, and the run's own `values`.
    Only the attempt that holds the claim may (a worker taken over as stale cannot overwrite)."""
    done = s.exec(
        update(model)
        .where(model.id == run_id, model.status == "claimed", model.attempts == attempts)
        .values(status=status, finished_at=now, error=(error or None) and error[:2000], **values)
        .returning(model.id)
    ).scalar()
    return done is not None
