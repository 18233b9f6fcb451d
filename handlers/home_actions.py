"""Buttons for people who never learn the command grammar: "Log a development" and "Change status" from the App
Home, from step views (`/roadmap status <STEP-ID>`) and from the digest, and the global shortcut "Log a roadmap
development". Both forms save through the one recording path (store.developments.record, via
record_shortcut.save_development) and the one step-change path (store.steps.set_status).

Button values carry the roadmap id, so a form acts on the roadmap it was opened from, whatever the channel:
`log_development_open` "rid|cluster|step" (either may be empty), `change_status_open` "rid|step"; the Home's
step menus carry "log|rid|cluster|step" or "status|rid|step".
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from handlers.commands import UNAVAILABLE, editor_refusal, error, sentence, status_set_message
from handlers.context import Services
from handlers.home import home_roadmap, publish_home
from handlers.record_shortcut import MAX_OPTIONS, save_development
from store.api import RoadmapStore
from store.errors import NotFound, StoreError, StoreUnavailable
from store.models import STATUSES
from store.names import normalize_step_key
from templates import render_view

log = logging.getLogger(__name__)

SHORTCUT_ID = "log_development"  # the global shortcut
LOG_FORM = "log_development_form"
STATUS_FORM = "change_status"
NOTE_REQUIRED = ("dropped", "stalled")  # a step given up on or stuck says why
MAX_NOTE_CHARS = 2000
FORM_BUTTONS = ("log_development_open", "change_status_open", "home_step_menu")  # action ids that open a form


def log_modal(services: Services, store: RoadmapStore, cluster: str | None = None, step: str | None = None) -> dict:
    """The recording form without a source message: steps of this roadmap only, today's date, a source link."""
    groups = store.roadmap.steps_by_cluster()
    steps = {s.key: s for _, group in groups for s in group}
    chosen = steps.get(step or "")
    preset = chosen.cluster if chosen else cluster
    data = dict(
        free=True,
        roadmap_title=store.roadmap.title(),
        metadata=json.dumps({"roadmap": store.scope.id}),
        clusters=[c for c, _ in groups],
        cluster=next((c for c, _ in groups if c.slug == preset), None),
        step_groups=[g for g in groups if g[1]] if len(steps) <= MAX_OPTIONS else None,
        step=chosen,
        date=datetime.now(services.settings.tz).date(),
        text="",
        max_chars=3000,
    )
    return render_view("record_modal.json.j2", data)


def status_modal(services: Services, store: RoadmapStore, key: str, user: str) -> dict:
    """The status form for an editor; for anyone else, why not (the one editor check's wording)."""
    refused = editor_refusal(services.caller(user, shareable=False), f"change the status of `{key}`")
    if refused is not None:
        return notice_view("Change status", refused.message)
    step = store.roadmap.step(key)
    data = dict(
        step=step,
        statuses=STATUSES,
        metadata=json.dumps({"roadmap": store.scope.id, "step": step.key}),
        note_required=NOTE_REQUIRED,
        max_note=MAX_NOTE_CHARS,
        today=datetime.now(services.settings.tz).date(),
    )
    return render_view("status_modal.json.j2", data)


def notice_view(title: str, message: dict) -> dict:
    """A modal showing an answer the commands would give (a refusal, a confirmation): the same blocks."""
    view = render_view("answer_view.json.j2", dict(title=title))
    view["blocks"] = list(message["blocks"])
    return view


# -- opening the forms -------------------------------------------------------------------------------------------
def _parts(value: str, n: int) -> list[str]:
    parts = str(value or "").split("|")
    return (parts + [""] * n)[:n]


def on_open_form(ack, body: dict, context) -> None:
    """A "Log a development" / "Change status" button or a Home step menu: open the form after the answer."""
    ack()
    services = Services.of(context)
    user = (body.get("user") or {}).get("id")
    trigger_id = body.get("trigger_id")
    action = (body.get("actions") or [{}])[0]
    if not (isinstance(user, str) and isinstance(trigger_id, str) and isinstance(action, dict)):
        log.warning("form button without a user, trigger_id or action")
        return
    value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
    if action.get("action_id") == "home_step_menu":
        what, _, value = str(value).partition("|")
    else:
        what = "status" if action.get("action_id") == "change_status_open" else "log"

    def open_form() -> None:
        services.clients.poster.views_open(trigger_id=trigger_id, view=form_for(services, user, what, value))

    services.after_response(open_form, f"open the {what} form")


