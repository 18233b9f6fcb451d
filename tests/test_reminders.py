"""The reminder DM: at 09:00 in each owner's own time zone (Washington and Minsk, across both DST changes), on
weekdays that are not holidays, one grouped DM per owner and local day, claimed in the database (two clocks send
one), 429s honoured, a failed send retried later and never doubled; the buttons as signed block_actions (a retried
click included), the log modal, `/roadmap remind preview|off|on`, and ROADMAP_REMINDERS=off."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime

import pytest
import time_machine
from slack_sdk.models.views import View

from handlers.reminder_sender import ReminderSender, local_day
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import TEAM, send_interaction
from tests.test_owners import DESK, EDITOR, MARIA, OLEG, READER, button_payload, make_web, said

WASHINGTON, MINSK = "America/New_York", "Europe/Minsk"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def app(settings, store, fake_slack):
    fake_slack.users.update({EDITOR: WASHINGTON, MARIA: WASHINGTON, OLEG: MINSK, READER: WASHINGTON})
    fake_slack.usergroups[DESK] = [EDITOR]
    web = make_web(dataclasses.replace(settings, editors=(EDITOR,)), store)
    said(web, f"assign SEC-2 <@{MARIA}|maria>")  # U.S. side, stale (no development in 30 days)
    said(web, f"assign SEC-1 <@{OLEG}|oleg>")
    fake_slack.reset()
    return web


def sender(web, **changes) -> ReminderSender:
    s = web.services
    settings = dataclasses.replace(s.settings, **changes) if changes else s.settings
    return ReminderSender(settings, s.store, s.clients.poster, s.clients.reader, s.directory, worker="clock-a")


def dms(fake_slack) -> dict[str, list[dict]]:
    """The reminder DMs posted, per DM channel, each validated as Block Kit."""
    out: dict[str, list[dict]] = {}
    for call in fake_slack.calls_to("chat.postMessage"):
        message = {"text": call.body["text"], "blocks": call.json_field("blocks")}
        assert_valid_message(message)
        out.setdefault(call.body["channel"], []).append(message)
    return out


def only_maria(web) -> None:
    """Oleg's 09:00 in Minsk falls inside Maria's window too; these tests watch Maria's DM alone."""
    said(web, f"unassign SEC-1 <@{OLEG}|oleg>")


def tick(web, now: datetime, **changes):
    with time_machine.travel(now, tick=False):
        return sender(web, **changes).run_due(now)


# -- when: each owner's own 09:00, weekdays, not holidays ---------------------------------------------------


@pytest.mark.parametrize(
    "tz, before, at",
    [
        # Washington: EST (UTC−5) before 8 March 2026, EDT (UTC−4) after, EST again from 1 November.
        (WASHINGTON, utc(2026, 3, 6, 13, 59), utc(2026, 3, 6, 14, 0)),  # Friday before the spring change
        (WASHINGTON, utc(2026, 3, 9, 12, 59), utc(2026, 3, 9, 13, 0)),  # Monday after it
        (WASHINGTON, utc(2026, 10, 30, 12, 59), utc(2026, 10, 30, 13, 0)),  # Friday before the autumn change
        (WASHINGTON, utc(2026, 11, 2, 13, 59), utc(2026, 11, 2, 14, 0)),  # Monday after it
        # Minsk: UTC+3 all year, whatever Washington does.
        (MINSK, utc(2026, 3, 6, 5, 59), utc(2026, 3, 6, 6, 0)),
        (MINSK, utc(2026, 3, 9, 5, 59), utc(2026, 3, 9, 6, 0)),
        (MINSK, utc(2026, 11, 2, 5, 59), utc(2026, 11, 2, 6, 0)),
    ],
)
def test_nine_oclock_local_across_dst(tz, before, at):
    assert local_day(tz, before, set()) is None
    assert local_day(tz, at, set()) == at.date()


def test_weekends_holidays_and_the_evening_are_skipped():
    assert local_day(WASHINGTON, utc(2026, 3, 7, 15, 0), set()) is None  # Saturday
    assert local_day(MINSK, utc(2026, 3, 8, 7, 0), set()) is None  # Sunday
    assert local_day(WASHINGTON, utc(2026, 3, 10, 14, 0), {date(2026, 3, 10)}) is None
    assert local_day(WASHINGTON, utc(2026, 3, 10, 23, 0), set()) is None  # 19:00: the window has closed
    # Minsk's Monday starts while it is still Sunday evening in Washington: the local date decides.
    assert local_day(MINSK, utc(2026, 3, 9, 6, 30), set()) == date(2026, 3, 9)


