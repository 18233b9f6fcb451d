"""Building the Slack Web API clients from the settings (the retry policies are described in handlers.context)."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings
from handlers.context import SlackClients

TIMEOUT_SECONDS = 10
LOOKUP_TIMEOUT_SECONDS = 1.5


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
    worker = WebClient(**common, retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)])
    return SlackClients(poster=poster, reader=reader, lookup=lookup, worker=worker)
