"""Query pieces and row → view conversions that several domain modules share (pairs, latest developments,
steps by id). Bounded queries only: every list is an index range scan or a count grouped by a few columns."""

from __future__ import annotations

import functools
from collections import defaultdict

from sqlalchemy import Integer, and_, case, false, func, or_, select, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session

from store.errors import NotFound
from store.models import CLOSED_STATUSES, OPEN_STATUSES, Cluster, Development, Reciprocity, Side, Step
from store.names import normalize_step_key, unknown_step
from store.views import ClusterRef, DevelopmentView, PairView, SideView, StepView

# Built once: fresh aliases per call cost more than the query.
PAIR_ALIASES = (
    aliased(Step, name="step_a"),
    aliased(Step, name="step_b"),
    aliased(Side, name="side_a"),
    aliased(Side, name="side_b"),
    aliased(Cluster, name="cluster_a"),
    aliased(Cluster, name="cluster_b"),
)


def as_int(condition):
    """A boolean condition as 0/1, for SUM() counts on both backends."""
    return func.cast(condition, Integer)


def cluster_ref(c: Cluster) -> ClusterRef:
    return ClusterRef(c.slug, c.prefix, c.title, c.summary)


def step_view(step: Step, side: Side, cluster_slug: str) -> StepView:
    return StepView(
        key=step.key,
        cluster=cluster_slug,
        side=SideView(side.code, side.name),
        title=step.title,
        detail=step.detail,
        status=step.status,
        due_on=step.due_on,
        source=step.source,
        source_url=step.source_url,
        updated_at=step.updated_at,
    )


def dev_view(d: Development, cluster_slug: str, step_key: str | None) -> DevelopmentView:
    return DevelopmentView(
        id=d.id,
        cluster=cluster_slug,
        step=step_key,
        text=d.text,
        author=d.author,
        occurred_on=d.occurred_on,
        precision=d.precision,
        recorded_at=d.recorded_at,
        source=d.source,
        url=d.url,
        permalink=d.permalink,
        slack_channel=d.slack_channel,
        slack_ts=d.slack_ts,
        retracted=d.retracted_at is not None,
    )


def steps_by_id(s: Session, ids) -> dict[int, StepView]:
    """Views of the steps with these ids (one query), keyed by id."""
    ids = list(ids)
    if not ids:
        return {}
    rows = s.exec(
        select(Step, Side, Cluster.slug)
        .join(Side, Side.id == Step.side_id)
        .join(Cluster, Cluster.id == Step.cluster_id)
        .where(Step.id.in_(ids))
    ).all()
    return {st.id: step_view(st, sd, slug) for st, sd, slug in rows}


def find_step(s: Session, key: str, roadmap_id: int | None) -> Step:
    """The roadmap's step with this id (as typed: `sec-1` works); NotFound naming the valid ids otherwise."""
    norm = normalize_step_key(key) or key.strip().upper()
    step = s.exec(select(Step).where(Step.roadmap_id == roadmap_id, Step.key == norm)).scalars().first()
    if step is None:
        raise unknown_step(key, list(s.exec(select(Step.key).where(Step.roadmap_id == roadmap_id)).scalars()))
    return step


def find_cluster_id(s: Session, slug: str, roadmap_id: int | None) -> int:
    cluster_id = s.exec(select(Cluster.id).where(Cluster.roadmap_id == roadmap_id, Cluster.slug == slug)).scalar()
    if cluster_id is None:
        slugs = list(
            s.exec(select(Cluster.slug).where(Cluster.roadmap_id == roadmap_id).order_by(Cluster.position)).scalars()
        )
        raise NotFound("cluster", slug, slugs)
    return cluster_id


def _with_names():
    return (
        select(Development, Cluster.slug, Step.key)
        .join(Cluster, Cluster.id == Development.cluster_id)
        .outerjoin(Step, Step.id == Development.step_id)
    )


def development_view(s: Session, dev_id: int) -> DevelopmentView:
    return dev_view(*s.exec(_with_names().where(Development.id == dev_id)).one())


def development_views(s: Session, dev_ids: list[int]) -> list[DevelopmentView]:
    """The developments of `dev_ids`, in that order (one query)."""
    if not dev_ids:
        return []
    views = {r[0].id: dev_view(*r) for r in s.exec(_with_names().where(Development.id.in_(dev_ids))).all()}
    return [views[i] for i in dev_ids]


def latest_developments(s: Session, condition, limit: int) -> list[DevelopmentView]:
    rows = s.exec(
        _with_names()
        .where(condition, Development.retracted_at.is_(None))
        .order_by(Development.occurred_on.desc(), Development.id.desc())
        .limit(limit)
    ).all()
    return [dev_view(*r) for r in rows]


