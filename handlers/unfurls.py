"""Links to the web pages, posted in Slack, unfurl into a compact card of the step or cluster (`link_shared` →
`chat.unfurl`).

Deduplicated as Slack's own apps are: each distinct link of a message is unfurled once (a link repeated in the
message gets one card), and the call is addressed to the message — by `unfurl_id` + `source` when the event has
them (links in the composer have no message yet), else `channel` + `message_ts` — which Slack documents as
replacing that message's unfurls rather than adding more, so a redelivered event cannot double a card. An event
that says the bot is not in the channel (`is_bot_user_member: false`) is skipped: the card would show the roadmap
in a channel the bot cannot see.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.context import Services
from handlers.web_urls import Target, target_of_url
from store.api import RoadmapStore
from store.errors import NotFound, StoreError
from store.names import normalize_step_key
from templates import render

log = logging.getLogger(__name__)
MAX_LINKS = 10  # Slack sends a handful per message; more is not a message a person wrote


def on_link_shared(event: dict, context) -> None:
    services = Services.of(context)
    base = services.settings.roadmap_base_url
    if not base:
        return
    if event.get("is_bot_user_member") is False:
        log.info("link_shared in %s: the bot is not in that channel; not unfurled", str(event.get("channel"))[:20])
        return
    links = event.get("links") if isinstance(event.get("links"), list) else []
    wanted: dict[str, Target] = {}
    for link in links[:MAX_LINKS]:
        url = link.get("url") if isinstance(link, dict) else None
        target = target_of_url(base, url) if isinstance(url, str) else None
        if target is not None and target.kind in ("step", "cluster") and url not in wanted:
            wanted[url] = target
    channel, ts = event.get("channel"), event.get("message_ts")
    today = datetime.now(services.settings.tz).date()
    unfurls = {}
    for url, target in wanted.items():
        try:  # a link names its roadmap (/r/<slug>/…) or means the channel's
            store = (
                services.store.for_roadmap(target.roadmap)
                if target.roadmap
                else services.store_for(channel if isinstance(channel, str) else None)
            )
        except StoreError:
            continue  # an unknown roadmap, or a channel that follows none: the link stays plain
        if card := unfurl_card(store, target, url, today):
            unfurls[url] = card
    if not unfurls:
        return
    unfurl_id, source = event.get("unfurl_id"), event.get("source")
    if isinstance(unfurl_id, str) and unfurl_id and source in ("composer", "conversations_history"):
        where = {"unfurl_id": unfurl_id, "source": source}
    elif isinstance(channel, str) and isinstance(ts, str):
        where = {"channel": channel, "ts": ts}
    else:
        log.warning("link_shared without a message or an unfurl_id; nothing to unfurl")
        return
    client = services.clients.reader  # chat.unfurl replaces a message's unfurls: safe to retry
    services.after_response(lambda: send_unfurls(client, where, unfurls), "chat.unfurl")


def unfurl_card(store: RoadmapStore, target: Target, url: str, today) -> dict | None:
    """The blocks of one link's card; None for a step or cluster that does not exist (the link stays plain)."""
    try:
        if target.kind == "step":
            key = normalize_step_key(target.name)
            if key is None:
                return None
            d = store.roadmap.step_detail(key, developments=1, history=0)
            data = dict(
                step=d.step,
                pairs=d.pairs,
                developments=d.developments,
                cluster_title=store.roadmap.cluster_title(d.step.cluster),
                url=url,
                today=today,
            )
            return {"blocks": render("unfurl_step.json.j2", data)["blocks"]}
        summary = next((c for c in store.roadmap.cluster_overview() if c.cluster.slug == target.name), None)
        if summary is None:
            return None
        return {"blocks": render("unfurl_cluster.json.j2", dict(summary=summary, url=url))["blocks"]}
    except NotFound:
        return None


def send_unfurls(client: WebClient, where: dict, unfurls: dict) -> None:
    try:
        client.chat_unfurl(**where, unfurls=unfurls)
    except SlackApiError as exc:
        log.warning("chat.unfurl failed: %s", exc.response.get("error"))
