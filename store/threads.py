"""Cluster threads: a channel's parent message per cluster, whose replies are developments.

Posting a parent is claimed first (a row holding a placeholder ts, unique per channel and cluster), so that two
runs racing in one channel never post the same cluster twice; the ts replaces the claim once posted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlmodel import Session

from store.base import Database, insert_ignore
from store.developments import add_development
from store.models import Cluster, ClusterThread, Step, utcnow
from store.queries import development_view, find_cluster_id
from store.roadmaps import Scope
from store.views import Recorded, ThreadSlot

# A claim older than this belongs to a run that died between claiming and posting; it may be taken over.
PENDING_CLAIM_SECONDS = 120
_CLAIM_PREFIX = "pending-"


def _new_claim() -> str:
    return _CLAIM_PREFIX + uuid.uuid4().hex[:16]


def _is_claim(ts: str) -> bool:
    return ts.startswith(_CLAIM_PREFIX)


class ClusterThreads:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def claim_all(self, channel: str, actor: str) -> list[ThreadSlot]:
        """Every cluster's parent message in `channel`: the posted ones, and a claim for each missing one.
        A claim left behind by a run that died before confirming is taken over after PENDING_CLAIM_SECONDS."""
        slots = []
        with self.db.session(write=True) as s:
            clusters = select(Cluster).where(Cluster.roadmap_id == self.scope.id).order_by(Cluster.position)
            for cluster in s.exec(clusters).scalars():
                claim = _new_claim()
                values = dict(channel=channel, ts=claim, cluster_id=cluster.id, created_by=actor, created_at=utcnow())
                got = s.exec(
                    insert_ignore(s, ClusterThread, values, ["channel", "cluster_id"]).returning(ClusterThread.id)
                ).scalar()
                if got is not None:
                    slots.append(ThreadSlot(cluster.slug, claim=claim))
                    continue
                row = s.exec(
                    select(ClusterThread).where(
                        ClusterThread.channel == channel, ClusterThread.cluster_id == cluster.id
                    )
                ).scalar_one()
                if not _is_claim(row.ts):
                    slots.append(ThreadSlot(cluster.slug, ts=row.ts))
                elif (utcnow() - row.created_at).total_seconds() > PENDING_CLAIM_SECONDS:
                    taken = _swap_ts(s, channel, cluster.id, row.ts, claim)
                    slots.append(ThreadSlot(cluster.slug, claim=claim if taken else None))
                else:
                    slots.append(ThreadSlot(cluster.slug))
        return slots

    def reclaim(self, channel: str, cluster: str, lost_ts: str) -> str | None:
        """Claim the right to repost a parent that Slack no longer has; None if another run already did."""
        claim = _new_claim()
        with self.db.session(write=True) as s:
            return claim if _swap_ts(s, channel, find_cluster_id(s, cluster, self.scope.id), lost_ts, claim) else None

    def confirm(self, channel: str, cluster: str, claim: str, ts: str) -> bool:
        """Record the posted parent's ts in place of the claim."""
        with self.db.session(write=True) as s:
            return _swap_ts(s, channel, find_cluster_id(s, cluster, self.scope.id), claim, ts)

    def release(self, channel: str, cluster: str, claim: str) -> None:
        """Give up a claim (the post failed), so that the next run posts the parent."""
        with self.db.session(write=True) as s:
            s.exec(
                delete(ClusterThread).where(
                    ClusterThread.channel == channel,
                    ClusterThread.cluster_id == find_cluster_id(s, cluster, self.scope.id),
                    ClusterThread.ts == claim,
                )
            )

    def record_reply(
        self, channel: str, thread_ts: str, *, candidates: list[str], decide: Callable[[set[str]], str | None], **fields
    ) -> tuple[int, Recorded] | None:
        """Record a reply in a cluster thread in one transaction, whatever roadmap the thread belongs to (a thread
        keeps its roadmap): find the thread's cluster, check which `candidates` are step ids of its roadmap, let
        `decide` pick the step (or none), and add the development (store.developments.add_development, so every
        rule holds). (roadmap id, what was recorded), or None if (channel, thread_ts) is no cluster thread."""
        with self.db.session(write=True) as s:
            row = s.exec(
                select(Cluster.roadmap_id, Cluster.id)
                .join(ClusterThread, ClusterThread.cluster_id == Cluster.id)
                .where(ClusterThread.channel == channel, ClusterThread.ts == thread_ts)
            ).first()
            if row is None:
                return None
            rid, cluster_id = row
            existing = (
                set(s.exec(select(Step.key).where(Step.roadmap_id == rid, Step.key.in_(candidates))).scalars())
                if candidates
                else set()
            )
            step = decide(existing)
            # A reply naming a step belongs to the step (and so to its cluster, should that be another one).
            where = dict(step=step) if step else dict(cluster_id=cluster_id)
            dev_id, created = add_development(s, rid, **where, **fields)
            return rid, Recorded(development_view(s, dev_id), created)

    def cluster_of(self, channel: str, thread_ts: str) -> str | None:
        """The cluster whose parent message is (channel, thread_ts), or None for any other thread."""
        with self.db.session() as s:
            return s.exec(
                select(Cluster.slug)
                .join(ClusterThread, ClusterThread.cluster_id == Cluster.id)
                .where(
                    ClusterThread.channel == channel, ClusterThread.ts == thread_ts, Cluster.roadmap_id == self.scope.id
                )
            ).scalar()


def _swap_ts(s: Session, channel: str, cluster_id: int, old: str, new: str) -> bool:
    """Compare-and-set of a thread row's ts: the database decides which of two racing runs wins."""
    done = s.exec(
        update(ClusterThread)
        .where(ClusterThread.channel == channel, ClusterThread.cluster_id == cluster_id, ClusterThread.ts == old)
        .values(ts=new, created_at=utcnow())
        .returning(ClusterThread.id)
    ).first()
    return done is not None
