"""Source watch in Slack: the `/roadmap watch` command (it only answers; the clock does the polling, see
handlers/watch_poller.py), and the Confirm / Ignore buttons of a proposal.

/roadmap watch [list]                                    the sources watched in this channel, with their health
/roadmap watch add <url> [cluster] [keywords…] [every 1h]   editors: watch a feed or page for this channel
/roadmap watch pause|resume|remove <id>                 editors

A click is answered at once; the decision is a compare-and-set in the store (the first click wins, a retried
or second click changes nothing) and a Confirm records the development through the one recording path, keyed by
the proposal message (channel, ts). The message is then updated in place (chat.update) to say who decided what.
"""

from __future__ import annotations

import html
import logging
import re
import shlex
from datetime import datetime

from handlers.commands import UNAVAILABLE, Caller, Reply, command, editor_refusal, error, sentence
from handlers.context import Services
from handlers.fetch import FetchError, check_url, literal_refusal
from handlers.slack_api import post_to_response_url
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.errors import Invalid, NotFound, StoreError, StoreUnavailable
from store.watch import DEFAULT_INTERVAL_SECONDS
from store.watch_views import WatchDecision
from templates import render

log = logging.getLogger(__name__)

CONFIRM, IGNORE, CLUSTER = "watch_confirm", "watch_ignore", "watch_cluster"
SUBCOMMANDS = ("list", "add", "pause", "resume", "remove")
USAGE = "`/roadmap watch add <url> [cluster] [keywords…] [every 1h]` · `list` · `pause` · `resume` · `remove <id>`"
_EVERY = re.compile(r"^(\d{1,4})\s*(m|min|mins|minutes?|h|hours?|d|days?)$", re.I)
_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")


