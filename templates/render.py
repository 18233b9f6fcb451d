"""Rendering: a Jinja2 template → a Block Kit message (or a thread of them, or a modal view)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from templates import filters
from templates.limits import fit_limits, pack, split_message

T = TypeVar("T")


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
        table_cells=filters.table_cells,
    )
    env.globals["fragment"] = fragment
    return env


def render(name: str, data: dict[str, Any] | None = None, *, memo: bool = False) -> dict[str, Any]:
    """Render `templates/<name>` to a Slack message (`text` fallback + `blocks`) within Slack's limits.

    With `memo`, rendering the same template with the very same data objects (the store hands out the same
    cached views while nothing has changed) returns the message rendered before. Such a message is shared:
    callers must not modify it.
    """
    if not memo:
        return _render(name, data)
    return _memoised(_MEMO, _MEMO_ENTRIES, name, data or {}, lambda: _render(name, data))


def fragment(name: str, **data: Any) -> Markup:
    """A template's part rendered once per identity of its data, like render(memo=True): an answer whose
    developments changed re-renders them, not the steps and pairs beside them (the store hands out the same
    cached views for those). Called from templates as `{{ fragment("part.json.j2", …) }}`; the text is final."""
    return _memoised(
        _FRAGMENTS, _FRAGMENT_ENTRIES, name, data, lambda: Markup(environment().get_template(name).render(**data))
    )


def _memoised(memo: OrderedDict, limit: int, name: str, data: dict[str, Any], make: Callable[[], T]) -> T:
    key, refs = _memo_key(name, data)
    with _MEMO_LOCK:
        hit = memo.get(key)
    # The identity check (with the objects kept alive in the memo) rules out a recycled id() matching.
    if hit is not None and len(hit[0]) == len(refs) and all(a is b for a, b in zip(hit[0], refs, strict=True)):
        return hit[1]
    value = make()
    with _MEMO_LOCK:
        memo[key] = (refs, value)
        while len(memo) > limit:
            memo.popitem(last=False)
    return value


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
_MEMO_ENTRIES = 32
_FRAGMENTS: OrderedDict[tuple, tuple[list, Markup]] = OrderedDict()
_FRAGMENT_ENTRIES = 64
_PLAIN = (str, int, float, bool, date, type(None))


def _memo_key(name: str, data: dict[str, Any]) -> tuple[tuple, list]:
    """Plain values, tuples and frozen dataclasses that hash (immutable all the way down) are keyed by value: the
    same counts recomputed after a change elsewhere still find their render. Anything else by identity."""
    parts, refs = [name], []
    for k in sorted(data):
        v = data[k]
        if isinstance(v, _PLAIN):
            parts.append((k, type(v).__name__, v))
            continue
        if isinstance(v, tuple) or getattr(getattr(v, "__dataclass_params__", None), "frozen", False):
            try:
                hash(v)
            except TypeError:
                pass
            else:
                parts.append((k, type(v).__name__, v))
                continue
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
