"""Per-user App Home state: which roadmap a user's Home shows, which side they are on in it, the clusters they
follow, and when they last opened it (so that only Homes in use are rebuilt when something changes).

Not scoped to one roadmap: a user has one Home. Follows reach their roadmap through the cluster; the side is
reset whenever the user's roadmap changes, so a side code never applies to another roadmap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select

from store.base import Database, insert_ignore, upsert
from store.errors import NotFound
from store.models import Cluster, ClusterThread, HomeFollow, HomePref, Side, utcnow
from store.names import strip_control_chars
from store.outbox import enqueue
from store.queries import find_cluster_id

HOME = "home"  # outbox kind: republish one user's Home; key = the user id


@dataclass(frozen=True)
class HomePrefView:
    user: str
    roadmap_id: int | None = None
    side: str | None = None
    seen_at: datetime | None = None


class HomeState:
    def __init__(self, db: Database):
        self.db = db

    def pref(self, user: str) -> HomePrefView:
        with self.db.session() as s:
            row = s.get(HomePref, user)
        if row is None:
            return HomePrefView(user)
        return HomePrefView(row.user, row.roadmap_id, row.side, row.seen_at)

    def seen(self, user: str, at: datetime | None = None) -> None:
        """The user opened their Home: from now on it is rebuilt when what it shows changes."""
        self._upsert(user, seen_at=at or utcnow())

    def set_roadmap(self, user: str, roadmap_id: int) -> None:
        """Show this roadmap on the user's Home; the side chosen for the previous one does not carry over."""
        if self.pref(user).roadmap_id == roadmap_id:
            return
        self._upsert(user, roadmap_id=roadmap_id, side=None)

    def set_side(self, user: str, roadmap_id: int, side: str | None) -> None:
        """The side the user is on in `roadmap_id` (None: no side). An unknown side code is refused."""
        code = strip_control_chars(side or "").strip() or None
        with self.db.session() as s:
            codes = list(s.exec(select(Side.code).where(Side.roadmap_id == roadmap_id)).scalars())
        if code is not None and code not in codes:
            raise NotFound("side", code, codes)
        self._upsert(user, roadmap_id=roadmap_id, side=code)

    def _upsert(self, user: str, **values) -> None:
        row = dict(user=user, updated_at=utcnow(), **values)
        with self.db.session(write=True) as s:
            s.exec(upsert(s, HomePref, row, ["user"]))

    # -- follows ------------------------------------------------------------------------------------------------
    def follow(self, user: str, roadmap_id: int, cluster: str) -> bool:
        """Follow a cluster of `roadmap_id` (by slug); False if already followed. NotFound for an unknown one."""
        with self.db.session(write=True) as s:
            cluster_id = find_cluster_id(s, cluster, roadmap_id)
            values = dict(user=user, cluster_id=cluster_id, created_at=utcnow())
            new = s.exec(insert_ignore(s, HomeFollow, values, ["user", "cluster_id"]).returning(HomeFollow.id)).scalar()
        return new is not None

    def unfollow(self, user: str, roadmap_id: int, cluster: str) -> bool:
        with self.db.session(write=True) as s:
            cluster_id = find_cluster_id(s, cluster, roadmap_id)
            gone = s.exec(
                delete(HomeFollow)
                .where(HomeFollow.user == user, HomeFollow.cluster_id == cluster_id)
                .returning(HomeFollow.id)
            ).first()
        return gone is not None

    def followed(self, user: str, roadmap_id: int) -> list[str]:
        """Slugs of the clusters of `roadmap_id` the user follows, in roadmap order."""
        with self.db.session() as s:
            return list(
                s.exec(
                    select(Cluster.slug)
                    .join(HomeFollow, HomeFollow.cluster_id == Cluster.id)
                    .where(HomeFollow.user == user, Cluster.roadmap_id == roadmap_id)
                    .order_by(Cluster.position)
                ).scalars()
            )

    def threads(self, roadmap_id: int) -> dict[str, list[tuple[str, str]]]:
        """Each cluster's thread parents (channel, ts), by slug: where its developments are discussed."""
        with self.db.session() as s:
            rows = s.exec(
                select(Cluster.slug, ClusterThread.channel, ClusterThread.ts)
                .join(ClusterThread, ClusterThread.cluster_id == Cluster.id)
                .where(Cluster.roadmap_id == roadmap_id)
                .order_by(ClusterThread.channel)
            ).all()
        out: dict[str, list[tuple[str, str]]] = {}
        for slug, channel, ts in rows:
            if "." in ts:  # a claim still being posted has no message yet
                out.setdefault(slug, []).append((channel, ts))
        return out

    # -- who sees a change ----------------------------------------------------------------------------------------
    def owe_rebuilds(self, cluster_id: int, since: datetime, now: datetime | None = None) -> list[str]:
        """Owe a Home rebuild (outbox kind "home", coalesced per user) to every user who opened their Home since
        `since` and whose Home shows the cluster's roadmap (chosen, or none chosen yet), or who follows it."""
        with self.db.session(write=True) as s:
            rid = s.exec(select(Cluster.roadmap_id).where(Cluster.id == cluster_id)).scalar()
            if rid is None:
                return []
            follows = select(HomeFollow.user).where(HomeFollow.cluster_id == cluster_id)
            users = list(
                s.exec(
                    select(HomePref.user)
                    .where(
                        HomePref.seen_at >= since,
                        or_(HomePref.roadmap_id.is_(None), HomePref.roadmap_id == rid, HomePref.user.in_(follows)),
                    )
                    .order_by(HomePref.user)
                ).scalars()
            )
            for user in users:
                enqueue(s, HOME, user, now=now)
        return users
