"""Living cluster cards: the parent message of every cluster thread shows the cluster's current state (progress per
side, open pairs with whose move, overdue steps, the latest development) and is refreshed with chat.update whenever
the cluster changes, through whatever door (command, thread reply, shortcut, modal, button, import, status or due
change): each of them owes ("cluster", id) in its own transaction (store/outbox.py), and this module turns that into
one ("card", "<channel>:<cluster id>") row per card. A burst of changes leaves one row per card, so one update.

A 429 or a 5xx raises: the outbox keeps the row and tries again after Slack's Retry-After (or its backoff), in this
process or in the next one, so an update owed is never lost and is delivered once."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, tzinfo

from slack_sdk.errors import SlackApiError

from handlers.context import Services
from handlers.outbox import handles, on_cluster_change
from store.api import RoadmapStore
from store.cards import CARD, parse_key
from store.outbox import Work
from templates import render

log = logging.getLogger(__name__)

CARD_PAIRS = 5  # open pairs shown on a card (the count shows them all)
CARD_OVERDUE = 5
CARD_BLOCKED = 3  # blocked steps shown on a card, and recently unblocked ones (the counts show them all)
CARD_UNBLOCKED = 3
UNBLOCKED_DAYS = 7  # how long a step unblocked stays on its cluster's card
# Slack errors after which the card cannot be updated at all: retrying would never succeed.
GONE = {"message_not_found", "cant_update_message", "channel_not_found", "not_in_channel", "is_archived"}


def cluster_state(store: RoadmapStore, slug: str, today: date, developments: int = 1) -> dict:
    """What a card or a canvas section shows of a cluster, from the store of the cluster's roadmap: its summary,
    the first open pairs (those where one side owes the move while the other is done first: that is where
    attention is needed), overdue steps, the latest developments."""
    summary = next(c for c in store.roadmap.cluster_overview() if c.cluster.slug == slug)
    detail = store.roadmap.cluster_detail(slug, developments=developments, pairs=50)
    pairs = sorted((p for p in detail.pairs if p.is_open), key=lambda p: len(p.owed_by) != 1)
    return dict(
        summary=summary,
        pairs=pairs[:CARD_PAIRS],
        overdue=store.cards.overdue(store.scope.id, slug, today, CARD_OVERDUE),
        developments=detail.developments,
        latest=detail.developments[0] if detail.developments else None,
        today=today,
    )


def card_message(store: RoadmapStore, slug: str, today: date, tz: tzinfo = UTC) -> dict:
    """A cluster's card as Block Kit (templates/thread_parent.json.j2), with its sequencing: the steps still
    blocked, and those unblocked in the last UNBLOCKED_DAYS (the first few of each, and how many); the day a
    blocker was done is the day in `tz`, the team's time zone."""
    blocked, blocked_total = store.sequencing.blocked(slug, limit=CARD_BLOCKED)
    since = datetime.now(UTC) - timedelta(days=UNBLOCKED_DAYS)
    unblocked, unblocked_total = store.unblocking.recent(store.scope.id, slug, since, limit=CARD_UNBLOCKED)
    sequencing = dict(
        blocked=blocked,
        blocked_total=blocked_total,
        unblocked=[(u, u.done_at.astimezone(tz).date()) for u in unblocked],
        unblocked_total=unblocked_total,
    )
    return render("thread_parent.json.j2", {**cluster_state(store, slug, today), **sequencing})


@on_cluster_change
def owe_cards(services: Services, cluster_id: int) -> None:
    """A cluster changed: owe every card and canvas section that shows it (their own rows, so that one failing
    channel never repeats the others)."""
    services.store.cards.owe_updates(cluster_id)


@handles(CARD)
def refresh_card(services: Services, work: Work) -> None:
    channel, cluster_id = parse_key(work.key)
    target = services.store.cards.card(channel, cluster_id)
    if target is None:
        return  # the thread is gone (or not posted yet): `/roadmap threads` posts it with the current state
    today = datetime.now(services.settings.tz).date()
    message = card_message(services.store.scoped(target.roadmap_id), target.slug, today, services.settings.tz)
    try:
        services.clients.updater.chat_update(
            channel=channel, ts=target.ts, text=message["text"], blocks=message["blocks"]
        )
    except SlackApiError as exc:
        code = exc.response.get("error")
        if code in GONE:
            log.warning(
                "card %s in %s cannot be updated (%s); `/roadmap threads` reposts it", target.slug, channel, code
            )
            return
        raise  # 429 (Retry-After), 5xx, anything else: the outbox tries again
