"""Plain data the store API returns: no sessions, no lazy loads, safe to hand to a template."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from store.models import CLOSED_STATUSES


@dataclass(frozen=True)
class SideView:
    code: str
    name: str


@dataclass(frozen=True)
class ClusterRef:
    slug: str
    prefix: str
    title: str
    summary: str = ""


@dataclass(frozen=True)
class StepView:
    key: str
    cluster: str
    side: SideView
    title: str
    detail: str
    status: str
    due_on: date | None
    source: str
    source_url: str | None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    def overdue(self, today: date) -> bool:
        return self.is_open and self.due_on is not None and self.due_on < today


@dataclass(frozen=True)
class PairView:
    """A reciprocal commitment: two steps of two sides that answer each other."""

    first: StepView
    second: StepView

    @property
    def is_open(self) -> bool:
        return self.first.is_open or self.second.is_open

    @property
    def owed_by(self) -> list[SideView]:
        """Who owes the next move: a side whose step is open while its counterpart's is done.

        When neither step is done, both sides still owe their part; when both are closed, nobody does.
        """
        a, b = self.first, self.second
        if a.status == "done" and b.is_open:
            return [b.side]
        if b.status == "done" and a.is_open:
            return [a.side]
        return [s.side for s in (a, b) if s.is_open]

    def counterpart_of(self, key: str) -> StepView:
        return self.second if self.first.key == key else self.first


@dataclass(frozen=True)
class DevelopmentView:
    id: int
    cluster: str
    step: str | None
    text: str
    author: str
    occurred_on: date
    precision: str
    recorded_at: datetime
    source: str
    url: str | None
    permalink: str | None
    slack_channel: str | None = None
    slack_ts: str | None = None
    retracted: bool = False

    @property
    def link(self) -> str | None:
        return self.permalink or self.url


@dataclass(frozen=True)
class ChangeView:
    changed_at: datetime
    actor: str
    field: str
    old_value: str | None
    new_value: str | None
    note: str


@dataclass(frozen=True)
class SideProgress:
    side: SideView
    done: int
    total: int


@dataclass(frozen=True)
class ClusterSummary:
    cluster: ClusterRef
    progress: tuple[SideProgress, ...]
    open_pairs: int
    owed: tuple[tuple[SideView, int], ...]
    latest_on: date | None
    steps_total: int


@dataclass(frozen=True)
class ClusterDetail:
    """`steps_by_side` and `pairs` hold the first few of each (a message shows no more); `progress`,
    `pairs_total` and `open_pairs` count them all."""

    cluster: ClusterRef
    steps_by_side: list[tuple[SideView, list[StepView]]]
    pairs: list[PairView]
    developments: list[DevelopmentView]
    progress: list[SideProgress] = field(default_factory=list)
    pairs_total: int = 0
    open_pairs: int = 0
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step key → its own owners (shown steps)

    def shown(self) -> dict:
        """What a cluster answer shows, by name: the one set of fields the Slack, as-of and web answers render."""
        return dict(
            cluster=self.cluster,
            steps_by_side=self.steps_by_side,
            progress=self.progress,
            pairs=self.pairs,
            pairs_total=self.pairs_total,
            open_pairs=self.open_pairs,
            developments=self.developments,
            owners=self.owners,
        )


@dataclass(frozen=True)
class StepDetail:
    step: StepView
    pairs: list[PairView]
    history: list[ChangeView]
    developments: list[DevelopmentView]


@dataclass(frozen=True)
class SearchResult:
    """`find`: the best `steps` and `developments` (ranked by relevance, then date), each with its snippet
    (`step_snippets[i]` belongs to `steps[i]`), and how many match in all (counted up to COUNT_CAP)."""

    query: str
    steps: list[StepView] = field(default_factory=list)
    developments: list[DevelopmentView] = field(default_factory=list)
    steps_total: int = 0
    developments_total: int = 0
    step_snippets: list[Snippet] = field(default_factory=list)
    dev_snippets: list[Snippet] = field(default_factory=list)
    capped: bool = False  # a total reached the cap: "at least"

    @property
    def more_steps(self) -> int:
        return max(0, self.steps_total - len(self.steps))

    @property
    def more_developments(self) -> int:
        return max(0, self.developments_total - len(self.developments))


@dataclass(frozen=True)
class Snippet:
    """A piece of stored text around the words found: (text, is_hit) parts, so that the template marks the hits
    and escapes every part (no marker a user can type survives into the message)."""

    parts: tuple[tuple[str, bool], ...] = ()

    @property
    def has_hit(self) -> bool:
        return any(hit for _, hit in self.parts)


@dataclass(frozen=True)
class Recorded:
    """Outcome of recording a development: `created` is False when the Slack message was already stored."""

    development: DevelopmentView
    created: bool


@dataclass(frozen=True)
class DueChange:
    step: StepView
    old_due: date | None
    changed: bool


@dataclass(frozen=True)
class StatusChange:
    step: StepView
    old_status: str
    changed: bool


# -- digest ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleStep:
    """An open step with no development since the stale cutoff; `last_on` is its latest one, if any."""

    step: StepView
    last_on: date | None


@dataclass(frozen=True)
class ClusterDigest:
    cluster: ClusterRef
    progress: list[SideProgress]
    open_pairs: list[PairView]
    overdue: list[StepView]
    stale: list[StaleStep]
    developments: list[DevelopmentView]
    more_developments: int = 0
    # Exact counts; the lists above hold only the first of each per cluster.
    open_pairs_total: int = 0
    overdue_total: int = 0
    stale_total: int = 0


@dataclass(frozen=True)
class SideTotals:
    side: SideView
    open: int
    done: int
    owed: int
    overdue: int
    stale: int


@dataclass(frozen=True)
class DigestContent:
    title: str
    today: date
    since: datetime
    stale_days: int
    clusters: list[ClusterDigest]
    totals: list[SideTotals]
    ledger: LedgerView | None = None


@dataclass(frozen=True)
class DigestScheduleView:
    channel: str
    cron: str
    timezone: str
    enabled: bool
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class DigestRunView:
    """A claim on one (channel, period): who holds it, how it ended, how many attempts it took."""

    id: int
    channel: str
    period: str
    status: str
    claimed_by: str
    claimed_at: datetime
    finished_at: datetime | None
    attempts: int
    error: str | None
    message_ts: str | None
    chart_status: str | None = None
    chart_detail: str | None = None


@dataclass(frozen=True)
class ThreadSlot:
    """One cluster's parent message in a channel, as `/roadmap threads` found or claimed it.

    `ts` is set when the parent is posted; `claim` is set when this call won the right to post it (the row
    holds the claim until the post succeeds); neither means another run is posting it right now.
    """

    cluster: str
    ts: str | None = None
    claim: str | None = None


# -- the ledger, sequencing and each government's own account (store/ledger.py, sequencing.py, claims.py) ---------


@dataclass(frozen=True)
class Move:
    """One move of a side on a step: a status change, or a development linked to the step."""

    side: SideView
    step: str
    kind: str  # "status" | "development"
    on: date
    actor: str
    what: str  # the status moved to, or the development's text


@dataclass(frozen=True)
class PairLedger:
    """Where a reciprocal pair stands: `state` is neither_moved, owed, both_done or broken; `owes` is whose move
    is next and `waiting` the side that waits on it, since its own last move (`since`, `days` ago)."""

    pair: PairView
    state: str
    last_move: Move | None
    owes: SideView | None
    waiting: SideView | None
    since: date | None
    days: int | None


@dataclass(frozen=True)
class SideLedger:
    side: SideView
    moves: int
    owes: int
    waiting: int

    @property
    def balance(self) -> int:
        """Pairs where this side waits on the other, minus pairs where the other waits on it."""
        return self.waiting - self.owes


@dataclass(frozen=True)
class ClusterLedger:
    cluster: ClusterRef
    pairs_total: int
    states: dict[str, int]
    sides: list[SideLedger]
    longest: PairLedger | None


@dataclass(frozen=True)
class LedgerView:
    """The ledger of every reciprocal pair in scope; `longest` holds the first few by wait, the counts are exact."""

    today: date
    pairs_total: int
    states: dict[str, int]
    sides: list[SideLedger]
    clusters: list[ClusterLedger]
    longest: list[PairLedger]


@dataclass(frozen=True)
class ClaimView:
    """What one side says about a step, beside the team's own assessment (`step.status`)."""

    step: StepView
    side: SideView
    status: str
    source: str
    url: str | None
    claimed_on: date
    claimed_by: str

    @property
    def diverges(self) -> bool:
        return self.status != self.step.status


