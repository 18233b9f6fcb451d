"""The read cache of status answers, per process.

Contract:
- Key: the reading method's name and arguments, filed under the store's `data_version`, a counter that database
  triggers bump in the same transaction as any write to side, cluster, step, reciprocity or development
  (migration 0003). Any write by any process therefore invalidates every process's cache at its next read; there
  is no other invalidation and no time-to-live.
- The version is read before the data, so an answer is never filed under a version older than what it shows.
- Identity: while the version stays the same, a cached read returns the *same object* it returned before. The
  template memo (templates.render(memo=True)) relies on that identity to skip re-rendering, so cached views are
  frozen dataclasses that nobody may modify.
- `snapshot()` makes every cached read inside it share one version read (one round trip per answer); for
  read-only work only, since a write inside the block would not be seen by the cached reads after it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import select

from store.base import Database, unavailable_on_outage
from store.models import DataVersion

T = TypeVar("T")
_DATA_VERSION = select(DataVersion.n).where(DataVersion.id == 1)


class ReadCache:
    ENTRIES = 512

    def __init__(self, db: Database):
        self.db = db
        self._entries: dict[tuple, object] = {}
        self._version: int | None = None
        self._lock = threading.Lock()
        self._local = threading.local()  # the version of an open snapshot(), per thread

    def data_version(self) -> int:
        # Core, not a Session: this runs before every cached answer, so it is kept to one indexed read.
        with unavailable_on_outage(), self.db.read_engine.connect() as conn:
            return conn.execute(_DATA_VERSION).scalar_one()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        if getattr(self._local, "version", None) is not None:
            yield
            return
        self._local.version = self.data_version()
        try:
            yield
        finally:
            self._local.version = None

    def get(self, key: tuple, compute: Callable[[], T]) -> T:
        version = getattr(self._local, "version", None)
        if version is None:
            version = self.data_version()
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            elif key in self._entries:
                return self._entries[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if self._version == version and len(self._entries) < self.ENTRIES:
                self._entries[key] = value
        return value


def cached_read(method: Callable[..., T]) -> Callable[..., T]:
    """Cache a reading method of an object with a `cache: ReadCache` attribute (see the module's contract)."""

    @functools.wraps(method)
    def cached(self: Any, *args: Any, **kwargs: Any) -> T:
        scope = getattr(self, "scope", None)  # a scoped reader's answers are filed under its roadmap
        key = (type(self).__name__, method.__name__, scope.id if scope else None, args, tuple(sorted(kwargs.items())))
        return self.cache.get(key, lambda: method(self, *args, **kwargs))

    return cached
