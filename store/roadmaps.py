"""Several roadmaps in one store: which roadmaps there are, which one a channel follows, and the scope every
domain object reads and writes through.

A `Scope` is a roadmap, chosen explicitly (a slug typed in a command, a channel's binding) or implied: a store
that holds one roadmap needs no choice, so a single-roadmap deployment behaves as if roadmaps did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from store.base import Database, upsert
from store.cache import ReadCache, cached_read
from store.errors import NotFound, RoadmapNotChosen
from store.models import ChannelRoadmap, Cluster, ClusterThread, Roadmap, utcnow
from store.names import suggest

BUILTIN_SLUG = "us-belarus"


@dataclass(frozen=True)
class RoadmapView:
    id: int
    slug: str
    title: str
    description: str
    sources: tuple[str, ...]
    clusters: int
    channels: tuple[str, ...]


class Scope:
    """The roadmap a store object acts on. `id` is None only while the store holds no roadmap at all."""

    def __init__(self, db: Database, cache: ReadCache, roadmap_id: int | None = None):
        self.db, self.cache, self._id = db, cache, roadmap_id

    @property
    def explicit(self) -> bool:
        return self._id is not None

    @property
    def id(self) -> int | None:
        if self._id is not None:
            return self._id
        ids = self.cache.get(("roadmap ids",), lambda: _roadmap_ids(self.db), structure=True)
        if len(ids) > 1:
            raise RoadmapNotChosen(sorted(slug for _, slug in ids))
        return ids[0][0] if ids else None

    def require(self) -> int:
        """The roadmap id for a write: a store with no roadmap yet refuses."""
        rid = self.id
        if rid is None:
            raise NotFound("roadmap", "", [])
        return rid


def _roadmap_ids(db: Database) -> list[tuple[int, str]]:
    with db.session() as s:
        return [tuple(r) for r in s.exec(select(Roadmap.id, Roadmap.slug).order_by(Roadmap.id)).all()]


class Roadmaps:
    """The roadmaps of the whole store (not scoped)."""

    def __init__(self, db: Database, cache: ReadCache):
        self.db, self.cache = db, cache

    @cached_read(structure=True)
    def all(self) -> list[RoadmapView]:
        with self.db.session() as s:
            counts = dict(s.exec(select(Cluster.roadmap_id, func.count()).group_by(Cluster.roadmap_id)).all())
            bindings: dict[int, list[str]] = {}
            for channel, rid in s.exec(select(ChannelRoadmap.channel, ChannelRoadmap.roadmap_id)).all():
                bindings.setdefault(rid, []).append(channel)
            rows = s.exec(select(Roadmap).order_by(Roadmap.id)).scalars().all()
        return [
            RoadmapView(
                r.id,
                r.slug,
                r.title,
                r.description,
                tuple(x for x in r.sources.split("\n") if x),
                int(counts.get(r.id, 0)),
                tuple(sorted(bindings.get(r.id, []))),
            )
            for r in rows
        ]

    def resolve(self, term: str) -> RoadmapView:
        """A roadmap by slug (or an unambiguous slug prefix); NotFound naming the valid slugs."""
        t = term.strip().lower()
        roadmaps = self.all()
        slugs = [r.slug for r in roadmaps]
        exact = [r for r in roadmaps if r.slug == t]
        hits = exact or [r for r in roadmaps if t and r.slug.startswith(t)]
        if len(hits) == 1:
            return hits[0]
        raise NotFound("roadmap", term, slugs, suggest(t, slugs, slugs))

    @cached_read(structure=True)
    def bound_to(self, channel: str) -> int | None:
        """The roadmap id a channel follows, if it was bound with `/roadmap use`."""
        with self.db.session() as s:
            return s.exec(select(ChannelRoadmap.roadmap_id).where(ChannelRoadmap.channel == channel)).scalar()

    def bind(self, channel: str, slug: str, actor: str) -> RoadmapView:
        roadmap = self.resolve(slug)
        values = dict(channel=channel, roadmap_id=roadmap.id, bound_by=actor, bound_at=utcnow())
        with self.db.session(write=True) as s:
            s.exec(upsert(s, ChannelRoadmap, values, ["channel"]))
        return roadmap

    def of_thread(self, channel: str, thread_ts: str) -> int | None:
        """The roadmap of the cluster whose thread parent is (channel, thread_ts); None for any other thread.
        A thread keeps its roadmap even if the channel is later bound to another."""
        with self.db.session() as s:
            return s.exec(
                select(Cluster.roadmap_id)
                .join(ClusterThread, ClusterThread.cluster_id == Cluster.id)
                .where(ClusterThread.channel == channel, ClusterThread.ts == thread_ts)
            ).scalar()

    def for_channel(self, channel: str | None) -> int | None:
        """The roadmap a channel acts on: its binding, else the only roadmap; RoadmapNotChosen when the store
        holds several and the channel follows none. None for an empty store."""
        bound = self.bound_to(channel) if channel else None
        return bound if bound is not None else Scope(self.db, self.cache).id
