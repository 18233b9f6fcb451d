"""Cluster threads through the real path: signed `/roadmap threads` and message events → guard → Bolt → listener →
store, with the Slack Web API calls (posts, updates, permalinks, reactions) observed on the loopback fake."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event

from bot.app import create_app
from bot.web import SlackWSGI
from handlers.registry import Caller, run_command
from store import threads as store_threads
from store.views import ThreadSlot
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import send_command, send_event

CHANNEL = "C100"
REPLY_TS = "1754006400.000100"  # 2025-08-01 00:00:40 UTC, still 31 July in New York (ROADMAP_TIMEZONE)
SLUGS = ["security", "economic", "humanitarian", "mediation", "ukraine", "diplomatic"]


# -- arranging ---------------------------------------------------------------------------------------------------


def run_threads(web, fake_slack, channel: str = CHANNEL, user: str = "U100") -> dict:
    """`/roadmap threads` in `channel`; waits for its summary and returns it."""
    url = fake_slack.response_url(f"threads-{channel}")
    before = len(fake_slack.calls_to("response_url"))
    response = send_command(web, "threads", channel=channel, user=user, response_url=url)
    assert response.status == 200, response.body
    assert_valid_message(response.json())
    assert response.json()["response_type"] == "ephemeral"
    summaries = fake_slack.wait_for("response_url", before + 1)
    assert len(summaries) == before + 1 and summaries[-1].path.endswith(channel)
    return summaries[-1].body


def threads_of(store, channel: str = CHANNEL) -> dict[str, str]:
    return {t["cluster"]: t["ts"] for t in store.transfer.export_doc().get("threads", []) if t["channel"] == channel}


def reply(text: str, thread_ts: str, ts: str = REPLY_TS, user: str = "U200", channel: str = CHANNEL, **extra) -> dict:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }


def slack_developments(store) -> list[dict]:
    return [d for d in store.transfer.export_doc()["developments"] if d.get("slack")]


@pytest.fixture
def threads(web, fake_slack, store) -> dict[str, str]:
    """The cluster threads of CHANNEL, posted through `/roadmap threads`; fake Slack's record starts clean."""
    run_threads(web, fake_slack)
    posted = threads_of(store)
    fake_slack.reset()
    return posted


def app_with(settings, store, **changes):
    return SlackWSGI(create_app(dataclasses.replace(settings, **changes), store), store)


