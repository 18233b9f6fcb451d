"""The weekly digest's data: what it reports (content, in a fixed number of queries), the per-channel schedules set
from Slack, and the claims that make each (channel, slot) go out once (digest_run, unique per channel and period).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select, update

from store import schedule as schedules
from store.base import Database, claim_run, finish_run, upsert
from store.counters import StepActivity
from store.ledger import compute as ledger_compute
from store.models import OPEN_STATUSES, Cluster, Development, DigestRun, DigestSchedule, Roadmap, Side, Step, utcnow
from store.queries import (
    as_int,
    cluster_ref,
    dev_view,
    first_open_pairs,
    first_per_cluster,
    step_view,
    tallied_pairs,
)
from store.queries import pairs as list_pairs
from store.roadmaps import Scope
from store.tallies import pair_tally
from store.views import (
    ClusterDigest,
    DigestContent,
    DigestRunView,
    DigestScheduleView,
    SideProgress,
    SideTotals,
    SideView,
    StaleStep,
)


class Digests:
    """Content is the scope's roadmap; schedules and claims are per channel."""

    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def content(
        self,
        *,
        today: date,
        since: datetime,
        stale_days: int,
        developments_per_cluster: int = 15,
        items_per_list: int = 20,
        ledger_waits: int = 5,
    ) -> DigestContent:
        """What the weekly digest reports, per cluster, in a fixed number of queries whatever the store's size.

        Every count (open pairs, who owes, overdue, stale, per side and per cluster) is exact and computed in SQL;
        the lists carry the first `items_per_list` of each per cluster (pairs where one side owes the next move
        first, the longest overdue first, stale ones in roadmap order), so a digest stays readable and bounded however
        large the roadmap grows. Stale: an open step with no (unretracted) development dated on or after
        `today - stale_days` (each step's latest date is kept in step_activity). New developments: recorded
        after `since`, at most `developments_per_cluster` per cluster, with how many more there were.
        """
        cutoff = today - timedelta(days=stale_days)
        open_ = Step.status.in_(OPEN_STATUSES)
        live = Development.retracted_at.is_(None)
        # Stale: no live development dated on or after the cutoff (step_activity keeps each step's latest date).
        last_on = (
            select(StepActivity.last_development_on)
            .where(StepActivity.step_id == Step.id)
            .correlate(Step)
            .scalar_subquery()
        )
        is_stale = and_(open_, func.coalesce(last_on, date.min) < cutoff)
        is_overdue = and_(open_, Step.due_on < today)
        with self.db.session() as s:
            rid = self.scope.id
            title = s.exec(select(Roadmap.title).where(Roadmap.id == rid)).scalar() or "Roadmap"
            clusters = (
                s.exec(select(Cluster).where(Cluster.roadmap_id == rid).order_by(Cluster.position)).scalars().all()
            )
            sides = s.exec(select(Side).where(Side.roadmap_id == rid).order_by(Side.position)).scalars().all()
            side_view = {x.id: SideView(x.code, x.name) for x in sides}
            counts = s.exec(
                select(
                    Step.cluster_id,
                    Step.side_id,
                    func.count(),
                    func.sum(as_int(Step.status == "done")),
                    func.sum(as_int(open_)),
                    func.sum(as_int(is_overdue)),
                    func.sum(as_int(is_stale)),
                )
                .where(Step.roadmap_id == rid)
                .group_by(Step.cluster_id, Step.side_id)
            ).all()
            tallies = pair_tally(s, rid)
            pairs = list_pairs(s, rid, pair_ids=first_open_pairs([c.id for c in clusters], items_per_list))
            steps_q = (
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .order_by(Cluster.position, Step.number)
            )
            overdue = s.exec(
                steps_q.where(
                    Step.id.in_(first_per_cluster(rid, is_overdue, (Step.due_on, Step.number), items_per_list))
                )
            ).all()
            # In roadmap order: ordering by each step's latest development would compute it for every stale step;
            # `last_on` is computed only for the steps shown.
            stale = s.exec(
                steps_q.add_columns(last_on).where(
                    Step.id.in_(first_per_cluster(rid, is_stale, (Step.number,), items_per_list))
                )
            ).all()
            # New developments: a range on ix_development_recorded, so the work grows with what is new this week,
            # not with the store (a window function over the whole table tempted SQLite into a full index scan).
            # `cluster_id + 0`: the roadmap's clusters are all of a cluster index's keys, so SQLite (without
            # statistics) would scan every development of the roadmap through it instead of the week's range.
            new_keys = s.exec(
                select(Development.id, Development.cluster_id, Development.occurred_on).where(
                    Development.recorded_at > since, live, (Development.cluster_id + 0).in_([c.id for c in clusters])
                )
            ).all()
            newest: dict[int, list] = defaultdict(list)
            for dev_id, cluster_id, occurred_on in new_keys:
                newest[cluster_id].append((occurred_on, dev_id))
            new_count = {cid: len(rows) for cid, rows in newest.items()}
            shown_ids = [
                i for rows in newest.values() for _, i in sorted(rows, reverse=True)[:developments_per_cluster]
            ]
            # The ledger section: exact figures per side, and only the longest few waits (bounded like the rest).
            ledger = ledger_compute(s, today, rid, limit=ledger_waits)
            new_rows = s.exec(
                select(Development, Cluster.slug, Step.key)
                .join(Cluster, Cluster.id == Development.cluster_id)
                .outerjoin(Step, Step.id == Development.step_id)
                .where(Development.id.in_(shown_ids))
                .order_by(Development.occurred_on.desc(), Development.id.desc())
            ).all()
        slug_id = {c.slug: c.id for c in clusters}
        by_cluster: dict[int, dict] = {
            c.id: dict(progress=[], overdue=[], stale=[], developments=[], more=0, n_overdue=0, n_stale=0)
            for c in clusters
        }
        order = {x.id: x.position for x in sides}
        totals = {x.id: dict(open=0, done=0, owed=0, overdue=0, stale=0) for x in sides}
        for cluster_id, side_id, total, done, opened, late, stale_n in sorted(counts, key=lambda r: order[r[1]]):
            entry = by_cluster[cluster_id]
            entry["progress"].append(SideProgress(side_view[side_id], int(done or 0), int(total)))
            entry["n_overdue"] += int(late or 0)
            entry["n_stale"] += int(stale_n or 0)
            totals[side_id]["done"] += int(done or 0)
            totals[side_id]["open"] += int(opened or 0)
            totals[side_id]["overdue"] += int(late or 0)
            totals[side_id]["stale"] += int(stale_n or 0)
        for step, side, slug in sorted(overdue, key=lambda r: (r[0].due_on, r[0].number)):
            by_cluster[step.cluster_id]["overdue"].append(step_view(step, side, slug))
        for step, side, slug, last in stale:
            by_cluster[step.cluster_id]["stale"].append(StaleStep(step_view(step, side, slug), last))
        for dev, slug, key in new_rows:
            entry = by_cluster[slug_id[slug]]
            entry["developments"].append(dev_view(dev, slug, key))
            entry["more"] = new_count[dev.cluster_id] - min(new_count[dev.cluster_id], developments_per_cluster)
        side_ids = {x.code: x.id for x in sides}
        out = []
        for c in clusters:
            entry = by_cluster[c.id]
            open_total = 0
            for pair, n in tallied_pairs(tallies.get(c.id, []), side_view):
                if pair.is_open:
                    open_total += n
                    for owing in pair.owed_by:
                        totals[side_ids[owing.code]]["owed"] += n
            shown = sorted((p for p in pairs.get(c.id, []) if p.is_open), key=lambda p: len(p.owed_by) != 1)
            out.append(
                ClusterDigest(
                    cluster=cluster_ref(c),
                    progress=entry["progress"],
                    open_pairs=shown,
                    overdue=entry["overdue"],
                    stale=entry["stale"],
                    developments=entry["developments"],
                    more_developments=entry["more"],
                    open_pairs_total=open_total,
                    overdue_total=entry["n_overdue"],
                    stale_total=entry["n_stale"],
                )
            )
        # Sides without a step of their own (observers in the roadmap file) have nothing to total.
        with_steps = {side_id for _, side_id, *_ in counts}
        side_totals = [SideTotals(side_view[x.id], **totals[x.id]) for x in sides if x.id in with_steps]
        return DigestContent(title, today, since, stale_days, out, side_totals, ledger=ledger)

    def claim(
        self,
        channel: str,
        period: str,
        worker: str,
        *,
        now: datetime,
        stale_after: timedelta,
        retry_after: Callable[[int], timedelta],
    ) -> DigestRunView | None:
        """Claim one (channel, period) for sending; None if it is not this worker's to send.

        The first claim is INSERT … ON CONFLICT DO NOTHING RETURNING on the unique (channel, period). An existing
        row is taken over only when it failed and its backoff (`retry_after(attempts)`) is over, or when it has
        been 'claimed' for longer than `stale_after` (its worker crashed mid-send: the caller must check Slack
        for the message before posting again). The takeover is a compare-and-set on the attempt count, so two
        workers never both win it. The returned view's `attempts` counts this attempt.
        """
        with self.db.session(write=True) as s:
            key = dict(channel=channel, period=period)
            new_id = claim_run(s, DigestRun, key, worker, now=now, stale_after=stale_after, retry_after=retry_after)
            return None if new_id is None else run_view(s.get(DigestRun, new_id))

    def finish(
        self,
        run: DigestRunView,
        *,
        now: datetime,
        message_ts: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record how a claimed attempt ended: sent (with the first message's ts) or failed (with the reason).

        Only the attempt that holds the claim may record it (a worker taken over as stale cannot overwrite).
        """
        status = "failed" if error else "sent"
        with self.db.session(write=True) as s:
            return finish_run(
                s, DigestRun, run.id, run.attempts, status=status, now=now, error=error, message_ts=message_ts
            )

    def claim_chart(self, run: DigestRunView) -> bool:
        """Take the right to upload this digest's chart: True once per digest slot, whatever the attempt (a
        compare-and-set on chart_status, so a retry or a second worker never uploads it again)."""
        with self.db.session(write=True) as s:
            won = s.exec(
                update(DigestRun)
                .where(DigestRun.id == run.id, DigestRun.chart_status.is_(None))
                .values(chart_status="uploading")
                .returning(DigestRun.id)
            ).scalar()
        return won is not None

    def finish_chart(self, run: DigestRunView, *, file_id: str | None = None, error: str | None = None) -> None:
        """Record how the chart upload ended: uploaded (with Slack's file id) or failed (with the reason)."""
        values = (
            dict(chart_status="failed", chart_detail=(error or "")[:2000])
            if error
            else dict(chart_status="uploaded", chart_detail=file_id)
        )
        with self.db.session(write=True) as s:
            s.exec(update(DigestRun).where(DigestRun.id == run.id).values(**values))

    def last_sent(self, channel: str) -> DigestRunView | None:
        """The channel's latest successful digest (its claim time is when its content was read)."""
        with self.db.session() as s:
            row = s.exec(
                select(DigestRun)
                .where(DigestRun.channel == channel, DigestRun.status == "sent")
                .order_by(DigestRun.claimed_at.desc(), DigestRun.id.desc())
                .limit(1)
            ).scalar()
        return run_view(row) if row else None

    def runs(self, channel: str | None = None, limit: int = 50) -> list[DigestRunView]:
        with self.db.session() as s:
            q = select(DigestRun).order_by(DigestRun.claimed_at.desc(), DigestRun.id.desc()).limit(limit)
            if channel:
                q = q.where(DigestRun.channel == channel)
            return [run_view(r) for r in s.exec(q).scalars()]

    def schedules(self) -> list[DigestScheduleView]:
        with self.db.session() as s:
            rows = s.exec(select(DigestSchedule).order_by(DigestSchedule.channel)).scalars().all()
        return [schedule_view(r) for r in rows]

    def schedule(self, channel: str) -> DigestScheduleView | None:
        with self.db.session() as s:
            row = s.get(DigestSchedule, channel)
        return schedule_view(row) if row else None

    def set_schedule(
        self, channel: str, *, cron: str, timezone: str, enabled: bool, updated_by: str, now: datetime | None = None
    ) -> DigestScheduleView:
        """Create or replace a channel's schedule (one row per channel: an upsert, not read-then-write)."""
        values = dict(
            channel=channel,
            cron=cron,
            timezone=timezone,
            enabled=enabled,
            updated_by=updated_by,
            updated_at=now or utcnow(),
        )
        with self.db.session(write=True) as s:
            s.exec(upsert(s, DigestSchedule, values, ["channel"]))
            row = s.exec(select(DigestSchedule).where(DigestSchedule.channel == channel)).scalar_one()
            return schedule_view(row)

    # -- which schedule applies (the rule itself is store.schedule.schedule_for) -------------------------------
    def schedule_for(self, channel: str | None, defaults: schedules.Defaults) -> schedules.ChannelSchedule:
        return schedules.schedule_for(channel, self.schedule(channel) if channel else None, defaults)

    def targets(self, defaults: schedules.Defaults) -> list[schedules.Target]:
        return schedules.targets(self.schedules(), defaults)

    def channel_for(self, current: str | None, defaults: schedules.Defaults) -> str | None:
        return schedules.digest_channel(current, self.schedule(current) if current else None, defaults)


def run_view(r: DigestRun) -> DigestRunView:
    return DigestRunView(
        id=r.id,
        channel=r.channel,
        period=r.period,
        status=r.status,
        claimed_by=r.claimed_by,
        claimed_at=r.claimed_at,
        finished_at=r.finished_at,
        attempts=r.attempts,
        error=r.error,
        message_ts=r.message_ts,
        chart_status=r.chart_status,
        chart_detail=r.chart_detail,
    )


def schedule_view(r: DigestSchedule) -> DigestScheduleView:
    return DigestScheduleView(r.channel, r.cron, r.timezone, r.enabled, r.updated_by, r.updated_at)
