"""Plain data of the source watch (store/watch.py): sources, items, decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from store.views import DevelopmentView

# -- source watch ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchSourceView:
    """A watched source as `watch list` shows it and the poller uses it. `thread_ts` is the parent message of the
    source's cluster thread in its channel, when there is one (proposals go there, else to the channel)."""

    id: int
    channel: str
    url: str
    cluster: str | None
    keywords: tuple[str, ...]
    interval_seconds: int
    roadmap_id: int
    status: str
    kind: str | None
    title: str
    next_poll_at: datetime
    etag: str | None
    last_modified: str | None
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    created_by: str
    proposed: int = 0
    thread_ts: str | None = None
    page_text: str | None = None

    @property
    def name(self) -> str:
        """The source's own title once fetched, else its host and path."""
        if self.title:
            return self.title
        rest = self.url.split("://", 1)[-1]
        return rest[:80]

    @property
    def failing(self) -> bool:
        """The last poll failed (an error newer than the last success)."""
        return bool(self.last_error_at and (self.last_ok_at is None or self.last_error_at > self.last_ok_at))


@dataclass(frozen=True)
class WatchItemView:
    id: int
    source_id: int
    source_name: str
    source_url: str
    channel: str
    cluster: str | None
    url: str | None
    title: str
    summary: str
    published_on: date | None
    matched: tuple[str, ...]
    status: str
    message_channel: str | None
    message_ts: str | None
    decided_by: str | None
    decided_at: datetime | None
    development_id: int | None


@dataclass(frozen=True)
class WatchDecision:
    """The outcome of a Confirm or Ignore click: `outcome` is confirmed, ignored, or already (someone decided
    first; `item` says what and who)."""

    item: WatchItemView
    outcome: str
    development: DevelopmentView | None = None