@command(
    "watch",
    "/roadmap watch [add <url> [cluster] [keywords…] [every 1h] | list | pause | resume | remove <id>]",
    "watch feeds and pages; matching new items are proposed here for someone to confirm (changes: editors)",
    "/roadmap watch add https://mfa.gov.by/en/rss/ diplomatic visa sanctions",
)
def _watch(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    sub, _, arg = rest.strip().partition(" ")
    sub = sub.lower() or "list"
    if sub not in SUBCOMMANDS:
        return error(f"“{sub}” is not a watch command.", choices=list(SUBCOMMANDS), choices_label="Use", hint=USAGE)
    if sub == "list":
        return _list(store, caller)
    refused = editor_refusal(caller, "change watched sources", hint="`/roadmap watch list` is open to everyone.")
    if refused:
        return refused
    if sub == "add":
        return _add(store, arg, caller)
    return _change(store, sub, arg, caller)


def _list(store: RoadmapStore, caller: Caller, change: str | None = None, source=None) -> Reply:
    sources = store.watch.sources(caller.channel_id)
    data = dict(sources=sources, channel=caller.channel_id, change=change, source=source, usage=USAGE)
    return Reply(render("watch_list.json.j2", data))


def _add(store: RoadmapStore, arg: str, caller: Caller) -> Reply:
    if not caller.channel_id:
        raise Invalid("run `/roadmap watch add` in the Slack channel where its proposals should go")
    try:
        tokens = shlex.split(arg)
    except ValueError as exc:
        raise Invalid(f'could not read that: {exc} (quote a phrase like "visa regime")') from exc
    if not tokens:
        raise Invalid(f"say which feed or page to watch: {USAGE}")
    url = _unwrap(tokens.pop(0))
    try:
        check_url(url)
        refusal = None if caller.watch_allow_private else literal_refusal(url)
    except FetchError as exc:
        raise Invalid(f"{url[:200]} cannot be watched: {exc}") from exc
    if refusal:
        return error(
            f"Refused: {refusal}. The bot does not fetch internal addresses.",
            hint="An operator can allow intranet sources with ROADMAP_WATCH_ALLOW_PRIVATE=1. Nothing was changed.",
        )
    tokens, interval = _every(tokens)
    cluster = _cluster(store, tokens[0]) if tokens else None
    keywords = tuple(tokens[1:] if cluster else tokens)
    source = store.watch.add(
        caller.channel_id, url, cluster=cluster, keywords=keywords, interval_seconds=interval, created_by=caller.user_id
    )
    return _list(store, caller, change="added", source=source)


def _change(store: RoadmapStore, sub: str, arg: str, caller: Caller) -> Reply:
    term = arg.strip().lstrip("#")
    if not term.isdigit():
        ids = [f"#{s.id}" for s in store.watch.sources(caller.channel_id)]
        raise NotFound("source", arg.strip() or "(none)", ids)
    status = {"pause": "paused", "resume": "active", "remove": "removed"}[sub]
    source, changed = store.watch.set_status(int(term), status, caller.channel_id)
    return _list(store, caller, change=(status if changed else f"already {status}"), source=source)


def _unwrap(url: str) -> str:
    """Slack sends a typed link as `<https://…>` or `<https://…|label>`, with & as &amp;."""
    m = _SLACK_LINK.match(url)
    return html.unescape(m.group(1) if m else url)


def _every(tokens: list[str]) -> tuple[list[str], int]:
    """Take `every 30m` / `every 1h` / `every 1d` off the tokens: (the rest, seconds)."""
    for i, token in enumerate(tokens):
        if token.lower() == "every":
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
            m = _EVERY.match(value)
            if m is None:
                raise Invalid(f"“every {value}” is not an interval: say `every 30m`, `every 1h` or `every 1d`")
            n, unit = int(m.group(1)), m.group(2)[0].lower()
            return tokens[:i] + tokens[i + 2 :], n * {"m": 60, "h": 3600, "d": 86400}[unit]
    return tokens, DEFAULT_INTERVAL_SECONDS


def _cluster(store: RoadmapStore, token: str) -> str | None:
    """The first word after the URL is the cluster when it is a cluster's slug or prefix exactly; anything
    else is a keyword (a title word like "Poland" would be a cluster to /roadmap status, but a keyword here)."""
    try:
        cluster = store.roadmap.resolve_cluster(token)
    except StoreError:
        return None
    return cluster.slug if token.lower() in (cluster.slug, cluster.prefix.lower()) else None


# -- Confirm / Ignore ---------------------------------------------------------------------------------------------


def on_cluster_chosen(ack) -> None:
    """Choosing a cluster in a proposal's menu: nothing to do until Confirm (which reads the menu's state)."""
    ack()


def on_decision(ack, body: dict, context) -> None:
    """Confirm or Ignore: decide in the store (synchronously, it is one short transaction), then update the
    proposal in place after the answer. The payload is read defensively (the guard checks only what Bolt reads)."""
    ack()
    services = Services.of(context)
    action = _first_action(body)
    decision = "confirm" if action.get("action_id") == CONFIRM else "ignore"
    user = _id(body.get("user")) or "unknown"
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    channel = str(container.get("channel_id") or _id(body.get("channel")) or "")
    ts = str(container.get("message_ts") or message.get("ts") or "")
    response_url = body.get("response_url") if isinstance(body.get("response_url"), str) else None
    try:
        item_id = int(str(action.get("value") or ""))
    except ValueError:
        log.warning("watch decision without a proposal id: %r", action.get("value"))
        return
    store = services.store_for(channel or None)
    try:
        outcome = store.watch.decide(
            item_id,
            decision,
            user=user,
            cluster=_chosen_cluster(body),
            message=SlackMessage(channel, ts) if channel and ts else None,
            today=datetime.now(services.settings.tz).date(),
        )
    except StoreUnavailable:
        return _tell(services, response_url, UNAVAILABLE)
    except Invalid as exc:
        if exc.field == "cluster":
            return _tell(services, response_url, "Choose a cluster in the menu first, then press Confirm.")
        return _tell(services, response_url, sentence(str(exc)) + ". Nothing was recorded.")
    except NotFound as exc:
        if exc.kind == "cluster":
            return _tell(services, response_url, f"There is no cluster “{exc.term}” any more; choose another.")
        return _tell(services, response_url, "This proposal is no longer in the roadmap store; nothing was recorded.")

    def update() -> None:
        _show_decision(services, store, channel, ts, outcome)
        if outcome.outcome == "already" and outcome.item.decided_by != user:
            what = "confirmed" if outcome.item.status == "confirmed" else "ignored"
            note = f"Someone was first: this proposal was already {what}. Nothing more was recorded."
            _tell(services, response_url, note, now=True)

    services.after_response(update, "source watch decision")


def _show_decision(services: Services, store: RoadmapStore, channel: str, ts: str, outcome: WatchDecision) -> None:
    """Replace the buttons by who decided what (the same for a first and a retried click)."""
    if not (channel and ts):
        return
    title = store.roadmap.cluster_title(outcome.development.cluster) if outcome.development else None
    message = render("watch_decided.json.j2", dict(item=outcome.item, development=outcome.development, title=title))
    try:
        services.clients.reader.chat_update(channel=channel, ts=ts, text=message["text"], blocks=message["blocks"])
    except Exception as exc:  # the decision is stored; only the message is stale
        log.warning("source watch: could not update proposal %s/%s: %s", channel, ts, exc)


def _tell(services: Services, response_url: str | None, text: str, now: bool = False) -> None:
    """A note only the clicker sees, through the action's response_url (after the answer unless `now`)."""
    if not response_url:
        log.warning("source watch: no response_url to tell the user: %s", text)
        return
    payload = dict(error(text, hint="Proposals come from `/roadmap watch` sources.").slack_payload())
    payload["replace_original"] = False

    def send() -> None:
        post_to_response_url(response_url, payload, what="source watch note")

    if now:
        send()
    else:
        services.after_response(send, "source watch note")


def _first_action(body: dict) -> dict:
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    return actions[0] if actions and isinstance(actions[0], dict) else {}


def _chosen_cluster(body: dict) -> str | None:
    """The cluster picked in the proposal's menu, from the payload's state (None: keep the source's)."""
    state = body.get("state") if isinstance(body.get("state"), dict) else {}
    values = state.get("values") if isinstance(state.get("values"), dict) else {}
    for block in values.values():
        element = block.get(CLUSTER) if isinstance(block, dict) else None
        option = element.get("selected_option") if isinstance(element, dict) else None
        if isinstance(option, dict) and isinstance(option.get("value"), str):
            return option["value"]
    return None


def _id(value) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""
