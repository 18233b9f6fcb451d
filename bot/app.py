"""The Bolt app factory: settings and store in, app out. No import-time side effects."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltResponse

from bot.settings import Settings
from bot.slack import make_clients
from handlers import record_shortcut, reminder_actions, slash, threads
from handlers.context import Services, SlackClients
from handlers.directory import Directory
from handlers.editors import Editors
from store.api import RoadmapStore
from store.errors import StoreUnavailable

log = logging.getLogger(__name__)
COMMAND = "/roadmap"


def build_services(settings: Settings, store: RoadmapStore, clients: SlackClients | None = None) -> Services:
    """What every listener (and the outbox worker, and the clock) works with."""
    clients = clients or make_clients(settings)
    # Listeners must stay short: process_before_response answers in the HTTP response itself (no 10 ms ack
    # polling); Web API calls go to this executor after the answer is sent. Bolt's default pool has 5 threads.
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="roadmap-bg")
    editors = Editors(settings.editors, clients.lookup or clients.reader)
    if editors.everyone:
        log.warning("ROADMAP_EDITORS is not set: everyone in the workspace can change the roadmap")
    directory = Directory(store, clients.lookup or clients.reader, settings.timezone)
    return Services(settings, store, clients, editors, executor, directory)


def create_app(
    settings: Settings,
    store: RoadmapStore,
    *,
    clients: SlackClients | None = None,
    services: Services | None = None,
    token_verification: bool = True,
) -> App:
    services = services or build_services(settings, store, clients)
    clients = services.clients
    app = App(
        client=clients.poster,
        signing_secret=settings.slack_signing_secret,
        process_before_response=True,
        token_verification_enabled=token_verification,
        listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="bolt"),
    )

    @app.middleware
    def provide_services(context, next):
        services.provide(context)
        return next()

    app.command(COMMAND)(slash.on_roadmap_command)
    app.action("share_in_channel")(slash.on_share_in_channel)
    # Cluster threads and "Record as development": every message subtype has a listener (no 404 → no retries).
    app.event("message")(threads.on_message)
    app.shortcut(record_shortcut.CALLBACK_ID)(record_shortcut.on_record_shortcut)
    app.view(record_shortcut.CALLBACK_ID)(record_shortcut.on_record_submission)
    # The reminder DM's buttons and its "Log a development" form (handlers/reminder_actions.py; importing it also
    # registers the outbox's owner notices).
    app.action(re.compile(r"^reminder_"))(reminder_actions.on_reminder_action)
    app.view(reminder_actions.LOG_CALLBACK)(reminder_actions.on_log_submission)
    app.error(on_listener_error)
    return app


def on_listener_error(error: Exception, body: dict) -> BoltResponse:
    """A listener that raised: no stack trace to Slack. A database outage is a 503, so Slack retries the event
    (records are keyed by Slack ids, so the retry cannot double them); anything else is logged in full."""
    kind = body.get("type") if isinstance(body, dict) else None
    if isinstance(error, StoreUnavailable):
        log.warning("roadmap store unavailable while handling %s; answered 503 so Slack retries", kind)
        return BoltResponse(status=503, body="")
    log.error("listener failed on %s", kind, exc_info=error)
    return BoltResponse(status=500, body="")
