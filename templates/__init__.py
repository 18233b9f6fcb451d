"""Presentation: Jinja2 templates that produce Block Kit JSON, and the terminal rendering of the same payloads.

filters.py   the escaping filter (`esc`, applied by `finalize`) and the markup filters (link, user, channel)
limits.py    Slack's message limits kept (fit_limits, split_message, pack)
markdown.py  template → canvas markdown (escaped for markdown)
render.py    template → message, thread or modal view (with the memo of identical status answers)
terminal.py  a message as the console prints it
plain.py     Slack mrkdwn → plain text
document.py  template → Markdown document (the briefing note)
"""

from templates.markdown import render_markdown
from templates.plain import plain_text
from templates.render import render, render_thread, render_view
from templates.terminal import to_terminal

__all__ = ["plain_text", "render", "render_markdown", "render_thread", "render_view", "to_terminal"]
