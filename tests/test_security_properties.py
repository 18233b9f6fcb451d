"""Property-based tests (hypothesis) through the real WSGI app: no command text and no payload shape makes the bot
answer 5xx, log an error, or store something that it then cannot render as valid Block Kit."""

from __future__ import annotations

import json
import logging

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.blockkit import assert_valid_message
from tests.slack_requests import post_signed, send_command

FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PREFIXES = [
    "",
    "log security ",
    "log SEC-1 ",
    "log eco 2025-01-02 ",
    "set SEC-1 ",
    "set SEC-1 agreed ",
    "status ",
    "status SEC-",
    "find ",
    "commitments ",
    "help ",
    "payload=",
    "command=/roadmap&text=",
]
# Any unicode (letters, marks, emoji, RTL, zero-width …) plus control characters Slack never filters for us.
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
WORDS = st.sampled_from(
    ["payload", "command", "<!channel>", "<@U999>", "&amp;", "<https://x.example|y>", "*", "`", "\u202e", "‍"]
)
# NUL is refused by PostgreSQL text columns; ESC would reach the console's terminal.
CONTROL = st.sampled_from(["\x00", "a\x00b", "\x1b[31m", "\x07", "\r\n", "\t", "\x7f"])
LONG = st.builds(lambda ch, n: ch * n, st.characters(codec="utf-8"), st.integers(3990, 4010))

command_texts = st.builds(
    lambda prefix, parts: prefix + " ".join(parts),
    st.sampled_from(PREFIXES),
    st.lists(st.one_of(ANY_TEXT, WORDS, CONTROL, LONG), max_size=4),
)


def _rendered_everything_stored(web, store) -> None:
    """Every development stored so far shows up as valid Block Kit where people read it."""
    doc = store.transfer.export_doc()
    targets = {d.get("step") or d["cluster"] for d in doc["developments"]} | {d["cluster"] for d in doc["developments"]}
    for target in sorted(targets):
        response = send_command(web, f"status {target}")
        assert response.status == 200, response.body
        assert_valid_message(response.json())


@FAST
@given(text=command_texts)
# Inputs that once broke a backend, always tried first:
@example(text="log security a\x00b")  # PostgreSQL refuses NUL in text
@example(text="status SEC-1\x00")
@example(text="find \x00")
@example(text="set SEC-1 agreed n\x00te")
@example(text="log security \x1b[2J console escape")
@example(text="log security Iskander payload limits")
@example(text="log security " + "é" * 4001)
def test_no_command_text_gets_a_5xx_or_stores_what_cannot_render(web, store, caplog, text):
    caplog.clear()
    before = len(store.transfer.export_doc()["developments"])
    with caplog.at_level(logging.WARNING):
        response = send_command(web, text, user="U100")
    assert response.status == 200, (text, response.status, response.body)
    message = response.json()
    assert_valid_message(message)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    if len(store.transfer.export_doc()["developments"]) != before:
        for d in store.transfer.export_doc()["developments"]:
            assert len(d["text"]) <= 4000
        _rendered_everything_stored(web, store)
    assert "<!channel>" not in json.dumps(message)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "user",
        "channel",
        "team",
        "enterprise",
        "actions",
        "view",
        "container",
        "message",
        "response_url",
        "callback_id",
        "action_id",
        "authorizations",
        "response_urls",
        "trigger_id",
        "event_id",
        "is_ext_shared_channel",
        "is_enterprise_install",
        "state",
        "api_app_id",
    ]
)
SHARE_ACTION = st.fixed_dictionaries(
    {"action_id": st.just("share_in_channel")},
    optional={"value": JSON_VALUES, "block_id": JSON_VALUES, "type": JSON_VALUES},
)
EVENT = st.dictionaries(
    st.sampled_from(["type", "user", "channel", "text", "ts", "thread_ts", "item", "message", "bot_id", "subtype"]),
    JSON_VALUES,
    max_size=6,
).map(lambda e: e if isinstance(e.get("type"), str) else {**e, "type": "app_mention"})


@st.composite
def payloads(draw) -> tuple[str, str]:
    """An interaction or an event envelope with Slack's top-level type and random, often wrong, fields."""
    body = draw(st.dictionaries(KEYS, JSON_VALUES, max_size=6))
    kind = draw(
        st.sampled_from(["block_actions", "view_submission", "shortcut", "message_action", "event_callback", "url"])
    )
    if kind == "event_callback":
        body.update(type=kind, event=draw(st.one_of(EVENT, JSON_VALUES)))
        return json.dumps(body), "application/json"
    if kind == "url":
        body.update(type="url_verification", challenge=draw(JSON_VALUES))
        return json.dumps(body), "application/json"
    body["type"] = kind
    if kind == "block_actions" and draw(st.booleans()):
        body["actions"] = draw(st.lists(SHARE_ACTION, min_size=1, max_size=2))
    from urllib.parse import urlencode

    return urlencode({"payload": json.dumps(body)}), "application/x-www-form-urlencoded"


@FAST
@given(sample=payloads())
# Found by hypothesis after the thread listeners were merged: a null "view" crashed Bolt's unhandled-request log.
@example(sample=('{"view": null, "type": "event_callback", "event": {"type": "app_mention"}}', "application/json"))
def test_no_payload_shape_gets_a_5xx_or_logs_an_error(web, fake_slack, caplog, sample):
    body, content_type = sample
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        response = post_signed(web, body, content_type)
    assert response.status < 500, (body, response.status, response.body)
    assert "Traceback" not in response.body
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, (body, errors)
