"""`/roadmap assign`, `unassign` and `mine`: who owns a step, and the steps someone owns.

Slack sends mentions in command text as `<@U123|name>` and `<!subteam^S123|@group>` (the manifest's
should_escape is false); bare ids (`U123`, `S123`) are taken too, for the console. Before anyone is made an owner,
Slack is asked whether they exist (users.info, usergroups.list); unknown ones are refused, nothing changed.
"""

from __future__ import annotations

import re

from handlers.commands import Caller, Reply, command, error
from store.api import RoadmapStore
from store.errors import Invalid
from templates import render

MENTION = re.compile(
    r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>"  # a user, as Slack sends it
    r"|<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>"  # a user group
    r"|\b([UWS](?=[A-Z0-9]*\d)[A-Z0-9]{2,20})\b"  # a bare id (the console); ids always hold a digit, words not
)
USAGE = "`/roadmap {name} <STEP-ID> @user|@group …` (mention people or user groups)"


def parse_mentions(text: str) -> tuple[list[str], str]:
    """The Slack ids mentioned, in order, and what is left (the note)."""
    ids = [next(g for g in m.groups() if g) for m in MENTION.finditer(text)]
    rest = MENTION.sub("", text)
    return list(dict.fromkeys(ids)), " ".join(rest.split())


def _owners_command(store: RoadmapStore, rest: str, caller: Caller, *, add: bool) -> Reply:
    name = "assign" if add else "unassign"
    key, _, who = rest.partition(" ")
    ids, note = parse_mentions(who)
    if not key or not ids:
        raise Invalid("say which step and who: " + USAGE.format(name=name))
    store.owners.of_step(key)  # an unknown step is refused before Slack is asked about anyone
    unknown = caller.directory.unknown(ids) if (add and caller.directory) else []
    if unknown:
        return error(
            "Slack knows no such user or user group: " + ", ".join(f"`{i}`" for i in unknown) + ". Nothing changed.",
            hint="Mention them as Slack offers (`@name` or `@group`) so the command carries their id.",
        )
    change = (store.owners.assign if add else store.owners.unassign)(key, ids, actor=caller.user_id, note=note)
    data = dict(change=change, owners=store.owners.of_step(key), actor=caller.user_id)
    return Reply(render("owners_changed.json.j2", data))


@command(
    "assign",
    "/roadmap assign <STEP-ID> @user|@group …",
    "make people or user groups owners of a step (editors); they get its reminders",
    "/roadmap assign SEC-2 @maria @us-desk",
    editors_only=True,
)
def _assign(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    return _owners_command(store, rest, caller, add=True)


@command(
    "unassign",
    "/roadmap unassign <STEP-ID> @user|@group …",
    "remove owners from a step (editors)",
    "/roadmap unassign SEC-2 @maria",
    editors_only=True,
)
def _unassign(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    return _owners_command(store, rest, caller, add=False)


@command(
    "mine",
    "/roadmap mine [--user @someone]",
    "the open steps you own (or your user groups do), overdue first",
    "/roadmap mine",
)
def _mine(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    who = caller.user_id
    if rest:
        ids, extra = parse_mentions(rest.replace("--user", " "))
        if len(ids) != 1 or extra:
            raise Invalid("`/roadmap mine` takes nobody, or `--user @someone`")
        who = ids[0]
    groups = caller.directory.groups_of(who) if caller.directory else ()
    items = store.owners.mine((who, *groups), caller.today)
    data = dict(items=items, who=who, me=who == caller.user_id, groups=list(groups), today=caller.today)
    return Reply(render("mine.json.j2", data))
