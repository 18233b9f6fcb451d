"""Templates: valid Block Kit for every answer, Slack's limits respected, user text escaped."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.registry import Caller, run_command
from templates import to_terminal
from templates.filters import esc, link, user
from templates.limits import fit_limits
from tests.blockkit import assert_valid_message, message_text

CALLER = Caller(user_id="U0ABCDEF", shareable=True, today=date(2025, 9, 1))


@pytest.mark.parametrize(
    "text",
    [
        "help",
        "status",
        "status security",
        "status economic",
        "status SEC-1",
        "status MED-4",
        "commitments",
        "commitments US",
        "find prisoners",
        "find nothingmatchesthis",
        "log security x",
        "set SEC-2 agreed ok",
        "bogus",
        "status nowhere",
        "set SEC-1 maybe",
        "ledger",
        "ledger security",
        "ledger US",
        "claims",
        "claims Belarus",
        "after ECO-1 SEC-1 SEC-2",
        "after SEC-1 SEC-1",
        "claim SEC-5 BY done BelTA <https://eng.belta.by/x|readout>",
        "claim SEC-5 BY none",
    ],
)
def test_every_answer_is_valid_block_kit(store, text):
    reply = run_command(store, text, CALLER)
    assert_valid_message(reply.message)
    assert to_terminal(reply.message).strip()


def test_empty_store_answers_too(empty_store):
    for text in ("status", "commitments", "find x", "help", "status security", "ledger", "claims"):
        assert_valid_message(run_command(empty_store, text, CALLER).message)


def test_long_lists_are_cut_with_a_count_and_a_hint(store):
    for i in range(30):
        store.developments.record(text=f"Item {i} " + "y" * 300, author="U0ABCDEF", cluster="security")
    message = run_command(store, "find Item", CALLER).message
    assert_valid_message(message)
    assert "more developments match" in message_text(message)


def test_fit_limits_cuts_blocks_and_long_sections_without_breaking_escapes():
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "a &amp; b " * 500}} for _ in range(60)]
    message = fit_limits({"text": "t", "blocks": blocks})
    assert len(message["blocks"]) == 50
    assert "11 more blocks" in message["blocks"][-1]["elements"][0]["text"]  # 49 shown + this note
    body = message["blocks"][0]["text"]["text"]
    assert len(body) <= 3000 and not body.rstrip().endswith("&amp")
    assert_valid_message(message)


def test_a_long_list_section_is_split_between_lines_not_truncated():
    lines = [f"• item {i} " + "z" * 90 for i in range(80)] + ["… and 12 more items"]
    message = fit_limits(
        {"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}
    )
    assert len(message["blocks"]) > 1
    assert_valid_message(message)
    joined = "\n".join(b["text"]["text"] for b in message["blocks"])
    assert joined == "\n".join(lines)


def test_the_one_escaping_filter():
    assert esc("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert link("https://x.org/?a=1&b=2", "<b>") == "<https://x.org/?a=1&amp;b=2|&lt;b&gt;>"
    assert link("javascript:alert(1)", "click") == "click"
    assert user("U0ABCDEF") == "<@U0ABCDEF>" and user("import") == "import" and user("<!here>") == "&lt;!here&gt;"


def test_json_special_characters_in_user_text_render(store):
    store.developments.record(text='Quote " backslash \\ tab\t newline\n end', author="U0ABCDEF", cluster="security")
    message = run_command(store, "status security", CALLER).message
    assert_valid_message(message)
    assert 'Quote " backslash \\ tab' in message_text(message)


def test_unchanged_status_is_rendered_once_and_a_change_renders_again(store):
    first = run_command(store, "status security", CALLER).message
    assert run_command(store, "status security", CALLER).message is first  # same data: the same message
    assert (
        run_command(store, "status security", Caller(user_id="U0ABCDEF", today=date(2025, 9, 2))).message is not first
    )
    store.steps.set_status("SEC-1", "done", actor="U0ABCDEF")
    after = run_command(store, "status security", CALLER).message
    assert after is not first
    assert "✅ done" in message_text(after) and message_text(after) != message_text(first)
