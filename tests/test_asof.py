"""The roadmap as of a past date, rebuilt against a scripted history of status changes, due dates and
developments (on SQLite and PostgreSQL), and `/roadmap status … as of DATE` through the real path."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from store import asof
from store.developments import SlackMessage
from store.errors import Invalid
from store.models import Step, StepChange
from tests.blockkit import message_text
from tests.slack_requests import answer

NY = ZoneInfo("America/New_York")
TODAY = date(2026, 6, 1)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def scripted(store):
    """SEC-1 (Belarus) ↔ SEC-2 (United States), changed over the spring of 2026, with four developments."""
    with time_machine.travel(at(2026, 2, 10, 12), tick=False):  # 07:00 in New York
        store.steps.set_status("SEC-1", "agreed", actor="U1", note="agreed in Minsk")
    with time_machine.travel(at(2026, 2, 12, 15), tick=False):
        store.developments.record(text="Zq talks in Minsk", author="U1", step="SEC-1", occurred_on=date(2026, 2, 12))
    with time_machine.travel(at(2026, 3, 1, 15), tick=False):
        slack = SlackMessage("C1", "1772377200.000100", "https://policy.slack.com/archives/C1/p1")
        store.developments.record(text="Zq rumour", author="U2", cluster="security", slack=slack)
    with time_machine.travel(at(2026, 3, 5, 15), tick=False):
        store.steps.set_status("SEC-1", "done", actor="U1")
        store.steps.set_due("SEC-2", date(2026, 4, 1), actor="U1")
    with time_machine.travel(at(2026, 3, 10, 15), tick=False):  # recorded late, dated back
        store.developments.record(text="Zq backdated", author="U3", step="SEC-2", occurred_on=date(2026, 2, 1))
    store.developments.retract("C1", "1772377200.000100", at=at(2026, 3, 20, 15))
    with time_machine.travel(at(2026, 5, 1, 3), tick=False):  # 23:00 on 30 April in New York
        store.steps.set_status("SEC-2", "in_progress", actor="U1")
    return store


def step_at(store, key: str, day: date):
    state = store.asof.state(day, tz=NY, step=key)
    (step,) = state.steps
    return step, state


def texts(state) -> list[str]:
    return [d.text for d in state.developments if d.text.startswith("Zq")]


@pytest.mark.parametrize(
    ("day", "sec1", "sec2", "sec2_due"),
    [
        (date(2026, 2, 9), "proposed", "proposed", None),  # before any change: the first change's old value
        (date(2026, 2, 10), "agreed", "proposed", None),  # a change on the day counts (the day in New York)
        (date(2026, 3, 6), "done", "proposed", date(2026, 4, 1)),
        (date(2026, 4, 30), "done", "in_progress", date(2026, 4, 1)),  # 03:00 UTC on 1 May is 30 April here
        (TODAY, "done", "in_progress", date(2026, 4, 1)),  # after the last change: today's values
    ],
)
def test_statuses_and_due_dates_are_rebuilt_from_the_history(scripted, day, sec1, sec2, sec2_due):
    one, _ = step_at(scripted, "SEC-1", day)
    two, _ = step_at(scripted, "SEC-2", day)
    assert (one.status, two.status, two.due_on) == (sec1, sec2, sec2_due)


def test_the_latest_day_equals_the_current_state(scripted):
    state = scripted.asof.state(TODAY, tz=NY, cluster="security")
    now = {x.key: x for side in scripted.roadmap.cluster_detail("security").steps_by_side for x in side[1]}
    assert {x.key: (x.status, x.due_on) for x in state.steps} == {k: (x.status, x.due_on) for k, x in now.items()}


def test_pairs_use_the_states_of_the_day_and_so_who_owes_the_next_move(scripted):
    _, before = step_at(scripted, "SEC-1", date(2026, 2, 9))
    _, after = step_at(scripted, "SEC-1", date(2026, 3, 6))
    pair = next(p for p in after.pairs if {p.first.key, p.second.key} == {"SEC-1", "SEC-2"})
    assert [s.code for s in pair.owed_by] == ["US"]
    pair = next(p for p in before.pairs if {p.first.key, p.second.key} == {"SEC-1", "SEC-2"})
    assert len(pair.owed_by) == 2


def test_overdue_is_judged_against_the_day(scripted):
    cluster = asof.cluster_detail(scripted.asof.state(date(2026, 4, 2), tz=NY, cluster="security"))
    sec2 = next(x for _, steps in cluster.steps_by_side for x in steps if x.key == "SEC-2")
    assert sec2.overdue(date(2026, 4, 2)) and not sec2.overdue(date(2026, 3, 31))


def test_developments_are_those_known_and_not_retracted_by_the_day(scripted):
    def known(day):
        return sorted(texts(scripted.asof.state(day, tz=NY, cluster="security")))

    assert known(date(2026, 2, 11)) == []
    assert known(date(2026, 2, 15)) == ["Zq talks in Minsk"]  # the backdated one was not recorded yet
    assert known(date(2026, 3, 15)) == ["Zq backdated", "Zq rumour", "Zq talks in Minsk"]
    assert known(date(2026, 3, 25)) == ["Zq backdated", "Zq talks in Minsk"]  # retracted on 20 March


def test_imported_facts_count_from_their_own_date(store):
    state = store.asof.state(date(2025, 7, 1), tz=NY)
    assert state.developments and all(d.occurred_on <= date(2025, 7, 1) for d in state.developments)


def test_a_steps_history_as_of_a_day_stops_at_that_day(scripted):
    _, state = step_at(scripted, "SEC-1", date(2026, 2, 20))
    assert [(h.field, h.new_value) for h in state.history] == [("status", "agreed")]


def test_every_audited_field_is_rebuilt_including_ones_added_later(store):
    step = Step(id=1, key="X-1", cluster_id=1, side_id=2, title="New title", status="done", due_on=None)
    changes = [
        StepChange(step_id=1, changed_at=at(2026, 1, 5), actor="a", field="title", old_value="Old", new_value="Mid"),
        StepChange(step_id=1, changed_at=at(2026, 2, 5), actor="a", field="title", old_value="Mid", new_value="New"),
        StepChange(step_id=1, changed_at=at(2026, 1, 5), actor="a", field="side_id", old_value="1", new_value="2"),
        StepChange(
            step_id=1, changed_at=at(2026, 1, 5), actor="a", field="due_on", old_value=None, new_value="2026-09-30"
        ),
        # A field the schema does not have yet (owners, issue #14) is skipped, not an error.
        StepChange(step_id=1, changed_at=at(2026, 1, 5), actor="a", field="owners", old_value="", new_value="U1"),
    ]
    old = asof.rebuild(step, changes, at(2026, 1, 1))
    assert (old.title, old.side_id, old.due_on) == ("Old", 1, None)
    mid = asof.rebuild(step, changes, at(2026, 1, 20))
    assert (mid.title, mid.side_id, mid.due_on) == ("Mid", 2, date(2026, 9, 30))
    assert step.title == "New title"  # the row itself is untouched


def test_a_future_date_and_a_date_before_the_roadmap_get_clear_refusals(store):
    with pytest.raises(Invalid, match="in the future"):
        store.asof.check(date(2099, 1, 1), today=TODAY, tz=NY)
    with pytest.raises(Invalid, match="did not exist on 1999-01-01: its first recorded fact is dated 2008-09-08"):
        store.asof.check(date(1999, 1, 1), today=TODAY, tz=NY)
    store.asof.check(date(2008, 9, 8), today=TODAY, tz=NY)


def test_an_empty_roadmap_has_no_past(empty_store):
    with pytest.raises(Invalid, match="empty"):
        empty_store.asof.check(date(2025, 1, 1), today=TODAY, tz=NY)


# -- through Slack ---------------------------------------------------------------------------------------------


def test_status_of_a_cluster_as_of_a_date(web, scripted):
    text = message_text(answer(web, "status security as of 2026-03-06"))
    assert "As of 6 Mar 2026" in text
    # The steps are a table (one row per step: id · side · status · due · counterparts · title).
    assert "SEC-1 · Belarus · ✅ done" in text and "SEC-2 · United States · ⚪ proposed · 1 Apr 2026" in text
    assert "`SEC-1` Belarus ✅ done  ↔  `SEC-2` United States ⚪ proposed — next move: *United States*" in text
    today = message_text(answer(web, "status security"))
    assert "SEC-2 · United States · 🟡 in progress" in today


def test_status_of_a_step_and_of_everything_as_of_a_date(web, scripted):
    text = message_text(answer(web, "status SEC-1 as of 2026-02-10"))
    assert "As of 10 Feb 2026" in text and "agreed in Minsk" in text and "Zq talks" not in text
    text = message_text(answer(web, "status as of 2026-02-10"))
    assert "As of 10 Feb 2026" in text and "`security`" in text


def test_status_without_as_of_is_unchanged(web, scripted):
    text = message_text(answer(web, "status security"))
    assert "As of" not in text and "SEC-1" in text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("status as of 2099-01-01", "in the future"),
        ("status security as of 1999-01-01", "did not exist on 1999-01-01"),
        ("status SEC-1 as of yesterday", "“yesterday” is not a date"),
        ("status securty as of 2026-03-06", "Did you mean *security*"),
    ],
)
def test_bad_as_of_dates_get_a_clear_answer(web, scripted, command, says):
    message = answer(web, command)
    assert says in message_text(message)