def test_each_owner_gets_one_grouped_dm_at_their_own_nine(app, store, fake_slack):
    assert [s.user for s in tick(app, utc(2026, 3, 9, 6, 0))] == [OLEG]  # 09:00 in Minsk, 02:00 in Washington
    assert list(dms(fake_slack)) == ["D0OLEG01"]
    assert [s.user for s in tick(app, utc(2026, 3, 9, 13, 0))] == [MARIA]  # 09:00 EDT
    assert tick(app, utc(2026, 3, 9, 16, 0)) == []  # at most one a day
    (maria,) = dms(fake_slack)["D0MARIA1"]
    text = message_text(maria)
    assert "SEC-2" in text and "Stale" in text and "SEC-1" not in text
    ids = [e["action_id"] for b in maria["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["reminder_snooze_1d", "reminder_snooze_1w", "reminder_log", "reminder_done"]
    # Time zones are cached: users.info once per owner, not once per tick.
    users_info = [c.body.get("user") for c in fake_slack.calls_to("users.info")]
    assert sorted(users_info) == [MARIA, OLEG]


def test_overdue_due_soon_and_your_move_are_grouped_in_one_message(app, store, fake_slack):
    said(app, "due SEC-2 2026-03-01")
    said(app, f"assign SEC-3 <@{MARIA}|maria>")
    said(app, "due SEC-3 2026-03-12")
    said(app, "set SEC-1 done")
    said(app, f"assign ECO-1 <@{MARIA}|maria>")
    fake_slack.reset()
    tick(app, utc(2026, 3, 9, 13, 0))
    (maria,) = dms(fake_slack)["D0MARIA1"]
    text = message_text(maria)
    assert text.index("*Overdue* • `SEC-2`") < text.index("*Due soon* • `SEC-3`")
    assert "your move" in text


def test_holidays_from_the_settings_and_the_roadmap_file_are_skipped(app, store, fake_slack):
    only_maria(app)
    assert tick(app, utc(2026, 3, 10, 13, 0), holidays=(date(2026, 3, 10),)) == []
    store.reminders.set_holidays([date(2026, 3, 11)])
    assert tick(app, utc(2026, 3, 11, 13, 0)) == []
    assert fake_slack.calls_to("chat.postMessage") == []
    assert [s.user for s in tick(app, utc(2026, 3, 12, 13, 0))] == [MARIA]


def test_reminders_off_for_the_workspace_or_for_one_person(app, store, fake_slack):
    only_maria(app)
    assert tick(app, utc(2026, 3, 9, 13, 0), reminders=False) == []
    said(app, "remind off", user=MARIA)
    assert tick(app, utc(2026, 3, 9, 13, 0)) == []
    said(app, "remind on", user=MARIA)
    assert [s.user for s in tick(app, utc(2026, 3, 9, 13, 5))] == [MARIA]


def test_group_members_are_reminded_of_the_groups_steps(app, store, fake_slack):
    said(app, f"assign ECO-1 <!subteam^{DESK}|@us-desk>")
    fake_slack.reset()
    tick(app, utc(2026, 3, 9, 13, 0))
    assert "ECO-1" in message_text(dms(fake_slack)["D0EDITOR"][0])


def test_snoozed_steps_are_left_out_and_nothing_left_means_no_dm(app, store, fake_slack):
    store.reminders.snooze(MARIA, "SEC-2", date(2026, 3, 12))
    tick(app, utc(2026, 3, 9, 13, 0))
    assert "D0MARIA1" not in dms(fake_slack)
    assert [r.status for r in store.reminders.runs(MARIA)] == ["empty"]


# -- exactly once -------------------------------------------------------------------------------------------


def test_two_clocks_send_one_dm(app, store, fake_slack):
    now = utc(2026, 3, 9, 13, 0)
    clocks = [sender(app), sender(app)]
    results = []
    with time_machine.travel(now, tick=False):
        threads = [threading.Thread(target=lambda c=c: results.extend(c.run_due(now))) for c in clocks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status for r in results if r.user == MARIA] == ["sent"]
    assert len(dms(fake_slack)["D0MARIA1"]) == 1


def test_a_429_is_waited_out_and_posts_once(app, store, fake_slack):
    only_maria(app)
    fake_slack.script("chat.postMessage", Scripted(status=429, headers={"Retry-After": "0"}))
    (sent,) = tick(app, utc(2026, 3, 9, 13, 0))
    assert sent.status == "sent" and len(fake_slack.calls_to("chat.postMessage")) == 2
    assert len(dms(fake_slack)["D0MARIA1"]) == 2 and len(fake_slack.history["D0MARIA1"]) == 1


def test_a_failed_dm_is_retried_on_a_later_tick_and_never_doubled(app, store, fake_slack):
    only_maria(app)
    # A 500 after Slack took the message: recorded as failed; the retry finds it in the DM and posts nothing.
    fake_slack.script("chat.postMessage", Scripted(status=500, after_answer=True))
    (first,) = tick(app, utc(2026, 3, 9, 13, 0))
    assert first.status == "failed"
    assert tick(app, utc(2026, 3, 9, 13, 0, 30)) == []  # backing off
    (second,) = tick(app, utc(2026, 3, 9, 13, 3))
    assert second.status == "sent" and len(fake_slack.history["D0MARIA1"]) == 1
    # A refusal that posted nothing is retried and then posts once.
    fake_slack.script("chat.postMessage", Scripted(status=500))
    assert [s.status for s in tick(app, utc(2026, 3, 10, 13, 0))] == ["failed"]
    assert [s.status for s in tick(app, utc(2026, 3, 10, 13, 5))] == ["sent"]
    assert len(fake_slack.history["D0MARIA1"]) == 2
    assert [(r.status, r.attempts) for r in store.reminders.runs(MARIA)] == [("sent", 2), ("sent", 2)]


# -- the buttons --------------------------------------------------------------------------------------------


def _click(app, fake_slack, action: str, user: str = MARIA, key: str = "SEC-2", store=None):
    before = len(fake_slack.calls_to("chat.update"))
    value = f"{store.scope.id}:{key}"
    response = send_interaction(app, button_payload(action, value, user, channel="D0MARIA1"))
    assert response.status == 200
    if action != "reminder_log":
        (update, *_) = fake_slack.wait_for("chat.update", before + 1)[before:]
        message = {"text": update.body["text"], "blocks": update.json_field("blocks")}
        assert_valid_message(message)
        return message_text(message)
    return None


def test_snooze_is_idempotent_and_updates_the_dm(app, store, fake_slack):
    with time_machine.travel(utc(2026, 3, 9, 14, 0), tick=False):
        text = _click(app, fake_slack, "reminder_snooze_1w", store=store)
        again = _click(app, fake_slack, "reminder_snooze_1w", store=store)  # Slack's retry of the same click
    assert "Snoozed SEC-2 until Mon 16 Mar" in text and text == again
    assert store.reminders.snoozed(MARIA, date(2026, 3, 15)) == {"SEC-2"}
    assert store.reminders.snoozed(MARIA, date(2026, 3, 16)) == set()
    assert tick(app, utc(2026, 3, 10, 13, 0))[0].status == "empty"


def test_mark_done_is_for_editors_and_recorded_once(app, store, fake_slack):
    refused = _click(app, fake_slack, "reminder_done", user=MARIA, store=store)
    assert "only editors can mark a step done" in refused and store.roadmap.step("SEC-2").status == "proposed"
    done = _click(app, fake_slack, "reminder_done", user=EDITOR, store=store)
    again = _click(app, fake_slack, "reminder_done", user=EDITOR, store=store)
    assert "Marked SEC-2 done" in done and "already done" in again
    history = store.roadmap.step_detail("SEC-2").history
    assert [h.field for h in history].count("status") == 1


def test_log_opens_a_modal_whose_submission_records_through_the_one_path(app, store, fake_slack):
    _click(app, fake_slack, "reminder_log", store=store)
    (opened,) = fake_slack.wait_for("views.open")
    view = opened.json_field("view")
    View(**view).validate_json()
    submission = {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": MARIA},
        "api_app_id": "A1",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "reminder_log",
            "private_metadata": view["private_metadata"],
            "state": {"values": {"text": {"text": {"type": "plain_text_input", "value": "Talks resumed at Zzyzx"}}}},
        },
    }
    response = send_interaction(app, submission)
    assert response.status == 200
    devs = store.search("Zzyzx").developments
    assert [(d.step, d.author) for d in devs] == [("SEC-2", MARIA)]
    (update,) = fake_slack.wait_for("chat.update")
    assert "Logged a development on SEC-2" in update.body["text"] + str(update.json_field("blocks"))
    empty = dict(submission, view=dict(submission["view"], state={"values": {"text": {"text": {"value": " "}}}}))
    refused = send_interaction(app, empty)
    assert refused.status == 200 and "Say what happened" in refused.body


def test_a_button_naming_an_unknown_step_says_so_and_changes_nothing(app, store, fake_slack):
    text = _click(app, fake_slack, "reminder_snooze_1d", key="SEC-99", store=store)
    assert "unknown step" in text.lower()


# -- /roadmap remind ----------------------------------------------------------------------------------------


def test_remind_preview_shows_what_would_be_sent_without_buttons(app, store):
    text = said(app, "remind preview", user=MARIA)
    assert "SEC-2" in text and "(preview)" in text
    said(app, "remind off", user=MARIA)
    assert "you opted out" in said(app, "remind", user=MARIA)
    assert "not a remind option" in said(app, "remind sometimes", user=MARIA)
    assert "Nothing needs you today" in said(app, "remind preview", user=READER)
