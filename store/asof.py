"""The roadmap as it stood at the end of a past day, rebuilt from the audit history (step_change) and the
developments. `/roadmap status … as of DATE` and the brief's `as of` both read it through here.

A step's field at the end of day D (in the roadmap's time zone) is the new_value of its last change of that field
on or before D; else the old_value of its first change after D; else its current value. Every field that
step_change records is rebuilt this way — status, due_on, title, detail, side_id today, and any field audited later
(e.g. "owners") with no change here, as long as the Step model has a column of that name.

A development counts as of D when it is dated on or before D, was recorded by the end of D and was not retracted by
then. Facts loaded from a roadmap file (author "import") count from their date: the file records history, and
its recording time is only when it was loaded.

Reciprocal pairs and the set of steps are today's (they are not audited); their states are D's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, or_, select
from sqlmodel import Session

from store.base import Database
from store.errors import Invalid
from store.models import Cluster, Development, Reciprocity, Roadmap, Side, Step, StepChange
from store.queries import cluster_ref, dev_view, find_cluster_id, find_step, step_view
from store.roadmaps import Scope
from store.views import (
    AsOfState,
    ChangeView,
    ClusterDetail,
    ClusterSummary,
    DevelopmentView,
    PairView,
    PeriodChange,
    SideProgress,
    SideView,
    StepDetail,
    StepView,
)

IMPORTED = "import"  # the author of developments loaded from a roadmap file (store.models.Development.author)


def end_of_day(day: date, tz: tzinfo) -> datetime:
    """The first instant after `day` in `tz`: everything strictly before it happened on or before `day`."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


