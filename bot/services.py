"""What every Slack listener needs, handed to it through Bolt's context (`context["services"]`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from bot.editors import Editors
from bot.settings import Settings
from bot.slack import SlackClients
from handlers.commands import Caller
from store.api import RoadmapStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: RoadmapStore
    clients: SlackClients
    editors: Editors
    executor: Executor

    def caller(self, user_id: str, channel_id: str | None = None, shareable: bool = True) -> Caller:
        return Caller(
            user_id=user_id or "unknown",
            channel_id=channel_id,
            editor=lambda: self.editors.is_editor(user_id),
            editors=self.editors.ids,
            today=datetime.now(self.settings.tz).date(),
            shareable=shareable,
        )

    def after_response(self, fn: Callable[[], None], what: str) -> None:
        """Run slow work (Web API calls) after the HTTP answer has gone back to Slack."""

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("background task failed: %s", what)

        self.executor.submit(run)
