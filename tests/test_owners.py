"""Owners and conditional due dates: `/roadmap assign|unassign|mine|due` over signed requests, owners in the step
view and its history, natural dates, conditional dates set from every door (command, thread status reply,
reminder button) with the owners told through the outbox, and every bad input answered with nothing changed."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from bot.app import build_services, create_app
from bot.web import SlackWSGI
from handlers.outbox import OutboxWorker
from handlers.owners import parse_mentions
from store.errors import Invalid
from store.models import utcnow
from store.when import Conditional, parse_due
from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import TEAM, answer, send_event, send_interaction
from tests.test_threads import reply, run_threads, threads_of

EDITOR, MARIA, OLEG, READER = "U0EDITOR", "U0MARIA1", "U0OLEG01", "U0READER"
DESK = "S0USDESK1"
LATER = timedelta(minutes=1)


@pytest.fixture
def app(settings, store, fake_slack):
    fake_slack.users.update({EDITOR: "America/New_York", MARIA: "America/New_York", OLEG: "Europe/Minsk"})
    fake_slack.usergroups[DESK] = [MARIA, EDITOR]
    return make_web(dataclasses.replace(settings, editors=(EDITOR,)), store)


def make_web(settings, store) -> SlackWSGI:
    """The real WSGI app, with the Services its listeners get kept on it (the outbox worker and the reminder
    sender of a test work with the same ones)."""
    services = build_services(settings, store)
    web = SlackWSGI(create_app(settings, store, services=services), store)
    web.services = services
    return web


def said(web, text: str, user: str = EDITOR, **kw) -> str:
    message = answer(web, text, user=user, **kw)
    assert_valid_message(message)
    return message_text(message)


def drain(web) -> int:
    """Work off the outbox (owner notices, cluster refreshes) as the worker thread would."""
    return OutboxWorker(web.services).run_once(utcnow() + LATER)


# -- natural dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-03-31 agreed", (date(2026, 3, 31), "agreed")),
        ("none", (None, "")),
        ("tomorrow", (date(2026, 12, 2), "")),
        ("next friday at the working group", (date(2026, 12, 4), "at the working group")),
        ("tuesday", (date(2026, 12, 8), "")),  # a weekday never means today
        ("in 2 weeks", (date(2026, 12, 15), "")),
        ("in 10 days", (date(2026, 12, 11), "")),
        ("end of month", (date(2026, 12, 31), "")),
        ("end of next month", (date(2027, 1, 31), "")),
        ("in 3 months", (date(2027, 3, 1), "")),
        ("14d after SEC-1 agreed", (Conditional(14, "SEC-1"), "agreed")),
        ("2 weeks after ECO-1", (Conditional(14, "ECO-1"), "")),
        ("in 10 days after ECO-1", (Conditional(10, "ECO-1"), "")),
    ],
)
def test_natural_dates_count_from_the_callers_today(text, expected):
    assert parse_due(text, date(2026, 12, 1)) == expected  # a Tuesday


@pytest.mark.parametrize("text", ["soon", "2026-02-30", "in many weeks", ""])
def test_what_is_not_a_date_is_refused_naming_the_forms(text):
    with pytest.raises(Invalid, match=r"YYYY-MM-DD|which date"):
        parse_due(text, date(2026, 12, 1))


def test_mentions_as_slack_sends_them():
    ids, note = parse_mentions(f"<@{MARIA}|maria> <!subteam^{DESK}|@us-desk> lead on SEC-2")
    assert ids == [MARIA, DESK] and note == "lead on SEC-2"


# -- assign, unassign, the step view and its history --------------------------------------------------------


def test_assign_shows_owners_in_the_step_view_and_history(app, store):
    text = said(app, f"assign SEC-2 <@{MARIA}|maria> <!subteam^{DESK}|@us-desk>")
    assert f"<@{MARIA}>" in text and f"<!subteam^{DESK}>" in text
    assert store.owners.of_step("SEC-2").own == (MARIA, DESK)
    step = said(app, "status SEC-2", user=READER)
    assert f"Owners: <@{MARIA}>, <!subteam^{DESK}>" in step
    history = store.roadmap.step_detail("SEC-2").history
    assert [(h.field, h.old_value, h.new_value, h.actor) for h in history] == [
        ("owners", None, f"{MARIA}, {DESK}", EDITOR)
    ]
    assert "SEC-1" in said(
        app, "status security", user=READER
    )  # the cluster view: a table of steps (owners: step view)
    assert "nothing changed" in said(app, f"assign SEC-2 <@{MARIA}|maria>")
    said(app, f"unassign SEC-2 <@{MARIA}|maria>")
    assert store.owners.of_step("SEC-2").own == (DESK,)
    assert len(store.roadmap.step_detail("SEC-2").history) == 2


def test_a_sides_default_owner_owns_steps_that_name_none(app, store):
    store.owners.set_side_default("US", DESK, EDITOR)
    assert store.owners.of_step("SEC-2").effective == (DESK,)
    assert "the side's default owner" in said(app, "status SEC-2")
    said(app, f"assign SEC-2 <@{OLEG}|oleg>")
    assert store.owners.of_step("SEC-2").effective == (OLEG,)


@pytest.mark.parametrize(
    "command, says",
    [
        ("assign SEC-2 <@U0NOBODY9|ghost>", "Slack knows no such user"),
        ("assign SEC-2 <!subteam^S0NOGROUP|@ghosts>", "Slack knows no such user or user group"),
        (f"assign SEC-99 <@{MARIA}|maria>", "There is no step"),
        ("assign SEC-2", "Say which step and who"),
        ("assign SEC-2 maria", "Say which step and who"),
    ],
)
def test_bad_assignments_are_answered_and_change_nothing(app, store, command, says):
    assert says in said(app, command)
    assert store.owners.of_step("SEC-2").own == () and store.roadmap.step_detail("SEC-2").history == []


def test_only_editors_assign(app, store):
    assert "Only editors" in said(app, f"assign SEC-2 <@{MARIA}|maria>", user=READER)
    assert store.owners.of_step("SEC-2").own == ()


# -- mine ----------------------------------------------------------------------------------------------------


def test_mine_lists_own_and_group_steps_overdue_first(app, store):
    said(app, f"assign SEC-3 <@{MARIA}|maria>")
    said(app, f"assign SEC-2 <!subteam^{DESK}|@us-desk>")
    said(app, "due SEC-3 2026-01-01")
    said(app, "due SEC-2 2099-01-01")
    said(app, f"assign ECO-1 <@{OLEG}|oleg>")
    text = said(app, "mine", user=MARIA)
    assert text.index("SEC-3") < text.index("SEC-2") and "ECO-1" not in text
    assert "overdue" in text
    other = said(app, f"mine --user <@{OLEG}|oleg>", user=MARIA)
    assert "ECO-1" in other and "SEC-2" not in other
    assert "no open step" in said(app, "mine", user=READER)


# -- due dates -----------------------------------------------------------------------------------------------


def test_due_takes_natural_dates_and_keeps_iso_and_none(app, store):
    said(app, "due ECO-1 2026-03-31 agreed at the working group")
    assert store.roadmap.step("ECO-1").due_on == date(2026, 3, 31)
    said(app, "due ECO-1 end of month")
    due = store.roadmap.step("ECO-1").due_on
    assert due.day in (28, 29, 30, 31) and (due + timedelta(days=1)).day == 1
    said(app, "due ECO-1 none")
    assert store.roadmap.step("ECO-1").due_on is None
    assert "is not a date" in said(app, "due ECO-1 someday")


def _notices(fake_slack) -> list[str]:
    return [c.body.get("text") for c in fake_slack.calls_to("chat.postMessage")]


def test_a_conditional_date_is_set_when_the_other_is_done_and_owners_are_told(app, store, fake_slack):
    said(app, f"assign SEC-2 <@{MARIA}|maria> <!subteam^{DESK}|@us-desk>")
    text = said(app, "due SEC-2 14d after SEC-1")
    assert "14 days after" in text and store.roadmap.step("SEC-2").due_on is None
    assert "due 14 days after `SEC-1`" in said(app, "status SEC-2")
    drain(app)
    fake_slack.reset()
    said(app, "set SEC-1 done signed")
    due = store.roadmap.step("SEC-2").due_on
    assert due == utcnow().date() + timedelta(days=14)
    history = store.roadmap.step_detail("SEC-2").history
    assert history[0].field == "due_on" and "after SEC-1 was done" in history[0].note
    drain(app)
    posts = fake_slack.calls_to("chat.postMessage")
    # Maria directly, and the desk's members (Maria again, the editor): one notice per owner.
    assert sorted(c.body["channel"] for c in posts) == sorted(["D0MARIA1", "D0MARIA1", "D0EDITOR"])
    assert all(f"Belarus has done SEC-1; SEC-2 is now due on {due.day} " in c.body["text"] for c in posts)
    for c in posts:
        assert_valid_message({"text": c.body["text"], "blocks": c.json_field("blocks")})
    # Applied once: marking SEC-1 done again (already done) changes nothing and tells nobody.
    fake_slack.reset()
    said(app, "set SEC-1 in progress")
    said(app, "set SEC-1 done")
    drain(app)
    assert fake_slack.calls_to("chat.postMessage") == [] and store.roadmap.step("SEC-2").due_on == due


def test_a_conditional_date_is_set_from_a_thread_status_reply(app, store, fake_slack):
    said(app, f"assign SEC-2 <@{MARIA}|maria>")
    said(app, "due SEC-2 7d after SEC-1")
    run_threads(app, fake_slack, user=EDITOR)
    parent = threads_of(store, "C100")["security"]
    response = send_event(app, reply("SEC-1 done: signed in Minsk", parent, user=EDITOR), event_id="EvDone")
    assert response.status == 200
    assert store.roadmap.step("SEC-1").status == "done"
    assert store.roadmap.step("SEC-2").due_on == utcnow().date() + timedelta(days=7)


def test_a_conditional_date_is_set_from_the_reminder_button(app, store, fake_slack):
    said(app, f"assign SEC-2 <@{MARIA}|maria>")
    said(app, "due SEC-2 3d after SEC-1")
    payload = button_payload("reminder_done", f"{store.scope.id}:SEC-1", EDITOR)
    assert send_interaction(app, payload).status == 200
    assert store.roadmap.step("SEC-2").due_on == utcnow().date() + timedelta(days=3)
    drain(app)
    assert any("SEC-2 is now due" in t for t in _notices(fake_slack))


def button_payload(action: str, value: str, user: str, channel: str = "D0MARIA1", ts: str = "1700000000.000001"):
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user},
        "api_app_id": "A1",
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": ts, "is_ephemeral": False},
        "message": {"ts": ts, "text": "reminder", "blocks": []},
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:9/r",
        "actions": [{"action_id": action, "block_id": f"reminder:{value}", "type": "button", "value": value}],
    }


@pytest.mark.parametrize(
    "command, says",
    [
        ("due SEC-2 14d after SEC-2", "cannot wait on itself"),
        ("due SEC-2 14d after SEC-99", "There is no step"),
        ("due SEC-99 14d after SEC-1", "There is no step"),
    ],
)
def test_bad_conditional_dates_change_nothing(app, store, command, says):
    assert says in said(app, command)
    assert store.owners.of_step("SEC-2").rule is None and store.roadmap.step_detail("SEC-2").history == []


def test_a_cycle_and_a_step_already_done_are_refused(app, store):
    said(app, "due SEC-2 14d after SEC-1")
    said(app, "due SEC-3 14d after SEC-2")
    assert "cycle" in said(app, "due SEC-1 5d after SEC-3")
    assert store.owners.of_step("SEC-1").rule is None
    said(app, "set ECO-1 done")
    assert "date in the past" in said(app, "due ECO-2 5d after ECO-1")
    assert store.owners.of_step("ECO-2").rule is None


def test_a_date_given_outright_replaces_a_waiting_rule(app, store):
    said(app, "due SEC-2 14d after SEC-1")
    said(app, "due SEC-2 2027-01-15")
    said(app, "set SEC-1 done")
    assert store.roadmap.step("SEC-2").due_on == date(2027, 1, 15)


def test_nothing_leaks_across_roadmaps(app, store):
    import copy

    from tests.test_roadmaps import MOLDOVA

    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    store.roadmaps.bind("C0MOLDOVA", "moldova", EDITOR)
    store.roadmaps.bind("C100", "us-belarus", EDITOR)
    said(app, f"assign SEC-1 <@{MARIA}|maria>", channel="C0MOLDOVA")
    assert store.for_roadmap("us-belarus").owners.of_step("SEC-1").own == ()
    mine = said(app, "mine", user=MARIA, channel="C100")
    assert "SEC-1" not in mine
    assert "SEC-1" in said(app, "mine", user=MARIA, channel="C0MOLDOVA")


# -- the roadmap file ----------------------------------------------------------------------------------------


def test_owners_rules_defaults_and_holidays_go_through_export_and_import(app, store):
    from store.roadmap_file import dump, parse

    said(app, f"assign SEC-2 <@{MARIA}|maria> <!subteam^{DESK}|@us-desk>")
    said(app, "due SEC-3 14d after SEC-1")
    store.owners.set_side_default("BY", OLEG, EDITOR)
    store.reminders.set_holidays([date(2026, 12, 25)])
    doc = store.transfer.export_doc()
    roadmap = doc
    steps = {x["id"]: x for c in roadmap["clusters"] for x in c["steps"]}
    assert steps["SEC-2"]["owners"] == [MARIA, DESK]
    assert steps["SEC-3"]["due_after"] == {"step": "SEC-1", "days": 14}
    assert {x["code"]: x.get("default_owner") for x in roadmap["sides"]}["BY"] == OLEG
    assert roadmap["holidays"] == [date(2026, 12, 25)]
    text = dump(doc)
    store.transfer.import_doc(parse(text), replace=True)
    assert store.transfer.export_doc() == doc  # a backup gives back owners, rules, defaults, holidays exactly
    # A file that changes an existing step's owners is audited like a command.
    changed = parse(text.replace(f"- {DESK}\n", f"- {OLEG}\n"))
    store.transfer.import_doc(changed)
    assert store.owners.of_step("SEC-2").own == (MARIA, OLEG)
    assert store.roadmap.step_detail("SEC-2").history[0].note == "imported"


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: d["clusters"][0]["steps"][0].update(owners=["maria"]), "`owners` must be a list"),
        (lambda d: d["clusters"][0]["steps"][0].update(due_after={"step": "XX-1", "days": 3}), "`due_after` names"),
        (lambda d: d.update(holidays=["christmas"]), "holidays: must be a list of dates"),
        (lambda d: d["sides"][0].update(default_owner="desk"), "`default_owner` must be"),
    ],
)
def test_bad_owner_fields_in_a_roadmap_file_are_refused(store, seed_doc, change, says):
    import copy

    from store.roadmap_file import validate

    doc = copy.deepcopy(seed_doc)
    change(doc)
    assert any(says in e for e in validate(doc))
