"""Cluster threads: `/roadmap threads` posts one parent message per cluster in a channel, and every human reply in
such a thread becomes a development of that cluster (edits update it, deletions retract it).

Exactly once, and nothing lost: the reply is written in the listener itself, before Bolt answers Slack
(process_before_response), and the (channel, ts) unique constraint absorbs Slack's retries and duplicate
deliveries. If the write fails, the listener raises, Bolt answers 500 and Slack delivers the event again. The Web
API calls (permalink, the 📝 receipt) run after the answer and never decide whether the message is kept.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError

from handlers.cards import card_message
from handlers.commands import UNAVAILABLE, Caller, Reply, error, slack_command
from handlers.context import Services
from handlers.slack_api import fill_permalink, react
from store.api import RoadmapStore
from store.developments import MAX_DEVELOPMENT_CHARS, SlackMessage
from store.errors import NotFound, StoreError
from store.names import normalize_status, normalize_step_key
from store.views import DevelopmentView, ThreadSlot
from templates import plain_text, render

log = logging.getLogger(__name__)

RECEIPT = "memo"  # 📝 on every recorded reply
STATUS_RECEIPT = "pencil2"  # ✏️ also, when an editor's reply changed the step's status
SOURCE = "Slack thread"
# Messages people write. thread_broadcast is a thread reply also shown in the channel: still a reply, recorded.
# Everything else (channel_join, channel_topic, bot_message, pinned_item, …) is acknowledged and ignored.
HUMAN_SUBTYPES = (None, "thread_broadcast", "file_share", "me_message")
# Slack errors after which posting in this channel cannot work, so the other clusters are not even tried.
CHANNEL_ERRORS = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}

_STEP_MENTION = re.compile(r"(?<![\w-])([A-Za-z][A-Za-z0-9]{0,11}-\d{1,5})(?![\w-])")
# `SEC-2 done: signed in Minsk`, `SEC-2 in progress`, `sec-2: agreed — text`. The status word must end the text or
# be followed by punctuation, so that `SEC-2 agreed to meet on Monday` stays a plain development.
_STATUS_REPLY = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9]{0,11}-?\d{1,5})\s*[:,.\-–—]?\s+"
    r"(in[ _-]?progress|[A-Za-z_]+)\s*(?:$|[:;,.!\-–—]+\s*|\n+)(.*)$",
    re.S | re.I,
)


@dataclass(frozen=True)
class ReplyIntent:
    """What a reply asks for: its text, the step it names (if any), and a status change (if it starts with one)."""

    text: str
    step: str | None = None
    status: str | None = None
    note: str = ""


def clip_development(text: str) -> str:
    """A reply longer than a development may be is kept, cut; its permalink leads to the whole message."""
    return text if len(text) <= MAX_DEVELOPMENT_CHARS else text[: MAX_DEVELOPMENT_CHARS - 1].rstrip() + "…"


def step_candidates(text: str) -> list[str]:
    """The step ids a reply may name, in the order parse_reply tries them (so one query can check them all)."""
    keys = []
    m = _STATUS_REPLY.match(text)
    if m:
        keys.append(normalize_step_key(m.group(1)))
    keys += [normalize_step_key(c) for c in _STEP_MENTION.findall(text)[:5]]
    return list(dict.fromkeys(k for k in keys if k))


def intent_of(text: str, existing: set[str]) -> ReplyIntent:
    """Which step a reply names (the first existing one) and whether it starts with `STEP-ID <status>`, given the
    ids among step_candidates(text) that exist."""
    m = _STATUS_REPLY.match(text)
    if m:
        key = normalize_step_key(m.group(1))
        if key and key in existing:
            try:
                status = normalize_status(m.group(2))
            except NotFound:
                status = None
            if status:
                return ReplyIntent(text, key, status, m.group(3).strip())
    for candidate in _STEP_MENTION.findall(text)[:5]:
        key = normalize_step_key(candidate)
        if key and key in existing:
            return ReplyIntent(text, key)
    return ReplyIntent(text)


def parse_reply(text: str, store: RoadmapStore) -> ReplyIntent:
    """Find the step a reply names (the first existing one) and whether it starts with `STEP-ID <status>`."""
    return intent_of(text, store.roadmap.existing_steps(step_candidates(text)))


def reply_permalink(workspace_url: str | None, channel: str, ts: str, thread_ts: str) -> str | None:
    """A thread reply's permalink, formed as Slack forms it (api.slack.com/methods/chat.getPermalink: the
    workspace URL, `/archives/<channel>/p<ts without the dot>`, and for a reply `?thread_ts=…&cid=…`), so that
    recording a reply needs no chat.getPermalink call and no second write. None without the workspace URL."""
    if not workspace_url or not workspace_url.startswith("https://"):
        return None
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}?thread_ts={thread_ts}&cid={channel}"


def message_date(ts: str, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(float(ts), tz).date()


# -- /roadmap threads --------------------------------------------------------------------------------------------


@slack_command("threads")
def on_threads_command(ack, command: dict, respond, services: Services, caller: Caller, store: RoadmapStore) -> None:
    """Answer at once; post or refresh the parents after the answer (they are Web API calls). Editors only: the
    registry's check has run before this listener (handlers.slash)."""
    channel = command.get("channel_id") or ""
    try:
        clusters = len(store.roadmap.clusters())
    except StoreError:
        ack(**error(UNAVAILABLE).slack_payload())
        return
    ack(**Reply(render("threads_result.json.j2", dict(started=True, clusters=clusters))).slack_payload())
    services.after_response(
        lambda: post_cluster_threads(services, channel, caller.user_id, respond, store), "cluster threads"
    )


