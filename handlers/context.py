"""What every listener works with, typed: the store, the Slack clients, the editor check, the settings a handler
reads, and a way to run slow work after the answer. The bot builds one `Services` per app and puts it in Bolt's
context; a listener takes it back with `Services.of(context)` (Bolt injects listener arguments by name, so the
object rides under one key, but no handler reads that key itself)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from handlers.commands import Caller
from handlers.directory import Directory
from handlers.editors import Editors
from store.api import RoadmapStore
from store.schedule import Defaults

log = logging.getLogger(__name__)
_KEY = "services"
WORKSPACE_RETRY_SECONDS = 300


class HandlerSettings(Protocol):
    """The settings handlers read (bot.settings.Settings has them all)."""

    timezone: str
    digest_channel: str | None
    digest_schedule: str
    stale_days: int
    digest_grace_hours: int
    roadmap_base_url: str | None
    watch_allow_private: bool
    record_emoji: str
    reminders: bool
    holidays: tuple[date, ...]

    @property
    def tz(self) -> ZoneInfo: ...


@dataclass(frozen=True)
class SlackClients:
    """Two retry policies, because chat.postMessage has no idempotency key (docs/stack-traps.md, slack_sdk):
    `poster` retries only 429 (nothing was posted), `reader` also connection errors and 5xx; `lookup` is for
    reads inside a slash command's 3 s window (short timeout); `worker` is for the outbox's idempotent updates
    (chat.update, canvases.edit): it retries only dropped connections, and a 429 or 5xx raises, so that the outbox
    waits Slack's Retry-After (or its backoff) with the row in the database instead of a thread sleeping on it."""

    poster: WebClient
    reader: WebClient
    lookup: WebClient | None = None
    worker: WebClient | None = None

    @property
    def updater(self) -> WebClient:
        return self.worker or self.reader


def digest_defaults(settings: HandlerSettings) -> Defaults:
    return Defaults(settings.digest_channel, settings.digest_schedule, settings.timezone)


@dataclass
class Services:
    settings: HandlerSettings
    store: RoadmapStore
    clients: SlackClients
    editors: Editors
    executor: Executor
    directory: Directory | None = None
    _workspace: tuple[str | None, float | None] = field(default=(None, None), repr=False)

    @classmethod
    def of(cls, context: Any) -> Services:
        services = context[_KEY]
        assert isinstance(services, cls), "the app's middleware did not provide Services"
        return services

    def provide(self, context: Any) -> None:
        context[_KEY] = self

    def store_for(self, channel: str | None) -> RoadmapStore:
        """The store as seen from a channel: every read and write acts on the channel's roadmap (its binding, else
        the only roadmap). Raises RoadmapNotChosen when the store holds several and the channel follows none."""
        return self.store.for_channel(channel)

    def caller(self, user_id: str, channel_id: str | None = None, shareable: bool = True) -> Caller:
        return Caller(
            user_id=user_id or "unknown",
            channel_id=channel_id,
            editor=lambda: self.editors.is_editor(user_id),
            editors=self.editors.ids,
            today=datetime.now(self.settings.tz).date(),
            tz=self.settings.tz,
            shareable=shareable,
            web_base=self.settings.roadmap_base_url,
            watch_allow_private=self.settings.watch_allow_private,
            directory=self.directory,
            stale_days=self.settings.stale_days,
        )

    def workspace_url(self) -> str | None:
        """The workspace's URL (auth.test `url`), asked once per process, to form permalinks without a Web API
        call per message. None while Slack cannot say; asked again after WORKSPACE_RETRY_SECONDS."""
        url, asked_at = self._workspace
        if url or (asked_at is not None and time.monotonic() - asked_at < WORKSPACE_RETRY_SECONDS):
            return url
        try:
            url = self.clients.reader.auth_test().get("url")
        except Exception as exc:  # Slack down or refusing: permalinks are fetched after the answer instead
            log.warning("auth.test failed, permalinks will be fetched: %s", exc)
            url = None
        self._workspace = (url, time.monotonic())
        return url

    def after_response(self, fn: Callable[[], None], what: str) -> None:
        """Run slow work (Web API calls) after the HTTP answer has gone back to Slack."""

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("background task failed: %s", what)

        self.executor.submit(run)
