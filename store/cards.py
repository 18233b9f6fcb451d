"""What shows a cluster's state where the team looks: living cluster cards (the parent message of each cluster
thread), a channel's roadmap canvas with one section per cluster, and the channel's default cluster for
recording by reaction.

Not scoped to one roadmap: cards and canvases are addressed by cluster id and channel, and each carries its own
roadmap (a cluster thread's cluster, the roadmap a canvas was created for), so nothing can leak across roadmaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import and_, delete, func, select, update

from store.base import Database, insert_ignore, upsert
from store.models import (
    OPEN_STATUSES,
    CanvasSection,
    ChannelCanvas,
    ChannelDefaultCluster,
    Cluster,
    ClusterThread,
    Side,
    Step,
    utcnow,
)
from store.outbox import enqueue
from store.queries import find_cluster_id, step_view
from store.views import StepView

CARD = "card"  # key "<channel>:<cluster id>": refresh that cluster thread's parent message
CANVAS_SECTION = "canvas_section"  # key "<channel>:<cluster id>": replace that cluster's section of the canvas
PENDING_CANVAS_SECONDS = 120  # a canvas claim older than this belonged to a run that died; it may be taken over


def work_key(channel: str, cluster_id: int) -> str:
    return f"{channel}:{cluster_id}"


def parse_key(key: str) -> tuple[str, int]:
    channel, _, cluster_id = key.rpartition(":")
    return channel, int(cluster_id)


@dataclass(frozen=True)
class CardTarget:
    channel: str
    ts: str
    roadmap_id: int
    slug: str


@dataclass(frozen=True)
class CanvasView:
    channel: str
    roadmap_id: int
    canvas_id: str | None
    sections: dict[int, str] = field(default_factory=dict)  # cluster id → section id
    clusters: list[tuple[int, str]] = field(default_factory=list)  # (cluster id, slug) in roadmap order


@dataclass(frozen=True)
class Overdue:
    steps: list[StepView]
    total: int


class Cards:
    def __init__(self, db: Database):
        self.db = db

    # -- what a cluster change owes --------------------------------------------------------------------------
    def owe_updates(self, cluster_id: int) -> int:
        """Owe a refresh to every card and canvas section that shows the cluster, in one transaction. Due at
        once: the cluster's own row has already waited for the rest of its burst."""
        with self.db.session(write=True) as s:
            rid = s.exec(select(Cluster.roadmap_id).where(Cluster.id == cluster_id)).scalar()
            if rid is None:
                return 0
            cards = s.exec(
                select(ClusterThread.channel).where(
                    ClusterThread.cluster_id == cluster_id, ~ClusterThread.ts.startswith("pending-")
                )
            ).scalars()
            canvases = s.exec(
                select(ChannelCanvas.channel).where(
                    ChannelCanvas.roadmap_id == rid, ChannelCanvas.canvas_id.is_not(None)
                )
            ).scalars()
            owed = [(CARD, c) for c in cards] + [(CANVAS_SECTION, c) for c in canvases]
            for kind, channel in owed:
                enqueue(s, kind, work_key(channel, cluster_id), delay=timedelta(0))
        return len(owed)

    def card(self, channel: str, cluster_id: int) -> CardTarget | None:
        """The posted parent message of the cluster's thread in `channel` (None if there is none, or it is only
        claimed)."""
        with self.db.session() as s:
            row = s.exec(
                select(ClusterThread.ts, Cluster.roadmap_id, Cluster.slug)
                .join(Cluster, Cluster.id == ClusterThread.cluster_id)
                .where(ClusterThread.channel == channel, ClusterThread.cluster_id == cluster_id)
            ).first()
        if row is None or row[0].startswith("pending-"):
            return None
        return CardTarget(channel, row[0], row[1], row[2])

    def overdue(self, roadmap_id: int | None, slug: str, today: date, limit: int = 5) -> Overdue:
        """The cluster's open steps whose due date has passed, the longest overdue first, and how many there are."""
        with self.db.session() as s:
            cluster_id = find_cluster_id(s, slug, roadmap_id)
            late = and_(Step.cluster_id == cluster_id, Step.status.in_(OPEN_STATUSES), Step.due_on < today)
            total = s.exec(select(func.count()).select_from(Step).where(late)).scalar() or 0
            rows = s.exec(
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .where(late)
                .order_by(Step.due_on, Step.number)
                .limit(limit)
            ).all()
        return Overdue([step_view(st, sd, slug) for st, sd, slug in rows], int(total))

    # -- channel canvases ------------------------------------------------------------------------------------
    def canvas(self, channel: str) -> CanvasView | None:
        with self.db.session() as s:
            row = s.exec(select(ChannelCanvas).where(ChannelCanvas.channel == channel)).scalar()
            if row is None:
                return None
            sections = dict(
                s.exec(
                    select(CanvasSection.cluster_id, CanvasSection.section_id).where(CanvasSection.canvas_id == row.id)
                ).all()
            )
            clusters = s.exec(
                select(Cluster.id, Cluster.slug).where(Cluster.roadmap_id == row.roadmap_id).order_by(Cluster.position)
            ).all()
        return CanvasView(row.channel, row.roadmap_id, row.canvas_id, sections, [(i, slug) for i, slug in clusters])

    def claim_canvas(self, channel: str, roadmap_id: int, actor: str) -> bool:
        """Claim the right to create the channel's canvas: True for this run, False if the channel has one (or
        another run is creating it). A claim left by a run that died is taken over after PENDING_CANVAS_SECONDS."""
        now = utcnow()
        values = dict(channel=channel, roadmap_id=roadmap_id, canvas_id=None, created_by=actor, created_at=now)
        with self.db.session(write=True) as s:
            got = s.exec(insert_ignore(s, ChannelCanvas, values, ["channel"]).returning(ChannelCanvas.id)).scalar()
            if got is not None:
                return True
            stale = now - timedelta(seconds=PENDING_CANVAS_SECONDS)
            taken = s.exec(
                update(ChannelCanvas)
                .where(
                    ChannelCanvas.channel == channel,
                    ChannelCanvas.canvas_id.is_(None),
                    ChannelCanvas.created_at < stale,
                )
                .values(roadmap_id=roadmap_id, created_by=actor, created_at=now)
                .returning(ChannelCanvas.id)
            ).first()
            return taken is not None

    def confirm_canvas(self, channel: str, canvas_id: str) -> None:
        with self.db.session(write=True) as s:
            s.exec(update(ChannelCanvas).where(ChannelCanvas.channel == channel).values(canvas_id=canvas_id))

    def release_canvas(self, channel: str) -> None:
        """Give up a claim whose creation failed, so that the next `/roadmap canvas` tries again."""
        with self.db.session(write=True) as s:
            s.exec(delete(ChannelCanvas).where(ChannelCanvas.channel == channel, ChannelCanvas.canvas_id.is_(None)))

    def set_section(self, channel: str, cluster_id: int, section_id: str | None) -> None:
        """Remember (or forget, with None) which section of the channel's canvas shows the cluster."""
        with self.db.session(write=True) as s:
            canvas = s.exec(select(ChannelCanvas.id).where(ChannelCanvas.channel == channel)).scalar()
            if canvas is None:
                return
            if section_id is None:
                s.exec(
                    delete(CanvasSection).where(
                        CanvasSection.canvas_id == canvas, CanvasSection.cluster_id == cluster_id
                    )
                )
                return
            values = dict(canvas_id=canvas, cluster_id=cluster_id, section_id=section_id)
            s.exec(upsert(s, CanvasSection, values, ["canvas_id", "cluster_id"]))

    # -- a channel's default cluster (recording by reaction) -------------------------------------------------
    def set_default_cluster(self, channel: str, roadmap_id: int, slug: str, actor: str) -> None:
        with self.db.session(write=True) as s:
            cluster_id = find_cluster_id(s, slug, roadmap_id)
            values = dict(channel=channel, cluster_id=cluster_id, set_by=actor, set_at=utcnow())
            s.exec(upsert(s, ChannelDefaultCluster, values, ["channel"]))

    def clear_default_cluster(self, channel: str) -> bool:
        with self.db.session(write=True) as s:
            gone = s.exec(
                delete(ChannelDefaultCluster)
                .where(ChannelDefaultCluster.channel == channel)
                .returning(ChannelDefaultCluster.channel)
            ).first()
        return gone is not None

    def default_cluster(self, channel: str) -> tuple[int, str] | None:
        """(roadmap id, cluster slug) of the channel's default cluster, if one was set."""
        with self.db.session() as s:
            row = s.exec(
                select(Cluster.roadmap_id, Cluster.slug)
                .join(ChannelDefaultCluster, ChannelDefaultCluster.cluster_id == Cluster.id)
                .where(ChannelDefaultCluster.channel == channel)
            ).first()
        return (row[0], row[1]) if row else None
