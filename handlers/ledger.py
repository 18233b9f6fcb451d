"""`/roadmap ledger`, `after`, `claim` and `claims`: reciprocity measured (who moved last, who waits), sequencing
between steps, and each government's own account of a step. Thin: parse, call the store, render."""

from __future__ import annotations

import re
from datetime import date

from handlers.commands import Caller, Reply, command, share_command, status_then_text
from store.api import RoadmapStore
from store.errors import Invalid
from store.models import STATUSES
from store.names import normalize_status
from store.views import ClusterRef, SideView
from templates import render

_URL = re.compile(r"<(https?://[^>|\s]+)(?:\|([^>]*))?>|(https?://\S+)")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+")


def _scope_label(cluster: ClusterRef | None, side: SideView | None) -> str:
    return cluster.title if cluster else (side.name if side else "")


@command(
    "ledger",
    "/roadmap ledger [cluster | side]",
    "who moved last in each reciprocal pair, whose move is next and how long the other side has waited",
    "/roadmap ledger security",
)
def _ledger(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    cluster, side = store.roadmap.resolve_scope(rest)
    view = store.ledger.ledger(caller.today, cluster.slug if cluster else None, side.code if side else None)
    data = dict(ledger=view, scope=_scope_label(cluster, side), share=share_command(caller, f"ledger {rest}".strip()))
    return Reply(render("ledger.json.j2", data, memo=True))


@command(
    "after",
    "/roadmap after <STEP-ID> <OTHER-ID…> | none",
    "make a step wait on others (editors): it is shown blocked until they are done; `none` clears",
    "/roadmap after ECO-1 SEC-1 SEC-2",
    editors_only=True,
)
def _after(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    parts = rest.replace(",", " ").split()
    if len(parts) < 2:
        raise Invalid("say which step waits on which: `/roadmap after <STEP-ID> <OTHER-ID…>`, or `none` to clear")
    key, others = parts[0], parts[1:]
    if [o.lower() for o in others] in (["none"], ["clear"], ["-"]):
        others = []
    change = store.sequencing.set_blockers(key, others, actor=caller.user_id)
    return Reply(render("after_set.json.j2", dict(change=change, actor=caller.user_id)))


@command(
    "claim",
    "/roadmap claim <STEP-ID> <side> <status | none> [YYYY-MM-DD] <source>",
    "record what a government itself claims about a step, with its source (editors); kept beside our assessment",
    "/roadmap claim SEC-5 Belarus done BelTA readout",
    editors_only=True,
)
def _claim(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    parts = rest.split(maxsplit=3)
    if len(parts) < 3:
        raise Invalid(
            f"say which step, which side, which status and the source: "
            f"`/roadmap claim <STEP-ID> <side> <{' | '.join(STATUSES)} | none> <source>`"
        )
    key, side, status_word = parts[:3]
    source = parts[3] if len(parts) > 3 else ""
    status_word, source = status_then_text(status_word, source)
    status = None if status_word.lower() in ("none", "withdrawn", "clear") else normalize_status(status_word)
    claimed_on, source = _leading_date(source, caller.today)
    url, source = _split_url(source)
    change = store.claims.set_claim(
        key, side, status, source=source, url=url, claimed_on=claimed_on, actor=caller.user_id
    )
    return Reply(render("claim_set.json.j2", dict(change=change, actor=caller.user_id)))


@command(
    "claims",
    "/roadmap claims [cluster | side]",
    "each government's own account of steps, where it differs from ours first",
    "/roadmap claims Belarus",
)
def _claims(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    cluster, side = store.roadmap.resolve_scope(rest)
    listed = store.claims.claims(cluster.slug if cluster else None, side.code if side else None)
    data = dict(claims=listed, scope=_scope_label(cluster, side), share=share_command(caller, f"claims {rest}".strip()))
    return Reply(render("claims.json.j2", data))


def _leading_date(text: str, today: date) -> tuple[date, str]:
    m = _DATE.match(text)
    if not m:
        return today, text
    try:
        when = date.fromisoformat(m.group(1))
    except ValueError as exc:
        raise Invalid(f"{m.group(1)} is not a real date (YYYY-MM-DD)") from exc
    if when > today:
        raise Invalid(f"{m.group(1)} is in the future: a claim records what was said")
    return when, text[m.end() :].strip()


def _split_url(text: str) -> tuple[str | None, str]:
    """The first link in a source (as Slack sends it, `<https://…|label>`, or bare), and the text with the link
    replaced by its label."""
    m = _URL.search(text)
    if not m:
        return None, text.strip()
    url = m.group(1) or m.group(3)
    rest = (text[: m.start()] + (m.group(2) or "") + text[m.end() :]).strip(" ,;—-")
    return url, " ".join(rest.split())
