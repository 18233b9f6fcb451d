"""Slack Web API calls that several handlers make, each failing softly: the user already has the HTTP answer."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from store.api import RoadmapStore

log = logging.getLogger(__name__)

RESPONSE_URL_TIMEOUT_SECONDS = 10


def post_to_response_url(url: str, payload: dict, what: str = "response") -> bool:
    """Post to a slash command's or an action's response_url; True if Slack took it.

    A response_url post has no idempotency key, so only a 429 (nothing was posted) is retried: Bolt's respond()
    uses the SDK default, which also retries a dropped connection and can post twice (docs/stack-traps.md).
    """
    if not url.startswith(("https://", "http://")):
        log.warning("%s: response_url %r is not an http(s) URL; not posting", what, url[:80])
        return False
    client = WebhookClient(
        url,
        timeout=RESPONSE_URL_TIMEOUT_SECONDS,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    try:
        response = client.send_dict(payload)
    except Exception as exc:  # connection errors, timeouts: the post may or may not have happened
        log.warning("%s: posting to the response_url failed (%s); not retried, it might post twice", what, exc)
        return False
    if response.status_code >= 300:
        log.warning("%s: the response_url answered %s %s", what, response.status_code, response.body[:200])
        return False
    return True


def fill_permalink(client: WebClient, store: RoadmapStore, channel: str, ts: str) -> None:
    """Fetch a recorded message's permalink and store it; a failure keeps the development as it is."""
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
        store.developments.set_permalink(channel, ts, link)
    except Exception as exc:  # Slack errors, dropped connections (URLError), the store: the row is kept
        log.warning("no permalink for %s/%s yet: %s", channel, ts, exc)


def react(client: WebClient, channel: str, ts: str, name: str) -> None:
    try:
        client.reactions_add(channel=channel, timestamp=ts, name=name)
    except SlackApiError as exc:
        if exc.response.get("error") != "already_reacted":  # a redelivery reacts again: fine
            log.warning("reaction %s on %s/%s failed: %s", name, channel, ts, exc.response.get("error"))
    except Exception as exc:  # e.g. URLError after the client's own retries
        log.warning("reaction %s on %s/%s failed: %s", name, channel, ts, exc)