@dataclass(frozen=True)
class ClaimChange:
    claim: ClaimView | None  # None when the claim was withdrawn
    old: ClaimView | None
    step: StepView


@dataclass(frozen=True)
class ClaimsList:
    claims: list[ClaimView]  # divergent first, the first `limit`
    total: int
    divergent: int


@dataclass(frozen=True)
class BlockedStep:
    step: StepView
    open_blockers: list[StepView]


@dataclass(frozen=True)
class BlockersChange:
    step: StepView
    old: list[str]
    blockers: list[StepView]

    @property
    def changed(self) -> bool:
        return self.old != [b.key for b in self.blockers]


@dataclass(frozen=True)
class StepAccount:
    """What the step view adds to a step: its pairs' ledger, what it waits on and unblocks, the sides' claims."""

    ledger: list[PairLedger]
    blockers: list[StepView]
    unblocks: list[StepView]
    claims: list[ClaimView]

    @property
    def open_blockers(self) -> list[StepView]:
        return [b for b in self.blockers if b.status != "done"]


# -- as of a past date, the brief and the timeline --------------------------------------------------------------


@dataclass(frozen=True)
class AsOfState:
    """A scope of the roadmap as it stood at the end of `day` (store/asof.py): its steps with their states then,
    their reciprocal pairs, the developments known by then (newest first) and, for one step, its history."""

    day: date
    title: str
    clusters: list[ClusterRef]
    sides: list[SideView]
    steps: list[StepView]
    pairs: list[PairView]
    developments: list[DevelopmentView]
    history: list[ChangeView] = field(default_factory=list)
    # With `since`: the changes of the scope's steps from `since` to `day`, oldest first.
    changes: list[PeriodChange] = field(default_factory=list)


@dataclass(frozen=True)
class PeriodChange:
    step: StepView  # as it stood at the end of the as-of day
    change: ChangeView


@dataclass(frozen=True)
class TimelineWeek:
    """Developments of one cluster in one week, by the side of the step they name ("" for the cluster itself)."""

    cluster: str
    week: date  # the Monday
    side: str
    count: int


@dataclass(frozen=True)
class TimelineChange:
    cluster: str
    on: date
    side: str
    step: str
    status: str


@dataclass(frozen=True)
class Timeline:
    start: date  # the first Monday shown
    weeks: int
    clusters: list[ClusterRef]
    sides: list[SideView]
    counts: list[TimelineWeek]
    changes: list[TimelineChange]
