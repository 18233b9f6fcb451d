"""Configuration from the environment (Bolt's variable names where Bolt has them).

A wrong or missing setting fails at start with one line naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_AUTHORIZE_URL = "https://slack.com/openid/connect/authorize"

# Every variable the bot reads, with what it is for (the README's table is written from the same facts).
KNOWN: dict[str, str] = {
    "SLACK_BOT_TOKEN": "bot token (xoxb-…); required to serve Slack",
    "SLACK_SIGNING_SECRET": "signing secret; required for HTTP mode",
    "SLACK_APP_TOKEN": "app-level token (xapp-…); enables Socket Mode",
    "SLACK_API_URL": "base URL of the Slack Web API (tests and staging point it at a fake)",
    "SLACK_CLIENT_ID": "the app's client id; with SLACK_CLIENT_SECRET and ROADMAP_BASE_URL turns on the web pages",
    "SLACK_CLIENT_SECRET": "the app's client secret (Sign in with Slack; also signs the web session cookie)",
    "SLACK_AUTHORIZE_URL": "Sign in with Slack's authorize endpoint (tests point it at a fake)",
    "DATABASE_URL": "SQLAlchemy URL; sqlite:///roadmap.db by default; postgres:// accepted",
    "ROADMAP_EDITORS": "comma-separated Slack user ids (U…) and user-group ids (S…) who may change steps",
    "ROADMAP_TIMEZONE": "IANA time zone for dates and the digest schedule (America/New_York)",
    "ROADMAP_DIGEST_CHANNEL": "channel id for the weekly digest",
    "ROADMAP_DIGEST_SCHEDULE": "5-field cron for the digest (standard cron: 1 = Monday); default 0 9 * * 1",
    "ROADMAP_STALE_DAYS": "days without a development after which a step is stale (30)",
    "ROADMAP_DIGEST_GRACE_HOURS": "hours after a scheduled time within which a missed digest is still sent (6)",
    "ROADMAP_SEED": "roadmap file loaded into an empty store (built-in U.S.–Belarus roadmap); 'none' to skip",
    "ROADMAP_WATCH_ALLOW_PRIVATE": "1 lets source watch fetch loopback, private and link-local addresses (intranet)",
    "ROADMAP_REMINDERS": "'off' stops the daily reminder DMs to step owners for the whole workspace (on)",
    "ROADMAP_HOLIDAYS": "comma-separated YYYY-MM-DD days without reminder DMs (besides the roadmap file's)",
    "ROADMAP_LOG_LEVEL": "logging level (INFO)",
    "ROADMAP_BASE_URL": "public URL of the web process (https://…): answers link to its pages, links to them unfurl",
    "ROADMAP_RECORD_EMOJI": "reaction name that records a message as a development (memo, i.e. 📝)",
    "PORT": "HTTP port for the web process (3000)",
}


class SettingsError(Exception):
    """One line, naming the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///roadmap.db"
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    editors: tuple[str, ...] = ()
    timezone: str = "America/New_York"
    digest_channel: str | None = None
    digest_schedule: str = "0 9 * * 1"
    stale_days: int = 30
    digest_grace_hours: int = 6
    seed: str | None = "builtin"
    watch_allow_private: bool = False
    reminders: bool = True
    holidays: tuple[date, ...] = ()
    log_level: str = "INFO"
    record_emoji: str = "memo"
    port: int = 3000
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_authorize_url: str = DEFAULT_AUTHORIZE_URL
    roadmap_base_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def web_pages_enabled(self) -> bool:
        """The web pages are served only when Sign in with Slack can work: nothing is ever shown unauthenticated."""
        return bool(self.slack_client_id and self.slack_client_secret and self.roadmap_base_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        unknown = sorted(k for k in env if k.startswith("ROADMAP_") and k not in KNOWN)
        if unknown:
            raise SettingsError(f"{unknown[0]} is not a Roadmap bot setting (known: {_roadmap_vars()})")

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        tz = get("ROADMAP_TIMEZONE") or cls.timezone
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"ROADMAP_TIMEZONE={tz!r} is not an IANA time zone (e.g. Europe/Warsaw)") from exc
        editors = tuple(x.strip() for x in (get("ROADMAP_EDITORS") or "").split(",") if x.strip())
        bad = [e for e in editors if not re.match(r"^[UWS][A-Z0-9]{2,20}$", e)]
        if bad:
            raise SettingsError(f"ROADMAP_EDITORS has {bad[0]!r}: use Slack user ids (U…) or user-group ids (S…)")
        api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        if not re.match(r"^https?://", api_url):
            raise SettingsError(f"SLACK_API_URL={api_url!r} must be an http(s) URL")
        seed = get("ROADMAP_SEED") or "builtin"
        authorize_url = get("SLACK_AUTHORIZE_URL") or DEFAULT_AUTHORIZE_URL
        if not re.match(r"^https?://", authorize_url):
            raise SettingsError(f"SLACK_AUTHORIZE_URL={authorize_url!r} must be an http(s) URL")
        reminders = (get("ROADMAP_REMINDERS") or "on").lower()
        if reminders not in ("on", "off"):
            raise SettingsError(f"ROADMAP_REMINDERS={reminders!r} must be 'on' or 'off'")
        holidays = []
        for day in (get("ROADMAP_HOLIDAYS") or "").split(","):
            if day.strip():
                try:
                    holidays.append(date.fromisoformat(day.strip()))
                except ValueError as exc:
                    raise SettingsError(f"ROADMAP_HOLIDAYS has {day.strip()!r}: use YYYY-MM-DD days") from exc
        return cls(
            database_url=get("DATABASE_URL") or cls.database_url,
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=api_url if api_url.endswith("/") else api_url + "/",  # urljoin needs the slash
            editors=editors,
            timezone=tz,
            digest_channel=get("ROADMAP_DIGEST_CHANNEL"),
            digest_schedule=get("ROADMAP_DIGEST_SCHEDULE") or cls.digest_schedule,
            stale_days=_int(get("ROADMAP_STALE_DAYS"), "ROADMAP_STALE_DAYS", cls.stale_days),
            digest_grace_hours=_int(
                get("ROADMAP_DIGEST_GRACE_HOURS"), "ROADMAP_DIGEST_GRACE_HOURS", cls.digest_grace_hours
            ),
            seed=None if seed.lower() == "none" else seed,
            watch_allow_private=_bool(get("ROADMAP_WATCH_ALLOW_PRIVATE"), "ROADMAP_WATCH_ALLOW_PRIVATE"),
            reminders=reminders == "on",
            holidays=tuple(holidays),
            log_level=(get("ROADMAP_LOG_LEVEL") or "INFO").upper(),
            record_emoji=(get("ROADMAP_RECORD_EMOJI") or cls.record_emoji).strip(":").lower(),
            port=_int(get("PORT"), "PORT", cls.port),
            slack_client_id=get("SLACK_CLIENT_ID"),
            slack_client_secret=get("SLACK_CLIENT_SECRET"),
            slack_authorize_url=authorize_url,
            roadmap_base_url=_base_url(get("ROADMAP_BASE_URL")),
        )

    def require(self, *names: str) -> Settings:
        """Fail with the first missing variable among `names` (e.g. what HTTP serving needs)."""
        attrs = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "ROADMAP_DIGEST_CHANNEL": self.digest_channel,
        }
        for name in names:
            if not attrs.get(name):
                raise SettingsError(f"{name} is not set: {KNOWN[name]}")
        return self


def _int(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError as exc:
        raise SettingsError(f"{name}={value!r} must be a whole number") from exc
    if n <= 0:
        raise SettingsError(f"{name}={value!r} must be positive")
    return n


def _base_url(value: str | None) -> str | None:
    """The web process's public origin, without a trailing slash: pages live at its root (/, /clusters/…)."""
    if value is None:
        return None
    m = re.fullmatch(r"(https?://[A-Za-z0-9.\-]+(?::\d{1,5})?)/?", value)
    if not m:
        raise SettingsError(
            f"ROADMAP_BASE_URL={value!r} must be the web process's public origin, e.g. https://roadmap.example.org"
            " (no path, query or fragment: the pages are served at its root)"
        )
    return m.group(1)


def _bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={value!r} must be 1 or 0")


def _roadmap_vars() -> str:
    return ", ".join(k for k in KNOWN if k.startswith("ROADMAP_"))
