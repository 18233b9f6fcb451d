"""The reciprocity ledger: in each reciprocal pair, who moved last, whose move is next and how long the other side
has been waiting.

A *move* is a status change of a step (a `status` row of its history) or a development linked to it; it is the
move of the side that owns the step, on the day it happened (a status change's UTC date, a development's date).

Whose move is next follows the one rule of PairView.owed_by: when it names one side (its counterpart is done),
that side owes the next move. When it names both (neither step is done), the ledger says whose *turn* it is: the
side that did not make the last move; with no move on either step the pair has not moved. The side that waits
has waited since its own last move. States: `neither_moved`, `owed`, `both_done`, `broken` (a step dropped, or
one done while its counterpart has stalled).

Bounded queries: the pairs (one row each, narrow), moves grouped by step (two grouped queries) and, for the few
pairs shown, the pairs' views and their last moves' details; never a query per pair.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from datetime import date
from typing import NamedTuple

from sqlalchemy import func, or_, select
from sqlmodel import Session

from store.activity import last_moves
from store.base import Database
from store.cache import ReadCache, cached_read
from store.claims import claims_of_step
from store.models import Cluster, Development, Reciprocity, Side, Step, StepChange
from store.queries import PAIR_ALIASES, cluster_ref, find_cluster_id, find_step, pair_in_cluster, state_step
from store.queries import pairs as list_pairs
from store.roadmaps import Scope
from store.sequencing import blockers_and_unblocks
from store.views import ClusterLedger, LedgerView, Move, PairLedger, PairView, SideLedger, SideView, StepAccount

STATES = ("owed", "broken", "neither_moved", "both_done")
_RESTRICT_MAX = 500


class Ledger:
    def __init__(self, db: Database, cache: ReadCache, scope: Scope):
        self.db = db
        self.cache = cache
        self.scope = scope

    @cached_read
    def ledger(
        self, today: date, cluster_slug: str | None = None, side_code: str | None = None, limit: int = 10
    ) -> LedgerView:
        """The ledger of every pair (of one cluster, or with a step of one side): figures per side and cluster,
        and the `limit` longest waits."""
        with self.db.session() as s:
            rid = self.scope.id
            cluster_id = find_cluster_id(s, cluster_slug, rid) if cluster_slug else None
            side_id = next((i for i, x in _sides(s, rid).items() if x.code == side_code), None) if side_code else None
            return compute(s, today, rid, cluster_id=cluster_id, side_id=side_id, limit=limit)

    @cached_read
    def step_account(self, key: str, today: date) -> StepAccount:
        """A step's pairs in the ledger, what it waits on and what it unblocks, and the sides' claims on it. Only
        the moves are read again after a development; the pairs, blockers and claims stay cached until a step
        changes."""
        base = self._step_base(key)
        with self.db.session() as s:
            last, _counts = last_moves(s, base.step_ids)
            entries = [_entry(r, last, today) for r in base.rows]
            shown = _with_views(s, entries, base.sides, base.pairs)
        return StepAccount(shown, base.blockers, base.unblocks, base.claims)

    @cached_read(structure=True)
    def _step_base(self, key: str) -> _StepBase:
        with self.db.session() as s:
            rid = self.scope.id
            step = find_step(s, key, rid)
            rows = _pair_rows(s, rid, step_id=step.id)
            sides = {i: SideView(x.code, x.name) for i, x in _sides(s, rid).items()}
            blockers, unblocks = blockers_and_unblocks(s, step.id)
            return _StepBase(
                rows=rows,
                sides=sides,
                pairs=_pairs_by_keys(s, [r[0] for r in rows]),
                blockers=blockers,
                unblocks=unblocks,
                claims=claims_of_step(s, step.id),
            )


@dataclasses.dataclass(frozen=True)
class _StepBase:
    """What a step's account shows that changes only with the steps (cached under data_version alone)."""

    rows: list  # _pair_rows
    sides: dict[int, SideView]
    pairs: dict[tuple[str, str], PairView]
    blockers: list
    unblocks: list
    claims: list

    @property
    def step_ids(self) -> set[int]:
        return _step_ids(self.rows)


