"""The reciprocity ledger through signed requests: a scripted sequence of moves from both sides, under a frozen
clock, gives the expected last movers, waits in days and balance; and the ledger reads a big roadmap in the same
number of queries as a small one."""

from __future__ import annotations

import copy
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import event

from bot.app import create_app
from bot.web import SlackWSGI
from tests.blockkit import message_text
from tests.slack_requests import answer

NY = ZoneInfo("America/New_York")

DOC = {
    "format": "roadmap/1",
    "roadmap": {"title": "Ledger test roadmap"},
    "sides": [
        {"code": "US", "name": "United States"},
        {"code": "BY", "name": "Belarus"},
        {"code": "NATO", "name": "NATO"},
    ],
    "clusters": [
        {
            "slug": "security",
            "prefix": "SEC",
            "title": "Security cooperation",
            "steps": [
                {"id": "SEC-1", "side": "BY", "title": "Non-aggression pledge", "answers": ["SEC-2"]},
                {"id": "SEC-2", "side": "US", "title": "No regime change promise"},
                {"id": "SEC-3", "side": "BY", "title": "Confidence-building measures", "answers": ["SEC-4"]},
                {"id": "SEC-4", "side": "NATO", "title": "Deconfliction dialogue"},
                {"id": "SEC-5", "side": "BY", "title": "Restore crime cooperation", "answers": ["SEC-6"]},
                {"id": "SEC-6", "side": "US", "title": "Restore crime cooperation (US)"},
            ],
        },
        {
            "slug": "economic",
            "prefix": "ECO",
            "title": "Economic ties",
            "steps": [
                {"id": "ECO-1", "side": "US", "title": "Aviation relief", "answers": ["ECO-2"]},
                {"id": "ECO-2", "side": "BY", "title": "No transfer of aircraft parts"},
            ],
        },
    ],
    "developments": [],
}


def at(y: int, m: int, d: int):
    """Noon in New York (the settings' time zone) on that day, frozen."""
    return time_machine.travel(datetime(y, m, d, 12, 0, tzinfo=NY), tick=False)


@pytest.fixture
def small(empty_store):
    empty_store.transfer.import_doc(copy.deepcopy(DOC))
    return empty_store


@pytest.fixture
def app(settings, small):
    return SlackWSGI(create_app(settings, small), small)


def play(app) -> None:
    """Moves from both sides, each on its own day."""
    with at(2025, 6, 21):
        answer(app, "set SEC-3 in progress exercises scaled back", user="U0BY")
    with at(2025, 7, 1):
        answer(app, "log SEC-2 Washington restated it seeks no change of government", user="U0US")
    with at(2025, 7, 10):
        answer(app, "set SEC-1 done pledge signed", user="U0BY")
    with at(2025, 8, 1):
        answer(app, "set SEC-5 done", user="U0BY")
    with at(2025, 8, 5):
        answer(app, "set SEC-6 dropped", user="U0US")


def test_a_scripted_sequence_of_moves_gives_last_movers_waits_and_balance(app, small):
    play(app)
    with at(2025, 12, 1):
        message = answer(app, "ledger")
        view = small.ledger.ledger(date(2025, 12, 1))
    by_pair = {(x.pair.first.key, x.pair.second.key): x for x in view.longest}
    # SEC-1 done on 10 Jul: the next move is the United States', Belarus has waited since then.
    one = by_pair[("SEC-1", "SEC-2")]
    assert (one.state, one.last_move.side.code, one.last_move.step, one.last_move.kind) == (
        "owed",
        "BY",
        "SEC-1",
        "status",
    )
    assert (one.owes.code, one.waiting.code, one.since, one.days) == ("US", "BY", date(2025, 7, 10), 144)
    # Belarus moved SEC-3 on 21 Jun; NATO has not answered.
    three = by_pair[("SEC-3", "SEC-4")]
    assert (three.state, three.owes.code, three.waiting.code, three.days) == ("owed", "NATO", "BY", 163)
    assert [x.days for x in view.longest] == [163, 144], "longest waits first; broken and unmoved pairs wait on no one"
    assert view.states == {"owed": 2, "broken": 1, "neither_moved": 1, "both_done": 0}
    sides = {x.side.code: (x.moves, x.waiting, x.owes, x.balance) for x in view.sides}
    assert sides == {"US": (2, 0, 1, -1), "BY": (3, 2, 0, 2), "NATO": (0, 0, 1, -1)}
    text = message_text(message)
    assert (
        "Belarus* moved on 21 Jun 2025 (`SEC-3` 🟡 in progress); the next move has been *NATO*'s for *163 days*" in text
    )
    assert "*Belarus* — 3 moves · waits in 2 pairs · owes 0 · balance +2" in text
    assert "2 owed · 1 not moved · 0 both done · 1 broken" in text


def test_the_step_view_says_who_moved_and_whose_move_it_has_been_since(app):
    play(app)
    with at(2025, 12, 1):
        text = message_text(answer(app, "status SEC-4"))
    assert "*Ledger*" in text
    assert (
        "*Belarus* moved on 21 Jun 2025 (`SEC-3` 🟡 in progress); the next move has been *NATO*'s for *163 days*"
        in text
    )
    with at(2025, 12, 1):
        broken = message_text(answer(app, "status SEC-5"))
    assert "💔 broken" in broken and "*United States* moved on 5 Aug 2025 (`SEC-6` ⛔ dropped)" in broken