def post_cluster_threads(
    services: Services, channel: str, user: str, respond=None, store: RoadmapStore | None = None
) -> dict[str, list[str]]:
    """Refresh the channel's existing parents (chat.update) and post the missing ones, each claimed in the store
    first so that two runs never post the same cluster twice. Returns cluster slugs by outcome. The clusters are
    those of `store`'s roadmap (by default the channel's)."""
    store = store or services.store_for(channel)
    result: dict[str, list[str]] = {"posted": [], "refreshed": [], "busy": [], "failed": []}
    problem = None
    try:
        # Read first: a claim is never stranded by a failed read.
        today = datetime.now(services.settings.tz).date()
        tz = services.settings.tz
        messages = {c.slug: card_message(store, c.slug, today, tz) for c in store.roadmap.clusters()}
        slots = store.threads.claim_all(channel, user)
    except StoreError:
        log.exception("cluster threads: store unavailable")
        slots, problem = [], UNAVAILABLE
    for slot in slots:
        if problem:  # the channel refused a post: give back the remaining claims for a later run
            if slot.claim:
                store.threads.release(channel, slot.cluster, slot.claim)
            continue
        message = messages[slot.cluster]
        outcome, problem = _put_parent(services, store, channel, slot, message)
        result[outcome].append(slot.cluster)
    if problem and problem in CHANNEL_ERRORS:
        problem = (
            f"Slack refused to post here ({problem}). Invite me first: `/invite @roadmap`, then run "
            "`/roadmap threads` again."
        )
    if respond is not None:
        reply = Reply(render("threads_result.json.j2", dict(started=False, problem=problem, **result)))
        try:
            respond(**reply.slack_payload())
        except Exception:
            log.exception("cluster threads: could not send the summary")
    return result


