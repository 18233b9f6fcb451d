"""pair_count (migration 0014) is kept by triggers: after status changes, pairs added and removed, and steps moved
to another side, its counts equal a recount of the pairs themselves, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter

from sqlalchemy import text

from store.tallies import pair_tally

STATE = "CASE WHEN {s} = 'done' THEN 'done' WHEN {s} = 'dropped' THEN 'dropped' ELSE 'open' END"
RECOUNT = (
    f"SELECT a.cluster_id, a.side_id, {STATE.format(s='a.status')}, b.side_id, {STATE.format(s='b.status')}, "
    "count(*) FROM reciprocity r JOIN step a ON a.id = r.step_id JOIN step b ON b.id = r.counterpart_id "
    "GROUP BY 1, 2, 3, 4, 5"
)


def recount(store) -> Counter:
    with store.db.session() as s:
        return Counter({tuple(r[:5]): int(r[5]) for r in s.exec(text(RECOUNT)).all()})


def kept(store) -> Counter:
    with store.db.session() as s:
        tallies = pair_tally(s, store.scope.id)
    return Counter({(c, *row[:4]): row[4] for c, rows in tallies.items() for row in rows})


def test_pair_counts_match_a_recount_after_every_kind_of_change(store):
    assert kept(store) == recount(store), "filled from the existing pairs"
    rnd = random.Random(5)
    with store.db.session() as s:
        keys = [k for (k,) in s.exec(text("SELECT key FROM step ORDER BY id")).all()]
    for _ in range(40):
        store.steps.set_status(rnd.choice(keys), rnd.choice(["done", "dropped", "agreed", "stalled"]), actor="U1")
    assert kept(store) == recount(store)
    with store.db.session(write=True) as s:
        ids = [i for (i,) in s.exec(text("SELECT id FROM step ORDER BY id")).all()]
        sides = [i for (i,) in s.exec(text("SELECT id FROM side ORDER BY id")).all()]
        paired = set(s.exec(text("SELECT step_id, counterpart_id FROM reciprocity")).all())
        for _ in range(10):  # writes from outside the store's code are counted too
            a, b = sorted(rnd.sample(ids, 2))
            if (a, b) not in paired:
                paired.add((a, b))
                s.exec(text("INSERT INTO reciprocity (step_id, counterpart_id) VALUES (:a, :b)").bindparams(a=a, b=b))
        s.exec(text("DELETE FROM reciprocity WHERE id IN (SELECT min(id) FROM reciprocity)"))
        s.exec(text("UPDATE step SET side_id = :side WHERE id = :id").bindparams(side=sides[-1], id=ids[0]))
        s.exec(text("UPDATE step SET status = 'done' WHERE id IN (:a, :b)").bindparams(a=ids[1], b=ids[2]))
    assert kept(store) == recount(store)


def test_a_status_change_moves_its_pairs_to_the_new_state(store):
    before = kept(store)
    store.steps.set_status("SEC-1", "dropped", actor="U1")
    after = kept(store)
    assert before != after and sum(before.values()) == sum(after.values()), "the same pairs, counted elsewhere"
    assert any(k[2] == "dropped" or k[4] == "dropped" for k in after - before)
