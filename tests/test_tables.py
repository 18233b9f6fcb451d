"""Where a grid reads better than prose, answers use Block Kit's `table` block (validated against the documented
schema in tests/blockkit.py, since slack_sdk's TableBlock checks only that rows exist); the fallback text and the
console keep a readable form."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.registry import Caller, run_command
from templates import to_terminal
from tests.blockkit import assert_valid_message, assert_valid_table

CALLER = Caller(user_id="U0ABCDEF")


def table_of(message: dict) -> list[list[str]]:
    assert_valid_message(message)
    (table,) = [b for b in message["blocks"] if b["type"] == "table"]
    return [[c["text"] for c in row] for row in table["rows"]]


def test_a_clusters_steps_are_a_table_with_their_counterparts(store):
    store.steps.set_due("SEC-2", date(2020, 1, 1), actor="U1")
    rows = table_of(run_command(store, "status security", CALLER).message)
    assert rows[0] == ["Step", "Side", "Status", "Due", "Counterpart", "Title"]
    by_key = {r[0]: r for r in rows[1:]}
    assert by_key["SEC-1"][4] == "SEC-2, SEC-3" and by_key["SEC-2"][4] == "SEC-1"
    assert by_key["SEC-2"][3].endswith("(overdue)") and by_key["SEC-4"][3] == "—"
    assert len(rows) - 1 == sum(p.total for p in store.roadmap.cluster_detail("security").progress)


def test_open_commitments_are_one_table_across_clusters(store):
    message = run_command(store, "commitments", CALLER).message
    rows = table_of(message)
    assert rows[0][:2] == ["Cluster", "Step"] and len({r[0] for r in rows[1:]}) == 6
    assert all(r[5] in ("both sides", "Belarus", "United States", "NATO", "Poland", "Lithuania") for r in rows[1:])
    assert message["text"].startswith("Open reciprocal commitments")  # the fallback stays prose


def test_table_cells_are_escaped_and_the_console_shows_the_grid(store):
    store.steps.set_status("SEC-1", "done", actor="U1")
    message = run_command(store, "status security", CALLER).message
    text = to_terminal(message)
    assert "Step" in text and "Counterpart" in text and "SEC-1" in text and "✅ done" in text


def test_the_schema_check_refuses_what_slack_refuses():
    cell = {"type": "raw_text", "text": "x"}
    for bad in (
        {"type": "table", "rows": [[cell] * 21]},
        {"type": "table", "rows": [[cell, cell], [cell]]},
        {"type": "table", "rows": [[cell]] * 101},
        {"type": "table", "rows": [[{"type": "mrkdwn", "text": "x"}]]},
        {"type": "table", "rows": [[cell]], "column_settings": [{"align": "middle"}]},
    ):
        with pytest.raises(AssertionError):
            assert_valid_table(bad)
    assert_valid_table({"type": "table", "rows": [[cell, cell]], "column_settings": [{"is_wrapped": True}]})