@contextmanager
def development_inserts_fail(engine, statement_start: str = "INSERT INTO DEVELOPMENT"):
    """The database drops the connection on statements starting so (by default: inserting a development)."""

    def fail(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(statement_start):
            raise engine.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


# -- /roadmap threads --------------------------------------------------------------------------------------------


def test_threads_posts_one_parent_per_cluster_and_remembers_each(web, fake_slack, store):
    summary = run_threads(web, fake_slack)
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == len(SLUGS)
    for post in posts:
        message = {"text": post.body["text"], "blocks": post.json_field("blocks")}
        assert_valid_message(message)
        assert "Reply in this thread to record a development" in message_text(message)
        assert post.body["channel"] == CHANNEL
    remembered = threads_of(store)
    assert sorted(remembered) == sorted(SLUGS)
    assert sorted(remembered.values()) == sorted(m["ts"] for m in fake_slack.history[CHANNEL])
    for slug, ts in remembered.items():
        assert store.threads.cluster_of(CHANNEL, ts) == slug
    assert_valid_message({"text": summary["text"], "blocks": summary["blocks"]})
    assert "Posted" in message_text({"text": summary["text"], "blocks": summary["blocks"]})


def test_threads_run_twice_refreshes_the_parents_instead_of_duplicating(web, fake_slack, store):
    run_threads(web, fake_slack)
    first = threads_of(store)
    summary = run_threads(web, fake_slack)
    assert len(fake_slack.calls_to("chat.postMessage")) == len(SLUGS)
    updates = fake_slack.calls_to("chat.update")
    assert sorted(u.body["ts"] for u in updates) == sorted(first.values())
    for update in updates:
        assert_valid_message({"text": update.body["text"], "blocks": update.json_field("blocks")})
    assert threads_of(store) == first
    assert "Refreshed" in message_text({"text": summary["text"], "blocks": summary["blocks"]})


def test_threads_in_two_channels_each_get_their_own_set(web, fake_slack, store):
    run_threads(web, fake_slack, channel="C1")
    run_threads(web, fake_slack, channel="C2")
    assert len(fake_slack.calls_to("chat.postMessage")) == 2 * len(SLUGS)
    one, two = threads_of(store, "C1"), threads_of(store, "C2")
    assert sorted(one) == sorted(two) == sorted(SLUGS)
    assert not set(one.values()) & set(two.values())
    assert not fake_slack.calls_to("chat.update")


def test_a_parent_deleted_in_slack_is_posted_again(web, fake_slack, store, threads):
    fake_slack.script("chat.update", Scripted(status=200, body={"ok": False, "error": "message_not_found"}))
    run_threads(web, fake_slack)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    now = threads_of(store)
    assert sorted(now) == sorted(threads)
    assert len(set(now.values()) - set(threads.values())) == 1


def test_a_dropped_connection_while_posting_gives_the_claim_back_for_the_next_run(web, fake_slack, store):
    fake_slack.script("chat.postMessage", Scripted(drop=True))
    summary = run_threads(web, fake_slack)
    assert "Could not post" in message_text({"text": summary["text"], "blocks": summary["blocks"]})
    assert len(threads_of(store)) == len(SLUGS) - 1
    run_threads(web, fake_slack)
    assert sorted(threads_of(store)) == sorted(SLUGS)
    assert len(fake_slack.calls_to("chat.update")) == len(SLUGS) - 1


def test_threads_where_the_bot_is_not_invited_says_so_and_keeps_nothing(web, fake_slack, store):
    fake_slack.script("chat.postMessage", Scripted(status=200, body={"ok": False, "error": "not_in_channel"}))
    summary = run_threads(web, fake_slack)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # the other clusters were not even tried
    assert "/invite @roadmap" in message_text({"text": summary["text"], "blocks": summary["blocks"]})
    assert threads_of(store) == {}
    run_threads(web, fake_slack)  # invited now: every parent gets posted
    assert sorted(threads_of(store)) == sorted(SLUGS)


def test_threads_is_for_editors(settings, store, fake_slack):
    web = app_with(settings, store, editors=("UEDITOR",))
    response = send_command(web, "threads", user="U999", response_url=fake_slack.response_url())
    assert response.status == 200
    assert "Only editors" in message_text(response.json())
    assert not fake_slack.calls_to("chat.postMessage") and threads_of(store) == {}


def test_threads_in_the_console_says_it_only_works_in_slack(store):
    reply_ = run_command(store, "threads", Caller())
    assert not reply_.ok
    assert "only works in Slack" in message_text(reply_.message)
    help_text = message_text(run_command(store, "help", Caller()).message)
    assert "/roadmap threads" in help_text


def test_two_runs_in_one_channel_claim_each_cluster_once(store):
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda n: store.threads.claim_all("C1", f"U{n}"), range(4)))
    claims = [slot for run in runs for slot in run if slot.claim]
    assert sorted(s.cluster for s in claims) == sorted(SLUGS)  # each cluster claimed by exactly one run
    winner = next(s for s in claims if s.cluster == "security")
    assert store.threads.confirm("C1", "security", winner.claim, "1.000001")
    assert store.threads.cluster_of("C1", "1.000001") == "security"
    again = {s.cluster: s for s in store.threads.claim_all("C1", "U9")}
    assert again["security"].ts == "1.000001" and again["economic"] == ThreadSlot("economic")


