"""Slack Web API failures on the loopback fake: 429s are retried (nothing was posted), 5xx and dropped connections are
retried only for reads, timeouts and the rest are logged — and no handler crashes."""

from __future__ import annotations

import logging
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack import make_clients
from handlers import slack_api
from tests.fakes import Scripted
from tests.netcut import TcpProxy
from tests.slack_requests import send_command, send_interaction, share_payload


def wait_until(predicate, timeout: float = 3.0) -> bool:
    """Poll for work that runs after the HTTP answer (Services.after_response)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def share(web, fake_slack, response_url: str | None = None):
    message = send_command(web, "status security", response_url=fake_slack.response_url()).json()
    value = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    response = send_interaction(web, share_payload(value, response_url=response_url or fake_slack.response_url()))
    assert response.status == 200  # the button is acknowledged whatever happens next
    return response


def logged(caplog, words: str) -> bool:
    return any(words in r.getMessage() for r in caplog.records)


def no_errors(caplog) -> bool:
    """No handler crashed: nothing of ours (or Bolt's "listener failed") logged an error. slack_sdk logs its own
    ERROR line for a network failure before raising; that one is expected."""
    return not [r for r in caplog.records if r.levelno >= logging.ERROR and not r.name.startswith("slack_sdk")]


# -- the share button's response_url --------------------------------------------------------------------------------


def test_share_is_retried_after_a_429_and_posted_once(web, fake_slack, caplog):
    fake_slack.script("response_url", Scripted(status=429, headers={"Retry-After": "0"}, body={"ok": False}))
    with caplog.at_level(logging.WARNING):
        share(web, fake_slack)
        calls = fake_slack.wait_for("response_url", count=2)
    assert len(calls) == 2 and calls[1].body["response_type"] == "in_channel"
    assert no_errors(caplog)


@pytest.mark.parametrize(
    ("failure", "log_words"),
    [
        (Scripted(drop=True), "not retried, it might post twice"),
        (Scripted(status=500, body={"ok": False}), "answered 500"),
        (Scripted(status=404, body={"ok": False, "error": "expired_url"}), "answered 404"),
    ],
    ids=["dropped connection", "server error", "expired response_url"],
)
def test_a_failed_share_is_logged_once_never_reposted_and_never_crashes(web, fake_slack, caplog, failure, log_words):
    fake_slack.script("response_url", failure)
    with caplog.at_level(logging.WARNING):
        share(web, fake_slack)
        assert wait_until(lambda: logged(caplog, log_words)), [r.getMessage() for r in caplog.records]
    # One attempt only: a dropped connection or a 500 may have posted already, and a second post would double it.
    assert len(fake_slack.calls_to("response_url")) == 1
    assert no_errors(caplog)


def test_a_share_whose_response_url_times_out_is_logged(web, fake_slack, caplog, monkeypatch):
    silent = TcpProxy("127.0.0.1", 9).start()  # accepts, never answers
    silent.hang()
    monkeypatch.setattr(slack_api, "RESPONSE_URL_TIMEOUT_SECONDS", 0.3)
    try:
        with caplog.at_level(logging.WARNING):
            share(web, fake_slack, response_url=f"http://127.0.0.1:{silent.port}/response/slow")
            assert wait_until(lambda: logged(caplog, "posting to the response_url failed"))
    finally:
        silent.close()
    assert no_errors(caplog)


# -- the Web API clients' retry policies --------------------------------------------------------------------------


def test_the_poster_retries_a_429_but_never_a_dropped_connection_or_a_5xx(settings, fake_slack):
    poster = make_clients(settings).poster
    fake_slack.script("chat.postMessage", Scripted(status=429, headers={"Retry-After": "0"}, body={"ok": False}))
    assert poster.chat_postMessage(channel="C1", text="weekly digest")["ok"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 2

    fake_slack.reset()
    fake_slack.script("chat.postMessage", Scripted(drop=True))
    with pytest.raises(Exception):  # noqa: B017 - urllib's error type varies with how the socket died
        poster.chat_postMessage(channel="C1", text="weekly digest")
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # the fake recorded it: a retry would post twice

    fake_slack.reset()
    fake_slack.script("chat.postMessage", Scripted(status=500, body={"ok": False, "error": "fatal_error"}))
    with pytest.raises(SlackApiError):
        poster.chat_postMessage(channel="C1", text="weekly digest")
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


def test_the_reader_retries_5xx_and_dropped_connections_for_idempotent_calls(settings, fake_slack):
    reader = make_clients(settings).reader
    fake_slack.script(
        "conversations.history",
        Scripted(status=503, body={"ok": False}),
        Scripted(drop=True),
    )
    assert reader.conversations_history(channel="C1")["ok"]
    assert len(fake_slack.calls_to("conversations.history")) == 3