def pairs(
    s: Session,
    roadmap_id: int | None,
    cluster_id: int | None = None,
    step_id: int | None = None,
    limit: int | None = None,
    pair_ids=None,
) -> dict[int, list[PairView]]:
    """Reciprocal pairs keyed by the cluster of their first step (the first `limit` of them, if given)."""
    a, b, sa_, sb, ca, cb = PAIR_ALIASES
    q = (
        select(*_step_columns(a, sa_, ca), *_step_columns(b, sb, cb))
        .select_from(Reciprocity)
        .join(a, a.id == Reciprocity.step_id)
        .join(b, b.id == Reciprocity.counterpart_id)
        .join(sa_, sa_.id == a.side_id)
        .join(sb, sb.id == b.side_id)
        .join(ca, ca.id == a.cluster_id)
        .join(cb, cb.id == b.cluster_id)
        .order_by(a.cluster_id, a.number, b.number)
    )
    if cluster_id is not None:
        q = q.where(pair_in_cluster(cluster_id))
    elif step_id is None and pair_ids is None:
        q = q.where(a.roadmap_id == roadmap_id)
    if step_id is not None:
        # On the pair's own indexed columns, so both backends probe ix_reciprocity_* instead of scanning pairs.
        q = q.where(or_(Reciprocity.step_id == step_id, Reciprocity.counterpart_id == step_id))
    if pair_ids is not None:
        q = q.where(Reciprocity.id.in_(pair_ids))
    if limit is not None:
        # The first `limit` ids through the two steps alone, then the six-table join for those only: sorting a
        # cluster's pairs (hundreds) with every joined column cost 4.7 ms where the narrow sort costs 1.5.
        first = q.with_only_columns(Reciprocity.id).limit(limit)
        q = q.where(Reciprocity.id.in_(first))
    out: dict[int, list[PairView]] = defaultdict(list)
    # Core rows, not ORM entities: six entities per pair cost more than the query itself.
    width = len(_STEP_FIELDS) + 4
    for row in s.connection().execute(q):
        first_cluster = row[1]
        pair = PairView(_step_of(row[:width]), _step_of(row[width:]))
        out[cluster_id if cluster_id is not None else first_cluster].append(pair)
    return out


_STEP_FIELDS = ("key", "title", "detail", "status", "due_on", "source", "source_url", "updated_at")


def _step_columns(step, side, cluster) -> tuple:
    """A step's view as columns: key, cluster id, cluster slug, side code and name, then the other fields."""
    first, *rest = (getattr(step, f) for f in _STEP_FIELDS)
    return (first, step.cluster_id, cluster.slug, side.code, side.name, *rest)


def _step_of(row) -> StepView:
    key, _cluster_id, slug, code, name, title, detail, status, due_on, source, source_url, updated_at = row
    return StepView(key, slug, SideView(code, name), title, detail, status, due_on, source, source_url, updated_at)


def pair_in_cluster(cluster_id: int):
    """Pairs with a step in the cluster, found through the indexes (the cluster's step ids, then the pairs'
    step columns) rather than by joining every pair first."""
    ids = select(Step.id).where(Step.cluster_id == cluster_id)
    return or_(Reciprocity.step_id.in_(ids), Reciprocity.counterpart_id.in_(ids))


def state_step(side: SideView, state: str) -> StepView:
    """A stand-in step of `side` in `state`, so that PairView keeps the one rule of who owes a move."""
    status = state if state in CLOSED_STATUSES else "proposed"
    return StepView("", "", side, "", "", status, None, "", None)


Tally = list[tuple[int, str, int, str, int]]


def tallied_pairs(tally: Tally, sides: dict[int, SideView]) -> list[tuple[PairView, int]]:
    """A tally's rows as (representative pair, how many such pairs)."""
    return [(_tally_pair(sides[a], sa, sides[b], sb), n) for a, sa, b, sb, n in tally]


@functools.lru_cache(maxsize=4096)
def _tally_pair(a: SideView, a_state: str, b: SideView, b_state: str) -> PairView:
    """Frozen views, so one per combination serves every tally (a tally has hundreds of rows)."""
    return PairView(state_step(a, a_state), state_step(b, b_state))


def first_per_cluster(roadmap_id: int | None, condition, order_by: tuple, n: int):
    """Ids of the first `n` steps per cluster that meet `condition`, in `order_by` order (a window function)."""
    ranked = (
        select(Step.id.label("id"), func.row_number().over(partition_by=Step.cluster_id, order_by=order_by).label("rn"))
        .where(Step.roadmap_id == roadmap_id, condition)
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.rn <= n)


def first_open_pairs(cluster_ids: list[int], n: int, *, side_id: int | None = None, owed_first: bool = True):
    """Ids of the first `n` open pairs per cluster (of the first step): by default those where exactly one side
    owes the next move (its counterpart is done) first, then by step number. With `side_id`, only pairs where
    that side owes a move — which is exactly when its step of the pair is open (PairView.owed_by).

    One LIMIT query per cluster, joined by UNION ALL: each walks its cluster's steps in number order
    (ix_step_cluster_position) and stops at `n`, where a window function over every pair ranked them all
    (7 ms → 0.1 ms for six clusters at 10k steps on SQLite)."""
    a, b = aliased(Step), aliased(Step)
    a_open, b_open = a.status.in_(OPEN_STATUSES), b.status.in_(OPEN_STATUSES)
    one_owes = or_(and_(a.status == "done", b_open), and_(b.status == "done", a_open))
    order = (case((one_owes, 0), else_=1), a.number, b.number) if owed_first else (a.number, b.number)
    condition = (
        or_(a_open, b_open)
        if side_id is None
        else or_(and_(a.side_id == side_id, a_open), and_(b.side_id == side_id, b_open))
    )
    firsts = [
        select(
            select(Reciprocity.id.label("id"))
            .join(a, a.id == Reciprocity.step_id)
            .join(b, b.id == Reciprocity.counterpart_id)
            .where(a.cluster_id == cluster_id, condition)
            .order_by(*order)
            .limit(n)
            .subquery()
            .c.id
        )
        for cluster_id in cluster_ids
    ]
    if not firsts:
        return select(Reciprocity.id).where(false())
    return union_all(*firsts) if len(firsts) > 1 else firsts[0]
