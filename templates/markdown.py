"""Rendering a Jinja2 template to Markdown: the channel canvas (Slack canvases take markdown, not Block Kit) and
the briefing note (handlers/brief_render.py).

The same rule as for Block Kit: every `{{ }}` is escaped by `finalize`, here for markdown, so typed text can
never become a heading, a link or a mention; links and mentions are built only by the `link` and `user` filters,
which accept only http(s) URLs and exact Slack ids."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from templates import filters

_SPECIAL = re.compile(r"([\\`*_\[\]<>~|#!])")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


class Md(str):
    """Markdown that is final (built by a filter): not escaped again."""

    __slots__ = ()


def md_esc(value: Any) -> Md:
    if isinstance(value, Md):
        return value
    text = " ".join(("" if value is None else str(value)).split())  # one line: no heading or list can start
    return Md(_SPECIAL.sub(r"\\\1", text))


def finalize(value: Any) -> Markup:
    return value if isinstance(value, Markup) else Markup(md_esc(value))


def md_link(url: str | None, label: Any = None) -> Md:
    shown = md_esc(label if label not in (None, "") else url or "")
    if not url or not re.match(r"^https?://", str(url)):
        return shown
    safe_url = str(url).replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return Md(f"[{shown}]({safe_url})")


def md_user(author: str | None) -> Md:
    """A canvas mention (`![](@U123)`) for an exact user id; anything else as escaped text."""
    if author and _USER_ID.fullmatch(author):
        return Md(f"![](@{author})")
    return md_esc(author or "unknown")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent)),
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=True,
    )
    env.filters.update(
        link=md_link,
        user=md_user,
        day=filters.day,
        clip=filters.clip,
        status=filters.status,
        esc=md_esc,
        verbatim=Md,  # markup the template built itself (a footnote mark, a table rule)
    )
    return env


def render_markdown(name: str, data: dict[str, Any] | None = None) -> str:
    """Render `templates/<name>` to markdown text."""
    return str(environment().get_template(name).render(**(data or {}))).strip() + "\n"
