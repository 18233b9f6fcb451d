"""The same Block Kit payloads, readable in a terminal (`roadmap ask` and `roadmap console`)."""

from __future__ import annotations

from typing import Any

from templates.plain import plain_text


def to_terminal(message: dict[str, Any], width: int = 100) -> str:
    """The same Block Kit payload, readable in a terminal (used by `roadmap ask` and `roadmap console`)."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            title = _plain_text(block["text"]["text"])
            lines += ["", title, "═" * min(len(title), width)]
        elif kind == "divider":
            lines.append("─" * min(60, width))
        elif kind == "section":
            if lines and lines[-1] != "":
                lines.append("")  # in a terminal a blank line is what separates sections
            if block.get("text"):
                lines.append(_plain_text(block["text"]["text"]))
            for f in block.get("fields") or []:
                lines.append("  " + _plain_text(f["text"]).replace("\n", "\n  "))
        elif kind == "context":
            lines.append("  " + " · ".join(_plain_text(e.get("text", "")) for e in block.get("elements") or []))
        elif kind == "table":
            lines += ["", *_table(block.get("rows") or [], width)]
        elif kind == "actions":
            labels = [e["text"]["text"] for e in block.get("elements") or [] if e.get("text")]
            if labels:
                lines.append("  " + "  ".join(f"[{x}]" for x in labels))
    if not lines:
        lines.append(_plain_text(message.get("text", "")))
    return "\n".join(lines).strip("\n") + "\n"


def _table(rows: list[list[dict]], width: int) -> list[str]:
    """A table block as aligned columns; the last column takes what is left of the width."""
    texts = [[_plain_text(c.get("text", "")) if c.get("type") == "raw_text" else "…" for c in row] for row in rows]
    if not texts:
        return []
    widths = [max(len(r[i]) for r in texts if i < len(r)) for i in range(len(texts[0]))]
    out = []
    for n, row in enumerate(texts):
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        if len(line) > width and len(row) > 1:  # the last (wrapped) column on a line of its own
            line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])).rstrip()
            line += "\n    " + row[-1]
        out.append(line)
        if n == 0:
            out.append("─" * min(len(out[0]), width))
    return out


def _plain_text(mrkdwn: str) -> str:
    return plain_text(mrkdwn, unformat=True)
