"""The App Home tab: each member's roadmap one click away, built from the same store reads and templates as the
commands. It shows the steps the user (or their groups) own when an owner lookup exists, what the user's side owes
next, whose move it is in every cluster, the clusters they follow with their latest developments, and overdue and
stale steps; with several roadmaps, a picker. Its buttons open the forms of handlers/home_actions.py.

Rebuilt when opened (`app_home_opened`) and when something it shows changes: a cluster change owes ("home", user)
in the outbox for every user who opened their Home in the last HOME_SEEN_DAYS days and sees that cluster, coalesced
per user, so a burst of changes is one `views.publish` per user. A 429 re-raises, so the outbox waits Retry-After.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from handlers.context import Services
from handlers.outbox import handles, on_cluster_change
from store.api import RoadmapStore
from store.errors import NotFound, StoreError
from store.home import HOME
from store.models import utcnow
from store.outbox import Work
from store.views import StepView
from templates import render_view

log = logging.getLogger(__name__)

HOME_SEEN_DAYS = 14  # a Home not opened for this long is not rebuilt on changes (it is rebuilt when next opened)
MAX_STEPS = 8  # per list (owned, owed, overdue, stale): the rest is counted, with where to see them
MAX_CLUSTERS = 20  # lines of "whose move"
MAX_FOLLOWED = 6
FOLLOWED_DEVELOPMENTS = 3
MAX_BLOCKS = 100  # Slack's limit for a Home view
CONTROLS = ("home_roadmap", "home_side", "home_follow", "home_unfollow")  # the Home's own controls (action ids)
_PUBLISHERS: weakref.WeakKeyDictionary[WebClient, WebClient] = weakref.WeakKeyDictionary()
_PERMALINKS: dict[tuple[str, str], str] = {}  # (channel, ts) → permalink: a thread parent's never changes


# -- owners -------------------------------------------------------------------------------------------------------
def owner_lookup(store: RoadmapStore) -> Callable[[str, tuple[str, ...]], list[StepView]] | None:
    """Who owns what: the owners store (store/owners.py)."""
    return store.owners.owned_steps


def owned_steps(store: RoadmapStore, user: str, groups: tuple[str, ...]) -> list[StepView] | None:
    """Open steps that `user` or one of their user `groups` own; None when there is no owner lookup."""
    lookup = owner_lookup(store)
    if lookup is None:
        return None
    return [s for s in lookup(user, groups) if s.is_open]


# -- building and publishing ---------------------------------------------------------------------------------------
def home_roadmap(services: Services, user: str) -> RoadmapStore | None:
    """The roadmap the user's Home shows: their choice, else the first roadmap; None for an empty store."""
    roadmaps = services.store.roadmaps.all()
    if not roadmaps:
        return None
    chosen = services.store.home.pref(user).roadmap_id
    rid = chosen if chosen in {r.id for r in roadmaps} else roadmaps[0].id
    return services.store.scoped(rid)


