"""The filters every template uses. `esc` is the one escaping filter: `finalize` applies it to every `{{ … }}`,
so it cannot be forgotten. Slack's control characters `&`, `<`, `>` are escaped, so text typed as `<!channel>` or
`<@U123>` is shown, never executed. Deliberate markup (links, user and channel mentions) is built only by `link`,
`user` and `channel`, which escape their parts themselves and accept only exact Slack ids."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from markupsafe import Markup

STATUS_LABEL = {
    "proposed": "⚪ proposed",
    "agreed": "🔵 agreed",
    "in_progress": "🟡 in progress",
    "done": "✅ done",
    "stalled": "🟠 stalled",
    "dropped": "⛔ dropped",
}
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# The C encoder json.dumps uses for a str, without building a JSONEncoder per value (finalize runs per {{ }}).
_json_string = json.encoder.encode_basestring
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,20}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,20}$")


class Safe(str):
    """Text already escaped for Slack mrkdwn (JSON-encoding still applies)."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """The one escaping filter: Slack control characters out, so user text can never ping or link."""
    if isinstance(value, Safe):
        return value
    text = "" if value is None else str(value)
    return Safe(text.translate(_SLACK_ESCAPES))


def finalize(value: Any) -> Markup:
    """Every `{{ … }}` lands inside a JSON string literal: escape for Slack, then for JSON (quotes, backslashes,
    newlines). Markup is output that is final already (a macro's result), so it is not encoded twice."""
    if isinstance(value, Markup):
        return value
    return Markup(_json_string(esc(value))[1:-1])


def link(url: str | None, label: Any = None) -> Safe:
    """A mrkdwn link `<url|label>` with both parts escaped; plain label when there is no URL."""
    shown = esc(label if label not in (None, "") else url or "")
    if not url or not re.match(r"^(https?|mailto):", str(url)):
        return shown
    return Safe(f"<{esc(url)}|{str(shown).replace('|', '¦')}>")


def user(author: str | None) -> Safe:
    """A mention for a Slack user id (or a user-group id, S…); any other author (e.g. `import`) as escaped
    text. Only ids that match exactly become markup, so typed text can never smuggle a mention in."""
    # fullmatch: `$` would also accept an id followed by a newline.
    if author and _USER_ID.fullmatch(author):
        return Safe(f"<@{author}>")
    if author and _GROUP_ID.fullmatch(author):
        return Safe(f"<!subteam^{author}>")
    return esc(author or "unknown")


def channel(channel_id: str | None) -> Safe:
    """A channel link for an exact channel id (`<#C…>`); anything else as escaped text."""
    if channel_id and _CHANNEL_ID.fullmatch(channel_id):
        return Safe(f"<#{channel_id}>")
    return esc(channel_id or "this channel")


def day(value: date | datetime | None, precision: str = "day") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return value.strftime("%b %Y") if precision == "month" else f"{value.day} {value.strftime('%b %Y')}"


def clip(value: Any, limit: int) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def status(value: str) -> str:
    return STATUS_LABEL.get(value, value)


def verbatim(value: Any) -> Markup:
    """A value Slack shows exactly as given (an input's initial_value): JSON-encoded, not Slack-escaped."""
    return Markup(json.dumps("" if value is None else str(value), ensure_ascii=False)[1:-1])


def table_cells(values: list[Any]) -> Markup:
    """One row of a table block: a raw_text cell per value, each through `finalize` (the one escaping path), "—"
    for an empty one. A filter, not a template loop: a cluster's table has a hundred rows of six cells."""
    shown = (f'{{"type": "raw_text", "text": "{finalize(v if v not in (None, "") else "—")}"}}' for v in values)
    return Markup("[" + ", ".join(shown) + "]")