def test_a_claim_left_by_a_dead_run_is_taken_over(store, monkeypatch):
    dead = {s.cluster: s.claim for s in store.threads.claim_all("C1", "U1")}
    monkeypatch.setattr(store_threads, "PENDING_CLAIM_SECONDS", -1)
    fresh = {s.cluster: s.claim for s in store.threads.claim_all("C1", "U2")}
    assert all(fresh.values()) and not set(fresh.values()) & set(dead.values())
    assert not store.threads.confirm("C1", "security", dead["security"], "1.000001")  # too late
    assert store.threads.confirm("C1", "security", fresh["security"], "1.000002")


# -- replies -----------------------------------------------------------------------------------------------------


def test_reply_in_a_cluster_thread_is_recorded_with_date_permalink_and_receipt(web, fake_slack, store, threads):
    response = send_event(web, reply("Minsk restated its <https://example.org|pledge> &amp; more", threads["security"]))
    assert response.status == 200
    reaction = fake_slack.wait_for("reactions.add")
    assert [(r.body["name"], r.body["timestamp"]) for r in reaction] == [("memo", REPLY_TS)]
    dev = store.developments.of_message(CHANNEL, REPLY_TS)
    assert dev.cluster == "security" and dev.step is None and dev.author == "U200"
    assert dev.text == "Minsk restated its pledge (https://example.org) & more"
    assert dev.occurred_on == date(2025, 7, 31)  # the message's date in ROADMAP_TIMEZONE, not UTC
    # Formed as Slack forms a reply's permalink (workspace URL from auth.test), without a chat.getPermalink call.
    assert dev.permalink == (
        f"https://policy.slack.com/archives/{CHANNEL}/p{REPLY_TS.replace('.', '')}"
        f"?thread_ts={threads['security']}&cid={CHANNEL}"
    )
    assert not fake_slack.calls_to("chat.getPermalink")
    assert store.roadmap.cluster_detail("security").developments[0].text == dev.text


def test_a_failing_permalink_loses_neither_the_reply_nor_its_receipt(web, fake_slack, store, threads):
    # No workspace URL (auth.test fails), so the permalink is fetched after the answer, and that fails too.
    fake_slack.script("auth.test", *[Scripted(drop=True)] * 3)  # the reader client retries twice
    fake_slack.script("chat.getPermalink", *[Scripted(drop=True)] * 3)
    assert send_event(web, reply("Talks resumed", threads["security"])).status == 200
    assert fake_slack.wait_for("reactions.add", timeout=15)  # after the reader client's retry backoff
    dev = store.developments.of_message(CHANNEL, REPLY_TS)
    assert dev.text == "Talks resumed" and dev.permalink is None
    assert len(fake_slack.calls_to("chat.getPermalink")) == 3


def test_retries_with_the_same_or_another_event_id_record_one_row(web, fake_slack, store, threads):
    event_ = reply("Aviation talks opened", threads["economic"])
    assert send_event(web, event_, event_id="Ev1").status == 200
    assert send_event(web, event_, event_id="Ev1", retry=1).status == 200
    assert send_event(web, event_, event_id="Ev2", retry=2).status == 200  # a duplicate delivery
    assert len(slack_developments(store)) == 1
    assert len(store.search("Aviation talks opened").developments) == 1


def test_a_failed_write_answers_500_so_slack_retries_and_the_retry_records_it(web, fake_slack, store, threads):
    event_ = reply("Prisoner release announced", threads["humanitarian"])
    with development_inserts_fail(store.engine):
        response = send_event(web, event_, event_id="Ev9")
    assert response.status >= 500
    assert slack_developments(store) == []
    assert not fake_slack.calls_to("reactions.add")  # no receipt for what was not stored
    assert send_event(web, event_, event_id="Ev9", retry=1).status == 200
    assert [d["text"] for d in slack_developments(store)] == ["Prisoner release announced"]
    assert fake_slack.wait_for("reactions.add")


def test_a_reply_naming_a_step_is_linked_to_it(web, fake_slack, store, threads):
    send_event(web, reply("Progress on sec-2 reported by both sides", threads["security"]))
    assert store.developments.of_message(CHANNEL, REPLY_TS).step == "SEC-2"
    assert store.roadmap.step_detail("SEC-2").developments[0].text.startswith("Progress on sec-2")


