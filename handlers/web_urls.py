"""The addresses of the web pages (ROADMAP_BASE_URL + a path), built and read back in one place: the status
answers link to them, the pages route by them, and unfurls recognise them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode, urlsplit

OVERVIEW = "/"
CLUSTERS = "/clusters/"
STEPS = "/steps/"
SEARCH = "/search"
# With several roadmaps in the store, a page of one roadmap lives under /r/<slug>/ (the overview at /r/<slug>/).
ROADMAP = "/r/"


@dataclass(frozen=True)
class Target:
    """What a page path points at: kind is "overview", "cluster", "step" or "search"; name is the slug or key;
    roadmap the roadmap's slug when the path names one."""

    kind: str
    name: str = ""
    roadmap: str | None = None


def roadmap_base(base: str, slug: str | None) -> str:
    """The base of one roadmap's pages: `base` itself, or `base/r/<slug>` when the store holds several."""
    return f"{base}{ROADMAP}{quote(slug, safe='')}" if slug else base


def overview_url(base: str) -> str:
    return base + OVERVIEW


def cluster_url(base: str, slug: str) -> str:
    return base + cluster_path(slug)


def step_url(base: str, key: str) -> str:
    return base + step_path(key)


def search_url(base: str, text: str) -> str:
    return f"{base}{SEARCH}?{urlencode({'q': text})}"


def cluster_path(slug: str) -> str:
    return CLUSTERS + quote(slug, safe="")


def step_path(key: str) -> str:
    return STEPS + quote(key, safe="")


def target_of_path(path: str) -> Target | None:
    """The page a request path names (decoded, as WSGI's PATH_INFO is), or None when it names none (a 404)."""
    roadmap = None
    if path.startswith(ROADMAP):
        roadmap, _, rest = path[len(ROADMAP) :].partition("/")
        if not roadmap or len(roadmap) > 40 or not roadmap.isprintable():
            return None
        path = "/" + rest
    if path == OVERVIEW:
        return Target("overview", roadmap=roadmap)
    if path in (SEARCH, SEARCH + "/"):
        return Target("search", roadmap=roadmap)
    for prefix, kind in ((CLUSTERS, "cluster"), (STEPS, "step")):
        if path.startswith(prefix):
            name = path[len(prefix) :].rstrip("/")
            if name and "/" not in name and len(name) <= 100 and name.isprintable():
                return Target(kind, name, roadmap)
    return None


def target_of_url(base: str | None, url: str) -> Target | None:
    """The page a full URL names when it lies under `base` (same scheme and host), else None."""
    if not base:
        return None
    try:
        ours, theirs = urlsplit(base), urlsplit(url)
        same = (ours.scheme, ours.netloc.lower()) == (theirs.scheme, theirs.netloc.lower())
    except ValueError:
        return None
    return target_of_path(unquote(theirs.path or "/", errors="replace")) if same else None
