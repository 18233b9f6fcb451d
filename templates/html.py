"""Rendering the read-only web pages: Jinja2 → HTML.

A separate Environment from the Block Kit one, because the escaping differs: here Jinja's HTML autoescape is the
one escaping filter (every `{{ … }}` is HTML-escaped), and no template marks user text safe. The date and status
filters are the Block Kit ones, so the pages say what the Slack answers say.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from templates import filters

STATUS_TEXT = {
    "proposed": "proposed",
    "agreed": "agreed",
    "in_progress": "in progress",
    "done": "done",
    "stalled": "stalled",
    "dropped": "dropped",
}


def status_text(value: str) -> str:
    """A status in words (the pages show its colour with CSS, so the emoji of the Slack answers is not needed)."""
    return STATUS_TEXT.get(value, value)


def safe_href(url: str | None) -> str | None:
    """Only http(s) and mailto links become hrefs: a stored `javascript:` URL is shown as text, never followed."""
    text = str(url or "")
    return text if text.lower().startswith(("https://", "http://", "mailto:")) else None


@cache
def html_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "web")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(day=filters.day, clip=filters.clip, status=status_text, href=safe_href)
    return env


def render_html(name: str, data: dict[str, Any] | None = None) -> str:
    """Render `templates/web/<name>` to an HTML document."""
    return html_environment().get_template(name).render(**(data or {}))
