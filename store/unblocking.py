"""A step unblocked: when its last open blocker (store/sequencing.py) is marked done, its owners are told and the
channel's cluster card shows it for a week.

The owners' notices are owed inside the transaction that marks the blocker done (store.steps.change_field), so
every door (command, thread status reply, reminder button, App Home form, import) owes them, and nothing is owed
when the commit fails. Rows coalesce per (kind, key), so a retried request owes nothing twice. "Recently
unblocked" is computed from the blockers' status history (when each was last marked done): no table of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from store.base import Database
from store.due_rules import owners_for
from store.models import CLOSED_STATUSES, Cluster, Side, Step, StepChange, StepDependency
from store.outbox import CLUSTER_CHANGED, enqueue
from store.owner_views import RecentlyUnblocked, UnblockedNotice
from store.queries import find_cluster_id, step_view, steps_by_id

OWNER_UNBLOCKED = "owner_unblocked"  # key: "<unblocked step id>:<done step id>:<owner>"
# A done undone within this grace (a slip of the finger) tells nobody: the notice is re-checked when it is sent.
UNDO_GRACE = timedelta(seconds=30)


def unblocked_ids(s: Session, done_id: int) -> list[int]:
    """Open steps waiting on `done_id` whose blockers are now all done (nothing when `done_id` is not done)."""
    if s.exec(select(Step.status).where(Step.id == done_id)).scalar() != "done":
        return []
    waiting = select(StepDependency.step_id).where(StepDependency.blocker_id == done_id)
    still_blocked = (
        select(StepDependency.step_id)
        .join(Step, Step.id == StepDependency.blocker_id)
        .where(StepDependency.step_id.in_(waiting), Step.status != "done")
    )
    return list(
        s.exec(
            select(Step.id)
            .where(Step.id.in_(waiting), Step.id.not_in(still_blocked), Step.status.not_in(CLOSED_STATUSES))
            .order_by(Step.id)
        ).scalars()
    )


def owe_unblocked(s: Session, done: Step, unblocked: list[int]) -> None:
    """Inside the transaction that marked `done` done: owe each owner of each step it unblocked a notice, and
    a refresh of the unblocked step's cluster (it may be another cluster than the blocker's)."""
    for step in (s.get(Step, i) for i in unblocked):
        enqueue(s, CLUSTER_CHANGED, str(step.cluster_id))
        for owner in owners_for(s, step):
            enqueue(s, OWNER_UNBLOCKED, f"{step.id}:{done.id}:{owner}", delay=UNDO_GRACE)


def _last_done(s: Session, step_ids: list[int]) -> dict[int, tuple[datetime, str]]:
    """When each step was last marked done, and by whom (its status history)."""
    if not step_ids:
        return {}
    latest = (
        select(StepChange.step_id, func.max(StepChange.changed_at).label("at"))
        .where(StepChange.step_id.in_(step_ids), StepChange.field == "status", StepChange.new_value == "done")
        .group_by(StepChange.step_id)
        .subquery()
    )
    rows = s.exec(
        select(StepChange.step_id, StepChange.changed_at, StepChange.actor)
        .join(latest, and_(latest.c.step_id == StepChange.step_id, latest.c.at == StepChange.changed_at))
        .where(StepChange.field == "status", StepChange.new_value == "done")
        .order_by(StepChange.id)
    ).all()
    return {step_id: (at, actor) for step_id, at, actor in rows}


class Unblocking:
    def __init__(self, db: Database):
        self.db = db

    def notice(self, step_id: int, done_id: int) -> UnblockedNotice | None:
        """The outbox's unblocked notice, re-checked now: None when it would be stale (the blocker is no longer
        done, the step is closed, gone, or waits on something open again)."""
        with self.db.session() as s:
            step, done = s.get(Step, step_id), s.get(Step, done_id)
            if step is None or done is None or done.status != "done" or step.status in CLOSED_STATUSES:
                return None
            blocker = aliased(Step)
            still_open = exists().where(
                StepDependency.step_id == step_id, blocker.id == StepDependency.blocker_id, blocker.status != "done"
            )
            if s.exec(select(still_open)).scalar():
                return None
            at, actor = _last_done(s, [done_id]).get(done_id, (None, None))
            cluster = s.get(Cluster, step.cluster_id)
            views = [step_view(x, s.get(Side, x.side_id), s.get(Cluster, x.cluster_id).slug) for x in (step, done)]
            return UnblockedNotice(views[0], views[1], actor, at, cluster.title, step.roadmap_id, owners_for(s, step))

    def recent(
        self, roadmap_id: int | None, slug: str, since: datetime, limit: int = 3
    ) -> tuple[list[RecentlyUnblocked], int]:
        """The cluster's open steps whose blockers are all done, the last of them since `since`: the most recently
        unblocked first (the first `limit`), and how many there are."""
        with self.db.session() as s:
            cluster_id = find_cluster_id(s, slug, roadmap_id)
            blocker = aliased(Step)
            candidates = select(Step.id).where(
                Step.cluster_id == cluster_id,
                Step.status.not_in(CLOSED_STATUSES),
                exists().where(StepDependency.step_id == Step.id),
                ~exists().where(
                    StepDependency.step_id == Step.id,
                    blocker.id == StepDependency.blocker_id,
                    blocker.status != "done",
                ),
            )
            edges = s.exec(
                select(StepDependency.step_id, StepDependency.blocker_id).where(StepDependency.step_id.in_(candidates))
            ).all()
            done_at = _last_done(s, list({b for _, b in edges}))
            last: dict[int, tuple[datetime, int]] = {}
            for step_id, blocker_id in sorted(edges):
                at = done_at.get(blocker_id, (None,))[0]
                if at is not None and (step_id not in last or at > last[step_id][0]):
                    last[step_id] = (at, blocker_id)
            # The history is the measure: a blocker done before it was recorded (e.g. seeded done) never counts.
            recent = sorted(
                ((at, sid, bid) for sid, (at, bid) in last.items() if at >= since),
                key=lambda r: (-r[0].timestamp(), r[1]),
            )
            shown = recent[:limit]
            views = steps_by_id(s, {i for _, sid, bid in shown for i in (sid, bid)})
        return [RecentlyUnblocked(views[sid], views[bid], at) for at, sid, bid in shown], len(recent)
