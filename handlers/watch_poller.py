"""The source-watch poller the clock runs every minute: claim the due sources, fetch each, find its new items,
and post the ones that match as proposals (Confirm / Ignore) in the source's channel — in its cluster's thread
when the channel has one. It never records a development itself: a person confirms (handlers/watch.py).

Exactly once: the store claims each due source for one clock (compare-and-set) and each item once per source
(unique key), before anything is posted. Never stuck: every failure (the fetch, the parse, a post, an unexpected
bug) is recorded on its source with the time, the source backs off, and the other sources are polled as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers import feeds
from handlers.context import HandlerSettings
from handlers.fetch import Fetcher, FetchError
from store.api import RoadmapStore
from store.errors import StoreUnavailable
from store.watch_views import WatchSourceView
from templates import render

log = logging.getLogger(__name__)

SOURCES_PER_TICK = 20
# A new source may carry a long history: its first poll proposes only the newest few, the rest count as seen.
FIRST_POLL_PROPOSALS = 3
# Later polls propose at most this many; the others wait for the next poll (they are not marked seen).
PROPOSALS_PER_POLL = 10
MAX_CLUSTER_OPTIONS = 100  # Slack's limit for a static_select


@dataclass
class PollOutcome:
    source_id: int
    status: str  # ok | not_modified | failed
    proposed: list[int] = field(default_factory=list)  # item ids posted
    error: str | None = None


class WatchPoller:
    def __init__(self, settings: HandlerSettings, store: RoadmapStore, poster: WebClient, fetcher: Fetcher):
        self.settings = settings
        self.store = store
        self.poster = poster  # retries only 429: chat.postMessage has no idempotency key
        self.fetcher = fetcher

    def poll_due(self, now: datetime | None = None) -> list[PollOutcome]:
        """One clock tick: every due source polled once (by this clock or another, never both)."""
        now = now or datetime.now(UTC)
        try:
            sources = self.store.watch.claim_due(now, SOURCES_PER_TICK)
        except StoreUnavailable:
            log.warning("source watch: store unavailable; polling at the next tick")
            return []
        outcomes = []
        for source in sources:
            try:
                outcomes.append(self.poll(source, now))
            except Exception as exc:  # a bug or an outage in one source must not stop the others
                log.exception("source watch: polling source #%s failed", source.id)
                self._failed(source, now, f"internal error: {type(exc).__name__}: {exc}")
                outcomes.append(PollOutcome(source.id, "failed", error=str(exc)))
        return outcomes

    def poll(self, source: WatchSourceView, now: datetime) -> PollOutcome:
        try:
            fetched = self.fetcher.fetch(source.url, etag=source.etag, last_modified=source.last_modified)
            if fetched.not_modified:
                self.store.watch.record_success(source.id, now)
                return PollOutcome(source.id, "not_modified")
            parsed = feeds.parse(fetched)
        except FetchError as exc:
            return self._failed(source, now, str(exc), retry_after=exc.retry_after)
        entries = parsed.entries
        if parsed.kind == "page":
            change = feeds.page_change(parsed.url or source.url, parsed.title, source.page_text, parsed.text or "", now)
            entries = [change] if change else []
        # The source's own title first: the proposals name it.
        self.store.watch.record_success(source.id, now, kind=parsed.kind, title=parsed.title)
        proposed, post_error = self._propose(source, entries, now, first=source.last_ok_at is None)
        if post_error is None:
            # Validators and the page text only once every proposal is out: after a failed post the next poll must
            # read the source again (no 304) and see the released items as new.
            self.store.watch.record_success(
                source.id,
                now,
                etag=fetched.etag or "",
                last_modified=fetched.last_modified or "",
                page_text=parsed.text if parsed.kind == "page" else None,
            )
            return PollOutcome(source.id, "ok", proposed)
        return self._failed(source, now, post_error, proposed, forget_validators=True)

    def _propose(
        self, source: WatchSourceView, entries: list[feeds.Entry], now: datetime, first: bool
    ) -> tuple[list[int], str | None]:
        """Claim and post the new matching entries (newest first in choice, oldest first in the channel)."""
        known = self.store.watch.known(source.id, [e.identity for e in entries], now)
        fresh = sorted(
            (e for e in entries if e.identity not in known),
            key=lambda e: e.published or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        budget = FIRST_POLL_PROPOSALS if first else PROPOSALS_PER_POLL
        chosen: list[tuple[feeds.Entry, tuple[str, ...]]] = []
        for entry in fresh:
            matched = feeds.matched_keywords(source.keywords, entry.title, entry.summary)
            if matched is None or (first and len(chosen) >= budget):
                self._claim(source, entry, (), "skipped", now)  # seen: never proposed later either
            elif len(chosen) < budget:
                chosen.append((entry, matched))
        posted: list[int] = []
        for entry, matched in reversed(chosen):
            item_id = self._claim(source, entry, matched, "pending", now)
            if item_id is None:
                continue  # another clock claimed it first
            problem = self._post(source, item_id)
            if problem:
                return posted, problem
            posted.append(item_id)
        return posted, None

    def _claim(
        self, source: WatchSourceView, entry: feeds.Entry, matched: tuple[str, ...], status: str, now: datetime
    ) -> int | None:
        published = entry.published.astimezone(self.settings.tz).date() if entry.published else None
        return self.store.watch.claim_item(
            source.id,
            entry.identity,
            url=entry.url,
            title=entry.title,
            summary=entry.summary,
            published_on=published,
            matched=matched,
            status=status,
            now=now,
        )

    def _post(self, source: WatchSourceView, item_id: int) -> str | None:
        """Post one proposal; None when posted, else the reason (the claim is given back for the next poll)."""
        item = self.store.watch.item(item_id)
        clusters = self.store.scoped(source.roadmap_id).roadmap.clusters()[:MAX_CLUSTER_OPTIONS]
        current = next((c for c in clusters if c.slug == item.cluster), None)
        message = render("watch_proposal.json.j2", dict(item=item, clusters=clusters, cluster=current))
        thread_ts = source.thread_ts
        for attempt in (1, 2):
            try:
                posted = self.poster.chat_postMessage(
                    channel=source.channel,
                    text=message["text"],
                    blocks=message["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                    **({"thread_ts": thread_ts} if thread_ts else {}),
                )
            except SlackApiError as exc:
                code = exc.response.get("error")
                if attempt == 1 and thread_ts and code in ("thread_not_found", "message_not_found"):
                    thread_ts = None  # the cluster thread's parent is gone: post in the channel instead
                    continue
                self.store.watch.release_item(item_id)
                hint = " (invite the bot: /invite @roadmap)" if code in ("not_in_channel", "channel_not_found") else ""
                return f"could not post a proposal: {code}{hint}"
            except Exception as exc:
                # Also a dropped connection, after which the post may have gone out; without its ts the proposal
                # cannot be remembered, so the claim is given back and the next poll posts it (as threads do).
                self.store.watch.release_item(item_id)
                return f"could not post a proposal: {exc}"
            self.store.watch.item_posted(item_id, source.channel, posted["ts"])
            return None
        return None  # pragma: no cover - the loop always returns

    def _failed(
        self,
        source: WatchSourceView,
        now: datetime,
        error: str,
        proposed: list[int] | None = None,
        forget_validators: bool = False,
        retry_after: int | None = None,
    ) -> PollOutcome:
        log.warning("source watch: source #%s (%s): %s", source.id, source.url, error)
        try:
            self.store.watch.record_failure(
                source.id, now, error, forget_validators=forget_validators, not_before_seconds=retry_after
            )
        except Exception:
            log.exception("source watch: could not record the failure of source #%s", source.id)
        return PollOutcome(source.id, "failed", proposed or [], error)
