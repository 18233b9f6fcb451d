"""The read cache of status answers, per process.

Contract:
- Key: the reading method's name and arguments, filed under the store's data version: two counters in
  database triggers bump in the same transaction as any write (migrations 0003, 0004, 0006, 0010, 0013):
  `data_version` counts writes to roadmap, channel_roadmap, side, cluster, step, reciprocity, step dependencies and
  claims, owners and due rules; `development_version` writes to
  development. An answer that shows developments is filed under both counters; one
  made of steps and pairs only (`@cached_read(structure=True)`) under the first alone, so that recording a
  development — the commonest write — does not throw away the counts and pairs of every cluster. Any write by any
  process therefore invalidates every process's answers that depend on it at its next read; there is no other
  invalidation and no time-to-live. Development writers and step writers bump different rows, so neither waits for
  the other's counter (development writers still bump one row among themselves: short, at commit).
- The version is read before the data, so an answer is never filed under a version older than what it shows.
- Identity: while its version stays the same, a cached read returns the *same object* it returned before. The
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
from store.models import DataVersion, DevelopmentVersion

T = TypeVar("T")
_DATA_VERSION = select(
    select(DataVersion.n).where(DataVersion.id == 1).scalar_subquery(),
    select(DevelopmentVersion.n).where(DevelopmentVersion.id == 1).scalar_subquery(),
)
Version = tuple[int, int]  # (structure, developments)


class ReadCache:
    ENTRIES = 512

    def __init__(self, db: Database):
        self.db = db
        self._entries: dict[tuple, tuple[object, object]] = {}  # key -> (the version it is filed under, value)
        self._lock = threading.Lock()
        self._local = threading.local()  # the version of an open snapshot(), per thread

    def data_version(self) -> Version:
        # Core, not a Session: this runs before every cached answer, so it is kept to one indexed read.
        with unavailable_on_outage(), self.db.version_engine.connect() as conn:
            structure, developments = conn.execute(_DATA_VERSION).one()
        return int(structure), int(developments)

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

    def get(self, key: tuple, compute: Callable[[], T], *, structure: bool = False) -> T:
        """The cached value of `key`, computed when absent or filed under another version; `structure`: it
        depends on steps, pairs, clusters and sides only (not on developments)."""
        version = getattr(self._local, "version", None)
        if version is None:
            version = self.data_version()
        stamp: object = version[0] if structure else version
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.ENTRIES and key not in self._entries:
                self._entries.clear()  # bounded: stale entries go all at once, current ones are rebuilt on use
            self._entries[key] = (stamp, value)
        return value


def cached_read(method: Callable[..., T] | None = None, *, structure: bool = False) -> Any:
    """Cache a reading method of an object with a `cache: ReadCache` attribute (see the module's contract);
    `@cached_read(structure=True)` for an answer that shows no development."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def cached(self: Any, *args: Any, **kwargs: Any) -> T:
            scope = getattr(self, "scope", None)  # a scoped reader's answers are filed under its roadmap
            key = (
                type(self).__name__,
                method.__name__,
                scope.id if scope else None,
                args,
                tuple(sorted(kwargs.items())),
            )
            return self.cache.get(key, lambda: method(self, *args, **kwargs), structure=structure)

        return cached

    return wrap(method) if method is not None else wrap
