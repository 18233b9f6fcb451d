"""Block Kit validation with slack_sdk.models.blocks.

Block.parse returns None for unknown types and silently drops unknown keys, and validate_json accepts some things
Slack rejects (docs/stack-traps.md, Testing), so a message is valid here only if every block parses, validates,
and round-trips to exactly the dict we send.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block


def assert_valid_message(message: dict) -> list[Block]:
    assert isinstance(message.get("text"), str) and message["text"].strip(), "every message needs a fallback text"
    blocks = message.get("blocks")
    assert isinstance(blocks, list) and blocks, "message has no blocks"
    assert len(blocks) <= 50, f"{len(blocks)} blocks: Slack allows 50"
    parsed = []
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, f"unknown block type: {raw}"
        block.validate_json()
        assert block.to_dict() == raw, f"block does not round-trip (misspelt or unknown key?):\n{raw}"
        if raw["type"] == "header":
            assert raw["text"]["type"] == "plain_text", "headers must be plain_text"
        if raw["type"] == "table":
            assert_valid_table(raw)
        parsed.append(block)
    assert sum(b["type"] == "table" for b in blocks) <= 1, "Slack allows one table block per message"
    return parsed


def assert_valid_table(raw: dict) -> None:
    """slack_sdk's TableBlock checks only that rows exist; the documented schema is checked here: at most 100 rows
    of at most 20 cells, every row as long as the first, cells raw_text (non-empty text) or rich_text, at most 20
    column_settings with only `align` (left/center/right) and `is_wrapped` (bool)."""
    rows = raw["rows"]
    assert 1 <= len(rows) <= 100, f"{len(rows)} table rows: Slack allows 100"
    width = len(rows[0])
    assert 1 <= width <= 20, f"{width} table cells in a row: Slack allows 20"
    for row in rows:
        assert len(row) == width, f"a table row of {len(row)} cells in a table of {width} columns"
        for cell in row:
            assert cell["type"] in ("raw_text", "rich_text"), cell
            if cell["type"] == "raw_text":
                assert set(cell) == {"type", "text"} and isinstance(cell["text"], str) and cell["text"], cell
    settings = raw.get("column_settings") or []
    assert len(settings) <= 20
    for setting in settings:
        assert setting is None or set(setting) <= {"align", "is_wrapped"}, setting
        if setting and "align" in setting:
            assert setting["align"] in ("left", "center", "right")
        if setting and "is_wrapped" in setting:
            assert isinstance(setting["is_wrapped"], bool)


def message_text(message: dict) -> str:
    """All the visible text of a message (fallback, sections, fields, context), for content assertions."""
    parts = [message.get("text", "")]
    for b in message.get("blocks", []):
        if isinstance(b.get("text"), dict):
            parts.append(b["text"]["text"])
        parts += [f["text"] for f in b.get("fields") or []]
        parts += [e.get("text", "") for e in b.get("elements") or [] if isinstance(e.get("text"), str)]
        parts += [" · ".join(c.get("text", "") for c in row) for row in b.get("rows") or []]
    return "\n".join(parts)
