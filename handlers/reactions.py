"""Record by reaction: a 📝 (`ROADMAP_RECORD_EMOJI`, default `memo`) added to any message in a channel the bot is
in records that message as a development, once per message, through the one recording path.

The listener only writes ("reaction", "<channel>:<ts>:<user>[:<cluster>]") to the outbox before Bolt answers Slack
(a database outage answers 503, so Slack redelivers; a redelivery coalesces with the row). The outbox worker then
fetches the message, finds its cluster — the cluster thread it is in, else the channel's default cluster
(`/roadmap default-cluster`), else it asks the person who reacted with an ephemeral picker — and records it. The
message's (channel, ts) is the development's identity, so a second 📝, a retry or a second person records nothing
more. The bot's own 📝 receipt (it reacts on what it recorded) never triggers anything: reactions by the bot's
user are ignored."""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from handlers.commands import Reply, command, error
from handlers.context import Services
from handlers.outbox import handles
from handlers.slack_api import post_to_response_url, react
from handlers.threads import RECEIPT, _thread_of, clip_development, message_date, parse_reply
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.errors import Invalid, RoadmapNotChosen, StoreUnavailable
from store.outbox import Work
from templates import plain_text, render

log = logging.getLogger(__name__)

REACTION = "reaction"
PICK_ACTION = "record_reaction_cluster"
SOURCE = "Slack message (recorded by reaction)"


def on_reaction_added(event: dict, context) -> None:
    """Owe the recording; everything else happens in the outbox worker (it calls Slack)."""
    services = Services.of(context)
    item = event.get("item") if isinstance(event.get("item"), dict) else {}
    user, reaction = event.get("user"), event.get("reaction")
    if reaction != services.settings.record_emoji or item.get("type") != "message":
        return
    if not isinstance(user, str) or not user or user == context.get("bot_user_id"):
        return  # the bot's own receipt (📝 too) must never record anything
    channel, ts = item.get("channel"), item.get("ts")
    if not (isinstance(channel, str) and isinstance(ts, str) and channel and ts):
        return
    if services.store.developments.of_message(channel, ts) is not None:
        return  # already recorded: once per message
    services.store.outbox.enqueue(REACTION, f"{channel}:{ts}:{user}", delay=timedelta(0))


def on_pick_cluster(ack, body: dict, context) -> None:
    """The ephemeral picker's choice: owe the recording in that cluster."""
    ack()
    services = Services.of(context)
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    option = action.get("selected_option") if isinstance(action.get("selected_option"), dict) else {}
    slug, target = option.get("value"), action.get("block_id")
    user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else None
    if not (isinstance(slug, str) and isinstance(target, str) and target.count(":") == 1 and user):
        return
    services.store.outbox.enqueue(REACTION, f"{target}:{user}:{slug}", delay=timedelta(0))
    url = body.get("response_url")
    if isinstance(url, str):
        done = render("reaction_picker.json.j2", dict(chosen=slug))
        services.after_response(
            lambda: post_to_response_url(url, dict(done, replace_original=True), what="reaction picker"),
            "reaction picker",
        )


@handles(REACTION)
def record_reacted(services: Services, work: Work) -> None:
    channel, ts, user, *picked = work.key.split(":")
    if services.store.developments.of_message(channel, ts) is not None:
        return
    message = _fetch(services, channel, ts)
    if message is None:
        return  # deleted meanwhile, or the bot cannot read the channel: nothing to record
    thread_ts = _thread_of(message)
    if not thread_ts and services.store.roadmaps.of_thread(channel, ts) is not None:
        return  # a cluster card itself: the bot's own message, not a development
    store, cluster = _cluster_of(services, channel, thread_ts, picked[0] if picked else None)
    if store is None:
        _ask_for_cluster(services, channel, ts, user, thread_ts)
        return
    text = clip_development(plain_text(message.get("text")))
    permalink = _permalink(services, channel, ts)
    try:
        intent = parse_reply(text, store)
        step = intent.step if intent.step and store.roadmap.step(intent.step).cluster == cluster else None
        recorded = store.developments.record(
            text=text,
            author=message.get("user") or user,
            cluster=cluster,
            step=step,
            occurred_on=message_date(ts, services.settings.tz),
            source=SOURCE,
            slack=SlackMessage(channel, ts, permalink),
        )
    except StoreUnavailable:
        raise  # the outbox tries again
    except Invalid as exc:
        _tell(services, channel, user, thread_ts, render("error.json.j2", _error_data(str(exc))))
        return
    if recorded.created:
        react(services.clients.reader, channel, ts, RECEIPT)


