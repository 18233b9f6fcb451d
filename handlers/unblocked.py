"""Telling owners that a step of theirs is unblocked: the last step it waited on was marked done. Owed through the
outbox (store/unblocking.py) in the transaction of the change, sent here as a DM to each owner (each member of an
owning user group), with the reminder's "Log a development" and "Mark done" buttons
(handlers/reminder_actions.py answers them)."""

from __future__ import annotations

from handlers.context import Services
from handlers.outbox import handles
from store.outbox import Work
from store.unblocking import OWNER_UNBLOCKED
from templates import render


@handles(OWNER_UNBLOCKED)
def send_unblocked_notice(services: Services, work: Work) -> None:
    """ "🔓 ECO-2 is unblocked: its last blocker SEC-1 was marked done by @maria on 1 Dec", to the owner."""
    step_id, done_id, owner = work.key.split(":", 2)
    # Re-checked now: a blocker reopened, a new open blocker, the step closed or gone since: nothing to tell.
    notice = services.store.unblocking.notice(int(step_id), int(done_id))
    if notice is None or owner not in notice.owners:
        return  # ... or this owner was unassigned since
    users = recipients(services, owner, notice.owners)
    # The day in the team's time zone, as the cards and digests count days.
    done_on = notice.done_at.astimezone(services.settings.tz).date() if notice.done_at else None
    message = render("unblocked_notice.json.j2", dict(notice=notice, owner=owner, done_on=done_on))
    for user in users:
        channel = services.clients.reader.conversations_open(users=user)["channel"]["id"]
        services.clients.poster.chat_postMessage(
            channel=channel, text=message["text"], blocks=message["blocks"], unfurl_links=False
        )


def recipients(services: Services, owner: str, owners: tuple[str, ...]) -> list[str]:
    """Whom one owner's row tells: a user, or a group's members, less those another row tells (a member who is
    also an owner in person, or a member of an owning group named before this one), so nobody gets it twice."""
    if not owner.startswith("S"):
        return [owner]
    if services.directory is None:
        return []  # no directory to expand the group with: the group itself cannot be DMed
    told = {o for o in owners if not o.startswith("S")}
    for other in owners[: owners.index(owner)] if owner in owners else ():
        if other.startswith("S"):
            told |= services.directory.members(other)
    return sorted(services.directory.members(owner) - told)