class _Last(NamedTuple):
    """A pair's latest move, as read from the grouped queries (its details are fetched only if it is shown)."""

    on: date
    rank: int  # on the same day a status change (1) counts after a development (0)
    kind: str
    step_id: int
    side_id: int


@dataclasses.dataclass
class _Entry:
    """One pair as the ledger reads it, before the few shown get their full views."""

    pair_id: int
    cluster_id: int
    keys: tuple[str, str]
    steps: tuple[tuple[int, int], tuple[int, int]]  # (step id, side id) of each step
    state: str
    owes: int | None  # side ids
    waiting: int | None
    since: date | None
    days: int | None
    last: _Last | None


def compute(
    s: Session,
    today: date,
    roadmap_id: int | None,
    *,
    cluster_id: int | None = None,
    side_id: int | None = None,
    limit: int = 10,
) -> LedgerView:
    entries, counts = _entries(s, today, roadmap_id, cluster_id=cluster_id, side_id=side_id)
    if cluster_id is not None:
        entries = [dataclasses.replace(e, cluster_id=cluster_id) for e in entries]
    sides = _sides(s, roadmap_id)
    views = {i: SideView(x.code, x.name) for i, x in sides.items()}
    clusters = _clusters(s, roadmap_id)
    moves = _moves_by_side(entries, counts)
    waiting = sorted((e for e in entries if e.days is not None), key=lambda e: (-e.days, e.keys))
    longest = waiting[:limit]
    per_cluster: dict[int, list[_Entry]] = defaultdict(list)
    for e in entries:
        per_cluster[e.cluster_id].append(e)
    firsts: dict[int, _Entry] = {}
    for e in waiting:
        firsts.setdefault(e.cluster_id, e)
    picked = list({e.pair_id: e for e in [*longest, *firsts.values()]}.values())
    shown = {e.pair_id: p for e, p in zip(picked, _with_views(s, picked, views), strict=True)}
    out_clusters = []
    for c in clusters:
        group = per_cluster.get(c.id)
        if not group:
            continue
        first = firsts.get(c.id)
        out_clusters.append(
            ClusterLedger(
                cluster_ref(c),
                len(group),
                _states(group),
                _side_figures(group, moves.get(c.id, {}), sides, views),
                shown[first.pair_id] if first else None,
            )
        )
    overall_moves: dict[int, int] = defaultdict(int)
    for by_side in moves.values():
        for sid, n in by_side.items():
            overall_moves[sid] += n
    return LedgerView(
        today=today,
        pairs_total=len(entries),
        states=_states(entries),
        sides=_side_figures(entries, overall_moves, sides, views),
        clusters=out_clusters,
        longest=[shown[e.pair_id] for e in longest],
    )


