"""Slack Web API clients. Two retry policies, because chat.postMessage has no idempotency key:

- `poster`: retries only HTTP 429 (nothing was posted), honouring Retry-After. For anything that creates.
- `reader`: also retries connection errors and 5xx. For reads and idempotent calls (permalinks, reactions,
  chat.update, usergroups).
- `lookup`: reads inside a slash command's 3 s window (editor groups): a short timeout, one retry of a 5xx.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
LOOKUP_TIMEOUT_SECONDS = 1.5


@dataclass(frozen=True)
class SlackClients:
    poster: WebClient
    reader: WebClient
    # Lookups inside a slash command's 3 s window (editor groups): short timeout, no slow retries.
    lookup: WebClient | None = None


def make_clients(settings: Settings) -> SlackClients:
    common = dict(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=TIMEOUT_SECONDS)
    poster = WebClient(**common, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    reader = WebClient(
        **common,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    lookup = WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=LOOKUP_TIMEOUT_SECONDS,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)],
    )
    return SlackClients(poster=poster, reader=reader, lookup=lookup)


# -- security ----
RESPONSE_URL_TIMEOUT_SECONDS = 10


def post_to_response_url(url: str, payload: dict, what: str = "response") -> bool:
    """Post to a slash command's or an action's response_url; True if Slack took it.

    A response_url post has no idempotency key, so only a 429 (nothing was posted) is retried: Bolt's
    respond() uses the SDK default, which also retries a dropped connection and can post twice (PITFALLS §2).
    Failures are logged, never raised: the user already has the HTTP answer.
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
