"""`… as of YYYY-MM-DD`: the grammar of a past date after a command, and the status answers at that date, rebuilt by
store/asof.py (the one as-of path: the brief's `as of` reads the same module)."""

from __future__ import annotations

import re
from datetime import date, tzinfo

from store import asof
from store.api import RoadmapStore
from store.errors import Invalid
from store.names import normalize_step_key
from store.views import StepAccount

_AS_OF = re.compile(r"^(?P<before>.*?)\s*\bas\s+of\s+(?P<day>\S+)\s*$", re.I | re.S)


def parse_day(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise Invalid(f"“{text}” is not a {what}: use YYYY-MM-DD, e.g. 2025-07-01") from exc


def split_as_of(text: str) -> tuple[str, date | None]:
    """`security as of 2025-07-01` → ("security", 2025-07-01); text without `as of` is returned as it was."""
    m = _AS_OF.match(text or "")
    if not m:
        return text, None
    return m.group("before").strip(), parse_day(m.group("day"))


def status_as_of(store: RoadmapStore, target: str, day: date, *, tz: tzinfo, today: date) -> tuple[str, dict]:
    """The status answer for `target` (nothing, a cluster or a STEP-ID) as it stood at the end of `day`: the same
    template and data as today's answer, plus `as_of`. Overdue is judged against `day`."""
    store.asof.check(day, today=today, tz=tz)
    # The ledger, blockers and claims are today's facts, not rebuilt at a past date: an as-of answer leaves them out.
    common = dict(as_of=day, today=day, blocked=([], 0), account=StepAccount([], [], [], []))
    if not target:
        state = store.asof.state(day, tz=tz, developments=0)
        clusters = asof.overview(state, store.asof.latest_on(day, tz=tz))
        return "status_overview.json.j2", dict(common, title=state.title, clusters=clusters)
    key = normalize_step_key(target)
    if key:
        d = asof.step_detail(store.asof.state(day, tz=tz, step=key, developments=10))
        data = dict(step=d.step, pairs=d.pairs, history=d.history, developments=d.developments)
        return "status_step.json.j2", dict(common, **data)
    cluster = store.roadmap.resolve_cluster(target)
    d = asof.cluster_detail(store.asof.state(day, tz=tz, cluster=cluster.slug, developments=5))
    return "status_cluster.json.j2", dict(common, **d.shown())
