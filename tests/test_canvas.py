"""The channel's roadmap canvas through the real path: signed `/roadmap canvas` creates it on the fake Slack (whose
canvas model splits a document into sections at its headings), a cluster change replaces that cluster's section
only, and a workspace that refuses canvases gets an answer saying why."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from handlers.registry import Caller, run_command
from store.models import utcnow
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import send_command
from tests.test_cards import Bot
from tests.test_threads import CHANNEL

SLUGS = ["security", "economic", "humanitarian", "mediation", "ukraine", "diplomatic"]


def make_canvas(bot, fake_slack, user: str = "U100", channel: str = CHANNEL) -> str:
    url = fake_slack.response_url(f"canvas-{len(fake_slack.calls_to('response_url'))}")
    before = len(fake_slack.calls_to("response_url"))
    response = send_command(bot.web, "canvas", user=user, channel=channel, response_url=url)
    assert response.status == 200
    assert_valid_message(response.json())
    (answer,) = fake_slack.wait_for("response_url", before + 1)[before:]
    assert_valid_message(answer.body)
    return message_text(answer.body)


@pytest.fixture
def bot(settings, store, fake_slack):
    b = Bot(settings, store)
    b.deliver()
    fake_slack.reset()
    return b


def test_canvas_creates_the_channels_canvas_with_every_cluster(bot, fake_slack, store):
    said = make_canvas(bot, fake_slack)
    assert "Created" in said
    (create,) = fake_slack.calls_to("conversations.canvases.create")
    assert create.body["channel_id"] == CHANNEL and create.body["document_content"]["type"] == "markdown"
    canvas = store.cards.canvas(CHANNEL)
    markdown = fake_slack.canvas_markdown(canvas.canvas_id)
    assert markdown.startswith("# ")
    for slug in SLUGS:
        assert f"({slug})\n" in markdown
    assert "next move: **" in markdown and "**Latest developments**" in markdown
    assert set(canvas.sections) == {cid for cid, _ in canvas.clusters}  # every section known by its id
    # Again: no second canvas, its sections are refreshed.
    assert "already" in make_canvas(bot, fake_slack)
    assert len(fake_slack.calls_to("conversations.canvases.create")) == 1


def test_a_change_replaces_only_that_clusters_section(bot, fake_slack, store):
    make_canvas(bot, fake_slack)
    canvas = store.cards.canvas(CHANNEL)
    before = fake_slack.canvas_markdown(canvas.canvas_id)
    fake_slack.reset()
    send_command(bot.web, "log economic Potash transit via Klaipeda discussed")
    bot.deliver()
    (edit,) = fake_slack.calls_to("canvases.edit")
    (change,) = edit.json_field("changes")
    economic = dict((slug, cid) for cid, slug in canvas.clusters)["economic"]
    assert change["operation"] == "replace" and change["section_id"] == canvas.sections[economic]
    after = fake_slack.canvas_markdown(canvas.canvas_id)
    assert "Potash transit via Klaipeda discussed" in after
    # Everything outside the economic section is as it was.
    strip = lambda md: md.split("## Economic")[0]  # noqa: E731
    assert strip(after) == strip(before)
    assert after.split("## Humanitarian")[1] == before.split("## Humanitarian")[1]
    new = store.cards.canvas(CHANNEL).sections
    assert new[economic] != canvas.sections[economic]  # the replaced section's new id is remembered
    assert {k: v for k, v in new.items() if k != economic} == {
        k: v for k, v in canvas.sections.items() if k != economic
    }
    bot.deliver(utcnow() + timedelta(minutes=10))
    assert len(fake_slack.calls_to("canvases.edit")) == 1  # once


def test_a_429_on_the_canvas_waits_and_delivers_once(bot, fake_slack, store):
    make_canvas(bot, fake_slack)
    canvas = store.cards.canvas(CHANNEL)
    fake_slack.reset()
    fake_slack.script("canvases.edit", Scripted(status=429, headers={"Retry-After": "30"}))
    send_command(bot.web, "log security Kellogg visit recalled")
    start = utcnow() + timedelta(minutes=1)
    bot.deliver(start)
    assert "Kellogg visit recalled" not in fake_slack.canvas_markdown(canvas.canvas_id)
    bot.deliver(start + timedelta(seconds=10))
    assert len(fake_slack.calls_to("canvases.edit")) == 1
    bot.deliver(start + timedelta(seconds=45))
    assert fake_slack.canvas_markdown(canvas.canvas_id).count("Kellogg visit recalled") == 1
    assert store.outbox.pending() == []


@pytest.mark.parametrize(
    "code, says",
    [
        ("free_teams_cannot_create_non_tabbed_canvases", "plan"),
        ("canvas_disabled_user_team", "turned off"),
        ("channel_canvas_already_exists", "already has a canvas"),
        ("not_in_channel", "/invite @roadmap"),
        ("missing_scope", "canvases:write"),
    ],
)
def test_a_workspace_that_refuses_canvases_is_told_why_and_nothing_breaks(bot, fake_slack, store, code, says):
    fake_slack.script("conversations.canvases.create", Scripted(status=200, body={"ok": False, "error": code}))
    said = make_canvas(bot, fake_slack)
    assert says in said and "No canvas was created" in said
    assert store.cards.canvas(CHANNEL) is None
    send_command(bot.web, "log security still recorded")
    bot.deliver()
    assert [w for w in store.outbox.pending()] == [] and fake_slack.calls_to("canvases.edit") == []
    assert "Created" in make_canvas(bot, fake_slack)  # once allowed, it works


def test_user_text_cannot_become_markup_in_the_canvas(bot, fake_slack, store):
    text = "# <!channel> [click](https://evil.example) *bold*"
    store.developments.record(text=text, author="U0AUTHOR", cluster="security")
    bot.deliver()
    make_canvas(bot, fake_slack)
    markdown = fake_slack.canvas_markdown(store.cards.canvas(CHANNEL).canvas_id)
    assert r"\# \<\!channel\> \[click\](https://evil.example) \*bold\*" in markdown
    assert "![](@U0AUTHOR)" in markdown  # mentions only from exact ids


def test_only_editors_create_canvases_and_the_console_is_told_it_is_slack_only(settings, store, fake_slack):
    b = Bot(dataclasses.replace(settings, editors=("U0EDITOR",)), store)
    response = send_command(b.web, "canvas", user="U0READER")
    assert "Only editors" in message_text(response.json())
    assert fake_slack.calls_to("conversations.canvases.create") == []
    reply = run_command(store, "canvas", Caller())
    assert not reply.ok and "only works in Slack" in message_text(reply.message)
