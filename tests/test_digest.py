"""The digest: schedules across DST, exactly-once sends (two clocks, retries, crashes, catch-up), content.

Sends are observed on the loopback fake Slack; every store test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.clock import Clock
from bot.settings import Settings, SettingsError
from bot.slack import make_clients
from handlers.digest_sender import MARKER_EVENT, DigestSender
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.roadmap_file import validate
from store.schedule import (
    ScheduleError,
    Target,
    check_interval,
    describe,
    due_slot,
    fire_times,
    next_runs,
    parse_schedule,
    period_of,
    translate_dow,
    trigger,
)
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted

NY = ZoneInfo("America/New_York")
# Monday 3 November 2025, the first Monday after the autumn DST change: 09:00 EST is 14:00 UTC.
MONDAY_0900 = datetime(2025, 11, 3, 14, 0, tzinfo=UTC)


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


# -- schedules (no database) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "names"),
    [("1", "mon"), ("0", "sun"), ("7", "sun"), ("0,7", "sun"), ("1-5", "mon,tue,wed,thu,fri"),
     ("*/2", "tue,thu,sat,sun"), ("5-7", "fri,sat,sun"), ("mon,fri", "mon,fri"), ("*", "*")],
)  # fmt: skip
def test_standard_cron_weekdays_are_translated_to_names(field, names):
    assert translate_dow(field) == names


@pytest.mark.parametrize(
    ("cron", "weekday"),
    [("0 9 * * 1", "Monday"), ("0 9 * * 0", "Sunday"), ("0 9 * * 7", "Sunday"), ("0 9 * * 5", "Friday")],
)
def test_cron_fires_on_the_standard_weekday(cron, weekday):
    # APScheduler's own from_crontab would fire `0 9 * * 1` on a Tuesday (docs/stack-traps.md, APScheduler).
    with time_machine.travel(ny(2025, 10, 29, 12, 0), tick=False):
        fire = trigger(cron, NY).get_next_fire_time(None, datetime.now(UTC))
    assert fire.strftime("%A %H:%M") == f"{weekday} 09:00"


@pytest.mark.parametrize(
    ("text", "cron"),
    [("mon 09:00", "0 9 * * 1"), ('"mon 09:00"', "0 9 * * 1"), ("Monday 9:00", "0 9 * * 1"),
     ("mon,thu 08:30", "30 8 * * 1,4"), ("weekdays 17:00", "0 17 * * 1,2,3,4,5"), ("09:00", "0 9 * * *"),
     ("0 9 * * 1", "0 9 * * 1"), ("  0  9 * *  MON ", "0 9 * * mon")],
)  # fmt: skip
def test_schedules_parse_from_cron_or_day_and_time(text, cron):
    assert parse_schedule(text) == cron


@pytest.mark.parametrize(
    "text", ["", "mon 25:00", "someday 09:00", "0 9 * *", "61 9 * * 1", "0 9 1 * 1", "0 9 * * 8", "0 9 * * 5-1"]
)
def test_bad_schedules_are_refused_with_a_reason(text):
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(text)
    assert str(exc.value)


def test_a_schedule_more_often_than_hourly_is_refused():
    with pytest.raises(ScheduleError, match="hour"):
        check_interval("*/5 * * * *", NY, MONDAY_0900)
    check_interval("0 9 * * 1", NY, MONDAY_0900)


def test_weekly_digest_keeps_local_time_across_the_autumn_dst_change():
    with time_machine.travel(ny(2025, 10, 29, 12, 0), tick=False):
        runs = next_runs("0 9 * * 1", "America/New_York", datetime.now(UTC), count=2)
    # 09:00 EST after the change (14:00 UTC), not 09:00 EDT (13:00 UTC).
    assert runs == [datetime(2025, 11, 3, 14, tzinfo=UTC), datetime(2025, 11, 10, 14, tzinfo=UTC)]
    assert describe("0 9 * * 1", NY) == "Mondays at 09:00"


def test_weekly_digest_keeps_local_time_across_the_spring_dst_change():
    with time_machine.travel(ny(2026, 3, 3, 12, 0), tick=False):
        runs = next_runs("0 9 * * 1", NY, datetime.now(UTC), count=2)
    assert runs == [datetime(2026, 3, 9, 13, tzinfo=UTC), datetime(2026, 3, 16, 13, tzinfo=UTC)]


def test_time_in_the_repeated_autumn_hour_is_one_slot_not_two():
    # APScheduler fires a Sunday 01:30 job twice on 2 Nov 2025 (01:30 EDT and 01:30 EST): one slot here.
    times = fire_times("30 1 * * 0", NY, ny(2025, 11, 1, 12, 0), ny(2025, 11, 3, 0, 0))
    assert times == [datetime(2025, 11, 2, 5, 30, tzinfo=UTC)]
    after_second = datetime(2025, 11, 2, 6, 45, tzinfo=UTC)
    assert due_slot("30 1 * * 0", NY, after_second, timedelta(hours=6)) == times[0]


def test_time_skipped_by_the_spring_change_fires_once_an_hour_later():
    times = fire_times("30 2 * * 0", NY, ny(2026, 3, 7, 12, 0), ny(2026, 3, 9, 0, 0))
    assert [t.astimezone(NY).strftime("%a %H:%M %Z") for t in times] == ["Sun 03:30 EDT"]


def test_slot_after_downtime_is_the_latest_within_the_grace_period():
    grace = timedelta(hours=6)
    # Down for three weeks, back on Monday 11:00: one slot, today's 09:00.
    assert due_slot("0 9 * * 1", NY, ny(2025, 11, 3, 11, 0), grace) == MONDAY_0900
    # Back on Wednesday: Monday's slot is past the grace period, nothing is due.
    assert due_slot("0 9 * * 1", NY, ny(2025, 11, 5, 11, 0), grace) is None
    # A schedule set at 10:00 does not fire for 09:00 of the same day.
    assert due_slot("0 9 * * 1", NY, ny(2025, 11, 3, 11, 0), grace, not_before=ny(2025, 11, 3, 10, 0)) is None
    assert period_of(MONDAY_0900) == "2025-11-03T14:00:00Z"


def test_grace_hours_is_a_known_setting():
    assert Settings.from_env({"ROADMAP_DIGEST_GRACE_HOURS": "12"}).digest_grace_hours == 12
    with pytest.raises(SettingsError, match="ROADMAP_DIGEST_GRACE_HOURS"):
        Settings.from_env({"ROADMAP_DIGEST_GRACE_HOURS": "soon"})


# -- sending: exactly once ----------------------------------------------------------------------------------


def make_sender(settings: Settings, store: RoadmapStore, worker: str = "test") -> DigestSender:
    clients = make_clients(settings)
    return DigestSender(
        settings, store, clients.poster, clients.reader, worker=worker, backoff=(0, 0), sleep=lambda s: None
    )


@pytest.fixture
def sender(settings, store) -> DigestSender:
    return make_sender(settings, store)


def digests(fake_slack, channel: str = "CDIGEST") -> list[dict]:
    """Top-level digest messages in the channel (what a reader sees), newest first."""
    return [
        m for m in fake_slack.history.get(channel, [])
        if (m.get("metadata") or {}).get("event_type") == MARKER_EVENT and not m.get("thread_ts")
    ]  # fmt: skip


def test_scheduled_digest_is_posted_once_per_slot(sender, store, fake_slack):
    first = sender.run_due(now=MONDAY_0900 + timedelta(seconds=5))
    again = sender.run_due(now=MONDAY_0900 + timedelta(minutes=1))
    assert [o.status for o in first] == ["sent"] and again == []
    posted = fake_slack.calls_to("chat.postMessage")
    assert len(posted) == 1 and posted[0].body["channel"] == "CDIGEST"
    assert posted[0].json_field("metadata")["event_payload"]["period"] == "2025-11-03T14:00:00Z"
    assert_valid_message({"text": posted[0].body["text"], "blocks": posted[0].json_field("blocks")})
    (run,) = store.digests.runs("CDIGEST")
    assert (run.status, run.attempts, run.message_ts) == ("sent", 1, digests(fake_slack)[0]["ts"])
    # Next week is a new slot.
    assert [o.status for o in sender.run_due(now=MONDAY_0900 + timedelta(days=7))] == ["sent"]


def test_two_clocks_on_one_database_post_once_per_slot(settings, store, engine_factory, fake_slack):
    clocks = [
        Clock(make_sender(settings, store, "a")),
        Clock(make_sender(settings, RoadmapStore(engine_factory()), "b")),
    ]
    slots = [MONDAY_0900 + timedelta(days=7 * k, seconds=1) for k in range(4)]
    for now in slots:
        barrier = threading.Barrier(2)
        results: list = []

        def tick(clock, now=now, barrier=barrier, results=results):
            barrier.wait()
            results.extend(clock.reload(now))

        threads = [threading.Thread(target=tick, args=(c,)) for c in clocks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [o.status for o in results] == ["sent"]
    assert len(digests(fake_slack)) == len(slots)
    assert len(fake_slack.calls_to("chat.postMessage")) == len(slots)
    assert all(r.status == "sent" and r.attempts == 1 for r in store.digests.runs("CDIGEST"))


def test_rate_limit_then_success_posts_once(sender, store, fake_slack):
    fake_slack.script("chat.postMessage", Scripted(status=429, headers={"Retry-After": "1"}))
    (outcome,) = sender.run_due(now=MONDAY_0900)
    assert outcome.status == "sent"
    assert len(fake_slack.calls_to("chat.postMessage")) == 2  # the 429, then the post
    assert len(digests(fake_slack)) == 1
    assert store.digests.runs("CDIGEST")[0].attempts == 1


def test_server_error_after_the_message_was_posted_is_not_reposted(sender, store, fake_slack):
    fake_slack.script("chat.postMessage", Scripted(status=500, after_answer=True))
    (outcome,) = sender.run_due(now=MONDAY_0900)
    assert outcome.status == "sent"
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert fake_slack.calls_to("conversations.history"), "the marker was checked before any repost"
    (message,) = digests(fake_slack)
    assert store.digests.runs("CDIGEST")[0].message_ts == message["ts"]


def test_dropped_connection_after_posting_is_not_reposted(sender, fake_slack):
    fake_slack.script("chat.postMessage", Scripted(drop=True, after_answer=True))
    assert [o.status for o in sender.run_due(now=MONDAY_0900)] == ["sent"]
    assert len(digests(fake_slack)) == 1 and len(fake_slack.calls_to("chat.postMessage")) == 1


def test_server_error_without_a_post_is_retried_and_posts_once(sender, fake_slack):
    fake_slack.script("chat.postMessage", Scripted(status=503))
    assert [o.status for o in sender.run_due(now=MONDAY_0900)] == ["sent"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert len(digests(fake_slack)) == 1


def test_persistent_failure_is_recorded_and_retried_on_a_later_tick(sender, store, fake_slack):
    fake_slack.script("chat.postMessage", *[Scripted(status=500)] * 3)
    (failed,) = sender.run_due(now=MONDAY_0900)
    assert failed.status == "failed" and "500" in failed.error
    run = store.digests.runs("CDIGEST")[0]
    assert (run.status, run.attempts) == ("failed", 1) and "500" in run.error
    assert sender.run_due(now=MONDAY_0900 + timedelta(seconds=30)) == []  # still backing off
    (retried,) = sender.run_due(now=MONDAY_0900 + timedelta(minutes=1, seconds=1))
    assert retried.status == "sent"
    assert len(digests(fake_slack)) == 1
    run = store.digests.runs("CDIGEST")[0]
    assert (run.status, run.attempts, run.error) == ("sent", 2, None)


def test_refusal_by_slack_is_recorded_with_slacks_reason(sender, store, fake_slack):
    fake_slack.script("chat.postMessage", Scripted(status=200, body={"ok": False, "error": "channel_not_found"}))
    (outcome,) = sender.run_due(now=MONDAY_0900)
    assert outcome.status == "failed" and "channel_not_found" in outcome.error
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # a refusal is not retried at once
    assert "channel_not_found" in store.digests.runs("CDIGEST")[0].error


def test_crash_after_posting_is_finished_without_reposting(sender, store, fake_slack):
    # A worker claimed the slot, posted, and died before recording it.
    store.digests.claim(
        "CDIGEST", "2025-11-03T14:00:00Z", "crashed", now=MONDAY_0900,
        stale_after=timedelta(minutes=10), retry_after=lambda n: timedelta(minutes=1),
    )  # fmt: skip
    sent = sender.poster.chat_postMessage(
        channel="CDIGEST",
        text="digest",
        metadata={"event_type": MARKER_EVENT, "event_payload": {"period": "2025-11-03T14:00:00Z", "part": 1}},
    )
    assert sender.run_due(now=MONDAY_0900 + timedelta(minutes=5)) == []  # a fresh claim is left alone
    (outcome,) = sender.run_due(now=MONDAY_0900 + timedelta(minutes=15))
    assert outcome.status == "sent" and outcome.message_ts == sent["ts"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # only the crashed worker's post
    run = store.digests.runs("CDIGEST")[0]
    assert (run.status, run.attempts, run.message_ts) == ("sent", 2, sent["ts"])


def test_crash_without_a_post_is_sent_once_after_the_claim_goes_stale(sender, store, fake_slack):
    store.digests.claim(
        "CDIGEST", "2025-11-03T14:00:00Z", "crashed", now=MONDAY_0900,
        stale_after=timedelta(minutes=10), retry_after=lambda n: timedelta(minutes=1),
    )  # fmt: skip
    (outcome,) = sender.run_due(now=MONDAY_0900 + timedelta(minutes=15))
    assert outcome.status == "sent" and len(digests(fake_slack)) == 1


def test_missed_slot_is_sent_once_on_catch_up_not_once_per_missed_week(sender, store, fake_slack):
    back = ny(2025, 11, 3, 11, 30)  # after three weeks down, 2.5 hours after Monday's slot
    assert [o.period for o in sender.run_due(now=back)] == ["2025-11-03T14:00:00Z"]
    assert sender.run_due(now=back + timedelta(minutes=1)) == []
    assert len(digests(fake_slack)) == 1 and len(store.digests.runs("CDIGEST")) == 1


def test_missed_slot_beyond_the_grace_period_is_skipped(sender, fake_slack):
    assert sender.run_due(now=ny(2025, 11, 3, 16, 0)) == []  # 7 h late, grace is 6 h
    assert fake_slack.calls_to("chat.postMessage") == []


def test_slack_schedule_replaces_the_default_and_off_stops_it(sender, store):
    assert sender.targets() == [Target("CDIGEST", "0 9 * * 1", "America/New_York", None, "env")]
    store.digests.set_schedule("CDIGEST", cron="0 8 * * 5", timezone="Europe/Warsaw", enabled=True, updated_by="U1")
    store.digests.set_schedule("COTHER", cron="0 9 * * 1", timezone="America/New_York", enabled=True, updated_by="U1")
    assert [(t.channel, t.cron, t.timezone) for t in sender.targets()] == [
        ("CDIGEST", "0 8 * * 5", "Europe/Warsaw"),
        ("COTHER", "0 9 * * 1", "America/New_York"),
    ]
    store.digests.set_schedule("CDIGEST", cron="0 8 * * 5", timezone="Europe/Warsaw", enabled=False, updated_by="U1")
    assert [t.channel for t in sender.targets()] == ["COTHER"]


def test_clock_keeps_one_cron_job_per_scheduled_channel(settings, store):
    clock = Clock(make_sender(settings, store))
    clock.reload(MONDAY_0900 - timedelta(days=1))
    assert [j.id for j in clock.scheduler.get_jobs()] == ["digest:CDIGEST"]
    store.digests.set_schedule("CDIGEST", cron="0 9 * * 1", timezone="America/New_York", enabled=False, updated_by="U1")
    clock.reload(MONDAY_0900 - timedelta(days=1))
    assert clock.scheduler.get_jobs() == []


# -- content ------------------------------------------------------------------------------------------------


def all_text(messages: list[dict]) -> str:
    for m in messages:
        assert_valid_message(m)
    return "\n".join(message_text(m) for m in messages)


def test_digest_of_the_seeded_roadmap_shows_pairs_next_moves_overdue_stale_and_news(sender, store, seed_doc):
    doc = copy.deepcopy(seed_doc)
    doc["clusters"][0]["steps"][2]["due"] = date(2025, 10, 1)  # SEC-3, still proposed
    store.transfer.import_doc(doc)
    store.steps.set_status("SEC-2", "done", actor="U1")
    store.developments.record(
        text="Minsk restated its pledge", author="U07ANALYST", step="SEC-1", occurred_on=date(2025, 10, 30)
    )
    # A previous digest: only what was recorded after it is news.
    assert sender.send_now("CDIGEST").status == "sent"
    store.developments.record(
        text="Kellogg met Lukashenko again",
        author="U07ANALYST",
        cluster="diplomatic",
        occurred_on=date(2025, 11, 1),
        slack=SlackMessage("C5", "1762000000.000100", "https://policy.slack.com/archives/C5/p1762000000000100"),
    )
    now = datetime.now(UTC)
    text = all_text(sender.build("CDIGEST", now))
    assert "Security cooperation" in text and "Normalisation of diplomatic relations" in text
    assert "`SEC-1` *Belarus*" in text and "`SEC-2` *United States* ✅ done" in text
    assert "next move: *Belarus*" in text  # SEC-2 done, SEC-1 open
    late = (now.astimezone(NY).date() - date(2025, 10, 1)).days
    assert "Overdue (1)" in text and f"{late} days overdue" in text
    assert "Stale — no development for 30 days" in text and "no development recorded" in text
    assert "Kellogg met Lukashenko again" in text and "<@U07ANALYST>" in text
    assert "<https://policy.slack.com/archives/C5/p1762000000000100|" in text
    assert "Minsk restated its pledge" not in text  # news of the previous digest
    assert "Totals per side" in text and "*Belarus* —" in text


def test_stale_uses_the_configured_days(settings, store):
    store.developments.record(text="talks", author="U1", step="SEC-5", occurred_on=date(2025, 10, 14))
    short = make_sender(dataclasses.replace(settings, stale_days=10), store)
    long = make_sender(settings, store)
    assert "`SEC-5`" in _stale_section(short.build("CDIGEST", MONDAY_0900))
    assert "`SEC-5`" not in _stale_section(long.build("CDIGEST", MONDAY_0900))


def _stale_section(messages: list[dict]) -> str:
    return "\n".join(
        b["text"]["text"]
        for m in messages
        for b in m["blocks"]
        if b["type"] == "section" and "Stale" in b["text"]["text"]
    )


def test_digest_of_an_empty_store_says_so(settings, empty_store):
    messages = make_sender(settings, empty_store).build("CDIGEST", MONDAY_0900)
    assert len(messages) == 1
    assert "roadmap is empty" in all_text(messages)


def big_roadmap(clusters: int = 24, pairs: int = 4) -> dict:
    doc = {
        "format": "roadmap/1",
        "roadmap": {"title": "Big roadmap"},
        "sides": [{"code": "A", "name": "Alpha"}, {"code": "B", "name": "Beta"}],
    }
    doc["clusters"] = []
    doc["developments"] = []
    for c in range(clusters):
        steps = []
        for p in range(pairs):
            a, b = f"C{c}-{2 * p + 1}", f"C{c}-{2 * p + 2}"
            steps.append(
                {
                    "id": a,
                    "side": "A",
                    "title": f"Alpha promise {a} " + "x" * 80,
                    "status": "done" if p == 0 else "proposed",
                    "answers": [b],
                }
            )
            steps.append({"id": b, "side": "B", "title": f"Beta promise {b} " + "y" * 80, "status": "agreed"})
            doc["developments"].append(
                {"date": date(2025, 10, 20), "cluster": f"c{c}", "step": a, "text": f"news about {a}"}
            )
        doc["clusters"].append({"slug": f"c{c}", "prefix": f"C{c}", "title": f"Cluster number {c}", "steps": steps})
    assert validate(doc) == []
    return doc  # fmt: skip


def test_long_digest_continues_in_a_thread_with_nothing_cut(settings, empty_store, fake_slack):
    empty_store.transfer.import_doc(big_roadmap())
    sender = make_sender(settings, empty_store)
    messages = sender.build("CDIGEST", MONDAY_0900)
    assert len(messages) > 1
    text = all_text(messages)
    for c in range(24):
        for n in range(1, 9):
            assert f"`C{c}-{n}`" in text, f"C{c}-{n} was cut"
    assert "Continued in the thread" in message_text(messages[0])
    assert "cut to fit" not in text and "more blocks not shown" not in text
    (outcome,) = sender.run_due(now=MONDAY_0900)
    assert outcome.status == "sent" and outcome.parts == len(messages)
    calls = fake_slack.calls_to("chat.postMessage")
    assert len(calls) == len(messages)
    assert "thread_ts" not in calls[0].body
    assert all(c.body["thread_ts"] == outcome.message_ts for c in calls[1:])
    parts = [c.json_field("metadata")["event_payload"]["part"] for c in calls]
    assert parts == list(range(1, len(messages) + 1))


def test_crash_in_the_middle_of_a_thread_posts_only_the_missing_parts(settings, empty_store, fake_slack):
    empty_store.transfer.import_doc(big_roadmap())
    sender = make_sender(settings, empty_store)
    total = len(sender.build("CDIGEST", MONDAY_0900))
    period = "2025-11-03T14:00:00Z"
    # A worker claimed the slot, posted parts 1 and 2 of the thread, and died.
    empty_store.digests.claim(
        "CDIGEST", period, "crashed", now=MONDAY_0900,
        stale_after=timedelta(minutes=10), retry_after=lambda n: timedelta(minutes=1),
    )  # fmt: skip
    parent = None
    for part in (1, 2):
        marker = {"event_type": MARKER_EVENT, "event_payload": {"period": period, "part": part, "parts": total}}
        sent = sender.poster.chat_postMessage(channel="CDIGEST", text=f"part {part}", thread_ts=parent, metadata=marker)
        parent = parent or sent["ts"]
    (done,) = sender.run_due(now=MONDAY_0900 + timedelta(minutes=15))
    assert done.status == "sent" and done.message_ts == parent
    posted = [m for m in fake_slack.history["CDIGEST"] if (m.get("metadata") or {}).get("event_type") == MARKER_EVENT]
    numbers = sorted(m["metadata"]["event_payload"]["part"] for m in posted)
    assert numbers == list(range(1, total + 1)), "each part exactly once"
    assert all(m.get("thread_ts") == parent for m in posted if m["ts"] != parent)


# -- the clock process --------------------------------------------------------------------------------------


def test_clock_process_catches_up_on_start_and_stops_cleanly_on_sigterm(tmp_path, fake_slack):
    import os
    import signal
    import subprocess
    import sys

    an_hour_ago = datetime.now(NY) - timedelta(hours=1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROADMAP_", "SLACK_", "DATABASE_URL"))},
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": fake_slack.api_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'clock.db'}",
        "ROADMAP_DIGEST_CHANNEL": "CDIGEST",
        "ROADMAP_DIGEST_SCHEDULE": f"{an_hour_ago.minute} {an_hour_ago.hour} * * *",
    }
    proc = subprocess.Popen([sys.executable, "-m", "bot", "clock"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        posted = fake_slack.wait_for("chat.postMessage", timeout=30)
        assert len(posted) == 1 and posted[0].body["channel"] == "CDIGEST"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "digest clock stopped" in err
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


def test_a_cluster_with_more_than_a_list_holds_says_exactly_how_many_more(settings, empty_store):
    """Per cluster the digest lists the first pairs, overdue and stale steps; the rest are counted exactly and
    pointed to, never dropped silently, and the totals per side count everything."""
    doc = big_roadmap(clusters=1, pairs=30)
    for step in doc["clusters"][0]["steps"]:
        step["due"] = date(2025, 1, 1)  # every open step overdue
    empty_store.transfer.import_doc(doc)
    content = empty_store.digests.content(
        today=date(2025, 10, 27), since=datetime(2025, 10, 1, tzinfo=UTC), stale_days=30, items_per_list=10
    )
    cluster = content.clusters[0]
    assert len(cluster.open_pairs) == 10 and cluster.open_pairs_total == 30
    assert len(cluster.overdue) == 10 and cluster.overdue_total == 59  # C0-1 is done
    assert len(cluster.stale) == 10 and cluster.stale_total == 59 - 29  # 29 Alpha steps had news on Oct 20
    assert next(p.first.status for p in cluster.open_pairs) == "done"  # where one side owes the move: first
    totals = {t.side.code: t for t in content.totals}
    assert totals["A"].overdue + totals["B"].overdue == 59 and totals["B"].owed == 30
    messages = make_sender(settings, empty_store).build("CDIGEST", MONDAY_0900)
    for m in messages:
        assert_valid_message(m)
    text = all_text(messages)
    assert "Open reciprocal pairs (30)" in text and "… and 15 more" in text  # the sender lists 15 per cluster
