"""Rendering: a Jinja2 template → a Block Kit message (or a thread of them, or a modal view)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from templates import filters
from templates.limits import fit_limits, pack, split_message


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent)),
        finalize=filters.finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Autoescape only so that macro output comes back as Markup; `finalize` does the real escaping.
        autoescape=True,
    )
    env.filters.update(
        esc=filters.esc,
        link=filters.link,
        user=filters.user,
        channel=filters.channel,
        day=filters.day,
        clip=filters.clip,
        status=filters.status,
        verbatim=filters.verbatim,
        pack=pack,
    )
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


def render_thread(name: str, data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render a template that may exceed one message into a thread: the first message, then its replies."""
    return split_message(_load(name, data))


def render_view(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render `templates/<name>` to a Block Kit view (a modal) for views.open / response_action=update.
    Views are not messages, so `fit_limits` does not apply."""
    return _load(name, data)
