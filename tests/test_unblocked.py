"""A step unblocked, through the real path: `/roadmap after` makes a step wait, marking its last open blocker done
(by command or by a thread status reply) owes each owner a DM in the same transaction, and the outbox worker sends
it once — not for a blocker still open, not twice for a retried request or a second run, not when it went stale
(blocker reopened, a new blocker, the step closed). The channel's cluster card shows blocked and recently
unblocked steps, including the card of another cluster than the blocker's."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from handlers.outbox import OutboxWorker
from store.models import utcnow
from store.unblocking import OWNER_UNBLOCKED
from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import command_body, post_signed, send_event
from tests.test_cards import card_updates
from tests.test_owners import DESK, EDITOR, MARIA, OLEG, make_web, said
from tests.test_threads import reply, run_threads, threads_of

START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 on Tuesday 1 December in New York
LATER = timedelta(minutes=1)


@pytest.fixture
def clock():
    """The clock from START on (ticking, so that the threads of the app and the fake Slack keep working)."""
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


@pytest.fixture
def app(clock, settings, store, fake_slack):
    fake_slack.users.update({EDITOR: "America/New_York", MARIA: "America/New_York", OLEG: "Europe/Minsk"})
    fake_slack.usergroups[DESK] = [MARIA, EDITOR]
    web = make_web(dataclasses.replace(settings, editors=(EDITOR,)), store)
    run_threads(web, fake_slack, user=EDITOR)
    deliver(web)  # what posting the cards and the seed owed
    fake_slack.reset()
    return web


def deliver(web, now: datetime | None = None) -> None:
    """Work off everything due by `now` (a cluster row first, then the card rows it owes)."""
    worker = OutboxWorker(web.services)
    while worker.run_once(now or utcnow() + LATER):
        pass


def dms(fake_slack) -> list[dict]:
    """The DMs sent, each checked as Block Kit."""
    out = []
    for call in fake_slack.calls_to("chat.postMessage"):
        if call.body["channel"].startswith("D"):
            message = {"channel": call.body["channel"], "text": call.body["text"], "blocks": call.json_field("blocks")}
            assert_valid_message(message)
            out.append(message)
    return out


def test_the_last_blocker_done_tells_each_owner_once(app, store, fake_slack):
    said(app, "after ECO-2 SEC-1 SEC-2")
    said(app, f"assign ECO-2 <@{MARIA}|maria> <!subteam^{DESK}|@us-desk>")
    assert "unblocks" not in said(app, "set SEC-1 done")
    deliver(app)
    assert dms(fake_slack) == [] and store.outbox.pending(OWNER_UNBLOCKED) == [], "ECO-2 still waits on SEC-2"

    assert "🔓 This unblocks `ECO-2`" in said(app, "set SEC-2 done signed")
    owed = store.outbox.pending(OWNER_UNBLOCKED)
    eco2, sec2 = store_ids(store, "ECO-2", "SEC-2")
    assert sorted(w.key for w in owed) == sorted([f"{eco2}:{sec2}:{MARIA}", f"{eco2}:{sec2}:{DESK}"])
    deliver(app)
    sent = dms(fake_slack)
    # Maria in person; the desk's members less Maria (told already): the editor. Nobody twice.
    assert sorted(m["channel"] for m in sent) == ["D0EDITOR", "D0MARIA1"]
    for message in sent:
        assert message["text"] == (
            f"🔓 ECO-2 is unblocked: its last blocker SEC-2 was marked done by <@{EDITOR}> on 1 Dec 2026. "
            "Nothing else it waits on is open."
        )
        text = message_text(message)
        assert "Economic ties and sanctions relief" in text and "Belarus" in text and "no due date yet" in text
        (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
        assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
            ("reminder_log", f"{store.scope.id}:ECO-2"),
            ("reminder_done", f"{store.scope.id}:ECO-2"),
        ]
    assert "Your group <!subteam^" in message_text(next(m for m in sent if m["channel"] == "D0EDITOR"))
    # The outbox run again, and the same command again (nothing changed, nothing owed): no second DM.
    deliver(app, utcnow() + timedelta(minutes=10))
    said(app, "set SEC-2 done signed")
    deliver(app, utcnow() + timedelta(minutes=10))
    assert len(dms(fake_slack)) == 2


def store_ids(store, *keys: str) -> list[int]:
    from sqlalchemy import select

    from store.models import Step

    with store.db.session() as s:
        ids = dict(s.exec(select(Step.key, Step.id).where(Step.roadmap_id == store.scope.id)).all())
    return [ids[k] for k in keys]


def test_a_retried_command_owes_the_notice_once(app, store, fake_slack):
    said(app, "after ECO-2 SEC-1")
    said(app, f"assign ECO-2 <@{OLEG}|oleg>")
    body = command_body("set SEC-1 done", user=EDITOR)
    for retry in (None, "1"):
        extra = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        assert post_signed(app, body, "application/x-www-form-urlencoded", extra).status == 200
    assert len(store.outbox.pending(OWNER_UNBLOCKED)) == 1
    deliver(app)
    assert [m["channel"] for m in dms(fake_slack)] == ["D0OLEG01"]


def test_a_thread_status_reply_is_a_door_too_and_its_retry_tells_nobody_twice(app, store, fake_slack):
    said(app, "after ECO-2 SEC-1")
    said(app, f"assign ECO-2 <@{MARIA}|maria>")
    parent = threads_of(store)["security"]
    event = reply("SEC-1 done: signed in Minsk", parent, user=EDITOR)
    assert send_event(app, event, event_id="EvDone").status == 200
    assert send_event(app, event, event_id="EvDone", retry=1).status == 200  # Slack's retry
    assert store.roadmap.step("SEC-1").status == "done"
    deliver(app)
    deliver(app, utcnow() + timedelta(minutes=10))
    (dm,) = dms(fake_slack)
    assert dm["channel"] == "D0MARIA1" and "ECO-2 is unblocked: its last blocker SEC-1" in dm["text"]


@pytest.mark.parametrize(
    "meanwhile",
    [
        "set SEC-1 in progress reopened",  # the blocker is no longer done
        "after ECO-2 SEC-1 SEC-3",  # the step waits on something open again
        "set ECO-2 dropped",  # the step is closed
        f"unassign ECO-2 <@{MARIA}|maria>",  # she no longer owns it
    ],
)
def test_a_notice_gone_stale_before_it_is_sent_is_not_sent(app, store, fake_slack, meanwhile):
    said(app, "after ECO-2 SEC-1")
    said(app, f"assign ECO-2 <@{MARIA}|maria>")
    said(app, "set SEC-1 done")
    said(app, meanwhile)
    deliver(app)
    assert dms(fake_slack) == [] and store.outbox.pending(OWNER_UNBLOCKED) == []


def test_a_step_with_no_owner_tells_nobody_but_its_card_shows_it(app, store, fake_slack):
    cards = threads_of(store)
    said(app, "after ECO-3 SEC-1 SEC-2")
    deliver(app)
    (blocked,) = card_updates(fake_slack, cards["economic"])
    assert "*Blocked* (1)" in message_text(blocked) and "waits on `SEC-1`, `SEC-2`" in message_text(blocked)
    fake_slack.reset()
    said(app, "set SEC-1 done")
    said(app, "set SEC-2 done")
    deliver(app)
    assert dms(fake_slack) == []
    # The blocker's cluster and the unblocked step's (another cluster) are both refreshed.
    (security,) = card_updates(fake_slack, cards["security"])
    (economic,) = card_updates(fake_slack, cards["economic"])
    text = message_text(economic)
    assert "🔓 `ECO-3` unblocked — `SEC-2` done on 1 Dec 2026" in text and "*Blocked*" not in text
    assert "unblocked" not in message_text(security)


def test_the_card_keeps_an_unblocked_step_for_a_week_and_bounds_its_lists(app, store, fake_slack, clock):
    cards = threads_of(store)
    waiting = [f"ECO-{n}" for n in range(1, 8)]
    for key in waiting:
        said(app, f"after {key} SEC-1")
    said(app, "after ECO-8 SEC-2 SEC-3 SEC-4 SEC-5")
    said(app, "set SEC-1 done")
    deliver(app)
    text = message_text(card_updates(fake_slack, cards["economic"])[-1])
    assert "🔓 `ECO-1` unblocked — `SEC-1` done on 1 Dec 2026" in text and "`ECO-3` unblocked" in text
    assert "`ECO-4` unblocked" not in text and "… and 4 more unblocked steps" in text
    assert "*Blocked* (1)" in text and "waits on `SEC-2`, `SEC-3`, `SEC-4` and 1 more" in text
    clock.shift(timedelta(days=8))
    fake_slack.reset()
    said(app, "log economic Belavia flights resumed")
    deliver(app)
    text = message_text(card_updates(fake_slack, cards["economic"])[-1])
    assert "Belavia flights resumed" in text and "unblocked" not in text


def test_a_date_waiting_on_the_blocker_comes_in_the_one_unblocked_notice(app, store, fake_slack):
    said(app, "after ECO-2 SEC-1")
    said(app, f"assign ECO-2 <@{MARIA}|maria>")
    said(app, "due ECO-2 14d after SEC-1")
    said(app, "set SEC-1 done")
    deliver(app)
    (dm,) = dms(fake_slack)  # not a second notice for the date
    assert "ECO-2 is unblocked" in dm["text"] and "due *15 Dec 2026*" in message_text(dm)


def test_the_notices_buttons_are_the_reminders_and_titles_are_escaped(app, store, fake_slack, seed_doc):
    import copy

    from tests.slack_requests import send_interaction
    from tests.test_owners import button_payload

    doc = copy.deepcopy(seed_doc)
    step = next(s for c in doc["clusters"] for s in c["steps"] if s["id"] == "ECO-2")
    step["title"] = "Tell <!channel> & <@U0OLEG01> about it"
    store.transfer.import_doc(doc)
    said(app, "after ECO-2 SEC-1")
    said(app, f"assign ECO-2 <@{MARIA}|maria>")
    said(app, "set SEC-1 done")
    deliver(app)
    (dm,) = dms(fake_slack)
    text = message_text(dm)
    assert "Tell &lt;!channel&gt; &amp; &lt;@U0OLEG01&gt; about it" in text and "<!channel>" not in text
    (actions,) = [b for b in dm["blocks"] if b["type"] == "actions"]
    value = actions["elements"][1]["value"]
    assert send_interaction(app, button_payload("reminder_done", value, EDITOR)).status == 200
    assert store.roadmap.step("ECO-2").status == "done"
