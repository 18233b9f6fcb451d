"""The outbox: work owed to Slack is written with the change that owes it, coalesced, claimed once, retried with
backoff (Retry-After for a 429), and survives a worker that dies mid-way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from handlers import outbox as worker_module
from handlers.outbox import OutboxWorker
from store import outbox as outbox_module
from store.errors import Invalid
from store.models import utcnow

LATER = timedelta(minutes=1)


@pytest.fixture
def store(store):
    """The seeded store with the seed's own refreshes already done."""
    for work in store.outbox.claim(utcnow() + LATER, limit=100):
        store.outbox.done(work)
    return store


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setitem(worker_module.HANDLERS, "cluster", lambda services, work: seen.append(work.key))
    return seen


class _Services:
    def __init__(self, store):
        self.store = store


def test_a_change_owes_one_cluster_update_however_many_changes(store):
    for n in range(50):
        store.developments.record(text=f"burst {n}", author="U1", cluster="security")
    store.steps.set_status("SEC-1", "agreed", actor="U1")
    owed = store.outbox.pending("cluster")
    assert len(owed) == 1 and owed[0].version == 50


def test_a_refused_change_owes_nothing(store):
    with pytest.raises(Invalid):
        store.developments.record(text="x" * 5000, author="U1", cluster="security")
    assert store.outbox.pending() == []


def test_the_worker_does_each_due_row_once_and_drops_it(store, calls):
    store.developments.record(text="one", author="U1", cluster="economic")
    worker = OutboxWorker(_Services(store))
    assert worker.run_once() == 0  # not due yet: the burst may still be coming
    assert worker.run_once(utcnow() + LATER) == 1
    assert len(calls) == 1 and store.outbox.pending() == []
    assert worker.run_once(utcnow() + LATER) == 0


def test_a_failure_is_retried_after_a_backoff_and_a_429_after_its_retry_after(store, monkeypatch):
    failures = [
        SlackApiError(
            "rate limited",
            SlackResponse(
                client=None,
                http_verb="POST",
                api_url="x",
                req_args={},
                data={"ok": False},
                headers={"Retry-After": "30"},
                status_code=429,
            ),
        ),
        RuntimeError("Slack is down"),
    ]

    def flaky(services, work):
        if failures:
            raise failures.pop(0)

    monkeypatch.setitem(worker_module.HANDLERS, "cluster", flaky)
    store.developments.record(text="one", author="U1", cluster="economic")
    worker = OutboxWorker(_Services(store))
    start = utcnow() + LATER
    worker.run_once(start)
    (row,) = store.outbox.pending()
    assert row.attempts == 1 and "rate limited" in row.last_error
    assert worker.run_once(start + timedelta(seconds=20)) == 0  # Retry-After: 30 s
    assert worker.run_once(start + timedelta(seconds=40)) == 1  # fails again: RuntimeError
    assert worker.run_once(start + timedelta(minutes=5)) == 1
    assert store.outbox.pending() == []


def test_a_change_during_the_work_is_not_lost(store, calls):
    store.developments.record(text="first", author="U1", cluster="economic")
    (work,) = store.outbox.claim(utcnow() + LATER)
    store.developments.record(text="second", author="U1", cluster="economic")  # arrives mid-update
    assert store.outbox.done(work) is False
    assert len(store.outbox.pending()) == 1  # owed again, for the second change


def test_two_workers_never_take_the_same_row_and_a_dead_ones_row_is_taken_over(store):
    store.developments.record(text="one", author="U1", cluster="economic")
    now = utcnow() + LATER
    first = store.outbox.claim(now)
    assert len(first) == 1 and store.outbox.claim(now) == []
    # The first worker died without finishing: after its lease, the row is another's.
    taken = store.outbox.claim(now + outbox_module.LEASE + timedelta(seconds=1))
    assert [w.id for w in taken] == [first[0].id] and taken[0].attempts == 2
