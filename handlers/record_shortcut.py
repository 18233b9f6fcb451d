"""The "Record as development" message shortcut: a modal to file any Slack message under a cluster (and optionally
a step), saved with the message's permalink. The message's (channel, ts) is the development's identity, so
recording the same message twice stores it once.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime

from handlers.threads import message_date, parse_reply, plain_text
from store.api import Invalid, StoreError, StoreUnavailable, normalize_step_key
from templates import render_view

log = logging.getLogger(__name__)

CALLBACK_ID = "record_development"
SOURCE = "Slack message"
MAX_OPTIONS = 100  # Slack's limit for a static_select; more steps than this get a typed step id instead
MAX_INPUT_CHARS = 3000  # Slack's limit for a plain_text_input


def on_record_shortcut(ack, shortcut: dict, context) -> None:
    """Acknowledge at once; open the modal right after the answer (the trigger_id stays valid for 3 s)."""
    ack()
    services = context["services"]
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


def record_modal(services, channel: str, message: dict) -> dict:
    store = services.store
    text = plain_text(message.get("text"))[:MAX_INPUT_CHARS]
    groups = store.steps_by_cluster()
    steps = {s.key: s for _, group in groups for s in group}
    named = parse_reply(text, store).step if text else None
    thread_ts = message.get("thread_ts")
    in_thread = store.thread_cluster(channel, thread_ts) if thread_ts and thread_ts != message["ts"] else None
    preset = in_thread or (steps[named].cluster if named else None)
    data = dict(
        metadata=json.dumps({"channel": channel, "ts": message["ts"]}),
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
    services = context["services"]
    store = services.store
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    user = (body.get("user") or {}).get("id") or "unknown"
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        channel, ts = str(meta["channel"]), str(meta["ts"])
    except (ValueError, KeyError, TypeError):
        ack(response_action="errors", errors={"text": "This form lost track of its message; open it again."})
        return
    cluster = _selected(values, "cluster")
    step_term = (_selected(values, "step") or "").strip()
    text = (_field(values, "text", "value") or "").strip()
    errors: dict[str, str] = {}
    step = None
    if not cluster:
        errors["cluster"] = "Choose a cluster."
    if step_term:
        step, problem = _check_step(store, step_term, cluster)
        if problem:
            errors["step"] = problem
    occurred_on = _date(_field(values, "date", "selected_date"), message_date(ts, services.settings.tz))
    today = datetime.now(services.settings.tz).date()
    if occurred_on is None:
        errors["date"] = "Pick a date."
    elif occurred_on > today:
        errors["date"] = "That date is in the future; a development records what has happened."
    if not text:
        errors["text"] = "Say what happened."
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        recorded = store.record_development(
            text=text,
            author=user,
            cluster=cluster,
            step=step,
            occurred_on=occurred_on,
            source=SOURCE,
            slack_channel=channel,
            slack_ts=ts,
        )
    except StoreUnavailable:
        unavailable = "The roadmap store is unavailable; nothing was saved. Try again in a moment."
        ack(response_action="errors", errors={"text": unavailable})
        return
    except (Invalid, StoreError) as exc:
        ack(response_action="errors", errors={"text": str(exc)[:1].upper() + str(exc)[1:]})
        return
    dev = recorded.development
    title = next((c.title for c in store.clusters() if c.slug == dev.cluster), dev.cluster)
    done = render_view("record_done_view.json.j2", dict(development=dev, created=recorded.created, cluster_title=title))
    ack(response_action="update", view=done)
    if dev.permalink is None:
        services.after_response(lambda: _fill_permalink(services, channel, ts), "permalink of a recorded message")


def _check_step(store, term: str, cluster: str | None) -> tuple[str | None, str | None]:
    """(step id, None) or (None, a short error for the step field)."""
    key = normalize_step_key(term)
    if key is None or not store.step_exists(key):
        return None, f"There is no step “{term[:40]}”. Step ids look like SEC-2."
    step_cluster = store.step_detail(key, developments=0, history=0).step.cluster
    if cluster and step_cluster != cluster:
        return None, f"{key} belongs to the {step_cluster} cluster: choose that cluster, or another step."
    return key, None


def _fill_permalink(services, channel: str, ts: str) -> None:
    try:
        link = services.clients.reader.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
        services.store.set_development_permalink(channel, ts, link)
    except Exception as exc:  # Slack errors, dropped connections (URLError), the store: the row is kept
        log.warning("no permalink for %s/%s: %s", channel, ts, exc)


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
