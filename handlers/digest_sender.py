"""The digest sender: build the digest from the store, render it, and post it exactly once per (channel, slot).

Exactly once, in this order:
1. claim (channel, period) in `digest_run` (store.claim_digest: a unique constraint, not memory);
2. if this is not the first attempt (an earlier one failed or crashed), ask Slack which parts of the digest
   already went out: every message carries a `metadata` marker (event_type `roadmap_digest`, payload with the
   period and part number), found with conversations.history / conversations.replies;
3. post the missing parts with a client that retries only 429 (nothing was posted; Retry-After honoured);
   after a 5xx or a connection error the message may have gone out anyway, so the marker is checked before
   posting again (docs/stack-traps.md, slack_sdk), with a short backoff between tries;
4. record the outcome: sent with the first message's ts, or failed with the reason. A failed slot is retried
   by a later tick (with backoff) while it is within the grace period;
5. once sent, upload the timeline chart into the digest's thread, once per slot: the attempt that wins the
   compare-and-set on digest_run.chart_status uploads it, so a retry, a stale takeover or a second worker never
   uploads a second one. A chart that fails is logged and recorded; the digest's text stands.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from handlers.chart import timeline_png
from handlers.context import HandlerSettings, digest_defaults
from handlers.uploads import upload
from store.api import RoadmapStore
from store.errors import StoreError
from store.schedule import ScheduleError, Target, due_slot, period_of
from store.views import DigestRunView
from templates import render_thread

log = logging.getLogger(__name__)

MARKER_EVENT = "roadmap_digest"
STALE_CLAIM = timedelta(minutes=10)  # a claim this old without an outcome belongs to a crashed worker
FIRST_DIGEST_WINDOW = timedelta(days=7)  # "new developments" for a channel that never had a digest
DEVELOPMENTS_PER_CLUSTER = 15
# Pairs, overdue and stale steps listed per cluster; beyond that the digest gives the exact count and a pointer.
ITEMS_PER_LIST = 15
HISTORY_PAGES = 5
CHART_WEEKS = 12


@dataclass(frozen=True)
class Outcome:
    channel: str
    period: str
    status: str  # sent | failed | skipped
    message_ts: str | None = None
    parts: int = 0
    error: str | None = None


class DigestFailed(Exception):
    """A send that did not complete; the message is the reason recorded in digest_run."""


def retry_backoff(attempts: int) -> timedelta:
    """How long a failed slot waits before the next try: the next tick first, then doubling up to 30 minutes."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 30))


