"""The store as a whole: one object per process that the bot wires and hands to handlers, with one attribute
per domain. Each domain lives in a module of its own; each call is one transaction and returns plain views.

    store.roadmaps       the roadmaps, channel bindings  store/roadmaps.py
    store.roadmap        reads and status answers        store/roadmap.py (cached: store/cache.py)
    store.steps          status and due-date changes     store/steps.py
    store.developments   record, edit, retract           store/developments.py
    store.threads        cluster threads                 store/threads.py
    store.digests        digest content, claims, schedules  store/digests.py
    store.ledger         who moved last, who waits      store/ledger.py
    store.sequencing     what a step waits on           store/sequencing.py
    store.claims         each government's own account  store/claims.py
    store.transfer       import, export, seed            store/transfer.py
    store.outbox         work owed to Slack, durable     store/outbox.py
    store.watch          watched sources, items, proposals  store/watch.py
    store.home           App Home prefs, follows         store/home.py
    store.cards          cluster cards, canvases, a channel's default cluster  store/cards.py
    store.owners         step owners, conditional dates  store/owners.py, store/due_rules.py
    store.unblocking     unblocked steps: notices, cards  store/unblocking.py
    store.reminders      reminder claims, snoozes, tz    store/reminders.py
    store.search(text)   `find`                          store/search.py
    store.asof           the roadmap at a past date      store/asof.py
    store.timeline       developments per week (charts)  store/timeline.py
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from store import search as search_module
from store.asof import AsOf
from store.base import Database
from store.cache import ReadCache
from store.cards import Cards
from store.claims import Claims
from store.developments import Developments
from store.digests import Digests
from store.home import HomeState
from store.ledger import Ledger
from store.outbox import Outbox
from store.owners import Owners
from store.reminders import Reminders
from store.roadmap import RoadmapReads
from store.roadmaps import Roadmaps, Scope
from store.sequencing import Sequencing
from store.steps import Steps
from store.threads import ClusterThreads
from store.timeline import Timelines
from store.transfer import Transfer
from store.unblocking import Unblocking
from store.views import SearchResult
from store.watch import Watch


class RoadmapStore:
    """The store, or one roadmap of it: `RoadmapStore(engine)` acts on the only roadmap (or refuses with
    RoadmapNotChosen when there are several); `store.scoped(id)` and `store.for_channel(channel)` act on one."""

    def __init__(self, engine: Engine, *, roadmap_id: int | None = None, _shared: RoadmapStore | None = None):
        self.engine = engine
        self.db = _shared.db if _shared else Database(engine)
        self.cache = _shared.cache if _shared else ReadCache(self.db)
        self.scope = Scope(self.db, self.cache, roadmap_id)
        self.roadmaps = _shared.roadmaps if _shared else Roadmaps(self.db, self.cache)
        self.roadmap = RoadmapReads(self.db, self.cache, self.scope)
        self.steps = Steps(self.db, self.scope)
        self.developments = Developments(self.db, self.scope)
        self.threads = ClusterThreads(self.db, self.scope)
        self.digests = Digests(self.db, self.scope)
        self.transfer = Transfer(self.db, self.scope)
        self.owners = Owners(self.db, self.scope)
        self.reminders = Reminders(self.db, self.scope)
        self.outbox = _shared.outbox if _shared else Outbox(self.db)
        self.ledger = Ledger(self.db, self.cache, self.scope)
        self.sequencing = Sequencing(self.db, self.cache, self.scope)
        self.claims = Claims(self.db, self.cache, self.scope)
        self.watch = Watch(self.db, self.scope)
        self.home = _shared.home if _shared else HomeState(self.db)
        self.cards = _shared.cards if _shared else Cards(self.db)
        self.unblocking = _shared.unblocking if _shared else Unblocking(self.db)
        self.asof = AsOf(self.db, self.scope)
        self.timeline = Timelines(self.db, self.scope)

    def scoped(self, roadmap_id: int) -> RoadmapStore:
        """The same store acting on one roadmap (sharing the engine and the read cache)."""
        return RoadmapStore(self.engine, roadmap_id=roadmap_id, _shared=self)

    def for_roadmap(self, slug: str) -> RoadmapStore:
        """One roadmap by slug; NotFound naming the valid slugs."""
        return self.scoped(self.roadmaps.resolve(slug).id)

    def for_channel(self, channel: str | None) -> RoadmapStore:
        """The roadmap a channel follows (its binding, else the only one); RoadmapNotChosen if it must choose."""
        rid = self.roadmaps.for_channel(channel)
        return self if rid is None else self.scoped(rid)

    def ping(self) -> None:
        self.db.ping()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Cached reads inside this block share one data_version read (store/cache.py)."""
        with self.cache.snapshot():
            yield

    def search(self, text: str, limit: int = 10) -> SearchResult:
        """Ranked full-text search (store/search.py), cached like the status answers (store/cache.py)."""
        rid = self.scope.id
        return self.cache.get(("search", rid, text, limit), lambda: search_module.search(self.db, rid, text, limit))
