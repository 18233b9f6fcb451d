"""The web pages' HTTP side: routes, sign-in, cookies and headers around handlers.web_pages.

Served by the web process next to /slack/events (bot/web.py hands every other path here) only when Sign in with
Slack is configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, ROADMAP_BASE_URL). Every page needs a session: a
request without one is sent to sign in, so nothing is ever served unauthenticated. Only GET and HEAD reach pages
(and POST /logout, which only forgets the session): nothing here can change the roadmap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from urllib.parse import quote, urlencode

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.settings import Settings
from handlers.web_auth import (
    CALLBACK_PATH,
    LOGIN_PATH,
    LOGOUT_PATH,
    SESSION_COOKIE,
    STATE_COOKIE,
    SignInRefused,
    WebAuth,
    safe_next,
)
from handlers.web_pages import Page, message_page, render_page
from store.api import RoadmapStore

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    # No script anywhere; the pages' only style is the inline <style> of the base template.
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "private, no-store"),
]


class WorkspaceTeam:
    """The workspace's team id, from auth.test with the bot token (asked once, then remembered)."""

    def __init__(self, client: WebClient):
        self.client = client
        self._team: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._team is None:
                try:
                    team = self.client.auth_test().get("team_id")
                except (SlackApiError, SlackClientError, OSError) as exc:
                    log.warning("web sign-in: auth.test failed (%s); cannot check the workspace", exc)
                    raise SignInRefused("Slack could not be reached to check your workspace. Try again.") from None
                if not isinstance(team, str) or not team:
                    raise SignInRefused("Slack could not tell which workspace this is. Try again.")
                self._team = team
            return self._team


class Pages:
    def __init__(self, settings: Settings, store: RoadmapStore, reader: WebClient):
        assert settings.web_pages_enabled, "the pages need SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and ROADMAP_BASE_URL"
        self.settings, self.store = settings, store
        self.auth = WebAuth(
            client_id=settings.slack_client_id or "",
            client_secret=settings.slack_client_secret or "",
            base_url=settings.roadmap_base_url or "",
            authorize_url=settings.slack_authorize_url,
            api_url=settings.slack_api_url,
            team_id=WorkspaceTeam(reader),
        )

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = _path(environ)
        query = str(environ.get("QUERY_STRING") or "")
        cookies = str(environ.get("HTTP_COOKIE") or "")
        if path == LOGOUT_PATH:
            if method != "POST":
                return _reply(start_response, 405, b"use POST", [("Allow", "POST")], "text/plain")
            page = message_page(
                200,
                self._title(),
                None,
                "Signed out",
                "You are signed out of the roadmap.",
                back_href=LOGIN_PATH,
                back_label="Sign in with Slack",
            )
            return self._page(start_response, page, method, [("Set-Cookie", self.auth.clear(SESSION_COOKIE))])
        if method not in ("GET", "HEAD"):
            return _reply(start_response, 405, b"read-only: use GET", [("Allow", "GET, HEAD")], "text/plain")
        if path == LOGIN_PATH:
            next_path = _query_value(query, "next") or "/"
            location, cookie = self.auth.start(next_path)
            return _redirect(start_response, location, [("Set-Cookie", cookie)])
        if path == CALLBACK_PATH:
            return self._callback(start_response, method, query, cookies)
        user = self.auth.user_of(cookies)
        if user is None:
            target = path + (f"?{query}" if query else "")
            return _redirect(start_response, f"{LOGIN_PATH}?{urlencode({'next': safe_next(target)})}")
        today = datetime.now(self.settings.tz).date()
        page = render_page(self.store, path, query, user=user.name, today=today)
        return self._page(start_response, page, method)

    def _callback(self, start_response: Callable, method: str, query: str, cookies: str) -> Iterable[bytes]:
        clear_state = ("Set-Cookie", self.auth.clear(STATE_COOKIE))
        try:
            user, next_path = self.auth.finish(query, cookies)
        except SignInRefused as exc:
            page = message_page(
                403,
                self._title(),
                None,
                "Sign-in failed",
                str(exc),
                back_href=LOGIN_PATH,
                back_label="Sign in with Slack",
            )
            return self._page(start_response, page, method, [clear_state])
        log.info("web sign-in: %s of %s", user.user_id, user.team_id)
        return _redirect(start_response, next_path, [clear_state, ("Set-Cookie", self.auth.session_cookie(user))])

    def _page(self, start_response: Callable, page: Page, method: str, extra: list | None = None) -> list[bytes]:
        body = page.html.encode("utf-8")
        headers = [("Content-Length", str(len(body))), *(extra or [])]  # HEAD: the length GET would send
        return _reply(start_response, page.status, b"" if method == "HEAD" else body, headers, "text/html")

    def _title(self) -> str:
        try:
            return self.store.roadmap.title()
        except Exception:
            return "Roadmap"


def _path(environ: dict) -> str:
    """PATH_INFO as the text the browser sent (WSGI gives it latin-1-decoded bytes)."""
    raw = str(environ.get("PATH_INFO") or "/")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _query_value(query: str, name: str) -> str | None:
    from urllib.parse import parse_qsl

    return next((v for k, v in parse_qsl(query[:2048], errors="replace") if k == name), None)


def _redirect(start_response: Callable, location: str, extra: list | None = None) -> list[bytes]:
    safe = quote(location, safe="/?&=:%#;+,@!$'()*~.-_")  # already-encoded URLs pass unchanged
    return _reply(start_response, 303, b"", [("Location", safe), *(extra or [])], "text/plain")


def _reply(start_response: Callable, code: int, body: bytes, extra: list | None, kind: str) -> list[bytes]:
    from bot.web import _status

    extra = extra or []
    length = [] if any(k == "Content-Length" for k, _ in extra) else [("Content-Length", str(len(body)))]
    start_response(_status(code), [("Content-Type", f"{kind}; charset=utf-8"), *length, *SECURITY_HEADERS, *extra])
    return [body]
