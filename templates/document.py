"""Documents (not Slack messages): Jinja2 → Markdown. Every `{{ }}` is escaped for Markdown by `finalize`, so text
from the store cannot open a link, an emphasis or a heading of its own; `verbatim` marks what the template built."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from templates.filters import day

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")  # lines always start with our own markup: no #, -, + there


def md(value: Any) -> str:
    """Plain text as Markdown that shows exactly that text (one line: line breaks become spaces)."""
    if isinstance(value, Markup):
        return str(value)
    text = " ".join(("" if value is None else str(value)).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _finalize(value: Any) -> Markup:
    # Markup, so that autoescape (on only to make macro output Markup, as in templates/render.py) adds no HTML
    # escaping of its own.
    return Markup(md(value))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent)),
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=True,
    )
    env.filters.update(day=lambda v, p="day": Markup(md(day(v, p))), verbatim=Markup)
    return env


def render_markdown(name: str, data: dict[str, Any] | None = None) -> str:
    return _environment().get_template(name).render(**(data or {}))