class AsOf:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def began(self, tz: tzinfo) -> date | None:
        """The roadmap's first dated fact: its earliest development, change or step; None when it is empty."""
        rid = self.scope.id
        steps = select(Step.id).where(Step.roadmap_id == rid)
        clusters = select(Cluster.id).where(Cluster.roadmap_id == rid)
        with self.db.session() as s:
            first_dev = s.exec(
                select(func.min(Development.occurred_on)).where(Development.cluster_id.in_(clusters))
            ).scalar()
            first_change = s.exec(select(func.min(StepChange.changed_at)).where(StepChange.step_id.in_(steps))).scalar()
            first_step = s.exec(select(func.min(Step.created_at)).where(Step.roadmap_id == rid)).scalar()
        days = [first_dev] + [t.astimezone(tz).date() for t in (first_change, first_step) if t is not None]
        days = [d for d in days if d is not None]
        return min(days) if days else None

    def check(self, day: date, *, today: date, tz: tzinfo) -> None:
        """Refuse a date the roadmap cannot be shown at: in the future, or before its first fact."""
        if day > today:
            raise Invalid(
                f"{day.isoformat()} is in the future; “as of” shows the roadmap at a past date (today is "
                f"{today.isoformat()})"
            )
        began = self.began(tz)
        if began is None:
            raise Invalid("the roadmap is empty, so there is nothing to show as of any date")
        if day < began:
            raise Invalid(
                f"the roadmap did not exist on {day.isoformat()}: its first recorded fact is dated "
                f"{began.isoformat()}; pick a date from then on"
            )

    def state(
        self,
        day: date,
        *,
        tz: tzinfo,
        cluster: str | None = None,
        step: str | None = None,
        since: date | None = None,
        developments: int | None = None,
        history: int = 20,
    ) -> AsOfState:
        """The steps (with their counterparts), pairs and developments of the scope as they stood at the end of
        `day`; developments dated from `since` on (all when None), newest first, at most `developments`."""
        end = end_of_day(day, tz)
        with self.db.session() as s:
            rid = self.scope.id
            title = s.exec(select(Roadmap.title).where(Roadmap.id == rid)).scalar() or "Roadmap"
            clusters = (
                s.exec(select(Cluster).where(Cluster.roadmap_id == rid).order_by(Cluster.position)).scalars().all()
            )
            cluster_id = find_cluster_id(s, cluster, rid) if cluster else None
            step_row = find_step(s, step, rid) if step else None
            scope = scope_steps(s, rid, cluster_id=cluster_id, step_id=step_row.id if step_row else None)
            pair_rows = _pairs_of(s, [x.id for x in scope])
            wanted = {x.id for x in scope} | {i for p in pair_rows for i in p}
            rows = {x.id: x for x in scope}
            missing = wanted - set(rows)
            if missing:
                rows.update({x.id: x for x in s.exec(select(Step).where(Step.id.in_(missing))).scalars()})
            changes = (
                s.exec(
                    select(StepChange)
                    .where(StepChange.step_id.in_(wanted))
                    .order_by(StepChange.changed_at, StepChange.id)
                )
                .scalars()
                .all()
            )
            sides = {x.id: x for x in s.exec(select(Side).where(Side.roadmap_id == rid)).scalars()}
            slugs = {c.id: c.slug for c in clusters}
            where = [Development.cluster_id == cluster_id] if cluster_id is not None else []
            if step_row is not None:
                where = [Development.step_id == step_row.id]
            devs = _developments(s, where, day, end, since, developments)
            hist = []
            if step_row is not None:
                hist = [_change_view(c) for c in reversed(changes) if c.step_id == step_row.id and c.changed_at < end]
                hist = hist[:history]
        rebuilt = {i: rebuild(row, [c for c in changes if c.step_id == i], end) for i, row in rows.items()}
        views = {i: step_view(x, sides[x.side_id], slugs[x.cluster_id]) for i, x in rebuilt.items()}
        order = sorted(rebuilt.values(), key=lambda x: (_position(clusters, x.cluster_id), x.number, x.key))
        in_scope = {x.id for x in scope}
        start = end_of_day(since - timedelta(days=1), tz) if since is not None else None
        period = [
            PeriodChange(views[c.step_id], _change_view(c))
            for c in changes
            if start is not None and c.step_id in in_scope and start <= c.changed_at < end
        ]
        return AsOfState(
            day=day,
            title=title,
            clusters=[cluster_ref(c) for c in clusters if cluster_id is None or c.id == cluster_id],
            sides=[SideView(x.code, x.name) for x in sorted(sides.values(), key=lambda x: x.position)],
            steps=[views[x.id] for x in order if x.id in in_scope],
            pairs=[PairView(views[a], views[b]) for a, b in pair_rows],
            developments=devs,
            history=hist,
            changes=period,
        )

    def latest_on(self, day: date, *, tz: tzinfo) -> dict[str, date]:
        """Each cluster's latest development as of `day` (one grouped query)."""
        end = end_of_day(day, tz)
        with self.db.session() as s:
            rows = s.exec(
                select(Cluster.slug, func.max(Development.occurred_on))
                .join(Cluster, Cluster.id == Development.cluster_id)
                .where(Cluster.roadmap_id == self.scope.id, *_known_by(day, end))
                .group_by(Cluster.slug)
            ).all()
        return {slug: latest for slug, latest in rows}


def scope_steps(
    s: Session, rid: int | None, *, cluster_id: int | None = None, step_id: int | None = None
) -> list[Step]:
    """The steps an as-of answer is about: one step, one cluster's, or all (the one place Step rows are selected
    here, so a roadmap filter goes in one place)."""
    q = select(Step).where(Step.roadmap_id == rid)
    if step_id is not None:
        q = q.where(Step.id == step_id)
    elif cluster_id is not None:
        q = q.where(Step.cluster_id == cluster_id)
    return list(s.exec(q).scalars())


def _pairs_of(s: Session, step_ids: list[int]) -> list[tuple[int, int]]:
    rows = s.exec(
        select(Reciprocity.step_id, Reciprocity.counterpart_id)
        .where(or_(Reciprocity.step_id.in_(step_ids), Reciprocity.counterpart_id.in_(step_ids)))
        .order_by(Reciprocity.id)
    ).all()
    return [(a, b) for a, b in rows]


def _known_by(day: date, end: datetime) -> list:
    """Developments as they stood at `end`: dated by `day`, recorded by then (imports by their date), not retracted."""
    return [
        Development.occurred_on <= day,
        or_(Development.recorded_at < end, Development.author == IMPORTED),
        or_(Development.retracted_at.is_(None), Development.retracted_at >= end),
    ]


