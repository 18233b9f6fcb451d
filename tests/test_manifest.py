"""The app manifest a workspace admin pastes in matches what the code listens to and calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.app import COMMAND
from bot.web import EVENTS_PATH
from handlers import home_actions, record_shortcut
from tests.slack_requests import TEAM, send_event, send_interaction

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "slack-manifest.yaml").read_text())


def test_command_shortcut_events_and_interactivity_all_point_at_the_events_path():
    command = MANIFEST["features"]["slash_commands"][0]
    assert command["command"] == COMMAND and command["url"].endswith(EVENTS_PATH)
    assert MANIFEST["settings"]["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith(EVENTS_PATH)
    shortcuts = {(s["type"], s["callback_id"]) for s in MANIFEST["features"]["shortcuts"]}
    assert shortcuts == {("message", record_shortcut.CALLBACK_ID), ("global", home_actions.SHORTCUT_ID)}


def test_every_event_and_shortcut_in_the_manifest_has_a_listener(web):
    """Slack retries what gets a 404 (no listener): each subscribed event and each shortcut, sent as Slack sends
    it through the real app, is answered 200."""
    for name in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        kind, _, channel_type = name.partition(".")
        event = {"type": kind, "user": "U100", "channel": "C100", "ts": "1.1", "event_ts": "1.1", "tab": "home"}
        if channel_type:
            event.update(channel_type=channel_type.removesuffix("s"), text="hello")
        assert send_event(web, event, event_id=f"Ev-{name}").status == 200, name
    for shortcut in MANIFEST["features"]["shortcuts"]:
        payload = {
            "type": "shortcut" if shortcut["type"] == "global" else "message_action",
            "callback_id": shortcut["callback_id"],
            "trigger_id": "1.2.3",
            "team": TEAM,
            "user": {"id": "U100"},
            "channel": {"id": "C100"},
            "message": {"type": "message", "ts": "1.1", "text": "x", "user": "U1"},
            "message_ts": "1.1",
        }
        assert send_interaction(web, payload).status == 200, shortcut["callback_id"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_events_and_scopes_cover_what_the_bot_does():
    # Subscribing to an event nobody handles gets a 404 that Slack retries: only what handlers/threads.py and
    # handlers/home.py read.
    bot_events = {"message.channels", "message.groups", "app_home_opened"}
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == bot_events
    needed = {
        "commands",  # /roadmap and the shortcut
        "chat:write",  # thread parents, digest, ephemeral notes
        "chat:write.public",  # the digest in a channel the bot has not joined
        "channels:history",  # thread replies and digest markers, public channels
        "groups:history",  # the same in private channels
        "reactions:write",  # receipts
        "usergroups:read",  # ROADMAP_EDITORS with S… ids
    }
    assert needed <= set(MANIFEST["oauth_config"]["scopes"]["bot"])