class DigestSender:
    def __init__(
        self,
        settings: HandlerSettings,
        store: RoadmapStore,
        poster: WebClient,
        reader: WebClient,
        *,
        worker: str | None = None,
        backoff: Sequence[float] = (2.0, 10.0),
        sleep: Callable[[float], None] = time.sleep,
        chart: bool = True,
    ):
        self.settings = settings
        self.store = store
        self.poster = poster  # retries only 429: chat.postMessage has no idempotency key
        self.reader = reader  # reads may retry anything
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.backoff = tuple(backoff)
        self.sleep = sleep
        self.grace = timedelta(hours=settings.digest_grace_hours)
        self.chart = chart  # upload the timeline chart with each digest

    # -- what and where ----------------------------------------------------------------------------------------
    def targets(self) -> list[Target]:
        """Every enabled schedule (store.schedule.targets has the rule)."""
        return self.store.digests.targets(digest_defaults(self.settings))

    def channel_for(self, current: str | None) -> str | None:
        """Where `digest now` posts (store.schedule.digest_channel has the rule)."""
        return self.store.digests.channel_for(current, digest_defaults(self.settings))

    def build(
        self,
        channel: str | None,
        now: datetime | None = None,
        timezone: str | None = None,
        store: RoadmapStore | None = None,
    ) -> list[dict]:
        """The digest as Slack messages: the first, then the replies of its thread (each ≤ 50 blocks). Its content
        is the roadmap `store` acts on, by default the channel's."""
        now = now or datetime.now(UTC)
        roadmap = store or self.store.for_channel(channel)
        tz = ZoneInfo(timezone or self._timezone(channel))
        last = self.store.digests.last_sent(channel) if channel else None
        since = last.claimed_at if last else now - FIRST_DIGEST_WINDOW
        today = now.astimezone(tz).date()
        content = roadmap.digests.content(
            today=today,
            since=since,
            stale_days=self.settings.stale_days,
            developments_per_cluster=DEVELOPMENTS_PER_CLUSTER,
            items_per_list=ITEMS_PER_LIST,
        )
        data = dict(digest=content, since=since.astimezone(tz), first=last is None, roadmap_id=roadmap.scope.id)
        return render_thread("digest.json.j2", data)

    def _timezone(self, channel: str | None) -> str:
        return self.store.digests.schedule_for(channel, digest_defaults(self.settings)).timezone

    # -- when --------------------------------------------------------------------------------------------------
    def run_due(self, targets: Iterable[Target] | None = None, now: datetime | None = None) -> list[Outcome]:
        """Send every slot that is due and not yet sent (one per channel at most)."""
        now = now or datetime.now(UTC)
        outcomes = []
        for target in self.targets() if targets is None else targets:
            try:
                outcome = self.run_slot(target, now)
            except ScheduleError as exc:
                log.error("digest for %s: unusable schedule %r: %s", target.channel, target.cron, exc)
                continue
            except Exception:
                # One channel's trouble (e.g. the database briefly away) must not stop the others.
                log.exception("digest for %s: tick failed", target.channel)
                continue
            if outcome:
                outcomes.append(outcome)
        return outcomes

    def run_slot(self, target: Target, now: datetime | None = None) -> Outcome | None:
        now = now or datetime.now(UTC)
        slot = due_slot(target.cron, target.timezone, now, self.grace, target.not_before)
        if slot is None:
            return None
        claim = self.store.digests.claim(
            target.channel,
            period_of(slot),
            self._worker(),
            now=now,
            stale_after=STALE_CLAIM,
            retry_after=retry_backoff,
        )
        if claim is None:
            return None  # sent already, being sent by another worker, or backing off after a failure
        return self.deliver(claim, now, target.timezone)

    def send_now(
        self, channel: str, now: datetime | None = None, on_done: Callable[[Outcome], None] | None = None
    ) -> Outcome:
        """An unscheduled digest (`/roadmap digest now`, `roadmap digest send`); once per channel and minute,
        so a double-submitted command posts once. `on_done` hears the outcome as soon as the text is out,
        before the chart is drawn and uploaded."""
        now = now or datetime.now(UTC)
        period = "manual/" + now.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        claim = self.store.digests.claim(
            channel, period, self._worker(), now=now, stale_after=STALE_CLAIM, retry_after=lambda _: timedelta(0)
        )
        if claim is None:
            outcome = Outcome(channel, period, "skipped", error="a digest was already posted there in this minute")
            if on_done:
                on_done(outcome)
            return outcome
        return self.deliver(claim, now, on_done=on_done)

    def _worker(self) -> str:
        return f"{self.worker}:{threading.current_thread().name}"[:120]

    # -- how ---------------------------------------------------------------------------------------------------
    def deliver(
        self,
        claim: DigestRunView,
        now: datetime,
        timezone: str | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> Outcome:
        """Post the claimed digest (only the parts not already in Slack), record the outcome, tell `on_done`, and
        then upload the chart (after the outcome is recorded, so the chart never delays or fails the digest)."""
        outcome = self._deliver_text(claim, now, timezone)
        if on_done:
            on_done(outcome)
        if self.chart and outcome.status == "sent" and outcome.message_ts:
            self._upload_chart(claim, outcome.message_ts, now, timezone)
        return outcome

    def _deliver_text(self, claim: DigestRunView, now: datetime, timezone: str | None) -> Outcome:
        channel, period = claim.channel, claim.period
        parts = 0
        try:
            messages = self.build(channel, now, timezone)
            parts = len(messages)
            # A retry may follow a send that got through in part or in full: Slack is asked first.
            posted = self._find_posted(channel, period) if claim.attempts > 1 else {}
            parent = posted.get(1)
            for number, message in enumerate(messages, start=1):
                if number in posted:
                    continue
                ts = self._post(channel, period, number, parts, message, parent)
                if number == 1:
                    parent = ts
        except (DigestFailed, StoreError) as exc:  # e.g. the channel follows no roadmap: said, not crashed
            return self._failed(claim, str(exc), parts)
        except Exception as exc:  # a bug or the store: still recorded, so the slot is retried, not lost
            log.exception("digest for %s (%s) crashed", channel, period)
            return self._failed(claim, f"internal error: {exc!r}", parts)
        if not self.store.digests.finish(claim, now=datetime.now(UTC), message_ts=parent):
            # Another worker took the claim over as stale; it checks Slack's markers, so nothing is doubled.
            log.warning("digest for %s (%s): claim was taken over before the outcome was recorded", channel, period)
        log.info("digest for %s (%s) sent in %d part(s), attempt %d", channel, period, parts, claim.attempts)
        return Outcome(channel, period, "sent", parent, parts)

    def _upload_chart(self, claim: DigestRunView, parent: str, now: datetime, timezone: str | None) -> None:
        """The timeline chart in the digest's thread, once per slot (digest_run.chart_status is the claim). Never
        raises: whatever happens to the chart, the digest has gone out."""
        try:
            if not self.store.digests.claim_chart(claim):
                return  # uploaded (or being uploaded) by an earlier attempt of this slot
        except Exception:
            log.exception(
                "digest for %s (%s): could not claim the chart; not uploading it", claim.channel, claim.period
            )
            return
        try:
            tz = ZoneInfo(timezone or self._timezone(claim.channel))
            today = now.astimezone(tz).date()
            png, alt = timeline_png(self.store.timeline.weekly(today=today, tz=tz, weeks=CHART_WEEKS))
            done = upload(
                self.poster,
                channel=claim.channel,
                content=png,
                filename=f"roadmap-timeline-{today.isoformat()}.png",
                title=f"Roadmap timeline, the {CHART_WEEKS} weeks to {today.isoformat()}",
                comment=f"📈 The last {CHART_WEEKS} weeks: developments per cluster per week, status changes marked.",
                alt_text=alt,
                thread_ts=parent,
            )
        except Exception as exc:
            log.warning("digest for %s (%s): the chart was not uploaded: %s", claim.channel, claim.period, exc)
            try:
                self.store.digests.finish_chart(claim, error=str(exc) or repr(exc))
            except Exception:
                log.exception("digest for %s (%s): could not record the chart failure", claim.channel, claim.period)
            return
        self.store.digests.finish_chart(claim, file_id=done.file_id)

    def _failed(self, claim: DigestRunView, reason: str, parts: int) -> Outcome:
        log.error(
            "digest for %s (%s) failed on attempt %d: %s; retrying in %s if still within the grace period",
            claim.channel,
            claim.period,
            claim.attempts,
            reason,
            retry_backoff(claim.attempts),
        )
        self.store.digests.finish(claim, now=datetime.now(UTC), error=reason)
        return Outcome(claim.channel, claim.period, "failed", None, parts, reason)

    def _post(self, channel: str, period: str, number: int, parts: int, message: dict, parent: str | None) -> str:
        """Post one part; returns its ts. Never posts a part that Slack already has."""
        reason = ""
        for attempt in range(len(self.backoff) + 1):
            if attempt:
                self.sleep(self.backoff[attempt - 1])
            try:
                response = self.poster.chat_postMessage(
                    channel=channel,
                    text=message["text"],
                    blocks=message["blocks"],
                    thread_ts=parent if number > 1 else None,
                    metadata={
                        "event_type": MARKER_EVENT,
                        "event_payload": {"period": period, "part": number, "parts": parts},
                    },
                    unfurl_links=False,
                    unfurl_media=False,
                )
                return str(response["ts"])
            except SlackApiError as exc:
                status = exc.response.status_code
                error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
                if status == 429:
                    raise DigestFailed("Slack rate limit (429) persisted after honouring Retry-After") from exc
                if status < 500:
                    raise DigestFailed(f"Slack refused part {number}: {error or status}") from exc
                reason = f"Slack answered HTTP {status} for part {number}"
            except (OSError, http.client.HTTPException) as exc:
                reason = f"connection error on part {number}: {exc!r}"
            except SlackClientError as exc:
                raise DigestFailed(f"could not send part {number}: {exc}") from exc
            # The request may have been posted before the error: look before posting again.
            log.warning("digest for %s (%s): %s; checking Slack before retrying", channel, period, reason)
            found = self._find_posted(channel, period, parent).get(number)
            if found:
                return found
        raise DigestFailed(f"{reason}; gave up after {len(self.backoff) + 1} tries")

    def _find_posted(self, channel: str, period: str, parent: str | None = None) -> dict[int, str]:
        """Parts of this period's digest already in the channel: {part number: ts}."""
        try:
            if parent is None:
                oldest = f"{(_period_time(period) - timedelta(minutes=5)).timestamp():.6f}"
                for m in self._pages(self.reader.conversations_history, channel=channel, oldest=oldest):
                    if _marker(m, period) == 1:
                        parent = str(m["ts"])
                        break
                if parent is None:
                    return {}
            found = {1: parent}
            for m in self._pages(self.reader.conversations_replies, channel=channel, ts=parent):
                number = _marker(m, period)
                if number:
                    found[number] = str(m["ts"])
            return found
        except (SlackClientError, OSError, http.client.HTTPException) as exc:
            # Unverifiable means unsafe to post: fail now, retry on a later tick.
            raise DigestFailed(f"could not check Slack for an earlier attempt: {exc}") from exc

    def _pages(self, method, **kwargs) -> Iterable[dict]:
        cursor = None
        for _ in range(HISTORY_PAGES):
            response = method(**kwargs, include_all_metadata=True, limit=200, cursor=cursor)
            yield from response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return


def _marker(message: dict, period: str) -> int | None:
    """The part number if `message` is a part of this period's digest."""
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    if meta.get("event_type") != MARKER_EVENT or payload.get("period") != period:
        return None
    try:
        return int(payload.get("part") or 1)
    except (TypeError, ValueError):
        return None


def _period_time(period: str) -> datetime:
    text = period.split("/", 1)[-1].replace("Z", "+00:00")
    return datetime.fromisoformat(text)
