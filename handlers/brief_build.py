"""The briefing note's content: a plain `Brief` with every statement footnoted to its source, gathered from the store
through the one as-of path (store/asof.py). Renderers (handlers/brief_render.py) only lay it out.

Sources: a step's statement cites the step's own source (the brief's footnote, with its link when it has one); an
event cites the development's link (Slack permalink or URL) and source, or else who recorded it and when; a status
change cites the roadmap's audit history (who changed it, when). Equal sources share one footnote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo

from store.api import RoadmapStore
from store.asof import progress as side_progress
from store.errors import Invalid
from store.views import AsOfState, ChangeView, ClusterRef, DevelopmentView, PairView, SideProgress, StepView

DEFAULT_PERIOD_DAYS = 30
STATUS_WORDS = {"in_progress": "in progress"}


@dataclass(frozen=True)
class Footnote:
    number: int
    text: str
    url: str | None = None


@dataclass(frozen=True)
class Statement:
    """One sentence of the brief and the footnotes that back it."""

    text: str
    notes: tuple[int, ...]
    label: str = ""  # a short lead-in shown in bold (a step id, a date)


@dataclass(frozen=True)
class BriefCluster:
    cluster: ClusterRef
    progress: list[SideProgress]
    pairs: list[Statement]
    overdue: list[Statement]
    events: list[Statement]


@dataclass(frozen=True)
class Brief:
    title: str
    generated_on: date
    as_of: date
    since: date
    scope: str
    clusters: list[BriefCluster]
    footnotes: list[Footnote] = field(default_factory=list)

    @property
    def is_current(self) -> bool:
        return self.as_of == self.generated_on

    def counts(self) -> dict[str, int]:
        return dict(
            pairs=sum(len(c.pairs) for c in self.clusters),
            overdue=sum(len(c.overdue) for c in self.clusters),
            events=sum(len(c.events) for c in self.clusters),
        )


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def day_text(d: date) -> str:
    return f"{d.day} {d.strftime('%b %Y')}"


class _Notes:
    """Numbers sources in order of first citation; the same source is one footnote."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str | None], Footnote] = {}

    def cite(self, text: str, url: str | None = None) -> int:
        key = (" ".join(text.split()), url or None)
        if key not in self.items:
            self.items[key] = Footnote(len(self.items) + 1, key[0], key[1])
        return self.items[key].number


def build_brief(
    store: RoadmapStore,
    *,
    today: date,
    tz: tzinfo,
    cluster: str | None = None,
    since: date | None = None,
    as_of: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Brief:
    """The brief of one cluster (or all) as of `as_of` (default today), with the events from `since` (default
    DEFAULT_PERIOD_DAYS before). `progress(done, total)` is told after each cluster (for a progress bar)."""
    as_of = as_of or today
    store.asof.check(as_of, today=today, tz=tz)
    since = since or as_of - timedelta(days=DEFAULT_PERIOD_DAYS)
    if since > as_of:
        raise Invalid(f"the period starts ({since.isoformat()}) after it ends ({as_of.isoformat()})")
    slugs = [store.roadmap.resolve_cluster(cluster).slug] if cluster else [c.slug for c in store.roadmap.clusters()]
    notes = _Notes()
    out = []
    title = store.roadmap.title()
    for n, slug in enumerate(slugs, start=1):
        state = store.asof.state(as_of, tz=tz, cluster=slug, since=since)
        out.append(_cluster(state, notes, since, tz))
        if progress:
            progress(n, len(slugs))
    scope = out[0].cluster.title if cluster else "All clusters"
    return Brief(title, today, as_of, since, scope, out, list(notes.items.values()))


def _cluster(state: AsOfState, notes: _Notes, since: date, tz: tzinfo) -> BriefCluster:
    (c,) = state.clusters
    pairs = [_pair(p, notes) for p in state.pairs if p.first.cluster == c.slug or p.second.cluster == c.slug]
    overdue = [
        _overdue(x, state.day, notes)
        for x in sorted(state.steps, key=lambda x: (x.due_on or state.day, x.key))
        if x.overdue(state.day)
    ]
    # Oldest first, and cited in that order, so footnote numbers follow the reading order.
    dated = [(d.occurred_on, 0, i, d) for i, d in enumerate(state.developments) if d.occurred_on >= since]
    dated += [(_local(ch.change, tz), 1, i, ch) for i, ch in enumerate(state.changes)]
    events = [
        _event(x, notes) if kind == 0 else _change(x.step, x.change, notes, tz)
        for _, kind, _, x in sorted(dated, key=lambda e: (e[0], e[1], -e[2] if e[1] == 0 else e[2]))
    ]
    return BriefCluster(
        c,
        side_progress(state.sides, state.steps),
        [p for p in pairs if p is not None],
        overdue,
        events,
    )


def _step_note(step: StepView, notes: _Notes) -> int:
    if step.source or step.source_url:
        return notes.cite(step.source or step.source_url or "", step.source_url)
    return notes.cite(f"Roadmap entry {step.key} (no published source recorded)")


def _pair(p: PairView, notes: _Notes) -> Statement | None:
    if not p.is_open:
        return None
    owed = p.owed_by
    who = "both sides" if len(owed) == 2 else (owed[0].name if owed else "nobody")

    def side(s: StepView) -> str:
        return f"{s.key} ({s.side.name}, {status_word(s.status)}): {s.title}"

    text = f"{side(p.first)} ↔ {side(p.second)}. Next move: {who}."
    return Statement(text, tuple(dict.fromkeys((_step_note(p.first, notes), _step_note(p.second, notes)))))


def _overdue(s: StepView, day: date, notes: _Notes) -> Statement:
    late = (day - s.due_on).days if s.due_on else 0
    text = f"{s.side.name}, {status_word(s.status)}: {s.title} — due {day_text(s.due_on)}, {late} days overdue."
    return Statement(text, (_step_note(s, notes),), label=s.key)


def _event(d: DevelopmentView, notes: _Notes) -> Statement:
    if d.link or d.source:
        note = notes.cite(d.source or ("Slack message" if d.permalink else d.link or ""), d.link)
    else:
        note = notes.cite(f"Recorded in the roadmap by {d.author} on {day_text(d.recorded_at.date())}")
    where = f"{d.step}: " if d.step else ""
    when = d.occurred_on.strftime("%b %Y") if d.precision == "month" else day_text(d.occurred_on)
    return Statement(f"{where}{d.text}", (note,), label=when)


def _local(c: ChangeView, tz: tzinfo) -> date:
    return c.changed_at.astimezone(tz).date()


def _change(step: StepView, c: ChangeView, notes: _Notes, tz: tzinfo) -> Statement:
    field_name = "due date" if c.field == "due_on" else c.field.replace("_", " ")
    old, new = c.old_value or "none", c.new_value or "none"
    if c.field == "status":
        old, new = status_word(old), status_word(new)
    text = f"{step.key} ({step.side.name}) {field_name} changed from {old} to {new}."
    if c.note:
        text += f" Note: {c.note}"
    note = notes.cite(
        f"Roadmap audit history: {step.key} {field_name} changed by {c.actor}, "
        f"{c.changed_at.strftime('%Y-%m-%d %H:%M UTC')}"
    )
    return Statement(text, (note,), label=day_text(_local(c, tz)))
