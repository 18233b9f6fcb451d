"""The app manifest a workspace admin pastes in matches what the code listens to and calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.app import COMMAND
from bot.web import EVENTS_PATH
from handlers import record_shortcut

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
    # Subscribing to an event nobody handles gets a 404 that Slack retries: only what handlers/threads.py reads.
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == {"message.channels", "message.groups"}
    needed = {
        "commands",  # /roadmap and the shortcut
        "chat:write",  # thread parents, digest, ephemeral notes
        "chat:write.public",  # the digest in a channel the bot has not joined
        "channels:history",  # thread replies and digest markers, public channels
        "groups:history",  # the same in private channels
        "reactions:write",  # receipts
        "usergroups:read",  # ROADMAP_EDITORS with S… ids, owning groups
        "users:read",  # owners' time zones, unknown users refused
        "im:write",  # reminder DMs and owner notices
        "im:history",  # a retried reminder checks the DM for its marker
    }
    assert needed <= set(MANIFEST["oauth_config"]["scopes"]["bot"])
