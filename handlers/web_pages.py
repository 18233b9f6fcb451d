"""The read-only web pages: a request path and query in, an HTML page out, from the same store reads as the
Slack answers (cluster_overview, cluster_detail, step_detail, search). Who may see them is the bot layer's
business (bot/pages.py signs people in); nothing here writes.

Bad input never errors: an unknown page, cluster or step is a 404 page with a link back (and the valid choices),
an oversized or oddly encoded query string is cut and decoded leniently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl

from handlers.web_urls import SEARCH, Target, cluster_path, roadmap_base, step_path, target_of_path
from store.api import RoadmapStore
from store.errors import Ambiguous, Invalid, NotFound, RoadmapNotChosen, StoreError, StoreUnavailable
from store.names import normalize_step_key, strip_control_chars
from templates.html import render_html

log = logging.getLogger(__name__)

MAX_QUERY_STRING = 2048  # longer query strings are cut before parsing (a URL that long is not a person's)
MAX_SEARCH_CHARS = 200
MAX_CHOICES = 30
# The web shows more of a cluster than a Slack message can hold (still bounded: each list is one index range).
WEB_STEPS, WEB_PAIRS, WEB_DEVELOPMENTS = 100, 100, 20


@dataclass(frozen=True)
class Page:
    status: int
    html: str


def render_page(store: RoadmapStore, path: str, query_string: str, *, user: str, today: date) -> Page:
    """The page for `path` as `user` (a display name) sees it."""
    target = target_of_path(path)
    if target is None:
        return not_found(_roadmap_title(store), user, "There is no such page on this roadmap.")
    try:
        store = store.for_roadmap(target.roadmap) if target.roadmap else store.for_channel(None)
    except NotFound as exc:
        return not_found("Roadmaps", user, f"There is no roadmap {exc.term!r}.", _roadmap_choices(store), "Roadmaps")
    except RoadmapNotChosen:
        return message_page(
            200,
            "Roadmaps",
            user,
            "Roadmaps",
            "Several roadmaps are kept here: choose one.",
            choices=_roadmap_choices(store),
            choices_label="Roadmaps",
        )
    title = _roadmap_title(store)
    prefix = roadmap_base("", target.roadmap)
    common = dict(
        roadmap_title=title,
        user=user,
        cluster_path=lambda slug: prefix + cluster_path(slug),
        step_path=lambda key: prefix + step_path(key),
        root=prefix + "/",
        search_path=prefix + SEARCH,
        today=today,
    )
    try:
        with store.snapshot():
            return _render(store, target, query_string, common)
    except NotFound as exc:
        return _unknown(exc, title, user, common)
    except Ambiguous as exc:
        return not_found(title, user, f"{exc.term} could mean {', '.join(exc.matches)}.")
    except StoreUnavailable:
        return message_page(503, title, user, "Roadmap unavailable", "The roadmap store is unavailable; try again.")
    except StoreError as exc:
        return message_page(400, title, user, "Cannot show this", str(exc))


def _render(store: RoadmapStore, target: Target, query_string: str, common: dict) -> Page:
    if target.kind == "overview":
        data = dict(common, page_title="Overview", clusters=store.roadmap.cluster_overview())
        return Page(200, render_html("overview.html.j2", data))
    if target.kind == "cluster":
        d = store.roadmap.cluster_detail(target.name, WEB_DEVELOPMENTS, WEB_STEPS, WEB_PAIRS)
        data = dict(common, page_title=d.cluster.title, **d.shown())
        return Page(200, render_html("cluster.html.j2", data))
    if target.kind == "step":
        key = normalize_step_key(target.name)
        if key is None:
            raise NotFound("step", target.name, [])
        d = store.roadmap.step_detail(key, developments=WEB_DEVELOPMENTS)
        data = dict(
            common,
            page_title=f"{d.step.key} {d.step.title}",
            step=d.step,
            cluster_title=store.roadmap.cluster_title(d.step.cluster),
            pairs=d.pairs,
            history=d.history,
            developments=d.developments,
        )
        return Page(200, render_html("step.html.j2", data))
    query = search_text(query_string)
    result, message = None, None
    if query:
        try:
            result = store.search(query)
        except Invalid as exc:
            message = str(exc)
    else:
        message = "Type a few words: a step id, a place, a name."
    data = dict(common, page_title="Search", query=query, result=result, message=message)
    return Page(200, render_html("search.html.j2", data))


def search_text(query_string: str) -> str:
    """The `q` parameter, decoded leniently: cut, undecodable bytes replaced, control characters dropped."""
    pairs = parse_qsl(query_string[:MAX_QUERY_STRING], keep_blank_values=True, errors="replace")
    q = next((v for k, v in pairs if k == "q"), "")
    return " ".join(strip_control_chars(q).split())[:MAX_SEARCH_CHARS]


def _unknown(exc: NotFound, title: str, user: str, paths: dict) -> Page:
    if exc.kind == "cluster":
        choices = [(c, paths["cluster_path"](c)) for c in exc.choices[:MAX_CHOICES]]
        return not_found(title, user, f"There is no cluster {exc.term!r}.", choices, "Clusters")
    hint = f" Did you mean {exc.suggestion}?" if exc.suggestion else ""
    choices = [(k, paths["step_path"](k)) for k in exc.choices[:MAX_CHOICES]] if exc.kind == "step" else []
    return not_found(title, user, f"There is no {exc.kind} {exc.term!r}.{hint}", choices, "Some steps")


def not_found(
    title: str, user: str | None, message: str, choices: list[tuple[str, str]] | None = None, label: str = ""
) -> Page:
    return message_page(404, title, user, "Not found", message, choices=choices, choices_label=label)


def message_page(
    status: int,
    title: str,
    user: str | None,
    heading: str,
    message: str,
    *,
    back_href: str = "/",
    back_label: str = "Back to the roadmap overview",
    choices: list[tuple[str, str]] | None = None,
    choices_label: str = "",
) -> Page:
    """A page that only says something (not found, signed out, sign-in failed): no roadmap data on it."""
    data = dict(
        roadmap_title=title,
        user=user,
        root="/",
        search_path=SEARCH,
        page_title=heading,
        message=message,
        back_href=back_href,
        back_label=back_label,
        choices=choices or [],
        choices_label=choices_label,
    )
    return Page(status, render_html("message.html.j2", data))


def _roadmap_choices(store: RoadmapStore) -> list[tuple[str, str]]:
    return [(f"{r.title} ({r.slug})", roadmap_base("", r.slug) + "/") for r in store.roadmaps.all()]


def _roadmap_title(store: RoadmapStore) -> str:
    try:
        return store.roadmap.title()
    except StoreError:
        return "Roadmap"