def _developments(s, where, day, end, since, limit) -> list[DevelopmentView]:
    q = (
        select(Development, Cluster.slug, Step.key)
        .join(Cluster, Cluster.id == Development.cluster_id)
        .outerjoin(Step, Step.id == Development.step_id)
        .where(*where, *_known_by(day, end))
        .order_by(Development.occurred_on.desc(), Development.id.desc())
    )
    if since is not None:
        q = q.where(Development.occurred_on >= since)
    if limit is not None:
        q = q.limit(limit)
    # Its text as of then: an edit made later is not known yet, but the store keeps only the latest text.
    return [dev_view(d, slug, key) for d, slug, key in s.exec(q).all()]


def _position(clusters, cluster_id: int) -> int:
    return next((c.position for c in clusters if c.id == cluster_id), 0)


def _change_view(c: StepChange) -> ChangeView:
    return ChangeView(c.changed_at, c.actor, c.field, c.old_value, c.new_value, c.note)


def rebuild(step: Step, changes: list[StepChange], end: datetime) -> Step:
    """A detached copy of `step` with every audited field as it stood just before `end` (`changes` in order)."""
    before: dict[str, StepChange] = {}
    after: dict[str, StepChange] = {}
    for c in changes:
        if c.changed_at < end:
            before[c.field] = c  # the last one on or before the day wins
        else:
            after.setdefault(c.field, c)  # the first one after the day
    columns = Step.__table__.columns
    copy = Step(**{c.name: getattr(step, c.name) for c in columns})
    for name in set(before) | set(after):
        if name not in columns:
            continue  # a field this schema no longer (or not yet) has
        raw = before[name].new_value if name in before else after[name].old_value
        setattr(copy, name, _parse(raw, columns[name].type))
    return copy


def _parse(raw: str | None, column_type):
    """A value as audit_row stored it (str() of the value) back in the column's Python type."""
    if raw is None:
        return None
    try:
        kind = column_type.python_type
    except NotImplementedError:
        return raw
    if kind is date:
        return date.fromisoformat(raw[:10])
    if kind is int:
        return int(raw)
    if kind is bool:
        return raw in ("True", "true", "1")
    return raw


# -- the status answers as of a day, from one state ----------------------------------------------------------------


def overview(state: AsOfState, latest_on: dict[str, date]) -> list[ClusterSummary]:
    out = []
    for c in state.clusters:
        steps = [x for x in state.steps if x.cluster == c.slug]
        pairs = [p for p in state.pairs if p.first.cluster == c.slug]
        owed: dict[str, int] = defaultdict(int)
        by_code = {x.code: x for x in state.sides}
        for p in pairs:
            if p.is_open:
                for side in p.owed_by:
                    owed[side.code] += 1
        out.append(
            ClusterSummary(
                cluster=c,
                progress=progress(state.sides, steps),
                open_pairs=sum(1 for p in pairs if p.is_open),
                owed=sorted(((by_code[code], n) for code, n in owed.items()), key=lambda x: -x[1]),
                latest_on=latest_on.get(c.slug),
                steps_total=len(steps),
            )
        )
    return out


def progress(sides: list[SideView], steps: list[StepView]) -> list[SideProgress]:
    out = []
    for side in sides:
        mine = [x for x in steps if x.side.code == side.code]
        if mine:
            out.append(SideProgress(side, sum(1 for x in mine if x.status == "done"), len(mine)))
    return out


def cluster_detail(state: AsOfState, steps: int = 12, pairs: int = 12, developments: int = 5) -> ClusterDetail:
    (c,) = state.clusters
    grouped = []
    for p in progress(state.sides, state.steps):
        grouped.append((p.side, [x for x in state.steps if x.side.code == p.side.code][:steps]))
    return ClusterDetail(
        c,
        grouped,
        state.pairs[:pairs],
        state.developments[:developments],
        progress=progress(state.sides, state.steps),
        pairs_total=len(state.pairs),
        open_pairs=sum(1 for p in state.pairs if p.is_open),
    )


def step_detail(state: AsOfState, developments: int = 10) -> StepDetail:
    (step,) = state.steps
    return StepDetail(step, state.pairs, state.history, state.developments[:developments])
