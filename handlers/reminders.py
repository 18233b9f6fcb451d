"""The reminder DM's content and `/roadmap remind [preview | off | on]`.

A reminder lists, per roadmap, the open steps a person owns (directly, through a user group, or as their side's
default owner) that need them: overdue, due within 7 days, "your move" (a counterpart is done), stale. Snoozed
steps are left out until their snooze ends. One grouped message, buttons under the first steps
(handlers/reminder_actions.py); the sending loop is handlers/reminder_sender.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from handlers.commands import Caller, Reply, command
from store.api import RoadmapStore
from store.errors import Invalid
from store.owner_views import OwnedStep
from templates import render

DUE_SOON_DAYS = 7
WITH_BUTTONS = 10  # steps shown with their own buttons (2 blocks each); the rest as lines
ACTIONS = ("reminder_snooze_1d", "reminder_snooze_1w", "reminder_log", "reminder_done")


@dataclass(frozen=True)
class Item:
    owned: OwnedStep
    why: str  # overdue | due soon | your move | stale
    roadmap_id: int

    @property
    def value(self) -> str:
        """What a button carries: the roadmap and the step (the store resolves both again)."""
        return f"{self.roadmap_id}:{self.owned.step.key}"


@dataclass(frozen=True)
class Section:
    title: str
    items: list[Item] = field(default_factory=list)


def why(x: OwnedStep, today: date) -> str | None:
    due = x.step.due_on
    if x.overdue:
        return "overdue"
    if due is not None and due <= today + timedelta(days=DUE_SOON_DAYS):
        return "due soon"
    if x.your_move:
        return "your move"
    if x.stale:
        return "stale"
    return None


def reminder_sections(store: RoadmapStore, ids: tuple[str, ...], user: str, today: date, stale_days: int) -> list:
    """What `user` (with `ids` = the user and their groups) is reminded of today, per roadmap."""
    order = {"overdue": 0, "due soon": 1, "your move": 2, "stale": 3}
    sections = []
    for r in store.roadmaps.all():
        scoped = store.scoped(r.id)
        snoozed = scoped.reminders.snoozed(user, today)
        items = [
            Item(x, w, r.id)
            for x in scoped.owners.mine(ids, today, stale_days)
            if x.step.key not in snoozed and (w := why(x, today))
        ]
        if items:
            items.sort(key=lambda i: order[i.why])
            sections.append(Section(r.title, items))
    return sections


def render_reminder(
    sections: list[Section],
    user: str,
    today: date,
    acted: str | None = None,
    *,
    preview: bool = False,
    opted_out: bool = False,
) -> dict:
    """The DM (buttons under the first WITH_BUTTONS steps); a preview has no buttons."""
    data = dict(sections=sections, user=user, today=today, acted=acted, preview=preview, opted_out=opted_out)
    data.update(with_buttons=0 if preview else WITH_BUTTONS, total=sum(len(s.items) for s in sections))
    return render("reminder.json.j2", data)


@command(
    "remind",
    "/roadmap remind [preview | off | on]",
    "your daily reminder DM (09:00 your time, weekdays): what it would say now, or opt out / back in",
    "/roadmap remind preview",
    needs_roadmap=False,
)
def _remind(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    word = rest.strip().lower() or "preview"
    if word in ("off", "on"):
        store.reminders.set_opt_out(caller.user_id, word == "off")
        text = (
            "You will get no more reminder DMs. `/roadmap remind on` brings them back."
            if word == "off"
            else "Reminder DMs are on: weekdays at 09:00 your time, when a step you own needs you."
        )
        return Reply(render("notice.json.j2", dict(text=text)))
    if word != "preview":
        raise Invalid(f"“{word}” is not a remind option: use `preview`, `off` or `on`")
    groups = caller.directory.groups_of(caller.user_id) if caller.directory else ()
    sections = reminder_sections(store, (caller.user_id, *groups), caller.user_id, caller.today, caller.stale_days)
    opted_out = store.reminders.opted_out(caller.user_id)
    return Reply(render_reminder(sections, caller.user_id, caller.today, preview=True, opted_out=opted_out))