def test_an_editors_status_reply_changes_the_step_once(settings, store, fake_slack):
    web = app_with(settings, store, editors=("UEDITOR",))
    run_threads(web, fake_slack, user="UEDITOR")
    parent = threads_of(store)["security"]
    event_ = reply("SEC-2 done: signed in Minsk", parent, user="UEDITOR")
    assert send_event(web, event_).status == 200
    assert send_event(web, event_, event_id="Ev2", retry=1).status == 200
    detail = store.roadmap.step_detail("SEC-2")
    assert detail.step.status == "done"
    assert [(h.actor, h.new_value, h.note) for h in detail.history] == [("UEDITOR", "done", "signed in Minsk")]
    assert detail.developments[0].text == "SEC-2 done: signed in Minsk"
    names = {r.body["name"] for r in fake_slack.wait_for("reactions.add", 3)}
    assert names == {"memo", "pencil2"}


def test_a_status_change_lost_after_its_reply_was_stored_is_applied_by_the_retry(web, fake_slack, store, threads):
    event_ = reply("ECO-2 agreed: initialled in Minsk", threads["economic"])
    with development_inserts_fail(store.engine, "UPDATE STEP"):
        assert send_event(web, event_).status >= 500
    assert store.developments.of_message(CHANNEL, REPLY_TS) is not None  # the reply itself was committed
    assert store.roadmap.step_detail("ECO-2").step.status == "proposed"
    assert send_event(web, event_, retry=1).status == 200
    detail = store.roadmap.step_detail("ECO-2")
    assert detail.step.status == "agreed" and len(detail.history) == 1


def test_a_late_retry_does_not_undo_a_newer_status_change(web, fake_slack, store, threads):
    event_ = reply("ECO-2 agreed: initialled in Minsk", threads["economic"])
    send_event(web, event_)
    store.steps.set_status("ECO-2", "stalled", actor="U1", note="talks paused")
    send_event(web, event_, event_id="Ev2", retry=3)
    assert store.roadmap.step_detail("ECO-2").step.status == "stalled"


def test_a_non_editors_status_reply_is_recorded_without_changing_the_step(settings, store, fake_slack):
    web = app_with(settings, store, editors=("UEDITOR",))
    run_threads(web, fake_slack, user="UEDITOR")
    before = store.roadmap.step_detail("SEC-2").step.status
    send_event(web, reply("SEC-2 done: signed in Minsk", threads_of(store)["security"], user="U200"))
    detail = store.roadmap.step_detail("SEC-2")
    assert detail.step.status == before and detail.history == []
    assert detail.developments[0].text == "SEC-2 done: signed in Minsk"
    note = fake_slack.wait_for("chat.postEphemeral")
    assert len(note) == 1 and note[0].body["user"] == "U200"
    assert "only editors" in note[0].body["text"]


def test_a_status_word_that_runs_on_into_a_sentence_is_not_a_status_change(web, fake_slack, store, threads):
    send_event(web, reply("SEC-2 agreed to meet again on Monday", threads["security"]))
    assert store.roadmap.step_detail("SEC-2").step.status == "proposed"
    assert store.developments.of_message(CHANNEL, REPLY_TS).step == "SEC-2"


def test_an_edit_updates_the_development_and_an_older_edit_does_not_undo_it(web, fake_slack, store, threads):
    parent = threads["security"]
    send_event(web, reply("Talks in Vilnius", parent))

    def edit(text: str, edited_ts: str, event_id: str):
        changed = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": CHANNEL,
            "ts": edited_ts,
            "event_ts": edited_ts,
            "message": reply(text, parent, edited={"user": "U200", "ts": edited_ts}),
            "previous_message": reply("Talks in Vilnius", parent),
        }
        return send_event(web, changed, event_id=event_id)

    assert edit("Talks in Warsaw about SEC-3", "1754006500.000000", "EvE2").status == 200
    dev = store.developments.of_message(CHANNEL, REPLY_TS)
    assert dev.text == "Talks in Warsaw about SEC-3" and dev.step == "SEC-3"
    edited = next(d for d in slack_developments(store) if d["slack"]["ts"] == REPLY_TS)["edited_at"]
    assert edited.timestamp() == 1754006500
    assert edit("Talks in Riga", "1754006450.000000", "EvE1").status == 200  # delivered late
    assert store.developments.of_message(CHANNEL, REPLY_TS).text == "Talks in Warsaw about SEC-3"
    assert len(slack_developments(store)) == 1


