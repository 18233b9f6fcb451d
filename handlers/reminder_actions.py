"""The reminder DM's buttons (Snooze 1 day / 1 week, Log a development, Mark done), the modal behind "Log", and
the owner notice owed through the outbox when a conditional due date is set.

Every click is safe to receive twice (Slack retries): a snooze is an upsert, "done" goes through
store.steps.set_status (nothing recorded when already done), and the DM is then re-rendered from the store and
updated in place (chat.update), so a second update shows the same thing.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.commands import UNAVAILABLE, editor_refusal, sentence
from handlers.context import Services
from handlers.outbox import handles
from handlers.reminders import reminder_sections, render_reminder
from store.due_rules import OWNER_NOTICE
from store.errors import StoreError, StoreUnavailable
from store.outbox import Work
from templates import render, render_view

log = logging.getLogger(__name__)

LOG_CALLBACK = "reminder_log"
SNOOZE = {"reminder_snooze_1d": timedelta(days=1), "reminder_snooze_1w": timedelta(days=7)}


def _local_today(services: Services, user: str) -> date:
    tz = services.directory.tz(user) if services.directory else services.settings.timezone
    try:
        return datetime.now(ZoneInfo(tz)).date()
    except (KeyError, ValueError):
        return datetime.now(services.settings.tz).date()


def _parse(body: dict) -> tuple[str, str, int, str, str | None, str | None, str | None] | None:
    """(action id, user, roadmap id, step key, DM channel, DM ts, trigger id), read defensively."""
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else None
    rid, _, key = str(action.get("value") or "").partition(":")
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    if not (user and rid.isdigit() and key):
        return None
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    trigger = body.get("trigger_id") if isinstance(body.get("trigger_id"), str) else None
    return str(action.get("action_id")), str(user), int(rid), key, channel, container.get("message_ts"), trigger


def on_reminder_action(ack, body: dict, context) -> None:
    ack()
    services = Services.of(context)
    parsed = _parse(body)
    if parsed is None:
        log.warning("reminder button without user, roadmap or step: ignored")
        return
    action, user, rid, key, channel, ts, trigger = parsed
    store = services.store.scoped(rid)
    if action == "reminder_log":
        if trigger:
            meta = json.dumps({"roadmap": rid, "step": key, "channel": channel, "ts": ts})
            try:
                view = render_view(
                    "reminder_log_modal.json.j2", dict(step=store.roadmap.step_detail(key).step, metadata=meta)
                )
            except StoreError as exc:
                return _after(services, user, channel, ts, sentence(str(exc)))
            services.after_response(
                lambda: services.clients.poster.views_open(trigger_id=trigger, view=view), "log modal"
            )
        return
    today = _local_today(services, user)
    try:
        if action in SNOOZE:
            until = today + SNOOZE[action]
            store.reminders.snooze(user, key, until)
            acted = f"Snoozed {key} until {until.strftime('%a %d %b')}: it stays out of your reminders till then."
        elif action == "reminder_done":
            caller = services.caller(user, channel)
            if editor_refusal(caller, "mark steps done") is not None:
                acted = f"{key} is unchanged: only editors can mark a step done. Ask one of the roadmap editors."
            else:
                change = store.steps.set_status(key, "done", actor=user, note="marked done from a reminder")
                acted = f"Marked {key} done." if change.changed else f"{key} was already done."
        else:
            return
    except StoreUnavailable:
        acted = UNAVAILABLE
    except StoreError as exc:
        acted = sentence(str(exc)) + "."
    _after(services, user, channel, ts, acted)


def _after(services: Services, user: str, channel: str | None, ts: str | None, acted: str) -> None:
    """Update the DM in place, after the answer: the steps as they are now, and what was done."""
    if not (channel and ts):
        return

    def update() -> None:
        groups = services.directory.groups_of(user) if services.directory else ()
        today = _local_today(services, user)
        sections = reminder_sections(services.store, (user, *groups), user, today, services.settings.stale_days)
        message = render_reminder(sections, user, today, acted)
        services.clients.poster.chat_update(channel=channel, ts=ts, text=message["text"], blocks=message["blocks"])

    services.after_response(update, "update a reminder DM")


def on_log_submission(ack, body: dict, context) -> None:
    """Record through the one recording path; errors are shown in the form, nothing saved."""
    services = Services.of(context)
    view = body.get("view") or {}
    user = (body.get("user") or {}).get("id") or "unknown"
    values = (view.get("state") or {}).get("values") or {}
    text = str(((values.get("text") or {}).get("text") or {}).get("value") or "").strip()
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        store, key = services.store.scoped(int(meta["roadmap"])), str(meta["step"])
    except (ValueError, KeyError, TypeError):
        return ack(response_action="errors", errors={"text": "This form lost track of its step; open it again."})
    if not text:
        return ack(response_action="errors", errors={"text": "Say what happened."})
    try:
        store.developments.record(text=text, author=user, step=key, today=_local_today(services, user))
    except StoreUnavailable:
        return ack(response_action="errors", errors={"text": UNAVAILABLE})
    except StoreError as exc:
        return ack(response_action="errors", errors={"text": sentence(str(exc)) + "."})
    ack()
    _after(services, user, meta.get("channel"), meta.get("ts"), f"Logged a development on {key}.")


@handles(OWNER_NOTICE)
def send_owner_notice(services: Services, work: Work) -> None:
    """ "Belarus has done SEC-1; SEC-2 is now due on 15 Jan", to the owner (each member of an owning group)."""
    step_id, done_id, owner = work.key.split(":", 2)
    notice = services.store.owners.notice(int(step_id), int(done_id))
    if notice is None or notice.step.due_on is None:
        return  # the step is gone or its date was cleared since: nothing to tell
    users = sorted(services.directory.members(owner)) if owner.startswith("S") and services.directory else [owner]
    message = render("owner_notice.json.j2", dict(notice=notice))
    for user in users:
        channel = services.clients.reader.conversations_open(users=user)["channel"]["id"]
        services.clients.poster.chat_postMessage(
            channel=channel, text=message["text"], blocks=message["blocks"], unfurl_links=False
        )
