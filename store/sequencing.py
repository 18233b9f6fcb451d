"""Sequencing: a step can wait on others (`/roadmap after SEC-2 SEC-1`, `after:` in the roadmap file). The brief
makes the security cluster the door to all the others, so steps elsewhere wait on security steps.

Rules: a step cannot wait on itself, on an unknown step, or on a step that (directly or through others) already
waits on it. The cycle check reads every edge and runs inside the writing transaction, under a lock on
PostgreSQL (SQLite writers already hold the database's write lock from BEGIN IMMEDIATE), so two editors cannot
each add half of a cycle. A blocker is open until it is done; a dropped blocker still blocks (the team decides).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import aliased
from sqlmodel import Session

from store.base import Database, insert_ignore
from store.cache import ReadCache, cached_read
from store.errors import Invalid
from store.models import CLOSED_STATUSES, Cluster, Step, StepDependency
from store.names import key_order
from store.outbox import CLUSTER_CHANGED, enqueue
from store.queries import find_step, steps_by_id
from store.roadmaps import Scope
from store.steps import audit_row
from store.unblocking import unblocked_ids
from store.views import BlockedStep, BlockersChange, StepView

_LOCK_KEY = 18_0001  # pg_advisory_xact_lock key of the sequencing graph


class Sequencing:
    def __init__(self, db: Database, cache: ReadCache, scope: Scope):
        self.db = db
        self.cache = cache
        self.scope = scope

    def set_blockers(self, key: str, blocker_keys: list[str], actor: str, note: str = "") -> BlockersChange:
        """Replace what a step waits on (an empty list clears it), audited in its history as field `after`."""
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            blockers = []
            for k in blocker_keys:
                b = find_step(s, k, self.scope.id)
                if b.id not in {x.id for x in blockers}:
                    blockers.append(b)
            blockers.sort(key=lambda b: key_order(b.key))
            old = blocker_keys_of(s, step.id)
            new = [b.key for b in blockers]
            if old != new:
                lock_graph(s)
                s.exec(delete(StepDependency).where(StepDependency.step_id == step.id))
                add_blockers(s, step, blockers, actor)
                s.add(
                    audit_row(step.id, "after", ", ".join(old) or None, ", ".join(new) or None, actor=actor, note=note)
                )
                enqueue(s, CLUSTER_CHANGED, str(step.cluster_id))  # its card shows what is blocked
            views = steps_by_id(s, [step.id, *(b.id for b in blockers)])
        return BlockersChange(views[step.id], old, [views[b.id] for b in blockers])

    @cached_read(structure=True)
    def blocked(self, cluster_slug: str | None = None, limit: int = 10) -> tuple[list[BlockedStep], int]:
        """Open steps with at least one blocker not yet done (the first `limit`, in roadmap order), and how many."""
        with self.db.session() as s:
            return blocked_steps(s, self.scope.id, cluster_slug, limit)

    def unblocked_by(self, key: str) -> list[StepView]:
        """The steps that `key` (just marked done) unblocked: open steps that waited on it and wait on nothing
        else that is not done. For the owners' notification and the channel's card."""
        with self.db.session() as s:
            return newly_unblocked(s, find_step(s, key, self.scope.id).id)


# -- queries (the only places here that select Step rows directly) -------------------------------------------


def blocker_keys_of(s: Session, step_id: int) -> list[str]:
    rows = s.exec(
        select(Step.key)
        .join(StepDependency, StepDependency.blocker_id == Step.id)
        .where(StepDependency.step_id == step_id)
    ).scalars()
    return sorted(rows, key=key_order)


def blockers_and_unblocks(s: Session, step_id: int) -> tuple[list[StepView], list[StepView]]:
    """What a step waits on, and what waits on it, in roadmap order."""
    edges = s.exec(
        select(StepDependency.step_id, StepDependency.blocker_id).where(
            (StepDependency.step_id == step_id) | (StepDependency.blocker_id == step_id)
        )
    ).all()
    views = steps_by_id(s, list({i for e in edges for i in e} - {step_id}))
    order = lambda v: key_order(v.key)  # noqa: E731
    blockers = sorted((views[b] for st, b in edges if st == step_id), key=order)
    unblocks = sorted((views[st] for st, b in edges if b == step_id), key=order)
    return blockers, unblocks


def blocked_steps(s: Session, rid: int | None, cluster_slug: str | None, limit: int) -> tuple[list[BlockedStep], int]:
    """The first `limit` open steps (in roadmap order) with a blocker not yet done, their open blockers, and how
    many such steps there are: a count, one ordered page and that page's edges."""
    blocker = aliased(Step)
    # From the edges (few) to the steps, not every open step probing for an edge: `id IN (…)` is a key lookup.
    waiting = (
        select(StepDependency.step_id)
        .join(blocker, blocker.id == StepDependency.blocker_id)
        .where(blocker.status != "done")
    )
    blocked = (
        select(Step.id)
        .join(Cluster, Cluster.id == Step.cluster_id)
        .where(Step.id.in_(waiting), Step.roadmap_id == rid, Step.status.not_in(CLOSED_STATUSES))
    )
    if cluster_slug is not None:
        blocked = blocked.where(Cluster.slug == cluster_slug)
    total = s.exec(select(func.count()).select_from(blocked.subquery())).scalar_one()
    shown = list(s.exec(blocked.order_by(Cluster.position, Step.number).limit(limit)).scalars())
    if not shown:
        return [], total
    edges = s.exec(
        select(StepDependency.step_id, StepDependency.blocker_id)
        .join(blocker, blocker.id == StepDependency.blocker_id)
        .where(StepDependency.step_id.in_(shown), blocker.status != "done")
    ).all()
    views = steps_by_id(s, {*shown, *(b for _, b in edges)})
    open_blockers: dict[int, list[StepView]] = defaultdict(list)
    for step_id, blocker_id in edges:
        open_blockers[step_id].append(views[blocker_id])
    order = lambda v: key_order(v.key)  # noqa: E731
    return [BlockedStep(views[i], sorted(open_blockers[i], key=order)) for i in shown], total


