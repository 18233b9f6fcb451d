"""The app manifest a workspace admin pastes in matches what the code listens to and calls."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bot.app import COMMAND
from bot.web import EVENTS_PATH
from handlers import home_actions, record_shortcut
from handlers.web_auth import CALLBACK_PATH
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
    # handlers/unfurls.py, handlers/home.py and handlers/reactions.py read, each with a listener in bot/app.py.
    bot_events = {"message.channels", "message.groups", "link_shared", "app_home_opened", "reaction_added"}
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == bot_events
    needed = {
        "commands",  # /roadmap and the shortcut
        "chat:write",  # thread parents, digest, ephemeral notes
        "chat:write.public",  # the digest in a channel the bot has not joined
        "channels:history",  # thread replies and digest markers, public channels
        "groups:history",  # the same in private channels
        "reactions:write",  # receipts
        "usergroups:read",  # ROADMAP_EDITORS with S… ids
        "links:read",  # link_shared for links to the web pages
        "links:write",  # chat.unfurl
        "reactions:read",  # reaction_added: record by 📝
        "canvases:write",  # /roadmap canvas
        "files:write",  # files_upload_v2: the brief, the chart, the digest's chart
        "users:read",  # owners' time zones, unknown users refused
        "im:write",  # reminder DMs and owner notices
        "im:history",  # a retried reminder checks the DM for its marker
    }
    assert needed <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_links_to_the_web_pages_unfurl_and_sign_in_comes_back_to_the_callback():
    host = urlsplit(MANIFEST["settings"]["event_subscriptions"]["request_url"]).hostname
    # Slack sends link_shared only for the domains listed here: the host of ROADMAP_BASE_URL.
    assert MANIFEST["features"]["unfurl_domains"] == [host]
    (redirect,) = MANIFEST["oauth_config"]["redirect_urls"]
    assert urlsplit(redirect).hostname == host and urlsplit(redirect).path == CALLBACK_PATH


def test_a_link_shared_event_has_a_listener_even_without_web_pages(web):
    # An event without a listener gets a 404, which Slack retries: link_shared is answered even when
    # ROADMAP_BASE_URL is unset (and then unfurls nothing).
    event = {"type": "link_shared", "channel": "C100", "message_ts": "1.2", "links": [{"url": "https://x.org/a"}]}
    assert send_event(web, event).status == 200


def test_the_usage_hint_names_every_command():
    from handlers.registry import COMMANDS

    hint = MANIFEST["features"]["slash_commands"][0]["usage_hint"]
    assert [name for name in COMMANDS if name not in hint] == []


def test_interactivity_covers_the_source_watch_buttons():
    # Buttons need no manifest entry beyond interactivity, but the bot must listen to every action id it renders.
    from handlers import watch
    from templates import render

    message = render("watch_proposal.json.j2", dict(item=_ITEM, clusters=[], cluster=None))
    rendered = {e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert rendered == {watch.CONFIRM, watch.IGNORE, watch.CLUSTER}
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


_ITEM = dict(
    id=1,
    url="https://news.example.org/1",
    title="Visa talks",
    summary="",
    source_name="MFA news",
    source_url="https://news.example.org/rss",
    published_on=None,
    matched=(),
)


def test_every_subscribed_event_has_a_listener(web):
    """An event without a listener is answered 404, which Slack retries: each subscribed one gets a 200."""
    for n, name in enumerate(MANIFEST["settings"]["event_subscriptions"]["bot_events"]):
        event_type = name.split(".")[0]  # message.channels → message
        event = {"type": event_type, "channel": "C999", "user": "U999", "ts": "1.000001", "event_ts": "1.000001"}
        if event_type == "reaction_added":
            event.update(reaction="thumbsup", item={"type": "message", "channel": "C999", "ts": "1.000001"})
        response = send_event(web, event, f"EvManifest{n}")
        assert response.status == 200, (name, response.status, response.body)
