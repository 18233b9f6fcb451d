"""The reminder loop: at 09:00 in each owner's own time zone, on weekdays that are not holidays, one grouped DM.

Called by the clock every few minutes (`ReminderSender.run_due(now)`, callable directly with a fake `now`).
Exactly once, as the digest: each (user, local date) is claimed in `reminder_run` before anything is sent
(unique constraint); the DM is posted with a client that retries only 429 (Retry-After honoured); a send that
fails is recorded and retried on a later tick (backoff) while the local day's window lasts; a retry first looks in
the DM for the message's metadata marker, so a send that got through before an error is never doubled.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from handlers.context import HandlerSettings
from handlers.directory import Directory
from handlers.reminders import reminder_sections, render_reminder
from store.api import RoadmapStore
from store.owner_views import ReminderRunView

log = logging.getLogger(__name__)

MARKER_EVENT = "roadmap_reminder"
SEND_AT = time(9, 0)
WINDOW_ENDS = time(18, 0)  # a reminder not out by then (Slack down all day) is not sent that day
STALE_CLAIM = timedelta(minutes=10)


def retry_backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 30))


@dataclass(frozen=True)
class Sent:
    user: str
    local_date: date
    status: str  # sent | failed | empty
    error: str | None = None


class ReminderFailed(Exception):
    pass


def local_day(tz: str, now: datetime, holidays: set[date]) -> date | None:
    """The owner's local date if `now` is within their reminder window on a working day; else None."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = now.astimezone(zone)
    if local.weekday() >= 5 or local.date() in holidays:
        return None
    if not SEND_AT <= local.time() < WINDOW_ENDS:
        return None
    return local.date()


class ReminderSender:
    def __init__(
        self,
        settings: HandlerSettings,
        store: RoadmapStore,
        poster: WebClient,
        reader: WebClient,
        directory: Directory,
        *,
        worker: str | None = None,
    ):
        self.settings = settings
        self.store = store
        self.poster = poster  # retries only 429: chat.postMessage has no idempotency key
        self.reader = reader
        self.directory = directory
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"

    def recipients(self) -> dict[str, tuple[str, ...]]:
        """Every user who owns something, directly or through a group: user → (user, their owning groups…)."""
        ids: set[str] = set()
        for r in self.store.roadmaps.all():
            ids |= self.store.scoped(r.id).owners.owner_ids()
        users: dict[str, set[str]] = {i: set() for i in ids if not i.startswith("S")}
        for group in sorted(i for i in ids if i.startswith("S")):
            for member in self.directory.members(group):
                users.setdefault(member, set()).add(group)
        return {u: (u, *sorted(groups | set(self.directory.groups_of(u)))) for u, groups in sorted(users.items())}

    def holidays(self) -> set[date]:
        days = set(self.settings.holidays)
        for r in self.store.roadmaps.all():
            days |= self.store.scoped(r.id).reminders.holidays()
        return days

    def run_due(self, now: datetime | None = None) -> list[Sent]:
        """One tick: every owner whose local 09:00 has come today and who has not had today's reminder."""
        if not self.settings.reminders:
            return []
        now = now or datetime.now(UTC)
        holidays = self.holidays()
        out = []
        for user, ids in self.recipients().items():
            try:
                if self.store.reminders.opted_out(user):
                    continue
                day = local_day(self.directory.tz(user), now, holidays)
                if day is None:
                    continue
                claim = self.store.reminders.claim(
                    user, day, self._worker(), now=now, stale_after=STALE_CLAIM, retry_after=retry_backoff
                )
                if claim is not None:
                    out.append(self.deliver(claim, ids))
            except Exception:  # one owner's trouble must not stop the others
                log.exception("reminder for %s: tick failed", user)
        return out

    def _worker(self) -> str:
        return f"{self.worker}:{threading.current_thread().name}"[:120]

    def deliver(self, claim: ReminderRunView, ids: tuple[str, ...]) -> Sent:
        user, day = claim.user_id, claim.local_date
        sections = reminder_sections(self.store, ids, user, day, self.settings.stale_days)
        if not sections:
            self.store.reminders.finish(claim, status="empty")
            return Sent(user, day, "empty")
        try:
            channel = self._open(user)
            ts = self._find_posted(channel, day) if claim.attempts > 1 else None
            if ts is None:
                message = render_reminder(sections, user, day)
                ts = self._post(channel, day, message)
        except ReminderFailed as exc:
            log.error("reminder for %s (%s) failed on attempt %d: %s", user, day, claim.attempts, exc)
            self.store.reminders.finish(claim, status="failed", error=str(exc))
            return Sent(user, day, "failed", str(exc))
        self.store.reminders.finish(claim, status="sent", channel=channel, message_ts=ts)
        log.info("reminder for %s (%s) sent, attempt %d", user, day, claim.attempts)
        return Sent(user, day, "sent")

    def _open(self, user: str) -> str:
        try:
            return str(self.reader.conversations_open(users=user)["channel"]["id"])
        except (SlackClientError, OSError, http.client.HTTPException, KeyError, TypeError) as exc:
            raise ReminderFailed(f"could not open a DM with {user}: {exc}") from exc

    def _post(self, channel: str, day: date, message: dict) -> str:
        try:
            response = self.poster.chat_postMessage(
                channel=channel,
                text=message["text"],
                blocks=message["blocks"],
                metadata={"event_type": MARKER_EVENT, "event_payload": {"date": day.isoformat()}},
                unfurl_links=False,
                unfurl_media=False,
            )
            return str(response["ts"])
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                raise ReminderFailed("Slack rate limit (429) persisted after honouring Retry-After") from exc
            raise ReminderFailed(f"Slack refused the reminder: {exc.response.get('error') or status}") from exc
        except (SlackClientError, OSError, http.client.HTTPException) as exc:
            # It may have been posted: the retry on a later tick looks for the marker before posting again.
            raise ReminderFailed(f"connection error: {exc!r}") from exc

    def _find_posted(self, channel: str, day: date) -> str | None:
        """The ts of this day's reminder if an earlier attempt got it into the DM."""
        try:
            answer = self.reader.conversations_history(channel=channel, include_all_metadata=True, limit=50)
        except (SlackClientError, OSError, http.client.HTTPException) as exc:
            raise ReminderFailed(f"could not check the DM for an earlier attempt: {exc}") from exc
        for m in answer.get("messages") or []:
            meta = m.get("metadata") or {}
            if (
                meta.get("event_type") == MARKER_EVENT
                and (meta.get("event_payload") or {}).get("date") == day.isoformat()
            ):
                return str(m["ts"])
        return None
