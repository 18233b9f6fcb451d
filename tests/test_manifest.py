"""The app manifest a workspace admin pastes in matches what the code listens to and calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.app import COMMAND
from bot.web import EVENTS_PATH
from handlers import record_shortcut
from tests.slack_requests import send_event

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "slack-manifest.yaml").read_text())


def test_command_shortcut_events_and_interactivity_all_point_at_the_events_path():
    command = MANIFEST["features"]["slash_commands"][0]
    assert command["command"] == COMMAND and command["url"].endswith(EVENTS_PATH)
    assert MANIFEST["settings"]["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith(EVENTS_PATH)
    shortcut = MANIFEST["features"]["shortcuts"][0]
    assert shortcut["type"] == "message" and shortcut["callback_id"] == record_shortcut.CALLBACK_ID


def test_events_and_scopes_cover_what_the_bot_does():
    # Subscribing to an event nobody handles gets a 404 that Slack retries: only what handlers/threads.py and
    # handlers/reactions.py read, each with a listener registered in bot/app.py.
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"message.channels", "message.groups", "reaction_added"}
    needed = {
        "commands",  # /roadmap and the shortcut
        "chat:write",  # thread parents, digest, ephemeral notes
        "chat:write.public",  # the digest in a channel the bot has not joined
        "channels:history",  # thread replies and digest markers, public channels
        "groups:history",  # the same in private channels
        "reactions:write",  # receipts
        "usergroups:read",  # ROADMAP_EDITORS with S… ids
        "reactions:read",  # reaction_added: record by 📝
        "canvases:write",  # /roadmap canvas
    }
    assert needed <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_every_subscribed_event_has_a_listener(web):
    """An event without a listener is answered 404, which Slack retries: each subscribed one gets a 200."""
    for n, name in enumerate(MANIFEST["settings"]["event_subscriptions"]["bot_events"]):
        event_type = name.split(".")[0]  # message.channels → message
        event = {"type": event_type, "channel": "C999", "user": "U999", "ts": "1.000001", "event_ts": "1.000001"}
        if event_type == "reaction_added":
            event.update(reaction="thumbsup", item={"type": "message", "channel": "C999", "ts": "1.000001"})
        response = send_event(web, event, f"EvManifest{n}")
        assert response.status == 200, (name, response.status, response.body)