def test_a_deleted_reply_is_retracted_kept_in_history_but_no_longer_shown(web, fake_slack, store, threads):
    parent = threads["security"]
    send_event(web, reply("Unconfirmed rumour about talks", parent))
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": CHANNEL,
        "ts": "1754006600.000000",
        "event_ts": "1754006600.000000",
        "deleted_ts": REPLY_TS,
        "previous_message": reply("Unconfirmed rumour about talks", parent),
    }
    assert send_event(web, deleted, event_id="EvD").status == 200
    assert send_event(web, deleted, event_id="EvD", retry=1).status == 200
    assert store.developments.of_message(CHANNEL, REPLY_TS).retracted
    assert not store.search("Unconfirmed rumour").developments
    assert all("rumour" not in d.text for d in store.roadmap.cluster_detail("security").developments)
    assert slack_developments(store)[0]["retracted_at"].timestamp() == 1754006600
    send_event(web, reply("Unconfirmed rumour about talks", parent), event_id="EvLate", retry=3)
    assert store.developments.of_message(CHANNEL, REPLY_TS).retracted  # a late retry does not bring it back


def test_a_thread_broadcast_is_a_reply_and_is_recorded(web, fake_slack, store, threads):
    send_event(web, reply("Also sent to the channel", threads["ukraine"], subtype="thread_broadcast"))
    assert store.developments.of_message(CHANNEL, REPLY_TS).cluster == "ukraine"


def test_messages_that_are_not_human_replies_in_cluster_threads_are_ignored_but_acknowledged(
    web, fake_slack, store, threads
):
    parent = threads["security"]
    ignored = [
        reply("a bot speaks", parent, bot_id="B999"),
        reply("a classic bot speaks", parent, subtype="bot_message", bot_id="B998"),
        reply("the bot itself", parent, user="UBOT"),
        {"type": "message", "channel": CHANNEL, "user": "U200", "text": "top level", "ts": REPLY_TS},
        reply("a stray thread", "1754000000.000001"),
        reply("the same thread in another channel", parent, channel="C999"),
        reply("joined", parent, subtype="channel_join"),
        {"type": "message", "subtype": "channel_topic", "channel": CHANNEL, "user": "U200", "ts": REPLY_TS},
        reply("the parent itself", parent, ts=parent),
        reply("", parent),
    ]
    for n, event_ in enumerate(ignored):
        response = send_event(web, event_, event_id=f"EvX{n}")
        assert response.status == 200, (event_, response.body)  # a 404 would make Slack retry
    assert slack_developments(store) == []
    assert not fake_slack.calls_to("reactions.add")


def test_a_reply_is_one_transaction_and_no_permalink_call(web, fake_slack, store, threads, engine):
    from sqlalchemy import event

    begun: list[bool] = []

    def on_begin(conn):
        begun.append(bool(conn.get_execution_options().get("readonly")))

    event.listen(engine, "begin", on_begin)
    try:
        text = "SEC-1 and SEC-2 were discussed, ZZZ-9 was not"
        assert send_event(web, reply(text, threads["security"])).status == 200
        fake_slack.wait_for("reactions.add")
    finally:
        event.remove(engine, "begin", on_begin)
    assert begun == [False]  # one write transaction: thread, step ids and the development together
    assert store.developments.of_message(CHANNEL, REPLY_TS).step == "SEC-1"
    assert not fake_slack.calls_to("chat.getPermalink")
