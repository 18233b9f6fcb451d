"""Reciprocal pairs counted where they change: `pair_count` holds, per (cluster and side and state of each of a pair's
two steps), how many pairs there are. Database triggers (migration 0014) keep it in the same transaction as the
write: a pair added or removed, or a step whose status (done, dropped, open), side or cluster changes.

Why: the overview, a cluster's answer, `commitments` and the digest counted every pair (a three-table join over
thousands of pairs, 6 ms at 10k steps) again after each status change. The counts are now a read of a few dozen
rows. The one rule of who owes a move stays in PairView.owed_by, applied per counted group (store.queries).

On PostgreSQL one statement applies a step's change to every group it touches, in key order, so two concurrent
status changes lock the rows they share in the same order and cannot deadlock. A later migration that copies
`step` or `reciprocity` in batch mode (SQLite) must create these triggers again.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, literal, or_, select
from sqlmodel import Session

from store.counters import PairCount
from store.models import Cluster

KEY = "a_cluster_id, b_cluster_id, a_side_id, a_state, b_side_id, b_state"


def _state(column: str) -> str:
    return f"CASE WHEN {column} = 'done' THEN 'done' WHEN {column} = 'dropped' THEN 'dropped' ELSE 'open' END"


def _upsert(rows: str) -> str:
    """Add the signed counts of `rows` (a UNION ALL of (key…, d)) to pair_count, one row per key, in key order."""
    return (
        f"INSERT INTO pair_count ({KEY}, n) SELECT {KEY}, sum(d) FROM ({rows}) x WHERE true "
        f"GROUP BY {KEY} HAVING sum(d) <> 0 ORDER BY {KEY} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET n = pair_count.n + excluded.n"
    )


def _as_first(row: str, sign: int) -> str:
    """The pairs whose first step is `row` (OLD or NEW of a step), with that row's cluster, side and state."""
    return (
        f"SELECT {row}.cluster_id AS a_cluster_id, b.cluster_id AS b_cluster_id, {row}.side_id AS a_side_id, "
        f"{_state(row + '.status')} AS a_state, b.side_id AS b_side_id, {_state('b.status')} AS b_state, {sign} AS d "
        f"FROM reciprocity r JOIN step b ON b.id = r.counterpart_id WHERE r.step_id = {row}.id"
    )


def _as_second(row: str, sign: int) -> str:
    return (
        f"SELECT a.cluster_id, {row}.cluster_id, a.side_id, {_state('a.status')}, {row}.side_id, "
        f"{_state(row + '.status')}, {sign} FROM reciprocity r JOIN step a ON a.id = r.step_id "
        f"WHERE r.counterpart_id = {row}.id"
    )


def _keyed(sign: int) -> str:
    """The key columns (named, for the outer query) of a pair whose steps are `a` and `b`, and its sign."""
    return (
        f"SELECT a.cluster_id AS a_cluster_id, b.cluster_id AS b_cluster_id, a.side_id AS a_side_id, "
        f"{_state('a.status')} AS a_state, b.side_id AS b_side_id, {_state('b.status')} AS b_state, {sign} AS d"
    )


def _pair(row: str, sign: int) -> str:
    """A pair row (OLD or NEW of reciprocity) as its key and sign."""
    return f"{_keyed(sign)} FROM step a, step b WHERE a.id = {row}.step_id AND b.id = {row}.counterpart_id"


STEP_CHANGED = _upsert(
    " UNION ALL ".join((_as_first("OLD", -1), _as_first("NEW", 1), _as_second("OLD", -1), _as_second("NEW", 1)))
)
PAIR_ADDED = _upsert(_pair("NEW", 1))
PAIR_REMOVED = _upsert(_pair("OLD", -1))
PAIR_MOVED = _upsert(_pair("OLD", -1) + " UNION ALL " + _pair("NEW", 1))
_MOVED = (
    f"({_state('OLD.status')} <> {_state('NEW.status')} OR OLD.side_id <> NEW.side_id "
    "OR OLD.cluster_id <> NEW.cluster_id)"
)

SQLITE_TRIGGERS = {
    "pair_count_step_update": f"AFTER UPDATE OF status, side_id, cluster_id ON step WHEN {_MOVED} "
    f"BEGIN {STEP_CHANGED}; END",
    "pair_count_pair_insert": f"AFTER INSERT ON reciprocity BEGIN {PAIR_ADDED}; END",
    "pair_count_pair_delete": f"AFTER DELETE ON reciprocity BEGIN {PAIR_REMOVED}; END",
    "pair_count_pair_update": f"AFTER UPDATE OF step_id, counterpart_id ON reciprocity BEGIN {PAIR_MOVED}; END",
}
POSTGRESQL_FUNCTIONS = {
    "pair_count_step": f"BEGIN IF {_MOVED} THEN {STEP_CHANGED}; END IF; RETURN NULL; END",
    "pair_count_pair": (
        f"BEGIN IF TG_OP = 'INSERT' THEN {PAIR_ADDED}; ELSIF TG_OP = 'DELETE' THEN {PAIR_REMOVED}; "
        f"ELSE {PAIR_MOVED}; END IF; RETURN NULL; END"
    ),
}
POSTGRESQL_TRIGGERS = {
    "trg_pair_count_step": ("step", "AFTER UPDATE OF status, side_id, cluster_id", "pair_count_step"),
    "trg_pair_count_pair": ("reciprocity", "AFTER INSERT OR UPDATE OR DELETE", "pair_count_pair"),
}
FILL = _upsert(f"{_keyed(1)} FROM reciprocity r JOIN step a ON a.id = r.step_id JOIN step b ON b.id = r.counterpart_id")


def pair_tally(
    s: Session, roadmap_id: int | None, cluster_id: int | None = None
) -> dict[int, list[tuple[int, str, int, str, int]]]:
    """Pairs counted by (cluster of the first step, each step's side and state), read from pair_count; with
    `cluster_id`, the pairs with either step in that cluster, filed under it."""
    p = PairCount
    sides_and_states = (p.a_side_id, p.a_state, p.b_side_id, p.b_state)
    if cluster_id is not None:
        q = (
            select(literal(cluster_id), *sides_and_states, func.sum(p.n))
            .where(or_(p.a_cluster_id == cluster_id, p.b_cluster_id == cluster_id))
            .group_by(*sides_and_states)
        )
    else:
        in_roadmap = p.a_cluster_id.in_(select(Cluster.id).where(Cluster.roadmap_id == roadmap_id))
        q = (
            select(p.a_cluster_id, *sides_and_states, func.sum(p.n))
            .where(in_roadmap)
            .group_by(p.a_cluster_id, *sides_and_states)
        )
    q = q.where(p.n > 0)
    out: dict[int, list[tuple[int, str, int, str, int]]] = defaultdict(list)
    for c_id, a_side, a_state, b_side, b_state, n in s.connection().execute(q):
        out[int(c_id)].append((a_side, a_state, b_side, b_state, int(n)))
    return out
