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
import threading
from collections import OrderedDict
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
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# The C encoder json.dumps uses for a str, without building a JSONEncoder per value (finalize runs per {{ }}).
_json_string = json.encoder.encode_basestring
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
    return Safe(text.translate(_SLACK_ESCAPES))


def _finalize(value: Any) -> Markup:
    # Inside a JSON string literal: escape for Slack, then for JSON (quotes, backslashes, newlines).
    # Markup is output that is final already (a macro's result), so it is not encoded twice.
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
    env.filters.update(pack=pack, verbatim=verbatim)
    return env


def render(name: str, data: dict[str, Any] | None = None, *, memo: bool = False) -> dict[str, Any]:
    """Render `templates/<name>` to a Slack message (`text` fallback + `blocks`) within Slack's limits.

    With `memo`, rendering the same template with the very same data objects (the store hands out the same
    cached views while nothing has changed) returns the message rendered before. Such a message is shared:
    callers must not modify it.
    """
    if not memo:
        return _render(name, data)
    key, refs = _memo_key(name, data or {})
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    # The identity check (with the objects kept alive in the memo) rules out a recycled id() matching.
    if hit is not None and len(hit[0]) == len(refs) and all(a is b for a, b in zip(hit[0], refs, strict=True)):
        return hit[1]
    message = _render(name, data)
    with _MEMO_LOCK:
        _MEMO[key] = (refs, message)
        while len(_MEMO) > _MEMO_ENTRIES:
            _MEMO.popitem(last=False)
    return message


def _render(name: str, data: dict[str, Any] | None) -> dict[str, Any]:
    return fit_limits(_load(name, data))


def _load(name: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """Render a template and parse its JSON."""
    raw = environment().get_template(name).render(**(data or {}))
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:  # a template bug, never user input: fail loudly in tests
        raise ValueError(f"template {name} produced invalid JSON: {exc}\n{raw}") from exc


_MEMO: OrderedDict[tuple, tuple[list, dict]] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_ENTRIES = 64
_PLAIN = (str, int, float, bool, date, type(None))


def _memo_key(name: str, data: dict[str, Any]) -> tuple[tuple, list]:
    parts, refs = [name], []
    for k in sorted(data):
        v = data[k]
        if isinstance(v, _PLAIN):
            parts.append((k, type(v).__name__, v))
        else:
            parts.append((k, id(v)))
            refs.append(v)
    return tuple(parts), refs


def fit_limits(message: dict[str, Any]) -> dict[str, Any]:
    """Cut what Slack would reject: at most 50 blocks (the last saying how many were left out), section
    texts of 3,000 characters, headers of 150, and a plain-text fallback of sensible length."""
    blocks = [part for block in message.get("blocks") or [] for part in _split_section(block)]
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


def _split_section(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A section whose text is over the limit becomes several sections, split between lines, so a long list
    keeps its items and its closing "… and N more" line instead of being truncated."""
    text = (block.get("text") or {}).get("text") if block.get("type") == "section" else None
    if not isinstance(text, str) or len(text) <= MAX_SECTION_TEXT or block.get("fields") or block.get("accessory"):
        return [block]
    parts, current = [], ""
    for line in text.split("\n"):
        if current and len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    parts.append(current)
    out = []
    for part in parts:
        piece = {k: v for k, v in block.items() if k != "block_id"}
        piece["text"] = dict(block["text"], text=part)
        out.append(piece)
    return out


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
            if lines and lines[-1] != "":
                lines.append("")  # in a terminal a blank line is what separates sections
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


# -- long messages: packed sections and threads ------------------------------------------------------------------


def pack(lines: list[Any], limit: int = MAX_SECTION_TEXT - 200) -> list[list[Any]]:
    """Group rendered lines into chunks whose joined length stays under `limit`, so a long list becomes several
    sections instead of one that Slack would reject or `fit_limits` would cut."""
    chunks: list[list[Any]] = []
    size = limit
    for line in lines:
        n = len(str(line)) + 2
        if size + n > limit and (not chunks or chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += n
    return chunks


def render_thread(name: str, data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render a template that may exceed one message into a thread: the first message, then its replies."""
    return split_message(_load(name, data))


def split_message(message: dict[str, Any], max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """Split a long message into parts of at most `max_blocks` blocks, nothing left out.

    Parts break before a header block (a cluster starts on a fresh message) where the blocks allow; a run of
    blocks longer than a message breaks wherever it must. Every part after the first says it continues, and the
    first says how many replies follow in its thread.
    """
    blocks = message.get("blocks") or []
    if len(blocks) <= max_blocks:
        return [fit_limits(message)]
    room = max_blocks - 1  # one block per part for the "part k of n" note
    units: list[list[dict]] = []
    for block in blocks:
        if not units or (block.get("type") == "header" and units[-1]):
            units.append([])
        units[-1].append(block)
    parts: list[list[dict]] = [[]]
    for unit in units:
        if len(parts[-1]) + len(unit) > room and parts[-1]:
            parts.append([])
        while len(unit) > room:
            parts[-1].extend(unit[:room])
            parts.append([])
            unit = unit[room:]
        parts[-1].extend(unit)
    parts = [p for p in parts if p]
    total = len(parts)
    text = message.get("text") or ""
    out = []
    for number, part in enumerate(parts, start=1):
        if number == 1:
            note = f"Continued in the thread: {total - 1} more part{'s' if total > 2 else ''} ↓"
            fallback = text
        else:
            note = f"Part {number} of {total}"
            fallback = f"(part {number} of {total}) {text}"
        part = [*part, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]
        out.append(fit_limits({"text": fallback, "blocks": part}))
    return out


# -- views (modals) ---------------------------------------------------------------------------------------


def verbatim(value: Any) -> Markup:
    """A value Slack shows exactly as given (an input's initial_value): JSON-encoded, not Slack-escaped."""
    return Markup(json.dumps("" if value is None else str(value), ensure_ascii=False)[1:-1])


def render_view(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render `templates/<name>` to a Block Kit view (a modal) for views.open / response_action=update.
    Views are not messages, so `fit_limits` does not apply."""
    return _load(name, data)
