"""Pending work that must survive a crash: the outbox.

A change that owes Slack an update (a cluster card to refresh, an App Home to republish, an owner to tell) writes
a row here in the same transaction as the change, so the work is never lost: not when Slack is down or
rate-limited, not when the process is killed right after the commit. Workers (in the web and clock processes)
claim due rows, do the work, and delete them; a failure puts the row back with a backoff.

- Coalescing: a row is unique per (kind, key). A burst of 100 changes to one cluster leaves one row, due a few
  seconds after the first change: one update, however many changes.
- A change that arrives while its row is being worked on bumps the row's `version`; finishing then keeps the row
  (due again), so the later change is not lost to the update already under way.
- Claims are compare-and-set leases: two workers never both take a row, and a row whose worker died is taken
  over when its lease runs out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete as sql_delete
from sqlalchemy import or_, select, update
from sqlmodel import Session

from store.base import Database, insert_of
from store.models import PendingWork, utcnow

# Owed whenever anything shown about a cluster changes (a development, a step's status or due date, an import):
# key = the cluster's id. Its handler fans out to what shows the cluster (cards, canvases, App Homes).
CLUSTER_CHANGED = "cluster"
COALESCE = timedelta(seconds=3)  # how long a first change waits for the others of its burst
LEASE = timedelta(minutes=2)  # how long a claimed row is a worker's before another may take it over
MAX_BACKOFF = timedelta(minutes=30)


@dataclass(frozen=True)
class Work:
    id: int
    kind: str
    key: str
    version: int
    attempts: int
    last_error: str | None


def enqueue(s: Session, kind: str, key: str, *, delay: timedelta = COALESCE, now: datetime | None = None) -> None:
    """Owe `kind` work for `key`, inside the caller's transaction. Coalesces with work already owed."""
    now = now or utcnow()
    values = dict(kind=kind, key=key, not_before=now + delay, version=0, attempts=0, created_at=now)
    s.execute(_enqueue_statement(s.get_bind().dialect.name), values)


@functools.cache
def _enqueue_statement(dialect: str):
    """Built once: every development enqueues, and building the statement cost more than running it."""
    insert = insert_of(dialect)
    # Already owed: remember that something changed since (version), keep the earlier due time.
    return insert(PendingWork).on_conflict_do_update(
        index_elements=["kind", "key"], set_={"version": PendingWork.version + 1}
    )


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to 30 minutes."""
    return min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class Outbox:
    def __init__(self, db: Database):
        self.db = db

    def enqueue(self, kind: str, key: str, *, delay: timedelta = COALESCE) -> None:
        """Owe work in a transaction of its own (for work not tied to a change in this store)."""
        with self.db.session(write=True) as s:
            enqueue(s, kind, key, delay=delay)

    def claim(self, now: datetime | None = None, limit: int = 20, kinds: tuple[str, ...] | None = None) -> list[Work]:
        """Take up to `limit` due rows for this worker (a lease of LEASE each)."""
        now = now or utcnow()
        free = or_(PendingWork.claimed_until.is_(None), PendingWork.claimed_until < now)
        due = select(PendingWork.id).where(PendingWork.not_before <= now, free)
        if kinds:
            due = due.where(PendingWork.kind.in_(kinds))
        taken: list[Work] = []
        with self.db.session(write=True) as s:
            for row_id in s.exec(due.order_by(PendingWork.not_before, PendingWork.id).limit(limit)).scalars().all():
                row = s.exec(
                    update(PendingWork)
                    .where(PendingWork.id == row_id, free)
                    .values(claimed_until=now + LEASE, attempts=PendingWork.attempts + 1)
                    .returning(PendingWork)
                ).first()
                if row is not None:
                    r = row[0]
                    taken.append(Work(r.id, r.kind, r.key, r.version, r.attempts, r.last_error))
        return taken

    def done(self, work: Work) -> bool:
        """The work is done: drop the row, unless a change arrived meanwhile (then it is due again at once)."""
        with self.db.session(write=True) as s:
            gone = s.exec(
                sql_delete(PendingWork)
                .where(PendingWork.id == work.id, PendingWork.version == work.version)
                .returning(PendingWork.id)
            ).first()
            if gone is None:
                s.exec(
                    update(PendingWork)
                    .where(PendingWork.id == work.id)
                    .values(claimed_until=None, attempts=0, not_before=utcnow())
                )
        return gone is not None

    def failed(
        self, work: Work, error: str, *, retry_after: timedelta | None = None, now: datetime | None = None
    ) -> None:
        """Give the row back, due again after a backoff (or Slack's Retry-After) counted from `now`."""
        wait = retry_after if retry_after is not None else backoff(work.attempts)
        with self.db.session(write=True) as s:
            s.exec(
                update(PendingWork)
                .where(PendingWork.id == work.id)
                .values(claimed_until=None, not_before=(now or utcnow()) + wait, last_error=error[:2000])
            )

    def pending(self, kind: str | None = None) -> list[Work]:
        with self.db.session() as s:
            q = select(PendingWork).order_by(PendingWork.id)
            if kind:
                q = q.where(PendingWork.kind == kind)
            return [Work(r.id, r.kind, r.key, r.version, r.attempts, r.last_error) for r in s.exec(q).scalars()]
