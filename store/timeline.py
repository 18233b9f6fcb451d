"""The roadmap's course over recent weeks, for the timeline chart: developments per cluster per week (by the side of
the step they name) and the status changes in the same weeks. Grouped queries: the answer grows with weeks,
clusters and sides, not with the number of developments."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, select

from store.base import Database
from store.models import Cluster, Development, Side, Step, StepChange
from store.queries import cluster_ref
from store.roadmaps import Scope
from store.views import SideView, Timeline, TimelineChange, TimelineWeek


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


class Timelines:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def weekly(self, *, today: date, tz: tzinfo, weeks: int = 12, cluster: str | None = None) -> Timeline:
        """The last `weeks` weeks up to `today` (the first is a Monday `weeks - 1` weeks before this week's)."""
        start = monday(today) - timedelta(weeks=weeks - 1)
        since = datetime.combine(start, time(0), tzinfo=tz)
        with self.db.session() as s:
            rid = self.scope.id
            clusters = (
                s.exec(select(Cluster).where(Cluster.roadmap_id == rid).order_by(Cluster.position)).scalars().all()
            )
            if cluster is not None:
                clusters = [c for c in clusters if c.slug == cluster]
            ids = [c.id for c in clusters]
            sides = s.exec(select(Side).where(Side.roadmap_id == rid).order_by(Side.position)).scalars().all()
            dev_rows = s.exec(
                select(Cluster.slug, Development.occurred_on, Side.code, func.count())
                .select_from(Development)
                .join(Cluster, Cluster.id == Development.cluster_id)
                .outerjoin(Step, Step.id == Development.step_id)
                .outerjoin(Side, Side.id == Step.side_id)
                .where(
                    Development.cluster_id.in_(ids),
                    Development.occurred_on >= start,
                    Development.occurred_on <= today,
                    Development.retracted_at.is_(None),
                )
                .group_by(Cluster.slug, Development.occurred_on, Side.code)
            ).all()
            change_rows = s.exec(
                select(Cluster.slug, StepChange.changed_at, Side.code, Step.key, StepChange.new_value)
                .select_from(StepChange)
                .join(Step, Step.id == StepChange.step_id)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .where(StepChange.field == "status", StepChange.changed_at >= since, Step.cluster_id.in_(ids))
                .order_by(StepChange.changed_at, StepChange.id)
            ).all()
        counts: dict[tuple[str, date, str], int] = defaultdict(int)
        for slug, on, side, n in dev_rows:
            counts[(slug, monday(on), side or "")] += int(n)
        changes = []
        for slug, at, side, key, status in change_rows:
            on = at.astimezone(tz).date()
            if on <= today:
                changes.append(TimelineChange(slug, on, side, key, status or ""))
        return Timeline(
            start=start,
            weeks=weeks,
            clusters=[cluster_ref(c) for c in clusters],
            sides=[SideView(x.code, x.name) for x in sides],
            counts=[TimelineWeek(c, w, side, n) for (c, w, side), n in sorted(counts.items())],
            changes=changes,
        )
