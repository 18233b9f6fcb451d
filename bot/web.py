"""HTTP serving: Bolt's WSGI adapter behind a thin guard, for gunicorn (`bot.web:application()`).

The guard answers what Bolt itself gets wrong (PITFALLS §1): a malformed body is a 400, not a 500 from inside
Bolt's parser; a form whose text merely contains the word "payload" is parsed as the form it is; health checks
get a GET path that touches the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from store.api import RoadmapStore, StoreError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATHS = ("/healthz", "/health")
MAX_BODY_BYTES = 1_000_000
_PAYLOAD_TYPES = {
    "block_actions",
    "view_submission",
    "view_closed",
    "message_action",
    "shortcut",
    "block_suggestion",
    "interactive_message",
    "dialog_submission",
}
_JSON_TYPES = {"url_verification", "event_callback", "app_rate_limited"}


class MalformedRequest(ValueError):
    pass


def parse_slack_body(raw: str, content_type: str | None) -> dict:
    """Parse a Slack request body strictly; MalformedRequest says what is wrong."""
    if not raw.strip():
        raise MalformedRequest("empty body")
    if (content_type or "").startswith("application/json") or raw.lstrip().startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise MalformedRequest("body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise MalformedRequest("JSON body must be an object")
        if data.get("type") not in _JSON_TYPES:
            raise MalformedRequest(f"unknown event type {data.get('type')!r}")
        if data["type"] == "event_callback" and not isinstance(data.get("event"), dict):
            raise MalformedRequest("event_callback without an event object")
        return data
    try:
        form = dict(parse_qsl(raw, keep_blank_values=True, strict_parsing=True))
    except ValueError as exc:
        raise MalformedRequest("body is not a valid form") from exc
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except ValueError as exc:
            raise MalformedRequest("payload is not valid JSON") from exc
        if not isinstance(payload, dict) or payload.get("type") not in _PAYLOAD_TYPES:
            raise MalformedRequest("payload is not a known interaction")
        return payload
    if "command" in form or "ssl_check" in form:
        return form
    raise MalformedRequest("neither a slash command nor an interaction payload")


class SlackWSGI:
    def __init__(self, app: App, store: RoadmapStore, path: str = EVENTS_PATH):
        self.app, self.store, self.path = app, store, path

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path in HEALTH_PATHS and method in ("GET", "HEAD"):
            return self._health(start_response)
        if path != self.path:
            return _plain(start_response, 404, "not found")
        if method != "POST":
            return _plain(start_response, 405, "use POST", [("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, 400, "bad Content-Length")
        if length > MAX_BODY_BYTES:
            return _plain(start_response, 413, "body too large")
        request = WsgiHttpRequest(environ)
        raw = request.get_body()
        headers = request.get_headers()
        content_type = (headers.get("content-type") or [""])[0]
        try:
            body = parse_slack_body(raw, content_type)
            bolt_request = BoltRequest(body=raw, query=request.query_string, headers=headers)
        except (MalformedRequest, ValueError) as exc:
            log.warning("refused a malformed request: %s", exc)
            return _plain(start_response, 400, f"malformed request: {exc}")
        # Bolt's own parser mistakes any form containing "payload" for an interaction; use ours.
        bolt_request.body = body
        bolt_request.context = build_context(BoltContext({}), body)
        response = self.app.dispatch(bolt_request)
        if response.status == 401:
            log.warning("refused a request with an invalid or stale signature")
        headers_out = [(k, v) for k, vs in response.headers.items() for v in vs]
        start_response(_status(response.status), headers_out)
        return [response.body.encode("utf-8")]

    def _health(self, start_response: Callable) -> Iterable[bytes]:
        try:
            self.store.ping()
        except StoreError:
            return _json(start_response, 503, {"ok": False, "database": "unavailable"})
        return _json(start_response, 200, {"ok": True, "database": "ok"})


def _status(code: int) -> str:
    from http import HTTPStatus

    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _plain(start_response: Callable, code: int, text: str, extra: list | None = None) -> list[bytes]:
    start_response(_status(code), [("Content-Type", "text/plain; charset=utf-8"), *(extra or [])])
    return [text.encode("utf-8")]


def _json(start_response: Callable, code: int, data: dict) -> list[bytes]:
    start_response(_status(code), [("Content-Type", "application/json")])
    return [json.dumps(data).encode("utf-8")]


def application() -> SlackWSGI:
    """gunicorn entry point (a factory: nothing happens at import)."""
    from gunicorn.errors import AppImportError

    from bot.app import create_app
    from bot.runtime import open_store
    from bot.settings import Settings, SettingsError

    try:
        settings = Settings.from_env().require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        store = open_store(settings)
    except SettingsError as exc:
        # gunicorn prints this one line and stops ("App failed to load") instead of a traceback per worker.
        raise AppImportError(f"roadmap: {exc}") from None
    return SlackWSGI(create_app(settings, store), store)
