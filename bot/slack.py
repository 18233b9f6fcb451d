"""Slack Web API clients. Two retry policies, because chat.postMessage has no idempotency key:

- `poster`: retries only HTTP 429 (nothing was posted), honouring Retry-After. For anything that creates.
- `reader`: also retries connection errors and 5xx. For reads and idempotent calls (permalinks, reactions,
  chat.update, usergroups).
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SlackClients:
    poster: WebClient
    reader: WebClient


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
    return SlackClients(poster=poster, reader=reader)