def newly_unblocked(s: Session, step_id: int) -> list[StepView]:
    """Open steps waiting on `step_id` whose blockers are now all done (when `step_id` itself is done)."""
    views = steps_by_id(s, unblocked_ids(s, step_id))
    return sorted(views.values(), key=lambda v: key_order(v.key))


def all_edges(s: Session) -> list[tuple[int, int]]:
    return [tuple(r) for r in s.exec(select(StepDependency.step_id, StepDependency.blocker_id)).all()]


# -- writing -------------------------------------------------------------------------------------------------


def lock_graph(s: Session) -> None:
    """Serialise changes to the graph, so the cycle check sees every edge another transaction might add."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def load_graph(s: Session) -> dict[int, set[int]]:
    """Every "waits on" edge (step id → its blockers' ids), read under the graph's lock."""
    lock_graph(s)
    graph: dict[int, set[int]] = defaultdict(set)
    for st, b in all_edges(s):
        graph[st].add(b)
    return graph


def add_blockers(
    s: Session, step: Step, blockers: list[Step], actor: str, graph: dict[int, set[int]] | None = None
) -> int:
    """Make `step` wait on `blockers` (inside the caller's transaction), refusing a self-dependency or a cycle
    before anything is inserted. `graph` (from load_graph, kept up to date here) saves re-reading every edge when
    one transaction adds many. Returns how many edges were new."""
    graph = load_graph(s) if graph is None else graph
    keys: dict[int, str] = {step.id: step.key, **{b.id: b.key for b in blockers}}
    for b in blockers:
        if b.id == step.id:
            raise Invalid(f"{step.key} cannot wait on itself")
        path = _path(graph, b.id, step.id)
        if path is not None:
            names = dict(s.exec(select(Step.id, Step.key).where(Step.id.in_(path))).all())
            keys.update(names)
            chain = " → ".join(keys[i] for i in path)
            raise Invalid(
                f"{step.key} cannot wait on {b.key}: {b.key} already waits on {step.key} ({chain}), "
                "and a cycle would block both for ever. Nothing was changed."
            )
    added = 0
    for b in blockers:
        ins = insert_ignore(
            s, StepDependency, dict(step_id=step.id, blocker_id=b.id, created_by=actor), ["step_id", "blocker_id"]
        )
        added += s.exec(ins.returning(StepDependency.id)).first() is not None
        graph[step.id].add(b.id)
    return added


def _path(graph: dict[int, set[int]], start: int, goal: int) -> list[int] | None:
    """A chain of "waits on" edges from `start` to `goal`, if there is one (breadth first, so the shortest)."""
    came: dict[int, int | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            if node == goal:
                path = [node]
                while came[path[-1]] is not None:
                    path.append(came[path[-1]])
                return list(reversed(path))
            for other in graph.get(node, ()):
                if other not in came:
                    came[other] = node
                    nxt.append(other)
        frontier = nxt
    return None


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle in a roadmap file's `after:` lists (step key → the keys it waits on), or None."""
    graph = {k: set(v) for k, v in edges.items()}
    for start in graph:
        for b in graph[start]:
            path = _path(graph, b, start)
            if path is not None:
                return [start, *path]
    return None