def _put_parent(
    services: Services, store: RoadmapStore, channel: str, slot: ThreadSlot, message: dict
) -> tuple[str, str | None]:
    """One cluster's parent: (outcome, channel-level error or None)."""
    clients = services.clients
    claim = slot.claim
    if slot.ts:
        try:
            clients.reader.chat_update(channel=channel, ts=slot.ts, text=message["text"], blocks=message["blocks"])
            return "refreshed", None
        except SlackApiError as exc:
            code = exc.response.get("error")
            if code not in ("message_not_found", "cant_update_message"):
                log.warning("cluster threads: chat.update of %s failed: %s", slot.cluster, code)
                return "failed", code if code in CHANNEL_ERRORS else None
            # The parent is gone from Slack: claim the right to post it again.
            claim = store.threads.reclaim(channel, slot.cluster, slot.ts)
        except Exception as exc:  # connection errors surface as URLError, not as a SlackClientError
            log.warning("cluster threads: chat.update of %s failed: %s", slot.cluster, exc)
            return "failed", None
    if not claim:
        return "busy", None
    try:
        posted = clients.poster.chat_postMessage(
            channel=channel, text=message["text"], blocks=message["blocks"], unfurl_links=False
        )
    except Exception as exc:
        # Also a dropped connection: the post may have gone through (docs/stack-traps.md), but without its ts the parent
        # cannot be remembered, so the claim is given back and the next run posts it.
        code = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        log.warning("cluster threads: posting %s failed: %s", slot.cluster, code or exc)
        store.threads.release(channel, slot.cluster, claim)
        return "failed", code if code in CHANNEL_ERRORS else None
    try:
        store.threads.confirm(channel, slot.cluster, claim, posted["ts"])
    except StoreError:
        # The claim stays and is taken over after PENDING_CLAIM_SECONDS; that run posts a fresh parent.
        log.exception("cluster threads: posted %s but could not remember it", slot.cluster)
        return "failed", None
    return "posted", None


# -- replies, edits, deletions -----------------------------------------------------------------------------------


def on_message(event: dict, context) -> None:
    """Every `message` event of the subscribed channels (one listener, so no subtype is left unhandled: an
    unhandled event gets a 404 and Slack retries it). Store errors propagate on purpose: Bolt answers 500 and
    Slack redelivers."""
    services = Services.of(context)
    subtype = event.get("subtype")
    bot_user = context.get("bot_user_id")
    if subtype == "message_changed":
        on_reply_edited(services, event, bot_user)
    elif subtype == "message_deleted":
        on_reply_deleted(services, event)
    elif subtype in HUMAN_SUBTYPES:
        on_reply(services, event, bot_user, services.workspace_url())


def _is_human(message: dict, bot_user: str | None) -> bool:
    return bool(
        message.get("user")
        and not message.get("bot_id")
        and message.get("subtype") not in ("bot_message",)
        and message.get("user") != bot_user
    )


def _thread_store(services: Services, channel: str, thread_ts: str) -> RoadmapStore | None:
    """The roadmap of a cluster thread (a thread keeps its roadmap whatever the channel follows now); None for
    any other thread."""
    rid = services.store.roadmaps.of_thread(channel, thread_ts)
    return services.store.scoped(rid) if rid is not None else None


def _thread_of(message: dict) -> str | None:
    """The parent ts of a thread reply; None for a top-level message or a thread's parent itself."""
    thread_ts, ts = message.get("thread_ts"), message.get("ts")
    return thread_ts if thread_ts and ts and thread_ts != ts else None


def on_reply(
    services: Services, event: dict, bot_user: str | None, workspace_url: str | None = None
) -> DevelopmentView | None:
    """Record a reply in one transaction: the thread's cluster and roadmap, the steps it names and the
    development itself (with its permalink, formed from the workspace URL) are one store call."""
    channel, ts, thread_ts = event.get("channel"), event.get("ts"), _thread_of(event)
    if not (channel and thread_ts and _is_human(event, bot_user)):
        return None
    text = clip_development(plain_text(event.get("text")))
    if not text:
        return None  # e.g. a file without a comment
    user = event["user"]
    intents: list[ReplyIntent] = []

    def decide(existing: set[str]) -> str | None:
        intents.append(intent_of(text, existing))
        return intents[-1].step

    outcome = services.store.threads.record_reply(
        channel,
        thread_ts,
        text=text,
        author=user,
        candidates=step_candidates(text),
        decide=decide,
        occurred_on=message_date(ts, services.settings.tz),
        source=SOURCE,
        slack=SlackMessage(channel, ts, reply_permalink(workspace_url, channel, ts, thread_ts)),
    )
    if outcome is None:
        return None  # a thread that is not a cluster thread
    roadmap_id, recorded = outcome
    store, intent = services.store.scoped(roadmap_id), intents[-1]
    changed, refused = False, None
    if intent.status:
        if not services.caller(user, channel).is_editor:
            refused = intent if recorded.created else None  # tell them once, not on every redelivery
        elif recorded.created or _status_change_missing(store, recorded.development, intent):
            changed = store.steps.set_status(intent.step, intent.status, actor=user, note=intent.note).changed

    def receipt() -> None:
        _receipt(services, channel, thread_ts, ts, recorded.development, changed, refused)

    services.after_response(receipt, "thread reply receipt")
    return recorded.development