def home_view(services: Services, user: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    store = home_roadmap(services, user)
    if store is None:
        return render_view("home.json.j2", dict(empty=True))
    rid = store.scope.id
    today = now.astimezone(services.settings.tz).date()
    with store.snapshot():
        sides = store.roadmap.sides()
        pref = services.store.home.pref(user)
        side = next((x for x in sides if pref.roadmap_id == rid and x.code == pref.side), None)
        owed = store.roadmap.open_commitments(side.code, limit=MAX_STEPS) if side else []
        owes = [(c, p) for c, pairs, _n in owed for p in pairs]
        owes_total = sum(n for _c, _p, n in owed)  # exact: the lists hold the first few per cluster
        overview = store.roadmap.cluster_overview()
        followed = services.store.home.followed(user, rid)
        details = [store.roadmap.cluster_detail(slug, developments=FOLLOWED_DEVELOPMENTS) for slug in followed]
        digest = store.digests.content(
            today=today, since=now, stale_days=services.settings.stale_days, items_per_list=MAX_STEPS
        )
        # The user's groups only when someone asks for them (resolving them may ask Slack).
        owned = owned_steps(store, user, services.editors.groups_of(user)) if owner_lookup(store) else None
    overdue = [s for c in digest.clusters for s in c.overdue]
    stale = [x for c in digest.clusters for x in c.stale]
    data = dict(
        empty=False,
        user=user,
        rid=rid,
        title=store.roadmap.title(),
        roadmaps=services.store.roadmaps.all(),
        sides=sides,
        side=side,
        owned=owned[:MAX_STEPS] if owned is not None else None,
        owned_more=max(len(owned) - MAX_STEPS, 0) if owned is not None else 0,
        owes=owes[:MAX_STEPS],
        owes_more=max(owes_total - len(owes[:MAX_STEPS]), 0),
        overview=overview[:MAX_CLUSTERS],
        overview_more=max(len(overview) - MAX_CLUSTERS, 0),
        followed=details[:MAX_FOLLOWED],
        followed_more=max(len(details) - MAX_FOLLOWED, 0),
        unfollowed=[c.cluster for c in overview if c.cluster.slug not in followed][:100],
        overdue=overdue[:MAX_STEPS],
        overdue_total=sum(c.overdue_total for c in digest.clusters),
        stale=stale[:MAX_STEPS],
        stale_total=sum(c.stale_total for c in digest.clusters),
        stale_days=services.settings.stale_days,
        links=thread_links(services, store),
        today=today,
    )
    return fit_home(render_view("home.json.j2", data))


def fit_home(view: dict) -> dict:
    """Never more than the 100 blocks a Home may hold: the lists are capped so that this does not happen, and
    should a roadmap's shape defeat the caps, the end is cut with a pointer to the commands."""
    blocks = view["blocks"]
    if len(blocks) > MAX_BLOCKS:  # keep the last block: the footer naming the commands that show everything
        view["blocks"] = blocks[: MAX_BLOCKS - 1] + blocks[-1:]
    return view


def thread_links(services: Services, store: RoadmapStore) -> dict[str, str]:
    """Each cluster's thread (the first channel's, if several): permalinks are asked of Slack once per process."""
    links = {}
    for slug, parents in services.store.home.threads(store.scope.id).items():
        channel, ts = parents[0]
        link = _PERMALINKS.get((channel, ts))
        if link is None:
            try:
                link = services.clients.reader.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
            except (SlackApiError, OSError) as exc:
                log.info("no permalink for the %s thread: %s", slug, exc)
                continue
            if isinstance(link, str):
                _PERMALINKS[(channel, ts)] = link
        if isinstance(link, str):
            links[slug] = link
    return links


def publish_home(services: Services, user: str) -> None:
    """Render and publish one user's Home. Slack errors propagate (the outbox retries, a 429 after Retry-After)."""
    _publisher(services.clients.reader).views_publish(user_id=user, view=home_view(services, user))


def _publisher(reader: WebClient) -> WebClient:
    """The reader's client and retries (a dropped connection, a 5xx: publishing twice is harmless) without its 429
    retry, which would sleep in the worker: a rate-limited publish goes back to the outbox, due after Retry-After."""
    client = _PUBLISHERS.get(reader)
    if client is None:
        keep = [h for h in reader.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)]
        client = WebClient(
            token=reader.token, base_url=reader.base_url, timeout=reader.timeout, retry_handlers=keep, ssl=reader.ssl
        )
        _PUBLISHERS[reader] = client
    return client


@handles(HOME)
def _publish_owed_home(services: Services, work: Work) -> None:
    publish_home(services, work.key)


@on_cluster_change
def _homes_showing(services: Services, cluster_id: int) -> None:
    """Owe a rebuild to each recently opened Home that shows the cluster (one row per user, coalesced)."""
    services.store.home.owe_rebuilds(cluster_id, since=utcnow() - timedelta(days=HOME_SEEN_DAYS))


# -- listeners ------------------------------------------------------------------------------------------------------
def on_app_home_opened(event: dict, context) -> None:
    """The Home tab opened: remember it is in use, publish it right after the answer."""
    services = Services.of(context)
    user = event.get("user") if isinstance(event.get("user"), str) else None
    if not user or event.get("tab", "home") != "home":
        return  # the Messages tab: nothing to build
    services.store.home.seen(user)
    services.after_response(lambda: publish_home(services, user), "publish the App Home")


def on_home_choice(ack, body: dict, context) -> None:
    """The Home's own controls: the roadmap picker, the side select, follow and unfollow. Each changes the user's
    Home state and republishes it at once (the user is looking at it)."""
    ack()
    services = Services.of(context)
    user = (body.get("user") or {}).get("id")
    action = (body.get("actions") or [{}])[0]
    if not isinstance(user, str) or not isinstance(action, dict):
        return
    name = action.get("action_id")
    value = action.get("value") or ((action.get("selected_option") or {}).get("value")) or ""
    rid_text, _, arg = str(value).partition("|")
    try:
        rid = int(rid_text)
        if name == "home_roadmap":
            services.store.home.set_roadmap(user, rid)
        elif name == "home_side":
            services.store.home.set_side(user, rid, None if arg == "-" else arg)
        elif name == "home_follow":
            services.store.home.follow(user, rid, arg)
        elif name == "home_unfollow":
            services.store.home.unfollow(user, rid, arg)
    except (ValueError, NotFound) as exc:
        log.info("home control %s with a stale value %r: %s", name, value, exc)
    except StoreError as exc:
        log.warning("home control %s failed: %s", name, exc)
        return
    services.after_response(lambda: publish_home(services, user), "republish the App Home")