def test_when_the_other_side_answers_the_turn_passes_back(app, small):
    """Neither step done: the side that did not move last owes; the one that moved waits, from its own move."""
    play(app)
    with at(2025, 11, 20):
        answer(app, "log SEC-4 NATO proposed a first deconfliction meeting", user="U0NATO")
    with at(2025, 12, 1):
        three = next(x for x in small.ledger.ledger(date(2025, 12, 1)).longest if x.pair.first.key == "SEC-3")
        text = message_text(answer(app, "ledger NATO"))
    assert (three.owes.code, three.waiting.code, three.since, three.days) == ("BY", "NATO", date(2025, 11, 20), 11)
    assert three.last_move.kind == "development" and three.last_move.side.code == "NATO"
    assert "Reciprocity ledger · NATO" in text and "1 reciprocal pair" in text
    assert "*NATO* — 1 move · waits in 1 pair · owes 0 · balance +1" in text


def test_the_ledger_of_one_cluster_counts_only_its_pairs(app):
    play(app)
    with at(2025, 12, 1):
        text = message_text(answer(app, "ledger economic"))
    assert "1 reciprocal pair: 0 owed · 1 not moved" in text
    assert "Nobody is waiting on a dated move." in text


def test_a_scope_that_is_neither_cluster_nor_side_names_both_kinds(app):
    text = message_text(answer(app, "ledger atlantis"))
    assert "no cluster or side “atlantis”" in text and "security" in text and "NATO" in text


def test_the_digest_carries_the_ledger(app, small):
    play(app)
    content = small.digests.content(today=date(2025, 12, 1), since=datetime(2025, 11, 24, tzinfo=NY), stale_days=30)
    assert content.ledger.pairs_total == 4 and [x.days for x in content.ledger.longest] == [163, 144]
    from templates import render_thread

    parts = render_thread("digest.json.j2", dict(digest=content, since=content.since, first=False))
    text = "\n".join(message_text(p) for p in parts)
    assert "Reciprocity ledger" in text and "the next move has been *NATO*'s for *163 days*" in text


def _count_queries(engine):
    counter = {"n": 0}

    def count(*_args, **_kwargs):
        counter["n"] += 1

    event.listen(engine, "before_cursor_execute", count)
    return counter, lambda: event.remove(engine, "before_cursor_execute", count)


def test_the_ledger_of_a_big_roadmap_takes_as_many_queries_as_a_small_one(empty_store, engine):
    doc = copy.deepcopy(DOC)
    steps = doc["clusters"][0]["steps"]
    for i in range(600):
        us, by = f"SEC-{100 + 2 * i}", f"SEC-{101 + 2 * i}"
        steps.append({"id": us, "side": "US", "title": f"US move {i}"})
        steps.append({"id": by, "side": "BY", "title": f"BY move {i}", "answers": [us]})
    later = date(2030, 1, 1)
    counter, stop = _count_queries(engine)
    empty_store.transfer.import_doc(copy.deepcopy(DOC))
    # Both kinds of move among the waits shown, so that both detail queries run in either case.
    empty_store.steps.set_status("SEC-1", "done", actor="U1")
    empty_store.developments.record(text="NATO wrote", author="U1", step="SEC-4", occurred_on=date(2025, 1, 1))
    assert empty_store.scope.id is not None
    counter["n"] = 0
    empty_store.ledger.ledger(later, limit=10)
    small_n = counter["n"]
    empty_store.transfer.import_doc(doc)
    for i in range(0, 600, 7):
        empty_store.steps.set_status(f"SEC-{101 + 2 * i}", "in_progress", actor="U1")
    assert empty_store.scope.id is not None  # which roadmap (a constant lookup, cached), before counting
    counter["n"] = 0
    view = empty_store.ledger.ledger(later, limit=10)
    stop()
    assert view.pairs_total == 604 and len(view.longest) == 10
    assert {x.last_move.kind for x in view.longest} == {"status", "development"}
    assert counter["n"] == small_n, "the ledger must not run a query per pair"


def test_a_move_by_the_side_that_owes_does_not_end_the_other_sides_wait(app, small):
    """SEC-1 is done: the United States owe the next move whatever they say meanwhile, and Belarus's wait runs
    from its own last move."""
    play(app)
    with at(2025, 11, 1):
        answer(app, "log SEC-2 Washington said the pledge was under review", user="U0US")
    with at(2025, 11, 15):
        answer(app, "set SEC-4 stalled no answer from Brussels", user="U0NATO")
    with at(2025, 12, 1):
        text = message_text(answer(app, "status SEC-1"))
        view = small.ledger.ledger(date(2025, 12, 1))
    assert (
        "*United States* moved on 1 Nov 2025 (`SEC-2` “Washington said the pledge was under review”); "
        "the next move is still *United States*'s: Belarus has waited *144 days* (since 10 Jul 2025)"
    ) in text
    three = next(x for x in view.longest if x.pair.first.key == "SEC-3")
    # Neither step done and NATO moved last (SEC-4 stalled): Belarus's turn, NATO waits from 15 Nov.
    assert (three.state, three.owes.code, three.waiting.code, three.days) == ("owed", "BY", "NATO", 16)
    with at(2025, 12, 2):
        answer(app, "set SEC-3 done", user="U0BY")
        broken = next(x for x in small.ledger.ledger(date(2025, 12, 2)).longest if x.pair.first.key == "SEC-3")
    assert (broken.state, broken.owes.code, broken.waiting.code, broken.days) == ("broken", "NATO", "BY", 0)
