"""`/roadmap digest …` through the real path: signed requests → guard → Bolt → handlers/digest → fake Slack."""

from __future__ import annotations

import dataclasses

import pytest

from bot.app import create_app
from bot.web import SlackWSGI
from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import answer
from tests.test_digest import big_roadmap

EDITOR, READER = "U0EDITOR", "U0READER"


@pytest.fixture
def editors_settings(settings):
    return dataclasses.replace(settings, editors=(EDITOR,))


@pytest.fixture
def web(editors_settings, store):
    return SlackWSGI(create_app(editors_settings, store), store)


def test_preview_is_shown_only_to_the_caller_and_posts_nothing(web, fake_slack):
    message = answer(web, "digest preview", user=READER)
    assert message["response_type"] == "ephemeral"
    text = message_text(message)
    assert "Roadmap digest" in text and "Open reciprocal pairs" in text and "next move" in text
    assert fake_slack.calls_to("chat.postMessage") == []


def test_preview_of_a_long_digest_follows_up_with_the_other_parts(editors_settings, empty_store, fake_slack):
    empty_store.transfer.import_doc(big_roadmap())
    web = SlackWSGI(create_app(editors_settings, empty_store), empty_store)
    first = answer(web, "digest preview", response_url=fake_slack.response_url())
    assert "Continued in the thread" in message_text(first)
    follow_ups = fake_slack.wait_for("response_url", count=1)
    assert follow_ups and all(c.body["response_type"] == "ephemeral" for c in follow_ups)
    for c in follow_ups:
        assert_valid_message({"text": c.body["text"], "blocks": c.body["blocks"]})
    assert fake_slack.calls_to("chat.postMessage") == []


def test_digest_now_answers_at_once_then_posts_to_the_digest_channel(web, store, fake_slack):
    message = answer(web, "digest now", user=READER, channel="C100", response_url=fake_slack.response_url())
    assert "Posting the digest to <#CDIGEST>" in message_text(message)
    (post,) = fake_slack.wait_for("chat.postMessage")
    assert post.body["channel"] == "CDIGEST"
    assert post.json_field("metadata")["event_type"] == "roadmap_digest"
    assert_valid_message({"text": post.body["text"], "blocks": post.json_field("blocks")})
    (done,) = fake_slack.wait_for("response_url")
    assert "Digest posted to <#CDIGEST>" in done.body["text"]
    assert store.digests.last_sent("CDIGEST") is not None


def test_digest_now_without_a_digest_channel_posts_here(editors_settings, store, fake_slack):
    settings = dataclasses.replace(editors_settings, digest_channel=None)
    web = SlackWSGI(create_app(settings, store), store)
    answer(web, "digest now", channel="C100", response_url=fake_slack.response_url())
    (post,) = fake_slack.wait_for("chat.postMessage")
    assert post.body["channel"] == "C100"


def test_digest_now_reports_a_refusal_to_the_caller(web, store, fake_slack):
    from tests.fakes import Scripted

    fake_slack.script("chat.postMessage", Scripted(status=200, body={"ok": False, "error": "not_in_channel"}))
    answer(web, "digest now", response_url=fake_slack.response_url())
    (done,) = fake_slack.wait_for("response_url")
    assert "could not be posted" in done.body["text"] and "not_in_channel" in done.body["text"]
    assert store.digests.runs("CDIGEST")[0].status == "failed"


@pytest.mark.parametrize("when", ["mon 09:00", "0 9 * * 1", '"mon 09:00"'])
def test_editor_sets_the_channel_schedule_and_sees_the_next_runs_in_words(web, store, when):
    text = message_text(answer(web, f"digest schedule {when}", user=EDITOR, channel="C200"))
    assert "Mondays at 09:00" in text and "America/New_York" in text
    assert "Monday" in text.split("Next runs:")[1]
    row = store.digests.schedule("C200")
    assert (row.cron, row.enabled, row.updated_by, row.timezone) == ("0 9 * * 1", True, EDITOR, "America/New_York")


def test_non_editor_cannot_schedule_or_turn_off(web, store):
    for text in ("digest schedule mon 09:00", "digest off"):
        reply = message_text(answer(web, text, user=READER, channel="C200"))
        assert "Only editors" in reply and EDITOR in reply
    assert store.digests.schedule("C200") is None


def test_bad_schedule_gets_examples_and_changes_nothing(web, store):
    text = message_text(answer(web, "digest schedule someday at noon", user=EDITOR, channel="C200"))
    assert "won't work" in text and "mon 09:00" in text and "0 9 * * 1" in text
    text = message_text(answer(web, "digest schedule */5 * * * *", user=EDITOR, channel="C200"))
    assert "hour" in text
    assert store.digests.schedule("C200") is None


def test_editor_turns_the_default_digest_off(web, store):
    text = message_text(answer(web, "digest off", user=EDITOR, channel="CDIGEST"))
    assert "No scheduled digest" in text and "ROADMAP_DIGEST_CHANNEL" in text
    assert store.digests.schedule("CDIGEST").enabled is False
    assert "No digest is scheduled" in message_text(answer(web, "digest", channel="CDIGEST"))


def test_digest_alone_shows_the_schedule_and_unknown_subcommands_name_the_valid_ones(web):
    text = message_text(answer(web, "digest", channel="CDIGEST"))
    assert "Mondays at 09:00" in text and "ROADMAP_DIGEST_SCHEDULE" in text and "Next runs" in text
    text = message_text(answer(web, "digest sned"))
    assert "not a digest command" in text and "preview" in text and "schedule" in text


def test_help_lists_the_digest(web):
    assert "/roadmap digest" in message_text(answer(web, "help"))