def form_for(services: Services, user: str, what: str, value: str) -> dict:
    try:
        if what == "status":
            rid, key = _parts(value, 2)
            return status_modal(services, _roadmap(services, rid), key, user)
        rid, cluster, step = _parts(value, 3)
        return log_modal(services, _roadmap(services, rid), cluster or None, step or None)
    except (ValueError, NotFound) as exc:
        log.info("form for %r: %s", value, exc)
        return notice_view("Roadmap", _answer(f"That step or cluster is no longer on the roadmap ({exc})."))
    except StoreError:
        return notice_view("Roadmap", _answer(UNAVAILABLE))


def _roadmap(services: Services, rid: str) -> RoadmapStore:
    """The roadmap a button names, if it is still kept here and has clusters to file under."""
    roadmaps = {r.id: r for r in services.store.roadmaps.all()}
    roadmap = roadmaps.get(int(rid))
    if roadmap is None or not roadmap.clusters:
        raise NotFound("roadmap", rid, sorted(r.slug for r in roadmaps.values()))
    return services.store.scoped(roadmap.id)


def _answer(text: str) -> dict:
    return error(text, hint="`/roadmap status` shows the roadmap as it is now.").message


def on_log_shortcut(ack, shortcut: dict, context) -> None:
    """The global shortcut: the same form, on the roadmap the user's Home shows."""
    ack()
    services = Services.of(context)
    user = (shortcut.get("user") or {}).get("id")
    trigger_id = shortcut.get("trigger_id")
    if not (isinstance(user, str) and isinstance(trigger_id, str)):
        log.warning("global shortcut without a user or trigger_id")
        return

    def open_form() -> None:
        store = home_roadmap(services, user)
        if store is None or not store.roadmap.clusters():
            view = notice_view("Log development", _answer("There is no roadmap yet: load one with `roadmap import`."))
        else:
            view = log_modal(services, store)
        services.clients.poster.views_open(trigger_id=trigger_id, view=view)

    services.after_response(open_form, "open the log form")


# -- submissions ----------------------------------------------------------------------------------------------------
def _form(body: dict) -> tuple[dict, dict, str]:
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    user = (body.get("user") or {}).get("id") or "unknown"
    meta = json.loads(view.get("private_metadata") or "{}")
    return meta, values, user


def on_log_submission(ack, body: dict, context) -> None:
    services = Services.of(context)
    try:
        meta, values, user = _form(body)
        store = services.store.scoped(int(meta["roadmap"]))
    except (ValueError, KeyError, TypeError):
        ack(response_action="errors", errors={"text": "This form lost track of its roadmap; open it again."})
        return
    today = datetime.now(services.settings.tz).date()
    recorded = save_development(ack, services, store, values, user, default_date=today, source="")
    if recorded is None:
        return
    dev = recorded.development
    title = store.roadmap.cluster_title(dev.cluster)
    ack(response_action="update", view=_done(dev, title))
    services.after_response(lambda: publish_home(services, user), "republish the App Home")


def _done(dev, cluster_title: str) -> dict:
    return render_view("record_done_view.json.j2", dict(development=dev, created=True, cluster_title=cluster_title))


def on_status_submission(ack, body: dict, context) -> None:
    """Editor rights are checked again here: the form may have been opened before they were taken away."""
    services = Services.of(context)
    try:
        meta, values, user = _form(body)
        store = services.store.scoped(int(meta["roadmap"]))
        key = normalize_step_key(str(meta["step"])) or str(meta["step"])
    except (ValueError, KeyError, TypeError):
        ack(response_action="errors", errors={"status": "This form lost track of its step; open it again."})
        return
    refused = editor_refusal(services.caller(user, shareable=False), f"change the status of `{key}`")
    if refused is not None:
        ack(response_action="errors", errors={"status": refused.message["text"][:300]})
        return
    status = ((values.get("status") or {}).get("status") or {}).get("selected_option") or {}
    status = status.get("value") if isinstance(status, dict) else None
    note = (((values.get("note") or {}).get("note") or {}).get("value") or "").strip()
    if status not in STATUSES:
        ack(response_action="errors", errors={"status": "Choose a status: " + ", ".join(STATUSES) + "."})
        return
    if status in NOTE_REQUIRED and not note:
        why = f"Say why the step is {status}: the note is kept in its history."
        ack(response_action="errors", errors={"note": why})
        return
    try:
        change = store.steps.set_status(key, status, actor=user, note=note)
    except StoreUnavailable:
        ack(response_action="errors", errors={"status": UNAVAILABLE})
        return
    except StoreError as exc:
        ack(response_action="errors", errors={"status": sentence(str(exc))[:300] + "."})
        return
    ack(response_action="update", view=notice_view("Change status", status_set_message(store, change, note, user)))
    services.after_response(lambda: publish_home(services, user), "republish the App Home")
