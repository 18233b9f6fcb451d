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
        parsed.append(block)
    return parsed


def message_text(message: dict) -> str:
    """All the visible text of a message (fallback, sections, fields, context), for content assertions."""
    parts = [message.get("text", "")]
    for b in message.get("blocks", []):
        if isinstance(b.get("text"), dict):
            parts.append(b["text"]["text"])
        parts += [f["text"] for f in b.get("fields") or []]
        parts += [e.get("text", "") for e in b.get("elements") or [] if isinstance(e.get("text"), str)]
    return "\n".join(parts)
