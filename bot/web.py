"""HTTP serving: Bolt's WSGI adapter behind a thin guard, for gunicorn (`bot.web:application()`).

The guard answers what Bolt itself gets wrong (docs/stack-traps.md, Bolt behind gunicorn): a malformed body is a
400, not a 500 from inside Bolt's parser; a form whose text merely contains the word "payload" is parsed as the
form it is; health checks get a GET path that touches the database.
"""

from __future__ import annotations

import ctypes
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from store.api import RoadmapStore
from store.errors import StoreError

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


# Fields Bolt itself reads while routing (request/internals.py, listener matchers, log messages): a value of
# the wrong type there raises inside Bolt and answers 500, so the guard refuses it first.
_ID_OR_OBJECT = ("team", "enterprise", "user", "channel")  # an id string, or an object whose "id" is a string
_OBJECTS = ("view", "container", "message", "previous_message", "item", "assistant_thread", "function_data", "state")
_LISTS_OF_OBJECTS = ("authorizations", "response_urls")
_STRINGS = ("type", "response_url", "callback_id", "action_id", "user_id", "channel_id", "team_id", "subtype")
_CALLBACK_TYPES = {"shortcut", "message_action", "interactive_message", "dialog_submission"}
SIGNATURE_WINDOW_SECONDS = 300  # Slack's (and Bolt's) replay window


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
        return _checked(data)
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
        return _checked(payload)
    if "command" in form or "ssl_check" in form:
        return form
    raise MalformedRequest("neither a slash command nor an interaction payload")


def _checked(body: dict) -> dict:
    """Refuse the shapes that make Bolt's routing raise; listeners still read what they use defensively."""
    _check_fields(body, "body")
    event = body.get("event")
    if event is not None:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise MalformedRequest("event must be an object with a type")
        _check_fields(event, "event")
        for key in ("message", "previous_message", "item", "assistant_thread"):
            if isinstance(event.get(key), dict):
                _check_fields(event[key], f"event.{key}")
    for auth in body.get("authorizations") or []:
        _check_fields(auth, "authorizations[]")
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            raise MalformedRequest("block_actions without actions")
        for action in actions:
            if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
                raise MalformedRequest("every action needs an action_id")
            if not isinstance(action.get("block_id", ""), str):
                raise MalformedRequest("action block_id must be a string")
    elif kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id", ""), str):
            raise MalformedRequest(f"{kind} without a view")
    elif kind in _CALLBACK_TYPES and not isinstance(body.get("callback_id"), str):
        raise MalformedRequest(f"{kind} without a callback_id")
    elif kind == "block_suggestion" and not isinstance(body.get("action_id"), str):
        raise MalformedRequest("block_suggestion without an action_id")
    return body


def _check_fields(d: object, where: str) -> None:
    if not isinstance(d, dict):
        raise MalformedRequest(f"{where} must be an object")
    for key in _ID_OR_OBJECT:
        value = d.get(key)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, dict) or not isinstance(value.get("id", ""), str):
            raise MalformedRequest(f"{where}.{key} must be an id or an object with a string id")
    for key in _OBJECTS:
        if key in d and d[key] is None:
            # null means absent here; Bolt tests only that the key is there (its unhandled-request log then
            # calls view.get(...) on None and answers 500), so make the body say what the guard assumes.
            del d[key]
        elif key in d and not isinstance(d[key], dict):
            raise MalformedRequest(f"{where}.{key} must be an object")
    for key in _LISTS_OF_OBJECTS:
        value = d.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(x, dict) for x in value)):
            raise MalformedRequest(f"{where}.{key} must be a list of objects")
    for key in _STRINGS:
        if d.get(key) is not None and not isinstance(d[key], str):
            raise MalformedRequest(f"{where}.{key} must be a string")


