"""The "Record as development" message shortcut: a modal to file any Slack message under a cluster (and optionally
a step), saved with the message's permalink. The message's (channel, ts) is the development's identity, so
recording the same message twice stores it once.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime

from handlers.commands import UNAVAILABLE, sentence
from handlers.context import Services
from handlers.slack_api import fill_permalink
from handlers.threads import message_date, parse_reply
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.errors import Invalid, NotFound, RoadmapNotChosen, StoreError, StoreUnavailable
from store.views import Recorded
from templates import plain_text, render_view

log = logging.getLogger(__name__)

CALLBACK_ID = "record_development"
SOURCE = "Slack message"
MAX_OPTIONS = 100  # Slack's limit for a static_select; more steps than this get a typed step id instead
MAX_INPUT_CHARS = 3000  # Slack's limit for a plain_text_input


def on_record_shortcut(ack, shortcut: dict, context) -> None:
    """Acknowledge at once; open the modal right after the answer (the trigger_id stays valid for 3 s)."""
    ack()
    services = Services.of(context)
    message = shortcut.get("message") or {}
    channel = (shortcut.get("channel") or {}).get("id")
    trigger_id = shortcut.get("trigger_id")
    if not (channel and message.get("ts") and trigger_id):
        log.warning("record shortcut without channel, message or trigger_id")
        return

    def open_modal() -> None:
        view = record_modal(services, channel, message)
        services.clients.poster.views_open(trigger_id=trigger_id, view=view)

    services.after_response(open_modal, "open the record modal")


def record_modal(services: Services, channel: str, message: dict) -> dict:
    """The form, on the roadmap of the message's cluster thread, else the channel's."""
    thread_ts = message.get("thread_ts")
    in_thread = thread_ts if thread_ts and thread_ts != message["ts"] else None
    rid = services.store.roadmaps.of_thread(channel, in_thread) if in_thread else None
    try:
        store = services.store.scoped(rid) if rid is not None else services.store_for(channel)
    except RoadmapNotChosen as exc:
        data = dict(title="Record as development", problem=sentence(str(exc)) + ".", slugs=exc.slugs)
        return render_view("notice_view.json.j2", data)
    text = plain_text(message.get("text"))[:MAX_INPUT_CHARS]
    groups = store.roadmap.steps_by_cluster()
    steps = {s.key: s for _, group in groups for s in group}
    named = parse_reply(text, store).step if text else None
    in_cluster = store.threads.cluster_of(channel, in_thread) if in_thread else None
    preset = in_cluster or (steps[named].cluster if named else None)
    data = dict(
        metadata=json.dumps({"channel": channel, "ts": message["ts"], "roadmap": store.scope.id}),
        message_author=message.get("user") or "a bot",
        clusters=[c for c, _ in groups],
        cluster=next((c for c, _ in groups if c.slug == preset), None),
        step_groups=[g for g in groups if g[1]] if len(steps) <= MAX_OPTIONS else None,
        step=steps.get(named) if named else None,
        date=message_date(message["ts"], services.settings.tz),
        text=text,
        max_chars=MAX_INPUT_CHARS,
    )
    return render_view("record_modal.json.j2", data)


def on_record_submission(ack, body: dict, context) -> None:
    """Validate; save synchronously (so the answer reflects the committed row); fill the permalink afterwards."""
    services = Services.of(context)
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    user = (body.get("user") or {}).get("id") or "unknown"
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        channel, ts = str(meta["channel"]), str(meta["ts"])
        rid = meta.get("roadmap")
        store = services.store.scoped(int(rid)) if rid is not None else services.store_for(channel)
    except (ValueError, KeyError, TypeError, StoreError):
        ack(response_action="errors", errors={"text": "This form lost track of its message; open it again."})
        return
    recorded = save_development(
        ack,
        services,
        store,
        values,
        user,
        default_date=message_date(ts, services.settings.tz),
        source=SOURCE,
        slack=SlackMessage(channel, ts),
    )
    if recorded is None:
        return
    dev = recorded.development
    title = store.roadmap.cluster_title(dev.cluster)
    done = render_view("record_done_view.json.j2", dict(development=dev, created=recorded.created, cluster_title=title))
    ack(response_action="update", view=done)
    if dev.permalink is None:
        services.after_response(
            lambda: fill_permalink(services.clients.reader, store, channel, ts), "permalink of a recorded message"
        )


def save_development(
    ack, services: Services, store: RoadmapStore, values: dict, user: str, *, default_date: date, **where
) -> Recorded | None:
    """The form's fields (cluster, step, date, text and, when the form has it, url) recorded through the one
    development path; None after answering the form with its errors (shown in the fields they concern)."""
    cluster = _selected(values, "cluster")
    step = (_selected(values, "step") or "").strip() or None
    text = (_field(values, "text", "value") or "").strip()
    occurred_on = _date(_field(values, "date", "selected_date"), default_date)
    errors: dict[str, str] = {}
    if not cluster:
        errors["cluster"] = "Choose a cluster."
    if occurred_on is None:
        errors["date"] = "Pick a date."
    if not text:
        errors["text"] = "Say what happened."
    if errors:
        ack(response_action="errors", errors=errors)
        return None
    if "url" in values:
        where["url"] = _field(values, "url", "value")
    try:
        # Every other rule (the step exists and belongs to the cluster, the date is not in the future, the
        # text's limit, the link is a web address) is the store's, shown in the field it concerns.
        return store.developments.record(
            text=text,
            author=user,
            cluster=cluster,
            step=step,
            occurred_on=occurred_on,
            today=datetime.now(services.settings.tz).date(),
            **where,
        )
    except StoreUnavailable:
        ack(response_action="errors", errors={"text": UNAVAILABLE})
    except NotFound as exc:
        field = "step" if exc.kind == "step" else "cluster"
        hint = " Step ids look like SEC-2." if exc.kind == "step" else ""
        ack(response_action="errors", errors={field: f"There is no {exc.kind} “{exc.term[:40]}”.{hint}"})
    except (Invalid, StoreError) as exc:
        field = getattr(exc, "field", None) or "text"
        ack(response_action="errors", errors={field: sentence(str(exc)) + "."})
    return None


def _field(values: dict, block: str, key: str):
    element = (values.get(block) or {}).get(block) or {}
    return element.get(key) if isinstance(element, dict) else None


def _selected(values: dict, block: str) -> str | None:
    """A static_select's chosen value, or a plain-text input's value (the step field may be either)."""
    option = _field(values, block, "selected_option")
    if isinstance(option, dict):
        return option.get("value")
    return _field(values, block, "value")


def _date(value: str | None, default: date) -> date | None:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