def _fetch(services: Services, channel: str, ts: str) -> dict | None:
    """The message itself: conversations.replies takes a thread reply's ts as well as a top-level one."""
    try:
        answer = services.clients.reader.conversations_replies(channel=channel, ts=ts, limit=1, inclusive=True)
    except SlackApiError as exc:
        if exc.response.status_code == 429 or exc.response.status_code >= 500:
            raise
        log.warning("cannot read the message %s/%s to record it: %s", channel, ts, exc.response.get("error"))
        return None
    return next((m for m in answer.get("messages") or [] if m.get("ts") == ts), None)


def _cluster_of(
    services: Services, channel: str, thread_ts: str | None, picked: str | None
) -> tuple[RoadmapStore | None, str | None]:
    """The store and cluster a reacted message belongs to: its cluster thread's, the picked one, the channel's
    default; (None, None) when someone has to choose."""
    if thread_ts:
        rid = services.store.roadmaps.of_thread(channel, thread_ts)
        if rid is not None:
            store = services.store.scoped(rid)
            return store, store.threads.cluster_of(channel, thread_ts)
    if picked:
        try:
            store = services.store_for(channel)
            return store, store.roadmap.resolve_cluster(picked).slug
        except Exception:
            log.warning("reaction: picked cluster %r is not one of %s's roadmap", picked, channel)
    default = services.store.cards.default_cluster(channel)
    if default is not None:
        return services.store.scoped(default[0]), default[1]
    return None, None


def _ask_for_cluster(services: Services, channel: str, ts: str, user: str, thread_ts: str | None) -> None:
    try:
        clusters = services.store_for(channel).roadmap.clusters()
        message = render("reaction_picker.json.j2", dict(target=f"{channel}:{ts}", clusters=clusters))
    except RoadmapNotChosen as exc:
        message = render("error.json.j2", _error_data(str(exc), "`/roadmap use <roadmap>` binds this channel."))
    _tell(services, channel, user, thread_ts, message)


def _tell(services: Services, channel: str, user: str, thread_ts: str | None, message: dict) -> None:
    extra = dict(thread_ts=thread_ts) if thread_ts else {}
    try:
        services.clients.poster.chat_postEphemeral(
            channel=channel, user=user, text=message["text"], blocks=message["blocks"], **extra
        )
    except Exception as exc:  # an ephemeral note is a courtesy: the work is not retried for it
        log.warning("could not tell %s about their 📝 in %s: %s", user, channel, exc)


def _permalink(services: Services, channel: str, ts: str) -> str | None:
    try:
        return services.clients.reader.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    except Exception as exc:
        log.warning("no permalink for %s/%s: %s", channel, ts, exc)
        return None


def _error_data(message: str, hint: str = "`/roadmap help` lists every command with an example.") -> dict:
    text = message[:1].upper() + message[1:]
    return dict(message=text, choices=[], choices_label="", suggestion=None, hint=hint, who=[])


# -- /roadmap default-cluster ------------------------------------------------------------------------------------


@command(
    "default-cluster",
    "/roadmap default-cluster <cluster | none>",
    "where a 📝 on a message outside any cluster thread records it (editors)",
    "/roadmap default-cluster security",
    editors_only=True,
)
def _default_cluster(store: RoadmapStore, rest: str, caller) -> Reply:
    channel = caller.channel_id
    if not channel:
        return error("`default-cluster` is set per Slack channel: run it in the channel.")
    word = rest.split()[0] if rest.split() else ""
    if not word:
        current = store.cards.default_cluster(channel)
        slugs = [c.slug for c in store.roadmap.clusters()]
        return error(
            "Say which cluster a 📝 here records into, or `none`."
            + (f" Now: `{current[1]}`." if current else " None is set."),
            choices=[*slugs, "none"],
            choices_label="Clusters",
        )
    if word.lower() == "none":
        store.cards.clear_default_cluster(channel)
        return Reply(render("default_cluster.json.j2", dict(cluster=None, channel=channel)))
    cluster = store.roadmap.resolve_cluster(word)
    store.cards.set_default_cluster(channel, store.scope.require(), cluster.slug, caller.user_id)
    return Reply(render("default_cluster.json.j2", dict(cluster=cluster, channel=channel)))
