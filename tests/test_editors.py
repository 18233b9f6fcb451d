"""Who may change the roadmap, through the real path: ROADMAP_EDITORS user and group ids (groups resolved on the fake
Slack with usergroups.users.list, cached with an expiry), refusals that name who can help, and the audit history."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from slack_sdk import WebClient

from handlers.editors import FAILURE_TTL_SECONDS, Editors
from tests.blockkit import message_text
from tests.fakes import Scripted
from tests.slack_requests import answer


@pytest.fixture
def editors_web(settings, store, fake_slack):
    """The real app with ROADMAP_EDITORS = one user and one user group."""
    from bot.app import create_app
    from bot.web import SlackWSGI

    fake_slack.usergroups["S0POLICY"] = ["U0MEMBER"]
    configured = dataclasses.replace(settings, editors=("U0EDITOR", "S0POLICY"))
    return SlackWSGI(create_app(configured, store), store)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_listed_user_and_a_group_member_may_change_a_step(editors_web, store):
    answer(editors_web, "set SEC-1 agreed by the listed user", user="U0EDITOR")
    assert store.roadmap.step_detail("SEC-1").step.status == "agreed"
    answer(editors_web, "set SEC-1 in progress by a group member", user="U0MEMBER")
    assert store.roadmap.step_detail("SEC-1").step.status == "in_progress"


def test_anyone_else_is_refused_with_mentions_of_who_can_and_nothing_changes(editors_web, store, fake_slack):
    before = store.transfer.export_doc()
    message = answer(editors_web, "set SEC-1 done", user="U0OUTSIDER")
    text = message_text(message)
    assert "Only editors can use `set`" in text
    # Real mentions, built by the template's `user` filter — not escaped text.
    assert "Ask one of: <@U0EDITOR>, <!subteam^S0POLICY>" in text
    assert store.transfer.export_doc() == before
    assert fake_slack.calls_to("usergroups.users.list")[0].body["usergroup"] == "S0POLICY"


def test_the_user_filter_turns_only_exact_ids_into_mentions():
    from templates.filters import user

    assert user("U07EDITOR") == "<@U07EDITOR>" and user("W07EDITOR") == "<@W07EDITOR>"
    assert user("S0POLICY") == "<!subteam^S0POLICY>"
    for typed in ("S0POLICY> <!channel", "import", "<!here>", "s0policy", "S0POLICY|x", "S0POLICY\n", "U07EDITOR\n"):
        assert "<" not in user(typed), typed


def test_non_editors_may_still_read_and_record_developments(editors_web, store):
    assert "Security" in message_text(answer(editors_web, "status security", user="U0OUTSIDER"))
    answer(editors_web, "log security Outsider notes a development", user="U0OUTSIDER")
    assert store.search("Outsider notes").developments[0].author == "U0OUTSIDER"


def test_reading_never_waits_for_a_group_lookup(editors_web, fake_slack):
    """Editor rights are resolved only when a command needs them, so a slow Slack never delays a read."""
    for text in ("status", "status security", "find Kellogg", "commitments"):
        answer(editors_web, text, user="U0OUTSIDER")
    assert fake_slack.calls_to("usergroups.users.list") == []
    answer(editors_web, "set SEC-1 agreed", user="U0OUTSIDER")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1


def test_group_members_are_cached_until_the_expiry_then_looked_up_again(fake_slack):
    fake_slack.usergroups["S1"] = ["U1"]
    clock = Clock()
    editors = Editors(("S1",), WebClient(base_url=fake_slack.api_url, token="xoxb-test"), ttl_seconds=300, clock=clock)
    assert editors.is_editor("U1") and not editors.is_editor("U2")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1  # the second check used the cache

    fake_slack.usergroups["S1"] = ["U2"]  # membership changes in Slack
    clock.now += 299
    assert editors.is_editor("U1") and not editors.is_editor("U2")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1
    clock.now += 2  # past the expiry
    assert editors.is_editor("U2") and not editors.is_editor("U1")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 2


def test_a_failed_group_lookup_keeps_the_last_known_members_and_is_logged(fake_slack, caplog):
    fake_slack.usergroups["S1"] = ["U1"]
    clock = Clock()
    editors = Editors(("S1",), WebClient(base_url=fake_slack.api_url, token="xoxb-test"), ttl_seconds=60, clock=clock)
    assert editors.is_editor("U1")
    clock.now += 61
    fake_slack.script("usergroups.users.list", Scripted(status=200, body={"ok": False, "error": "ratelimited"}))
    with caplog.at_level(logging.WARNING, logger="handlers.editors"):
        assert editors.is_editor("U1")
    assert any("could not resolve editor group S1" in r.getMessage() for r in caplog.records)
    calls = len(fake_slack.calls_to("usergroups.users.list"))
    clock.now += FAILURE_TTL_SECONDS - 1
    assert editors.is_editor("U1") and len(fake_slack.calls_to("usergroups.users.list")) == calls  # not hammered
    clock.now += 2
    assert editors.is_editor("U1") and len(fake_slack.calls_to("usergroups.users.list")) == calls + 1


def test_a_group_lookup_that_never_worked_refuses_rather_than_allows(fake_slack):
    fake_slack.script("usergroups.users.list", Scripted(status=200, body={"ok": False, "error": "no_such_subteam"}))
    editors = Editors(("S1",), WebClient(base_url=fake_slack.api_url, token="xoxb-test"), clock=Clock())
    assert not editors.is_editor("U1")


def test_a_5xx_on_the_group_lookup_is_retried_once(settings, store, fake_slack):
    """Reads are safe to retry: the lookup client retries one 5xx, inside the 3-second window."""
    from bot.app import create_app
    from bot.web import SlackWSGI

    fake_slack.usergroups["S0POLICY"] = ["U0MEMBER"]
    fake_slack.script("usergroups.users.list", Scripted(status=503, body={"ok": False, "error": "fatal_error"}))
    web = SlackWSGI(create_app(dataclasses.replace(settings, editors=("S0POLICY",)), store), store)
    answer(web, "set SEC-1 agreed", user="U0MEMBER")
    assert store.roadmap.step_detail("SEC-1").step.status == "agreed"
    assert len(fake_slack.calls_to("usergroups.users.list")) == 2


def test_when_unset_everyone_is_an_editor_and_start_up_warns(settings, store, caplog):
    from bot.app import create_app
    from bot.web import SlackWSGI

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        web = SlackWSGI(create_app(dataclasses.replace(settings, editors=()), store), store)
    assert any("ROADMAP_EDITORS is not set" in r.getMessage() for r in caplog.records)
    answer(web, "set SEC-1 agreed", user="U0ANYONE")
    assert store.roadmap.step_detail("SEC-1").step.status == "agreed"


def test_with_editors_set_start_up_does_not_warn(settings, store, caplog):
    from bot.app import create_app

    with caplog.at_level(logging.WARNING, logger="bot.app"):
        create_app(dataclasses.replace(settings, editors=("U1",)), store)
    assert not any("ROADMAP_EDITORS" in r.getMessage() for r in caplog.records)


def test_the_readme_says_unset_means_everyone():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert "When unset, everyone is an editor" in readme


# -- audit history --------------------------------------------------------------------------------------------------


def test_every_status_change_shows_who_when_before_and_after_in_status(web, store):
    answer(web, "set SEC-2 agreed first note", user="U0FIRST")
    answer(web, "set SEC-2 in progress second note", user="U0SECOND")
    answer(web, "set SEC-2 in progress unchanged", user="U0THIRD")  # no change: nothing recorded
    message = answer(web, "status SEC-2", user="U0READER")
    history = next(
        b["text"]["text"] for b in message["blocks"] if b.get("text", {}).get("text", "").startswith("*History")
    )
    lines = history.split("\n")[1:]
    assert len(lines) == 2, lines
    newest, oldest = lines
    assert "<@U0SECOND>" in newest and "🔵 agreed → 🟡 in progress" in newest and "second note" in newest
    assert "<@U0FIRST>" in oldest and "⚪ proposed → 🔵 agreed" in oldest and "first note" in oldest
    today = store.roadmap.step_detail("SEC-2").history[0].changed_at
    assert f"{today.day} {today.strftime('%b %Y')}" in newest
    assert "U0THIRD" not in history


def test_history_is_escaped_and_a_note_cannot_ping(web):
    answer(web, "set SEC-3 agreed <!channel> <@U999> <https://evil.example|click>", user="U0EDITOR")
    raw = json.dumps(answer(web, "status SEC-3", user="U0READER"))
    assert "<!channel>" not in raw and "<@U999>" not in raw and "<https://evil.example" not in raw
    assert "&lt;!channel&gt;" in raw


# -- size limits ----------------------------------------------------------------------------------------------------


def test_a_development_over_4000_characters_gets_a_clear_error_and_nothing_is_stored(web, store):
    before = store.transfer.export_doc()
    message = answer(web, "log SEC-1 " + "é" * 4001, user="U0LOGGER")
    text = message_text(message)
    assert "4,001 characters" in text and "limit is 4,000" in text
    assert store.transfer.export_doc() == before


def test_a_development_of_exactly_4000_characters_is_stored_and_renders(web, store):
    answer(web, "log SEC-1 " + "<&>" * 1333 + "x", user="U0LOGGER")
    stored = store.roadmap.step_detail("SEC-1").developments[0]
    assert len(stored.text) == 4000
    for view in ("status SEC-1", "status security", "find <&>"):
        answer(web, view, user="U0READER")
