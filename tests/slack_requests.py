"""Requests exactly as Slack sends them: v0-signed bodies, sent through the real WSGI app in-process."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"
TEAM = {"id": "T1", "domain": "policy"}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict:
        return json.loads(self.body)


def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def call_wsgi(app, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> Response:
    raw = body.encode("utf-8")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "3000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(raw)),
    }
    for k, v in (headers or {}).items():
        key = k.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = v
        else:
            environ["HTTP_" + key] = v
    captured: dict = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}

    chunks = app(environ, start_response)
    text = b"".join(chunks).decode("utf-8")
    return Response(captured["status"], captured["headers"], text)


def post_signed(app, body: str, content_type: str, extra_headers: dict | None = None, **sign_kwargs) -> Response:
    headers = {"Content-Type": content_type, **sign(body, **sign_kwargs), **(extra_headers or {})}
    return call_wsgi(app, "POST", "/slack/events", body, headers)


def command_body(text: str, user: str = "U100", channel: str = "C100", response_url: str = "http://127.0.0.1:9/r"):
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "roadmap",
            "user_id": user,
            "user_name": "analyst",
            "command": "/roadmap",
            "text": text,
            "api_app_id": "A1",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def send_command(app, text: str, **kwargs) -> Response:
    return post_signed(app, command_body(text, **kwargs), "application/x-www-form-urlencoded")


def answer(app, text: str, **kwargs) -> dict:
    """`/roadmap <text>` through the app: a 200 whose body is a valid Block Kit message, returned parsed."""
    from tests.blockkit import assert_valid_message

    response = send_command(app, text, **kwargs)
    assert response.status == 200, response.body
    message = response.json()
    assert_valid_message(message)
    return message


def send_interaction(app, payload: dict, **sign_kwargs) -> Response:
    body = urlencode({"payload": json.dumps(payload)})
    return post_signed(app, body, "application/x-www-form-urlencoded", **sign_kwargs)


def send_event(app, event: dict, event_id: str = "Ev1", retry: int | None = None, **sign_kwargs) -> Response:
    envelope = {
        "token": "legacy",
        "team_id": TEAM["id"],
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM["id"], "user_id": "UBOT", "is_bot": True}],
    }
    extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
    return post_signed(app, json.dumps(envelope), "application/json", extra, **sign_kwargs)


def share_payload(value: str, user: str = "U100", channel: str = "C100", response_url: str = "http://127.0.0.1:9/r"):
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user},
        "api_app_id": "A1",
        "channel": {"id": channel},
        "container": {"type": "message", "is_ephemeral": True},
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [{"action_id": "share_in_channel", "block_id": "share", "type": "button", "value": value}],
    }
