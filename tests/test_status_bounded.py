"""Status answers read bounded slices of a big roadmap but count all of it (see bench/ for the timings)."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import send_command

EXTRA = 30  # per side, well past the 12 steps a cluster answer lists per side


@pytest.fixture
def big_doc(seed_doc) -> dict:
    """The seeded roadmap plus 30 US and 30 BY steps in `security`, paired US-n ↔ BY-n, a few of them done."""
    doc = copy.deepcopy(seed_doc)
    security = next(c for c in doc["clusters"] if c["slug"] == "security")
    for i in range(EXTRA):
        us, by = f"SEC-{100 + 2 * i}", f"SEC-{101 + 2 * i}"
        security["steps"].append(
            {"id": us, "side": "US", "title": f"US move {i}", "status": "done" if i % 3 == 0 else "proposed"}
        )
        security["steps"].append(
            {"id": by, "side": "BY", "title": f"BY move {i}", "status": "dropped" if i % 5 == 0 else "agreed"}
        )
        security["steps"][-1]["answers"] = [us]
    return doc


@pytest.fixture
def big_store(empty_store, big_doc):
    empty_store.transfer.import_doc(big_doc)
    return empty_store


def test_cluster_detail_lists_the_first_steps_and_pairs_but_counts_them_all(big_store, big_doc):
    detail = big_store.roadmap.cluster_detail("security", steps=12, pairs=12)
    security = next(c for c in big_doc["clusters"] if c["slug"] == "security")
    for _side, steps in detail.steps_by_side:
        assert len(steps) <= 12
        numbers = [int(s.key.rsplit("-", 1)[1]) for s in steps]
        assert numbers == sorted(numbers), "each side's steps come in number order"
    expected = Counter(s["side"] for s in security["steps"])
    done = Counter(s["side"] for s in security["steps"] if s.get("status") == "done")
    assert {p.side.code: (p.done, p.total) for p in detail.progress} == {
        side: (done[side], n) for side, n in expected.items()
    }
    assert [p.side for p in detail.progress] == [side for side, _ in detail.steps_by_side]
    full = big_store.roadmap.step_detail  # the unbounded path, one pair at a time, is the reference
    assert len(detail.pairs) == 12
    every = {
        (p.first.key, p.second.key): p
        for s in security["steps"]
        for p in full(s["id"]).pairs
        if p.first.cluster == "security" or p.second.cluster == "security"
    }
    assert detail.pairs_total == len(every)
    assert detail.open_pairs == sum(p.is_open for p in every.values())


def test_overview_counts_pairs_and_next_moves_like_the_pairs_themselves(big_store):
    """The overview counts in SQL; open_commitments builds every pair. Both must tell the same story."""
    listed = {ref.slug: pairs for ref, pairs, _ in big_store.roadmap.open_commitments(limit=None)}
    totals = {ref.slug: n for ref, _, n in big_store.roadmap.open_commitments()}
    for summary in big_store.roadmap.cluster_overview():
        pairs = listed.get(summary.cluster.slug, [])
        assert summary.open_pairs == len(pairs) == totals.get(summary.cluster.slug, 0), summary.cluster.slug
        owed = Counter(side.code for p in pairs for side in p.owed_by)
        assert {side.code: n for side, n in summary.owed} == dict(owed), summary.cluster.slug


def test_status_of_a_big_cluster_says_how_many_more_steps_and_pairs(big_store, settings):
    from bot.app import create_app
    from bot.web import SlackWSGI

    web = SlackWSGI(create_app(settings, big_store), big_store)
    response = send_command(web, "status security")
    assert response.status == 200, response.body
    message = response.json()
    assert_valid_message(message)
    text = message_text(message)
    detail = big_store.roadmap.cluster_detail("security")
    us = next(p for p in detail.progress if p.side.code == "US")
    assert f"{us.done}/{us.total} done" in text
    assert f"… and {us.total - 12} more steps" in text
    assert f"… and {detail.pairs_total - 12} more pairs" in text
    assert f"{detail.open_pairs} open pairs" in message["text"]


def test_commitments_of_a_side_list_and_count_exactly_the_pairs_it_owes(big_store):
    every = [p for _, pairs, _ in big_store.roadmap.open_commitments(limit=None) for p in pairs]
    for side in big_store.roadmap.sides():
        owes = [p for p in every if any(x.code == side.code for x in p.owed_by)]
        groups = big_store.roadmap.open_commitments(side.code, limit=3)
        assert sum(n for _, _, n in groups) == len(owes), side.code
        for _, pairs, n in groups:
            assert len(pairs) == min(3, n)
            assert all(any(x.code == side.code for x in p.owed_by) for p in pairs)
