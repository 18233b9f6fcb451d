"""The source-watch store on SQLite and PostgreSQL: claims of due sources and of items, decisions that race, the
backoff, and the sources' round trip through a backup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from threading import Barrier

import pytest

from store.api import RoadmapStore
from store.developments import SlackMessage
from store.errors import Invalid, NotFound
from store.watch import MAX_BACKOFF_SECONDS, backoff_seconds

URL = "https://news.example.org/rss.xml"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def proposal(store: RoadmapStore, source_id: int, identity: str = "guid:1", ts: str = "1700000000.000001") -> int:
    item_id = store.watch.claim_item(
        source_id, identity, url="https://news.example.org/1", title="Visa talks", published_on=date(2025, 8, 4)
    )
    store.watch.item_posted(item_id, "C100", ts)
    return item_id


def test_a_due_source_is_claimed_by_one_of_two_stores(store, engine_factory):
    store.watch.add("C100", URL, now=NOW)
    other = RoadmapStore(engine_factory())
    barrier = Barrier(2)

    def claim(s: RoadmapStore):
        barrier.wait()
        return s.watch.claim_due(NOW)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(claim, [store, other]))
    assert sorted(len(r) for r in results) == [0, 1]
    assert store.watch.source(1).next_poll_at == NOW + timedelta(minutes=15)
    assert store.watch.claim_due(NOW + timedelta(minutes=14)) == []


def test_paused_and_removed_sources_are_not_polled_and_a_resumed_one_is_due_at_once(store):
    store.watch.add("C100", URL, now=NOW)
    store.watch.set_status(1, "paused")
    assert store.watch.claim_due(NOW + timedelta(days=1)) == []
    store.watch.set_status(1, "active")
    assert len(store.watch.claim_due(datetime.now(UTC) + timedelta(seconds=1))) == 1
    store.watch.set_status(1, "removed")
    assert store.watch.claim_due(datetime.now(UTC) + timedelta(days=1)) == []
    with pytest.raises(NotFound):
        store.watch.source(1)


def test_a_removed_source_added_again_keeps_what_it_had_seen(store):
    store.watch.add("C100", URL, now=NOW)
    store.watch.claim_item(1, "guid:1", url=None, title="seen")
    store.watch.set_status(1, "removed")
    again = store.watch.add("C100", URL, keywords=("visa",), now=NOW)
    assert (again.id, again.status, again.keywords) == (1, "active", ("visa",))
    assert store.watch.claim_item(1, "guid:1", url=None, title="seen") is None
    with pytest.raises(Invalid, match="already watches that URL as source #1"):
        store.watch.add("C100", URL)
    assert store.watch.add("C200", URL).id != 1  # another channel watches it on its own


def test_failures_back_off_up_to_six_hours_and_a_success_resets_them(store):
    store.watch.add("C100", URL, now=NOW)
    for n in range(1, 8):
        source = store.watch.record_failure(1, NOW, f"HTTP 503 (#{n})")
        assert source.next_poll_at == NOW + timedelta(seconds=backoff_seconds(900, n))
    assert [backoff_seconds(900, n) for n in (1, 2, 3, 6, 9)] == [900, 1800, 3600, 6 * 3600, MAX_BACKOFF_SECONDS]
    assert backoff_seconds(86400, 5) == 86400  # never more often than the source's own interval
    assert source.failures == 7 and source.failing and source.last_error == "HTTP 503 (#7)"
    store.watch.record_success(1, NOW + timedelta(hours=7))
    assert store.watch.source(1).failures == 0 and not store.watch.source(1).failing


def test_two_confirms_that_race_record_one_development(store, engine_factory):
    store.watch.add("C100", URL, cluster="diplomatic", now=NOW)
    item_id = proposal(store, 1)
    other = RoadmapStore(engine_factory())
    barrier = Barrier(2)

    def confirm(args):
        s, user = args
        barrier.wait()
        return s.watch.decide(item_id, "confirm", user=user, message=SlackMessage("C100", "1700000000.000001"))

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(confirm, [(store, "U1"), (other, "U2")]))
    assert sorted(o.outcome for o in outcomes) == ["already", "confirmed"]
    assert len(store.search("Visa talks").developments) == 1
    winner = next(o for o in outcomes if o.outcome == "confirmed")
    assert store.watch.item(item_id).decided_by == winner.development.author


def test_confirm_records_through_the_one_path_with_its_rules(store):
    store.watch.add("C100", URL, now=NOW)
    item_id = proposal(store, 1)
    with pytest.raises(Invalid, match="choose a cluster"):
        store.watch.decide(item_id, "confirm", user="U1")
    assert store.watch.item(item_id).status == "proposed"  # the refusal changed nothing
    with pytest.raises(NotFound):
        store.watch.decide(item_id, "confirm", user="U1", cluster="nowhere")
    decided = store.watch.decide(item_id, "confirm", user="U1", cluster="economic", today=date(2025, 8, 1))
    # Published after "today" (a time-zone edge): dated today, never in the future.
    assert decided.development.occurred_on == date(2025, 8, 1)
    assert decided.development.slack_channel == "C100" and decided.development.slack_ts == "1700000000.000001"
    assert store.watch.item(item_id).development_id == decided.development.id
    with pytest.raises(Invalid):
        store.watch.decide(item_id, "maybe", user="U1")


def test_sources_and_what_they_have_seen_survive_a_backup(store, empty_store, seed_doc):
    store.watch.add("C100", URL, cluster="security", keywords=("visa", "potash transit"), interval_seconds=3600)
    store.watch.add("C200", "https://news.example.org/page")
    store.watch.set_status(2, "paused")
    store.watch.add("C300", "https://news.example.org/gone")
    store.watch.set_status(3, "removed")
    store.watch.claim_item(1, "guid:1", url=None, title="seen", status="skipped")
    proposal(store, 1, "guid:2")
    doc = store.transfer.export_doc()
    assert [(d["channel"], d["status"], len(d.get("seen", []))) for d in doc["watch_sources"]] == [
        ("C100", "active", 2),
        ("C200", "paused", 0),
    ]
    empty_store.transfer.import_doc(doc, replace=True)
    assert empty_store.transfer.export_doc()["watch_sources"] == doc["watch_sources"]
    restored = empty_store.watch.sources()[0]
    assert (restored.cluster, restored.keywords, restored.interval_seconds) == (
        "security",
        ("visa", "potash transit"),
        3600,
    )
    assert empty_store.watch.claim_item(restored.id, "guid:2", url=None, title="again") is None
    assert empty_store.watch.claim_item(restored.id, "guid:3", url=None, title="new") is not None
    # A replacing import of the store itself keeps its sources (they are in the file).
    store.transfer.import_doc(doc, replace=True)
    assert [s.url for s in store.watch.sources()] == [URL, "https://news.example.org/page"]


def test_a_file_with_a_bad_watch_source_is_refused(seed_doc):
    from store.roadmap_file import validate

    doc = dict(seed_doc, watch_sources=[{"channel": "C1"}, {"channel": "C1", "url": "https://x.org", "cluster": "no"}])
    errors = validate(doc)
    assert "watch_sources[0]: needs `channel` and `url`" in errors
    assert any(e.startswith("watch_sources[1]: cluster 'no'") for e in errors)


def test_a_claim_left_by_a_poll_that_died_is_taken_over_once_after_ten_minutes(store):
    store.watch.add("C100", URL, now=NOW)
    first = store.watch.claim_item(1, "guid:1", url=None, title="t", now=NOW)
    assert store.watch.known(1, ["guid:1"], NOW + timedelta(minutes=9)) == {"guid:1"}
    assert store.watch.claim_item(1, "guid:1", url=None, title="t", now=NOW + timedelta(minutes=9)) is None
    later = NOW + timedelta(minutes=11)
    assert store.watch.known(1, ["guid:1"], later) == set()
    assert store.watch.claim_item(1, "guid:1", url=None, title="t", now=later) == first
    assert store.watch.claim_item(1, "guid:1", url=None, title="t", now=later) is None  # one taker
    store.watch.item_posted(first, "C100", "1700000000.000009")
    assert store.watch.claim_item(1, "guid:1", url=None, title="t", now=later + timedelta(days=1)) is None
    assert store.watch.known(1, ["guid:1"], later + timedelta(days=1)) == {"guid:1"}
