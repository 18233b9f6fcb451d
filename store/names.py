"""How people name things: step ids, statuses, clusters and sides as typed, resolved to what the store holds.

Pure functions (no database): the domain modules and the command grammar share them.
"""

from __future__ import annotations

import difflib
import re

from store.errors import Ambiguous, NotFound
from store.models import STATUSES
from store.views import ClusterRef, SideView

STEP_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]{0,11})-?(\d{1,5})$")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STATUS_ALIASES = {
    "inprogress": "in_progress",
    "progress": "in_progress",
    "started": "in_progress",
    "complete": "done",
    "completed": "done",
    "drop": "dropped",
    "stall": "stalled",
}


def normalize_step_key(term: str) -> str | None:
    """`sec-1`, `SEC1`, `Sec-01` → `SEC-1`; None if the term cannot be a step id."""
    m = STEP_KEY_RE.match(term.strip())
    if not m:
        return None
    return f"{m.group(1).upper()}-{int(m.group(2))}"


def normalize_status(term: str) -> str:
    t = term.strip().lower().replace(" ", "_").replace("-", "_")
    t = _STATUS_ALIASES.get(t, t)
    if t not in STATUSES:
        raise NotFound("status", term, list(STATUSES), suggest(t, list(STATUSES), list(STATUSES)))
    return t


def strip_control_chars(text: str) -> str:
    """Drop C0 control characters other than tab and newlines: PostgreSQL refuses NUL in text (the command would
    fail on one backend and not the other), and ESC sequences would reach the console's terminal."""
    return _CONTROL_CHARS.sub("", text)


def key_order(key: str) -> tuple[str, int]:
    """Step ids in reading order: SEC-2 before SEC-10."""
    prefix, _, n = key.rpartition("-")
    return (prefix, int(n) if n.isdigit() else 0)


def words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def suggest(term: str, candidates: list[str], display: list[str]) -> str | None:
    """The one close match to offer as "did you mean", shown as its `display` twin."""
    hit = difflib.get_close_matches(term.lower(), [c.lower() for c in candidates], n=1, cutoff=0.6)
    if not hit:
        return None
    lowered = [c.lower() for c in candidates]
    return display[lowered.index(hit[0])]


def resolve_cluster(clusters: list[ClusterRef], term: str) -> ClusterRef:
    """Slug, step prefix, unambiguous slug prefix, or a word of the title (case-insensitive)."""
    t = term.strip().lower()
    slugs = [c.slug for c in clusters]
    for c in clusters:
        if t in (c.slug, c.prefix.lower()):
            return c
    hits = [c for c in clusters if t and c.slug.startswith(t)]
    if not hits:
        hits = [c for c in clusters if t and t in words(c.title)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise Ambiguous("cluster", term, [c.slug for c in hits])
    candidates = slugs + [c.prefix.lower() for c in clusters]
    raise NotFound("cluster", term, slugs, suggest(t, candidates, slugs + slugs))


def resolve_side(sides: list[SideView], term: str) -> SideView:
    """Code or name, a name's prefix, or a word of the name (case-insensitive)."""
    t = term.strip().lower()
    for side in sides:
        if t in (side.code.lower(), side.name.lower()):
            return side
    hits = [x for x in sides if x.name.lower().startswith(t) or t in words(x.name)]
    if len(hits) == 1:
        return hits[0]
    codes = [x.code for x in sides]
    if len(hits) > 1:
        raise Ambiguous("side", term, [x.code for x in hits])
    raise NotFound("side", term, codes, suggest(t, [c.lower() for c in codes], codes))


def resolve_scope(
    clusters: list[ClusterRef], sides: list[SideView], term: str
) -> tuple[ClusterRef | None, SideView | None]:
    """A cluster or a side, as typed (empty: neither). An exact cluster slug or prefix wins, then an exact side code
    or name, then the looser matches of each, so `ukraine` is the cluster and `UA` the side."""
    t = term.strip().lower()
    if not t:
        return None, None
    if any(t in (c.slug, c.prefix.lower()) for c in clusters):
        return resolve_cluster(clusters, term), None
    if any(t in (x.code.lower(), x.name.lower()) for x in sides):
        return None, resolve_side(sides, term)
    try:
        return resolve_cluster(clusters, term), None
    except NotFound:
        pass
    try:
        return None, resolve_side(sides, term)
    except NotFound as exc:
        raise NotFound("cluster or side", term, [c.slug for c in clusters] + [x.code for x in sides]) from exc


def unknown_step(term: str, keys: list[str]) -> NotFound:
    """The answer to an unknown step id: every id, with a near miss within the typed cluster prefix (ECO-99 →
    ECO-9), never a jump to another cluster."""
    norm = normalize_step_key(term) or term.strip().upper()
    keys = sorted(keys, key=key_order)
    prefix = norm.rsplit("-", 1)[0]
    same = [k for k in keys if k.rsplit("-", 1)[0] == prefix] or keys
    return NotFound("step", term, keys, suggest(norm, same, same))