class SlackWSGI:
    def __init__(
        self,
        app: App,
        store: RoadmapStore,
        path: str = EVENTS_PATH,
        pages: Callable[[dict, Callable], Iterable[bytes]] | None = None,
    ):
        # `pages` (bot/pages.py) serves every other path when the web pages are on; Slack's path is untouched.
        self.app, self.store, self.path, self.pages = app, store, path, pages

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path in HEALTH_PATHS and method in ("GET", "HEAD"):
            return self._health(start_response)
        if path != self.path:
            if self.pages is not None:
                return self.pages(environ, start_response)
            return _plain(start_response, 404, "not found")
        if method != "POST":
            return _plain(start_response, 405, "use POST", [("Allow", "POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, 400, "bad Content-Length")
        if length < 0:
            return _plain(start_response, 400, "bad Content-Length")
        if length > MAX_BODY_BYTES:
            return _plain(start_response, 413, "body too large")
        request = WsgiHttpRequest(environ)
        headers = request.get_headers()
        # WSGI gives one string per header (Bolt's own adapter does too), not a list.
        content_type = str(headers.get("content-type") or "").split(";")[0].strip().lower()
        try:
            raw = request.get_body()
            body = parse_slack_body(raw, content_type)
            bolt_request = BoltRequest(body=raw, query=request.query_string, headers=headers)
            # Bolt's own parser mistakes any form containing "payload" for an interaction; use ours.
            bolt_request.body = body
            bolt_request.context = build_context(BoltContext({}), body)
        except (MalformedRequest, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # UnicodeDecodeError is a ValueError; the others are shapes _checked did not foresee.
            reason = str(exc) if isinstance(exc, MalformedRequest) else "unexpected body shape"
            log.warning("refused a malformed request (%s) from %s", reason, _client(environ))
            return _plain(start_response, 400, f"malformed request: {reason}")
        response = self.app.dispatch(bolt_request)
        if response.status == 401:
            log.warning("refused a request: %s, from %s", _why_unverified(headers), _client(environ))
        headers_out = [(k, v) for k, vs in response.headers.items() for v in vs]
        start_response(_status(response.status), headers_out)
        return [response.body.encode("utf-8")]

    def _health(self, start_response: Callable) -> Iterable[bytes]:
        try:
            self.store.ping()
        except StoreError:
            return _json(start_response, 503, {"ok": False, "database": "unavailable"})
        return _json(start_response, 200, {"ok": True, "database": "ok"})


def _why_unverified(headers: dict) -> str:
    """Why Bolt's v0 signature check failed, for the log line (the client only ever sees 401)."""
    signature = headers.get("x-slack-signature")
    timestamp = headers.get("x-slack-request-timestamp")
    if not signature or not timestamp:
        return "unsigned (no X-Slack-Signature/X-Slack-Request-Timestamp)"
    try:
        age = time.time() - int(str(timestamp))
    except ValueError:
        return "bad X-Slack-Request-Timestamp"
    if abs(age) > SIGNATURE_WINDOW_SECONDS:
        return f"timestamp {int(age)} s off the clock (stale or replayed)"
    return "signature does not match (forged, or a wrong signing secret)"


def _client(environ: dict) -> str:
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")[0]
    # The header is the client's to write: keep only address characters, so it cannot forge log lines.
    return re.sub(r"[^0-9A-Za-z:.\-]", "", forwarded)[:64] or str(environ.get("REMOTE_ADDR") or "unknown")


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

    from bot.app import build_services, create_app
    from bot.runtime import open_store
    from bot.settings import Settings, SettingsError
    from handlers.outbox import OutboxWorker

    _tune_malloc()
    try:
        settings = Settings.from_env().require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        store = open_store(settings)
    except SettingsError as exc:
        # gunicorn prints this one line and stops ("App failed to load") instead of a traceback per worker.
        raise AppImportError(f"roadmap: {exc}") from None
    services = build_services(settings, store)
    OutboxWorker(services).start()  # work owed to Slack (store/outbox.py), in every web worker: claims keep it once
    return SlackWSGI(create_app(settings, store, services=services), store, pages=pages_for(settings, store))


def _tune_malloc(arenas: int = 2, trim_every: float = 20.0) -> None:
    """Keep a worker's memory from growing with its threads (a no-op off glibc). glibc gives each thread that
    allocates its own malloc arena (up to 8 per core), and freed memory stays in them: a worker's 8 threads grew
    it from 90 to 145 MB resident under load. Two arenas (the same as MALLOC_ARENA_MAX=2, set here so that no
    launcher can forget it; before the worker starts its threads) keep it flat at no cost measured in latency, the
    GIL serialising the allocating threads anyway. A daemon thread also hands freed memory back every `trim_every`
    seconds: a burst of large answers (a cluster's table, a digest) would leave the worker 10–15 MB larger."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return

    def loop() -> None:
        while True:
            time.sleep(trim_every)
            trim(0)

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()


def pages_for(settings, store: RoadmapStore):
    """The read-only web pages, when Sign in with Slack is configured; otherwise they are off (404)."""
    from bot.pages import Pages
    from bot.slack import make_clients

    if settings.web_pages_enabled:
        return Pages(settings, store, make_clients(settings).reader)
    if settings.slack_client_id or settings.slack_client_secret:
        log.warning("web pages are off: they need SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and ROADMAP_BASE_URL")
    return None