def _status_change_missing(store: RoadmapStore, dev: DevelopmentView, intent: ReplyIntent) -> bool:
    """On a redelivery: was the reply stored but its status change lost (the write after it failed)? True only
    if the step has not changed since the reply was stored, so a late retry never undoes a newer change."""
    step = store.roadmap.step(intent.step)
    if step.status == intent.status or step.updated_at is None:
        return False
    return step.updated_at < dev.recorded_at  # both aware UTC (sqlmodel's UTCDateTime)


def _receipt(
    services: Services,
    channel: str,
    thread_ts: str,
    ts: str,
    dev: DevelopmentView,
    changed: bool,
    refused: ReplyIntent | None,
) -> None:
    """After the answer: fill in the permalink, add the reactions, tell a non-editor the status stayed. Each part
    on its own, so that one failing Slack call does not cancel the others (the row is already safe)."""
    clients, store = services.clients, services.store
    if dev.permalink is None:
        fill_permalink(clients.reader, store, channel, ts)
    for name in (RECEIPT, STATUS_RECEIPT) if changed else (RECEIPT,):
        react(clients.reader, channel, ts, name)
    if refused:
        data = dict(step=refused.step, status=refused.status, editors=list(services.editors.ids))
        message = render("thread_status_refused.json.j2", data)
        try:
            clients.poster.chat_postEphemeral(
                channel=channel, user=dev.author, thread_ts=thread_ts, text=message["text"], blocks=message["blocks"]
            )
        except Exception as exc:
            log.warning("could not tell %s their status change was refused: %s", dev.author, exc)


def on_reply_edited(services: Services, event: dict, bot_user: str | None) -> DevelopmentView | None:
    """An edited reply updates its development (text, and the step it names). Slack also sends message_changed
    for unfurls and reply counts; those leave the text unchanged and are ignored."""
    channel, message = event.get("channel"), event.get("message") or {}
    previous = event.get("previous_message") or {}
    thread_ts = _thread_of(message)
    if not (channel and thread_ts and _is_human(message, bot_user)):
        return None
    text = clip_development(plain_text(message.get("text")))
    if not text or text == clip_development(plain_text(previous.get("text"))):
        return None
    store = _thread_store(services, channel, thread_ts)
    if store is None:
        return None
    cluster = store.threads.cluster_of(channel, thread_ts)
    edited_ts = (message.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
    edited_at = datetime.fromtimestamp(float(edited_ts), UTC) if edited_ts else datetime.now(UTC)
    intent = parse_reply(text, store)
    # A status word in an edit does not change the step: status changes come from new replies only.
    return store.developments.edit(
        channel, message["ts"], text=text, edited_at=edited_at, cluster=cluster, step=intent.step
    )


def on_reply_deleted(services: Services, event: dict) -> bool:
    """A deleted reply retracts its development: kept in the store and the export, no longer shown."""
    channel, ts = event.get("channel"), event.get("deleted_ts")
    previous = event.get("previous_message") or {}
    thread_ts = previous.get("thread_ts")
    if not (channel and ts and thread_ts and thread_ts != ts):
        return False
    if _thread_store(services, channel, thread_ts) is None:
        return False
    at = datetime.fromtimestamp(float(event["event_ts"]), UTC) if event.get("event_ts") else None
    return services.store.developments.retract(channel, ts, at)
