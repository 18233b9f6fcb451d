"""Doing the outbox's work (store/outbox.py): each kind of pending work has one handler, registered with
`@handles(kind)`. A worker claims due rows, runs their handlers and marks them done; a handler that raises puts
its row back with a backoff (Slack's Retry-After for a 429), so nothing owed is lost and nothing is done twice by
two workers. The web process runs a worker thread; the clock process runs one tick every few seconds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError

from handlers.context import Services
from store.outbox import CLUSTER_CHANGED, Work

log = logging.getLogger(__name__)

Handler = Callable[[Services, Work], None]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


# What reacts when a cluster changes (cards, canvases, App Homes): each listener owes its own finer-grained work
# (e.g. ("card", "C123:5")) rather than doing it here, so that one failing target never repeats the others.
ClusterListener = Callable[[Services, int], None]
CLUSTER_LISTENERS: list[ClusterListener] = []


def on_cluster_change(listener: ClusterListener) -> ClusterListener:
    CLUSTER_LISTENERS.append(listener)
    return listener


@handles(CLUSTER_CHANGED)
def _fan_out_cluster_change(services: Services, work: Work) -> None:
    for listener in CLUSTER_LISTENERS:
        listener(services, int(work.key))


def retry_after(exc: Exception) -> timedelta | None:
    """Slack's own wait for a 429, if that is what failed."""
    if isinstance(exc, SlackApiError) and exc.response.status_code == 429:
        try:
            return timedelta(seconds=float(exc.response.headers.get("Retry-After", 1)))
        except (TypeError, ValueError):
            return timedelta(seconds=1)
    return None


class OutboxWorker:
    def __init__(self, services: Services, batch: int = 20):
        self.services = services
        self.batch = batch
        self._stop = threading.Event()

    def run_once(self, now: datetime | None = None) -> int:
        """Work off what is due now; returns how many rows were handled (done or given back)."""
        outbox = self.services.store.outbox
        handled = 0
        for work in outbox.claim(now, self.batch):
            handler = HANDLERS.get(work.kind)
            try:
                if handler is not None:  # work nobody handles (a feature switched off) is dropped
                    handler(self.services, work)
            except Exception as exc:
                log.warning("pending %s %s failed (attempt %d): %s", work.kind, work.key, work.attempts, exc)
                outbox.failed(work, f"{type(exc).__name__}: {exc}", retry_after=retry_after(exc), now=now)
            else:
                outbox.done(work)
            handled += 1
        return handled

    def start(self, interval: float = 1.0) -> threading.Thread:
        """Run in a daemon thread until stop(): a tick every `interval` seconds, sooner while work is waiting."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    busy = self.run_once()
                except Exception:  # the database away for a moment: try again on the next tick
                    log.exception("outbox tick failed")
                    busy = 0
                self._stop.wait(0 if busy >= self.batch else interval)

        thread = threading.Thread(target=loop, name="roadmap-outbox", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
