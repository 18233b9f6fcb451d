"""The Bolt app factory: settings and store in, app out. No import-time side effects."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from slack_bolt import App, BoltResponse

from bot.settings import Settings
from bot.slack import make_clients
from handlers import (  # noqa: F401
    cards,
    home,
    home_actions,
    reactions,
    record_shortcut,
    reminder_actions,
    slash,
    threads,
    unblocked,
    unfurls,
    watch,
)
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
    with _without_bolt_oauth_env():
        app = App(
            client=clients.poster,
            signing_secret=settings.slack_signing_secret,
            process_before_response=True,
            token_verification_enabled=token_verification,
            listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="bolt"),
        )
    # The bot is one workspace's app with one bot token, whatever the environment holds.
    assert app.oauth_flow is None, "Bolt must not run the OAuth installation flow"

    @app.middleware
    def provide_services(context, next):
        services.provide(context)
        return next()

    app.command(COMMAND)(slash.on_roadmap_command)
    app.action("share_in_channel")(slash.on_share_in_channel)
    # Cluster threads and "Record as development": every message subtype has a listener (no 404 → no retries).
    app.event("message")(threads.on_message)
    # Links to the web pages posted in Slack unfurl into a card of the step or cluster.
    app.event("link_shared")(unfurls.on_link_shared)
    app.shortcut(record_shortcut.CALLBACK_ID)(record_shortcut.on_record_shortcut)
    app.view(record_shortcut.CALLBACK_ID)(record_shortcut.on_record_submission)
    # Source watch proposals: Confirm / Ignore, and the cluster menu (acknowledged; read when Confirm is pressed).
    app.action(watch.CONFIRM)(watch.on_decision)
    app.action(watch.IGNORE)(watch.on_decision)
    app.action(watch.CLUSTER)(watch.on_cluster_chosen)
    # The App Home and its forms (handlers/home.py, home_actions.py); home.py also owes rebuilds via the outbox.
    app.event("app_home_opened")(home.on_app_home_opened)
    for action_id in home.CONTROLS:
        app.action(action_id)(home.on_home_choice)
    for action_id in home_actions.FORM_BUTTONS:
        app.action(action_id)(home_actions.on_open_form)
    app.shortcut(home_actions.SHORTCUT_ID)(home_actions.on_log_shortcut)
    app.view(home_actions.LOG_FORM)(home_actions.on_log_submission)
    app.view(home_actions.STATUS_FORM)(home_actions.on_status_submission)
    # Record by reaction (📝): the listener owes the work; the outbox worker records (handlers/reactions.py).
    app.event("reaction_added")(reactions.on_reaction_added)
    app.action(reactions.PICK_ACTION)(reactions.on_pick_cluster)
    # The reminder DM's buttons and its "Log a development" form (handlers/reminder_actions.py; importing it also
    # registers the outbox's owner notices).
    app.action(re.compile(r"^reminder_"))(reminder_actions.on_reminder_action)
    app.view(reminder_actions.LOG_CALLBACK)(reminder_actions.on_log_submission)
    app.error(on_listener_error)
    return app


# Bolt switches to multi-workspace OAuth installation mode when it sees these two in the environment
# (slack_bolt/app/app.py: `oauth_settings is None and os.environ.get("SLACK_CLIENT_ID") ...`), and then ignores
# the bot token and answers every request "please install this app". The web pages need them for Sign in with
# Slack (docs/stack-traps.md, Bolt behind gunicorn), so Bolt is built without seeing them.
_BOLT_OAUTH_ENV = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
_ENV_LOCK = threading.Lock()


@contextmanager
def _without_bolt_oauth_env() -> Iterator[None]:
    with _ENV_LOCK:
        hidden = {k: os.environ.pop(k) for k in _BOLT_OAUTH_ENV if k in os.environ}
        try:
            yield
        finally:
            os.environ.update(hidden)


def on_listener_error(error: Exception, body: dict) -> BoltResponse:
    """A listener that raised: no stack trace to Slack. A database outage is a 503, so Slack retries the event
    (records are keyed by Slack ids, so the retry cannot double them); anything else is logged in full."""
    kind = body.get("type") if isinstance(body, dict) else None
    if isinstance(error, StoreUnavailable):
        log.warning("roadmap store unavailable while handling %s; answered 503 so Slack retries", kind)
        return BoltResponse(status=503, body="")
    log.error("listener failed on %s", kind, exc_info=error)
    return BoltResponse(status=500, body="")