def _states(entries: list[_Entry]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for e in entries:
        counts[e.state] += 1
    return counts


def _side_figures(entries: list[_Entry], moves: dict[int, int], sides: dict, views: dict) -> list[SideLedger]:
    owes: dict[int, int] = defaultdict(int)
    waits: dict[int, int] = defaultdict(int)
    involved: set[int] = set(moves)
    for e in entries:
        if e.owes is not None:
            owes[e.owes] += 1
        if e.waiting is not None:
            waits[e.waiting] += 1
        involved.update(x for x in (e.owes, e.waiting) if x is not None)
    return [
        SideLedger(views[i], moves.get(i, 0), owes[i], waits[i])
        for i in sorted(involved, key=lambda i: sides[i].position)
    ]


# -- reading sides, clusters, pairs, moves (the only places here that select Side, Cluster or pair rows) --


def _sides(s: Session, rid: int | None) -> dict[int, Side]:
    return {x.id: x for x in s.exec(select(Side).where(Side.roadmap_id == rid).order_by(Side.position)).scalars()}


def _clusters(s: Session, rid: int | None) -> list[Cluster]:
    return list(s.exec(select(Cluster).where(Cluster.roadmap_id == rid).order_by(Cluster.position)).scalars())


def _entries(
    s: Session,
    today: date,
    rid: int | None,
    *,
    cluster_id: int | None = None,
    side_id: int | None = None,
    step_id: int | None = None,
) -> tuple[list[_Entry], dict[int, int]]:
    """Every pair in scope as an entry, and the number of moves of each of their steps."""
    rows = _pair_rows(s, rid, cluster_id=cluster_id, side_id=side_id, step_id=step_id)
    step_ids = _step_ids(rows)
    # A narrow scope reads the moves of its own steps only; a wide one groups them all (fewer bound parameters, and
    # the grouped rows are bounded by the steps that have moves either way).
    restrict = step_ids if len(step_ids) <= _RESTRICT_MAX else None
    last, counts = last_moves(s, restrict)
    return [_entry(r, last, today) for r in rows], counts


def _step_ids(rows: list) -> set[int]:
    """The ids of both steps of each _pair_rows row."""
    return {i for r in rows for i in (r[2], r[6])}


def _pair_rows(
    s: Session,
    rid: int | None,
    *,
    cluster_id: int | None = None,
    side_id: int | None = None,
    step_id: int | None = None,
) -> list:
    """(pair id, cluster id, and id, key, side id and status of each step) of every pair in scope."""
    a, b = PAIR_ALIASES[0], PAIR_ALIASES[1]
    q = (
        select(Reciprocity.id, a.cluster_id, a.id, a.key, a.side_id, a.status, b.id, b.key, b.side_id, b.status)
        .select_from(Reciprocity)
        .join(a, a.id == Reciprocity.step_id)
        .join(b, b.id == Reciprocity.counterpart_id)
        .where(a.roadmap_id == rid)
        .order_by(a.cluster_id, a.number, b.number)
    )
    if cluster_id is not None:
        q = q.where(pair_in_cluster(cluster_id))
    if side_id is not None:
        q = q.where(or_(a.side_id == side_id, b.side_id == side_id))
    if step_id is not None:
        q = q.where(or_(Reciprocity.step_id == step_id, Reciprocity.counterpart_id == step_id))
    # Core, not the ORM: thousands of narrow rows, no entities (a third of the time).
    return [tuple(r) for r in s.connection().execute(q)]


@functools.cache
def _owing(a_status: str, b_status: str) -> tuple[bool, bool]:
    """Which of a pair's two steps owes the next move, asked of PairView.owed_by (the one rule); cached, since it
    depends only on the two statuses."""
    a, b = SideView("a", ""), SideView("b", "")
    owed = PairView(state_step(a, a_status), state_step(b, b_status)).owed_by
    return a in owed, b in owed


def _entry(row, last: dict[int, tuple], today: date) -> _Entry:
    """One pair's state, whose move is next, who waits and since when. Steps are indexed 0 and 1."""
    pair_id, cluster_id, a_id, a_key, a_side, a_status, b_id, b_key, b_side, b_status = row
    ids, sides, statuses = (a_id, b_id), (a_side, b_side), (a_status, b_status)
    lasts = (last.get(a_id), last.get(b_id))
    owing = _owing(a_status, b_status)
    latest = None if lasts == (None, None) else (0 if (lasts[0] or ()) >= (lasts[1] or ()) else 1)
    done = [i for i in (0, 1) if statuses[i] == "done"]
    one_owes = owing.index(True) if sum(owing) == 1 else None
    if len(done) == 2:
        state, owes = "both_done", None
    elif "dropped" in statuses or (done and statuses[1 - done[0]] == "stalled"):
        state, owes = "broken", one_owes
    elif one_owes is not None:
        state, owes = "owed", one_owes
    elif latest is None:
        state, owes = "neither_moved", None
    else:  # neither done, both owe their part: the turn is the side's that did not move last
        state, owes = "owed", 1 - latest
    waiting = None if owes is None else 1 - owes
    since = lasts[waiting][0] if waiting is not None and lasts[waiting] else None
    days = max((today - since).days, 0) if since is not None else None
    last_move = _Last(*lasts[latest], ids[latest], sides[latest]) if latest is not None else None
    return _Entry(
        pair_id,
        cluster_id,
        (a_key, b_key),
        ((a_id, a_side), (b_id, b_side)),
        state,
        None if owes is None else sides[owes],
        None if waiting is None else sides[waiting],
        since,
        days,
        last_move,
    )


def _moves_by_side(entries: list[_Entry], counts: dict[int, int]) -> dict[int, dict[int, int]]:
    """Moves per cluster and side, each step counted once however many pairs it is in (under the cluster its
    first pair is filed under)."""
    out: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[int] = set()
    for e in entries:
        for step_id, side_id in e.steps:
            if step_id not in seen:
                seen.add(step_id)
                out[e.cluster_id][side_id] += counts.get(step_id, 0)
    return out


# -- the few pairs shown ---------------------------------------------------------------------------------------


def _with_views(
    s: Session,
    entries: list[_Entry],
    sides: dict[int, SideView],
    pairs: dict[tuple[str, str], PairView] | None = None,
) -> list[PairLedger]:
    """Full views of the given entries: their pairs (one query, unless given) and their last moves' details (two
    queries)."""
    if not entries:
        return []
    by_keys = pairs if pairs is not None else _pairs_by_keys(s, list({e.pair_id for e in entries}))
    details = _move_details(s, [e.last for e in entries if e.last])
    out = []
    for e in entries:
        move = None
        if e.last:
            on, _rank, kind, step_id, side_id = e.last
            key, actor, what = details[(step_id, kind)]
            move = Move(sides[side_id], key, kind, on, actor, what)
        owes, waiting = sides.get(e.owes), sides.get(e.waiting)
        out.append(PairLedger(by_keys[e.keys], e.state, move, owes, waiting, e.since, e.days))
    return out


def _pairs_by_keys(s: Session, pair_ids: list[int]) -> dict[tuple[str, str], PairView]:
    if not pair_ids:
        return {}
    return {(p.first.key, p.second.key): p for ps in list_pairs(s, None, pair_ids=pair_ids).values() for p in ps}


def _move_details(s: Session, lasts: list[_Last]) -> dict[tuple[int, str], tuple[str, str, str]]:
    """(step id, kind) → (step key, actor, what) of each step's latest move of that kind (one query per kind)."""
    out: dict[tuple[int, str], tuple[str, str, str]] = {}
    kinds = {
        "status": (
            StepChange,
            StepChange.actor,
            StepChange.new_value,
            StepChange.field == "status",
            StepChange.changed_at,
        ),
        "development": (
            Development,
            Development.author,
            Development.text,
            Development.retracted_at.is_(None),
            Development.occurred_on,
        ),
    }
    for kind, (model, actor, what, condition, when) in kinds.items():
        ids = list({x.step_id for x in lasts if x.kind == kind})
        if not ids:
            continue
        latest_first = (when.desc(), model.id.desc())
        ranked = (
            select(model.step_id, actor.label("actor"), what.label("what"))
            .add_columns(func.row_number().over(partition_by=model.step_id, order_by=latest_first).label("rn"))
            .where(model.step_id.in_(ids), condition)
            .subquery()
        )
        rows = s.exec(
            select(ranked.c.step_id, Step.key, ranked.c.actor, ranked.c.what)
            .join(Step, Step.id == ranked.c.step_id)
            .where(ranked.c.rn == 1)
        ).all()
        out.update({(sid, kind): (key, who, value or "") for sid, key, who, value in rows})
    return out
