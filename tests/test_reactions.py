"""Record by reaction through the real path: signed `reaction_added` events → the listener owes the work in the
database → the outbox worker reads the message on the fake Slack and records it through the one recording path,
once per message; the bot's own 📝 receipt never triggers it."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from bot.settings import Settings
from store.models import utcnow
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import TEAM, answer, send_event, send_interaction
from tests.test_cards import Bot, card_updates
from tests.test_threads import CHANNEL, run_threads, threads_of

MESSAGE_TS = "1754006400.000300"  # 31 July 2025 in New York


def reaction(ts: str = MESSAGE_TS, user: str = "U200", name: str = "memo", channel: str = CHANNEL) -> dict:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": name,
        "item_user": "U300",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": "1754006500.000100",
    }


def message(fake_slack, text: str, ts: str = MESSAGE_TS, thread_ts: str | None = None, channel: str = CHANNEL):
    """A message Slack holds (conversations.replies on the fake finds it)."""
    m = {"type": "message", "user": "U300", "text": text, "ts": ts, **({"thread_ts": thread_ts} if thread_ts else {})}
    fake_slack.history.setdefault(channel, []).insert(0, m)


@pytest.fixture
def bot(settings, store, fake_slack):
    b = Bot(settings, store)
    b.deliver()
    fake_slack.reset()
    return b


def slack_devs(store, ts: str = MESSAGE_TS) -> list[dict]:
    return [d for d in store.transfer.export_doc()["developments"] if (d.get("slack") or {}).get("ts") == ts]


def test_a_memo_on_a_reply_in_a_cluster_thread_records_it_there_once(bot, fake_slack, store):
    run_threads(bot.web, fake_slack)
    card = threads_of(store)["security"]
    bot.deliver()
    fake_slack.reset()
    message(fake_slack, "Minsk pardoned 16 more <https://x.example/a|people>", thread_ts=card)
    assert send_event(bot.web, reaction(), "EvR1").status == 200
    assert send_event(bot.web, reaction(), "EvR1", retry=1).status == 200  # Slack's retry
    assert send_event(bot.web, reaction(user="U201"), "EvR2").status == 200  # a second person's 📝
    assert store.developments.of_message(CHANNEL, MESSAGE_TS) is None  # owed, recorded by the worker
    bot.deliver()
    dev = store.developments.of_message(CHANNEL, MESSAGE_TS)
    assert (dev.cluster, dev.author, dev.occurred_on) == ("security", "U300", date(2025, 7, 31))
    assert dev.text == "Minsk pardoned 16 more people (https://x.example/a)" and dev.permalink.endswith(
        MESSAGE_TS.replace(".", "")
    )
    assert len(slack_devs(store)) == 1
    receipts = fake_slack.calls_to("reactions.add")
    assert [(c.body["name"], c.body["timestamp"]) for c in receipts] == [("memo", MESSAGE_TS)]
    # The card of the cluster shows it: reactions are a door like any other.
    (update,) = card_updates(fake_slack, card)
    assert "Minsk pardoned 16 more people" in message_text(update)


def test_the_bots_own_receipt_reaction_never_records(bot, fake_slack, store):
    message(fake_slack, "Talks resumed")
    assert answer(bot.web, "default-cluster mediation")["response_type"] == "ephemeral"
    assert send_event(bot.web, reaction(user="UBOT"), "EvR3").status == 200
    bot.deliver()
    assert store.outbox.pending() == [] and store.developments.of_message(CHANNEL, MESSAGE_TS) is None
    assert fake_slack.calls_to("conversations.replies") == []


def test_other_emoji_and_non_message_items_are_ignored(bot, fake_slack, store):
    message(fake_slack, "Talks resumed")
    send_event(bot.web, reaction(name="thumbsup"), "EvR4")
    send_event(bot.web, dict(reaction(), item={"type": "file", "file": "F1"}), "EvR5")
    assert store.outbox.pending() == []


def test_the_channels_default_cluster_takes_a_top_level_message(bot, fake_slack, store):
    message(fake_slack, "Lukashenko met the envoy on ECO-1")
    said = answer(bot.web, "default-cluster eco")
    assert_valid_message(said)
    assert "Economic" in message_text(said)
    send_event(bot.web, reaction(), "EvR6")
    bot.deliver()
    dev = store.developments.of_message(CHANNEL, MESSAGE_TS)
    assert (dev.cluster, dev.step) == ("economic", "ECO-1")  # a step it names, within that cluster, is linked
    assert "no default cluster" in message_text(answer(bot.web, "default-cluster none"))
    assert store.cards.default_cluster(CHANNEL) is None


def test_default_cluster_refuses_bad_input_naming_the_choices(bot, store):
    text = message_text(answer(bot.web, "default-cluster narnia"))
    assert "narnia" in text and "security" in text
    assert "none" in message_text(answer(bot.web, "default-cluster"))
    assert store.cards.default_cluster(CHANNEL) is None


def test_without_a_default_the_reactor_picks_the_cluster(bot, fake_slack, store):
    message(fake_slack, "Ukraine talks in Minsk")
    send_event(bot.web, reaction(), "EvR7")
    bot.deliver()
    assert store.developments.of_message(CHANNEL, MESSAGE_TS) is None
    (picker,) = fake_slack.calls_to("chat.postEphemeral")
    assert picker.body["user"] == "U200" and picker.body["channel"] == CHANNEL
    blocks = picker.json_field("blocks")
    assert_valid_message({"text": picker.body["text"], "blocks": blocks})
    actions = next(b for b in blocks if b["type"] == "actions")
    choice = {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": "U200"},
        "api_app_id": "A1",
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "is_ephemeral": True},
        "trigger_id": "1.2.3",
        "response_url": fake_slack.response_url("picker"),
        "actions": [
            {
                "type": "static_select",
                "action_id": actions["elements"][0]["action_id"],
                "block_id": actions["block_id"],
                "selected_option": {"value": "ukraine"},
                "action_ts": "1.1",
            }
        ],
    }
    assert send_interaction(bot.web, choice).status == 200
    bot.deliver()
    assert store.developments.of_message(CHANNEL, MESSAGE_TS).cluster == "ukraine"
    assert "ukraine" in fake_slack.wait_for("response_url")[0].body["text"]
    send_interaction(bot.web, dict(choice, actions=[dict(choice["actions"][0], selected_option={"value": "security"})]))
    bot.deliver()
    assert len(slack_devs(store)) == 1 and store.developments.of_message(CHANNEL, MESSAGE_TS).cluster == "ukraine"


def test_the_record_emoji_is_configurable(settings, store, fake_slack):
    assert Settings.from_env({"ROADMAP_RECORD_EMOJI": ":Eyes:"}).record_emoji == "eyes"
    assert Settings.from_env({}).record_emoji == "memo"
    b = Bot(dataclasses.replace(settings, record_emoji="eyes"), store)
    message(fake_slack, "Seen in the press")
    store.cards.set_default_cluster(CHANNEL, store.scope.require(), "security", "U1")
    send_event(b.web, reaction(), "EvR8")  # 📝 is now an ordinary emoji
    b.deliver()
    assert store.developments.of_message(CHANNEL, MESSAGE_TS) is None
    send_event(b.web, reaction(name="eyes"), "EvR9")
    b.deliver()
    assert store.developments.of_message(CHANNEL, MESSAGE_TS).cluster == "security"


def test_a_reaction_owed_while_slack_is_down_is_recorded_when_it_is_back(bot, fake_slack, store):
    message(fake_slack, "Border crossing reopened")
    store.cards.set_default_cluster(CHANNEL, store.scope.require(), "economic", "U1")
    fake_slack.script("conversations.replies", *[Scripted(status=503)] * 3)
    send_event(bot.web, reaction(), "EvR10")
    start = utcnow() + timedelta(minutes=1)
    bot.worker.run_once(start)
    assert store.developments.of_message(CHANNEL, MESSAGE_TS) is None
    assert [w.kind for w in store.outbox.pending()] == ["reaction"]
    bot.deliver(start + timedelta(minutes=5))
    assert store.developments.of_message(CHANNEL, MESSAGE_TS).cluster == "economic"
