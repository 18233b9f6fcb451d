"""Slack mrkdwn as a person reads it, in one place: incoming messages (a thread reply becomes a development's
text) and outgoing ones (the console prints what Slack would show)."""

from __future__ import annotations

import re

_RULES = (
    (re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>"), r"@\1"),
    (re.compile(r"<#C[A-Z0-9]+\|([^>]*)>"), r"#\1"),
    (re.compile(r"<#(C[A-Z0-9]+)>"), r"#\1"),
    (re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>"), r"@\1"),
    (re.compile(r"<!subteam\^[A-Z0-9]+\|([^>]*)>"), r"\1"),
    (re.compile(r"<!subteam\^([A-Z0-9]+)>"), r"@\1"),
    (re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>"), r"\2 (\1)"),
    (re.compile(r"<((?:https?|mailto):[^>]+)>"), r"\1"),
)
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


def plain_text(mrkdwn: str | None, *, unformat: bool = False) -> str:
    """`<@U1>` → `@U1`, `<url|label>` → `label (url)`, entities decoded; with `unformat`, *bold* and _italic_
    lose their marks too (for a terminal)."""
    text = mrkdwn or ""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    if unformat:
        text = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", text))
    # Slack escapes exactly these three; `&amp;` last, so a typed `&lt;` stays `&lt;`.
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text if unformat else text.strip()
