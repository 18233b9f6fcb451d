"""The store as a whole: one object per process that the bot wires and hands to handlers, with one attribute
per domain. Each domain lives in a module of its own; each call is one transaction and returns plain views.

    store.roadmap        reads and status answers        store/roadmap.py (cached: store/cache.py)
    store.steps          status and due-date changes     store/steps.py
    store.developments   record, edit, retract           store/developments.py
    store.threads        cluster threads                 store/threads.py
    store.digests        digest content, claims, schedules  store/digests.py
    store.transfer       import, export, seed            store/transfer.py
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
from store.developments import Developments
from store.digests import Digests
from store.roadmap import Roadmap
from store.steps import Steps
from store.threads import ClusterThreads
from store.timeline import Timelines
from store.transfer import Transfer
from store.views import SearchResult


class RoadmapStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.db = Database(engine)
        self.cache = ReadCache(self.db)
        self.roadmap = Roadmap(self.db, self.cache)
        self.steps = Steps(self.db)
        self.developments = Developments(self.db)
        self.threads = ClusterThreads(self.db)
        self.digests = Digests(self.db)
        self.transfer = Transfer(self.db)
        self.asof = AsOf(self.db)
        self.timeline = Timelines(self.db)

    def ping(self) -> None:
        self.db.ping()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Cached reads inside this block share one data_version read (store/cache.py)."""
        with self.cache.snapshot():
            yield

    def search(self, text: str, limit: int = 10) -> SearchResult:
        return search_module.search(self.db, text, limit)
