"""Sign in with Slack (OpenID Connect) for the web pages, and the signed session cookie it ends in.

The flow: a page without a session sends the browser to /login, which puts a random `state` in a signed,
short-lived cookie and redirects to Slack's authorize URL. Slack sends the browser back to /auth/callback with a
code and the state; the state must match the cookie's (CSRF), the code is exchanged with `openid.connect.token`
and the person read with `openid.connect.userInfo` — both through the same Slack Web API client settings as
everything else — and their `https://slack.com/team_id` must be this workspace's. Only then is a session cookie
set: signed (itsdangerous, keyed by the client secret), HttpOnly, SameSite=Lax, Secure on https, and it expires.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
CALLBACK_PATH = "/auth/callback"
LOGOUT_PATH = "/logout"
SESSION_COOKIE = "roadmap_session"
STATE_COOKIE = "roadmap_signin"
SESSION_SECONDS = 12 * 3600  # a working day: after that, sign in again (Slack remembers the person)
STATE_SECONDS = 600  # the time a person has to finish signing in at Slack
SCOPES = "openid profile"
TEAM_CLAIM = "https://slack.com/team_id"


class SignInRefused(Exception):
    """Why a sign-in did not complete; the message is safe to show the person."""


@dataclass(frozen=True)
class WebUser:
    user_id: str
    name: str
    team_id: str


class WebAuth:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        authorize_url: str,
        api_url: str,
        team_id: Callable[[], str],
    ):
        self.client_id, self.client_secret = client_id, client_secret
        self.base_url, self.authorize_url = base_url, authorize_url
        self.secure = base_url.startswith("https://")
        # No token: openid.connect.token authenticates with the client id and secret, userInfo with the
        # person's own access token. Same base URL as every other Web API call (SLACK_API_URL).
        self.client = WebClient(base_url=api_url, timeout=10)
        self.team_id = team_id
        self._sessions = URLSafeTimedSerializer(client_secret, salt="roadmap-web-session")
        self._states = URLSafeTimedSerializer(client_secret, salt="roadmap-web-signin-state")

    @property
    def redirect_uri(self) -> str:
        return self.base_url + CALLBACK_PATH

    # -- starting ---------------------------------------------------------------------------------------------
    def start(self, next_path: str) -> tuple[str, str]:
        """Where to send the browser, and the Set-Cookie header that remembers the state."""
        state = secrets.token_urlsafe(24)
        signed = self._states.dumps({"state": state, "next": safe_next(next_path)})
        query = urlencode(
            {
                "response_type": "code",
                "scope": SCOPES,
                "client_id": self.client_id,
                "state": state,
                "redirect_uri": self.redirect_uri,
            }
        )
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{query}", self.cookie(STATE_COOKIE, signed, STATE_SECONDS)

    # -- finishing --------------------------------------------------------------------------------------------
    def finish(self, query_string: str, cookie_header: str) -> tuple[WebUser, str]:
        """The signed-in person and where they were going; SignInRefused says why not."""
        query = dict(parse_qsl(query_string[:4096], keep_blank_values=True, errors="replace"))
        if query.get("error"):
            raise SignInRefused("Slack did not sign you in (you may have cancelled). Try again.")
        try:
            remembered = self._states.loads(read_cookie(cookie_header, STATE_COOKIE) or "", max_age=STATE_SECONDS)
        except BadSignature:
            raise SignInRefused("This sign-in link has expired or was not started here. Try again.") from None
        state = query.get("state", "")
        if not isinstance(remembered, dict) or not hmac.compare_digest(str(remembered.get("state")), state):
            raise SignInRefused("This sign-in link has expired or was not started here. Try again.")
        code = query.get("code", "")
        if not code:
            raise SignInRefused("Slack sent no sign-in code. Try again.")
        claims = self._claims(code)
        user_id = str(claims.get("https://slack.com/user_id") or claims.get("sub") or "")
        team = str(claims.get(TEAM_CLAIM) or "")
        expected = self.team_id()
        if not user_id or not team or not hmac.compare_digest(team, expected):
            log.warning("web sign-in refused: user %r of team %r is not in this workspace", user_id[:32], team[:32])
            raise SignInRefused("Only members of the workspace this roadmap is kept in can read it.")
        name = str(claims.get("name") or claims.get("given_name") or user_id)[:80]
        return WebUser(user_id, name, team), safe_next(str(remembered.get("next") or "/"))

    def _claims(self, code: str) -> dict:
        try:
            token = self.client.openid_connect_token(
                client_id=self.client_id, client_secret=self.client_secret, code=code, redirect_uri=self.redirect_uri
            )
            access_token = token.get("access_token")
            if not isinstance(access_token, str) or not access_token:
                raise SignInRefused("Slack did not sign you in. Try again.")
            info = self.client.openid_connect_userInfo(token=access_token)
        except SlackApiError as exc:
            log.warning("web sign-in: Slack answered %s", exc.response.get("error"))
            raise SignInRefused(
                "Slack did not accept this sign-in (it may have been used already). Try again."
            ) from None
        except (SlackClientError, OSError) as exc:
            log.warning("web sign-in: Slack could not be reached (%s)", type(exc).__name__)
            raise SignInRefused("Slack could not be reached to sign you in. Try again in a moment.") from None
        return dict(info.data) if isinstance(info.data, dict) else {}

    # -- the session ------------------------------------------------------------------------------------------
    def session_cookie(self, user: WebUser) -> str:
        value = self._sessions.dumps({"u": user.user_id, "n": user.name, "t": user.team_id})
        return self.cookie(SESSION_COOKIE, value, SESSION_SECONDS)

    def user_of(self, cookie_header: str) -> WebUser | None:
        """The person a request's session cookie names, if it is ours, intact and not expired."""
        raw = read_cookie(cookie_header, SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("u", "n", "t")):
            return None
        return WebUser(data["u"], data["n"], data["t"])

    def cookie(self, name: str, value: str, max_age: int) -> str:
        secure = "; Secure" if self.secure else ""
        return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"

    def clear(self, name: str) -> str:
        return self.cookie(name, "", 0)


def read_cookie(header: str, name: str) -> str | None:
    """One cookie's value from a Cookie header; None when absent or the header does not parse."""
    jar = SimpleCookie()
    try:
        jar.load(header[:8192])
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def safe_next(path: str) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or a URL: no open redirect)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 1000:
        return "/"
    if any(ord(c) < 0x20 for c in path):
        return "/"
    return path
