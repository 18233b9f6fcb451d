"""Living cluster cards through the real path: a change through any door (signed commands, thread replies, the
shortcut's modal, an import) owes a refresh in its own transaction; the outbox worker turns it into chat.update
calls on the fake Slack — coalesced under a burst, delivered after 500s and 429s and across a process restart,
exactly once."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from bot.app import build_services, create_app
from bot.web import SlackWSGI
from handlers.cards import card_message
from handlers.outbox import OutboxWorker
from store.api import RoadmapStore
from store.models import utcnow
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import send_command, send_event
from tests.test_record_shortcut import open_modal, submission, submit
from tests.test_roadmaps import MOLDOVA
from tests.test_threads import reply, run_threads, threads_of

LATER = timedelta(minutes=1)


class Bot:
    """One process: its services (store, clients) and the signed-request app on top of them."""

    def __init__(self, settings, store: RoadmapStore):
        self.services = build_services(settings, store)
        self.web = SlackWSGI(create_app(settings, store, services=self.services), store)
        self.worker = OutboxWorker(self.services)

    def deliver(self, now=None) -> None:
        """Work off everything due by `now` (the cluster row first, then the card rows it owes)."""
        now = now or utcnow() + LATER
        while self.worker.run_once(now):
            pass


@pytest.fixture
def bot(settings, store, fake_slack):
    b = Bot(settings, store)
    run_threads(b.web, fake_slack)
    b.deliver()  # whatever the seed owed
    fake_slack.reset()
    return b


def card_updates(fake_slack, ts: str) -> list[dict]:
    out = []
    for call in fake_slack.calls_to("chat.update"):
        if call.body.get("ts") == ts:
            message = {"text": call.body["text"], "blocks": call.json_field("blocks")}
            assert_valid_message(message)
            out.append(message)
    return out


def test_a_thread_reply_updates_its_card_once_with_the_latest_development(bot, fake_slack, store):
    card = threads_of(store)["security"]
    assert send_event(bot.web, reply("Minsk restated its pledge", card), "Ev1").status == 200
    assert card_updates(fake_slack, card) == []  # owed, not yet due: the rest of a burst may still come
    bot.deliver()
    (update,) = card_updates(fake_slack, card)
    text = message_text(update)
    assert "Minsk restated its pledge" in text and "Latest development" in text
    assert len(fake_slack.calls_to("chat.update")) == 1  # only the card of the cluster that changed
    bot.deliver()
    assert len(fake_slack.calls_to("chat.update")) == 1  # delivered once


@pytest.mark.parametrize(
    "command, shows",
    [
        ("log economic Belavia flights resumed", "Belavia flights resumed"),
        ("set ECO-1 done signed", "Economic"),
        ("due ECO-1 2020-01-02 slipped", "Overdue"),
    ],
)
def test_every_command_door_updates_the_card(bot, fake_slack, store, command, shows):
    card = threads_of(store)["economic"]
    before = message_text(card_updates_or_render(store))
    response = send_command(bot.web, command)
    assert response.status == 200 and "error" not in response.body.lower(), response.body
    bot.deliver()
    (update,) = card_updates(fake_slack, card)
    assert shows in message_text(update)
    assert message_text(update) != before


def card_updates_or_render(store) -> dict:
    return card_message(store, "economic", date.today())


def test_the_due_door_shows_the_overdue_step_on_the_card(bot, fake_slack, store):
    card = threads_of(store)["economic"]
    send_command(bot.web, "due ECO-1 2020-01-02")
    bot.deliver()
    (update,) = card_updates(fake_slack, card)
    assert "`ECO-1`" in message_text(update) and "days overdue" in message_text(update)


def test_an_editors_status_reply_shows_whose_move_on_the_card(bot, fake_slack, store):
    card = threads_of(store)["security"]
    send_event(bot.web, reply("SEC-1 done: signed in Minsk", card, user="U100"), "Ev2")
    bot.deliver()
    (update,) = card_updates(fake_slack, card)
    assert "Open pairs — whose move" in message_text(update) and "next move" in message_text(update)
    assert "SEC-1" in message_text(update)


def test_the_shortcut_modal_door_updates_the_card(bot, fake_slack, store):
    card = threads_of(store)["humanitarian"]
    view = open_modal(bot.web, fake_slack, "Twelve prisoners freed")
    submit(bot.web, submission(view, cluster="humanitarian", text="Twelve prisoners freed"))
    bot.deliver()
    (update,) = card_updates(fake_slack, card)
    assert "Twelve prisoners freed" in message_text(update)


def test_the_import_door_updates_every_card(bot, fake_slack, store, seed_doc):
    store.transfer.import_doc(seed_doc)
    bot.deliver()
    posted = threads_of(store)
    assert {ts for ts in posted.values()} == {c.body["ts"] for c in fake_slack.calls_to("chat.update")}
    assert len(fake_slack.calls_to("chat.update")) == len(posted)


def test_a_burst_of_100_replies_is_a_handful_of_updates(bot, fake_slack, store):
    card = threads_of(store)["mediation"]
    for n in range(100):
        ts = f"1754006400.{n + 1000:06d}"
        assert send_event(bot.web, reply(f"burst {n}", card, ts=ts), f"EvB{n}").status == 200
    assert [w.kind for w in store.outbox.pending()] == ["cluster"]  # one row, however many changes
    bot.deliver()
    updates = card_updates(fake_slack, card)
    assert 1 <= len(updates) <= 3
    assert "burst 99" in message_text(updates[-1])


def test_an_update_owed_while_slack_answers_500_is_delivered_later_once(bot, fake_slack, store):
    card = threads_of(store)["ukraine"]
    fake_slack.script("chat.update", Scripted(status=500, body={"ok": False, "error": "internal_error"}))
    send_command(bot.web, "log ukraine Talks in Istanbul")
    start = utcnow() + LATER
    bot.deliver(start)
    assert len(fake_slack.calls_to("chat.update")) == 1  # tried, failed: still owed
    (owed,) = store.outbox.pending("card")
    assert owed.attempts == 1 and owed.last_error
    bot.deliver(start + timedelta(minutes=5))
    assert len(fake_slack.calls_to("chat.update")) == 2 and store.outbox.pending() == []
    assert "Talks in Istanbul" in message_text(card_updates(fake_slack, card)[-1])
    bot.deliver(start + timedelta(minutes=10))
    assert len(fake_slack.calls_to("chat.update")) == 2


def test_a_429_waits_for_its_retry_after_and_then_delivers_once(bot, fake_slack, store):
    card = threads_of(store)["ukraine"]
    fake_slack.script(
        "chat.update", Scripted(status=429, body={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "30"})
    )
    send_command(bot.web, "log ukraine Ceasefire talks")
    start = utcnow() + LATER
    bot.deliver(start)
    assert len(fake_slack.calls_to("chat.update")) == 1  # the client did not sleep and retry: the outbox waits
    bot.deliver(start + timedelta(seconds=20))
    assert len(fake_slack.calls_to("chat.update")) == 1
    bot.deliver(start + timedelta(seconds=45))
    updates = card_updates(fake_slack, card)
    assert len(updates) == 2 and "Ceasefire talks" in message_text(updates[-1])
    assert store.outbox.pending() == []


def test_an_update_owed_when_the_process_is_killed_is_delivered_by_the_next_one(
    bot, fake_slack, store, settings, engine_factory
):
    card = threads_of(store)["diplomatic"]
    send_command(bot.web, "log diplomatic Embassy reopened")
    # The process dies here: the change is committed, nothing was sent. A new process on the same database:
    engine = engine_factory()
    fresh = Bot(settings, RoadmapStore(engine))
    fresh.deliver()
    (update,) = card_updates(fake_slack, card)
    assert "Embassy reopened" in message_text(update)
    fresh.deliver(utcnow() + timedelta(minutes=10))
    bot.deliver(utcnow() + timedelta(minutes=10))
    assert len(fake_slack.calls_to("chat.update")) == 1  # exactly once


def test_a_card_whose_message_is_gone_is_dropped_not_retried_forever(bot, fake_slack, store):
    fake_slack.script("chat.update", Scripted(status=200, body={"ok": False, "error": "message_not_found"}))
    send_command(bot.web, "log security gone")
    bot.deliver()
    assert store.outbox.pending() == []


def test_cards_of_another_roadmap_are_not_touched(bot, fake_slack, store):
    card = threads_of(store)["security"]
    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    bot.deliver()
    fake_slack.reset()
    store.for_roadmap("moldova").developments.record(text="Chisinau", author="U1", cluster="security")
    bot.deliver()
    assert fake_slack.calls_to("chat.update") == []  # CHANNEL's cards show us-belarus, whose slugs clash
    store.for_roadmap("us-belarus").developments.record(text="Minsk", author="U1", cluster="security")
    bot.deliver()
    (update,) = card_updates(fake_slack, card)
    assert "Minsk" in message_text(update) and "Chisinau" not in message_text(update)
