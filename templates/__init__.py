"""Presentation: Jinja2 templates that produce Block Kit JSON, and the terminal rendering of the same
payloads.

Every `{{ … }}` in a template passes one escaping filter, `esc` (applied automatically by `finalize`, so it
cannot be forgotten): Slack's control characters `&`, `<`, `>` are escaped, so text typed as `<!channel>` or
`<@U123>` is shown, never executed, and the result is encoded as the inside of a JSON string. Templates build
deliberate markup (links, mentions) with the `link` and `user` filters, which escape their parts themselves.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 3000
STATUS_LABEL = {
    "proposed": "⚪ proposed",
    "agreed": "🔵 agreed",
    "in_progress": "🟡 in progress",
    "done": "✅ done",
    "stalled": "🟠 stalled",
    "dropped": "⛔ dropped",
}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,20}$")


class Safe(str):
    """Text already escaped for Slack mrkdwn (JSON-encoding still applies)."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """The one escaping filter: Slack control characters out, so user text can never ping or link."""
    if isinstance(value, Safe):
        return value
    text = "" if value is None else str(value)
    return Safe(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _finalize(value: Any) -> Markup:
    # Inside a JSON string literal: escape for Slack, then for JSON (quotes, backslashes, newlines).
    # Markup is output that is final already (a macro's result), so it is not encoded twice.
    if isinstance(value, Markup):
        return value
    return Markup(json.dumps(str(esc(value)), ensure_ascii=False)[1:-1])


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


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent)),
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Autoescape only so that macro output comes back as Markup; `finalize` does the real escaping.
        autoescape=True,
    )
    env.filters.update(esc=esc, link=link, user=user, day=day, clip=clip, status=status)
    return env


def render(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render `templates/<name>` to a Slack message (`text` fallback + `blocks`) within Slack's limits."""
    raw = environment().get_template(name).render(**(data or {}))
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:  # a template bug, never user input: fail loudly in tests
        raise ValueError(f"template {name} produced invalid JSON: {exc}\n{raw}") from exc
    return fit_limits(message)


def fit_limits(message: dict[str, Any]) -> dict[str, Any]:
    """Cut what Slack would reject: at most 50 blocks (the last saying how many were left out), section
    texts of 3,000 characters, headers of 150, and a plain-text fallback of sensible length."""
    blocks = message.get("blocks") or []
    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - (MAX_BLOCKS - 1)
        note = {"type": "mrkdwn", "text": f"… and {left_out} more blocks not shown."}
        blocks = [*blocks[: MAX_BLOCKS - 1], {"type": "context", "elements": [note]}]
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            limit = MAX_HEADER_TEXT if block["type"] == "header" else MAX_SECTION_TEXT
            text["text"] = _cut(text["text"], limit)
        for f in block.get("fields") or []:
            f["text"] = _cut(f["text"], 2000)
        for el in block.get("elements") or []:
            if isinstance(el.get("text"), str):
                el["text"] = _cut(el["text"], MAX_SECTION_TEXT)
    message["blocks"] = blocks
    message["text"] = _cut(message.get("text") or "Roadmap bot", MAX_FALLBACK_TEXT)
    return message


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 40]
    # Never leave half an escape sequence or half a link behind.
    cut = re.sub(r"&[a-z]*$", "", cut)
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip() + "\n… (cut to fit Slack's limit)"


# -- terminal ---------------------------------------------------------------------------------------------


def to_terminal(message: dict[str, Any], width: int = 100) -> str:
    """The same Block Kit payload, readable in a terminal (used by `roadmap ask` and `roadmap console`)."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            title = _plain(block["text"]["text"])
            lines += ["", title, "═" * min(len(title), width)]
        elif kind == "divider":
            lines.append("─" * min(60, width))
        elif kind == "section":
            if block.get("text"):
                lines.append(_plain(block["text"]["text"]))
            for f in block.get("fields") or []:
                lines.append("  " + _plain(f["text"]).replace("\n", "\n  "))
        elif kind == "context":
            lines.append("  " + " · ".join(_plain(e.get("text", "")) for e in block.get("elements") or []))
        elif kind == "actions":
            labels = [e["text"]["text"] for e in block.get("elements") or [] if e.get("text")]
            if labels:
                lines.append("  " + "  ".join(f"[{x}]" for x in labels))
    if not lines:
        lines.append(_plain(message.get("text", "")))
    return "\n".join(lines).strip("\n") + "\n"


def _plain(mrkdwn: str) -> str:
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", mrkdwn)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
