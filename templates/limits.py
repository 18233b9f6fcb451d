"""Slack's limits on a message, kept: at most 50 blocks, section texts of 3,000 characters, headers of 150 — cut
with a note, split between lines, or continued as a thread, never rejected by Slack."""

from __future__ import annotations

import re
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 3000


def fit_limits(message: dict[str, Any]) -> dict[str, Any]:
    """Cut what Slack would reject: at most 50 blocks (the last saying how many were left out), section
    texts of 3,000 characters, headers of 150, and a plain-text fallback of sensible length."""
    blocks = [part for block in message.get("blocks") or [] for part in _split_section(block)]
    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - (MAX_BLOCKS - 1)
        note = {"type": "mrkdwn", "text": f"… and {left_out} more blocks not shown."}
        blocks = [*blocks[: MAX_BLOCKS - 1], {"type": "context", "elements": [note]}]
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            limit = MAX_HEADER_TEXT if block["type"] == "header" else MAX_SECTION_TEXT
            text["text"] = _cut(text["text"], limit)
        for f in block.get("fields") or []:
            f["text"] = _cut(f["text"], 2000)
        for el in block.get("elements") or []:
            if isinstance(el.get("text"), str):
                el["text"] = _cut(el["text"], MAX_SECTION_TEXT)
    message["blocks"] = blocks
    message["text"] = _cut(message.get("text") or "Roadmap bot", MAX_FALLBACK_TEXT)
    return message


def _split_section(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A section whose text is over the limit becomes several sections, split between lines, so a long list
    keeps its items and its closing "… and N more" line instead of being truncated."""
    text = (block.get("text") or {}).get("text") if block.get("type") == "section" else None
    if not isinstance(text, str) or len(text) <= MAX_SECTION_TEXT or block.get("fields") or block.get("accessory"):
        return [block]
    parts, current = [], ""
    for line in text.split("\n"):
        if current and len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    parts.append(current)
    out = []
    for part in parts:
        piece = {k: v for k, v in block.items() if k != "block_id"}
        piece["text"] = dict(block["text"], text=part)
        out.append(piece)
    return out


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 40]
    # Never leave half an escape sequence or half a link behind.
    cut = re.sub(r"&[a-z]*$", "", cut)
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut.rstrip() + "\n… (cut to fit Slack's limit)"


def pack(lines: list[Any], limit: int = MAX_SECTION_TEXT - 200) -> list[list[Any]]:
    """Group rendered lines into chunks whose joined length stays under `limit`, so a long list becomes several
    sections instead of one that Slack would reject or `fit_limits` would cut."""
    chunks: list[list[Any]] = []
    size = limit
    for line in lines:
        n = len(str(line)) + 2
        if size + n > limit and (not chunks or chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += n
    return chunks


def split_message(message: dict[str, Any], max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """Split a long message into parts of at most `max_blocks` blocks, nothing left out.

    Parts break before a header block (a cluster starts on a fresh message) where the blocks allow; a run of
    blocks longer than a message breaks wherever it must. Every part after the first says it continues, and the
    first says how many replies follow in its thread.
    """
    blocks = message.get("blocks") or []
    if len(blocks) <= max_blocks:
        return [fit_limits(message)]
    room = max_blocks - 1  # one block per part for the "part k of n" note
    units: list[list[dict]] = []
    for block in blocks:
        if not units or (block.get("type") == "header" and units[-1]):
            units.append([])
        units[-1].append(block)
    parts: list[list[dict]] = [[]]
    for unit in units:
        if len(parts[-1]) + len(unit) > room and parts[-1]:
            parts.append([])
        while len(unit) > room:
            parts[-1].extend(unit[:room])
            parts.append([])
            unit = unit[room:]
        parts[-1].extend(unit)
    parts = [p for p in parts if p]
    total = len(parts)
    text = message.get("text") or ""
    out = []
    for number, part in enumerate(parts, start=1):
        if number == 1:
            note = f"Continued in the thread: {total - 1} more part{'s' if total > 2 else ''} ↓"
            fallback = text
        else:
            note = f"Part {number} of {total}"
            fallback = f"(part {number} of {total}) {text}"
        part = [*part, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]
        out.append(fit_limits({"text": fallback, "blocks": part}))
    return out
