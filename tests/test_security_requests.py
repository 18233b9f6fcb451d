"""Hostile HTTP requests through the real WSGI app: forged or replayed requests get 401 and a log line; malformed
bodies get a 4xx whether signed or not — never a 500, a stack trace or a dropped connection."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote, urlencode

import pytest

from tests.slack_requests import (
    call_wsgi,
    command_body,
    post_signed,
    send_command,
    send_event,
    send_interaction,
    share_payload,
    sign,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def post_unsigned(web, body: str, content_type: str, headers: dict | None = None):
    return call_wsgi(web, "POST", "/slack/events", body, {"Content-Type": content_type, **(headers or {})})


def developments(store) -> int:
    return len(store.transfer.export_doc()["developments"])


# -- signatures -------------------------------------------------------------------------------------------------


def test_a_correctly_signed_command_is_answered(web):
    assert send_command(web, "help").status == 200


@pytest.mark.parametrize(
    ("case", "headers", "why"),
    [
        ("unsigned", {}, "unsigned"),
        ("forged", {"X-Slack-Request-Timestamp": "now", "X-Slack-Signature": "v0=" + "0" * 64}, "signature"),
        ("wrong secret", {"secret": "not-the-signing-secret"}, "wrong signing secret"),
        ("replayed", {"age": 301}, "stale or replayed"),  # just past the 5-minute window
        ("from the future", {"age": -360}, "stale or replayed"),  # margin: the clock moves on
    ],
)
def test_unverified_commands_get_401_a_log_line_and_change_nothing(web, store, fake_slack, caplog, case, headers, why):
    body = command_body("log security forged development")
    if "secret" in headers:
        signed = sign(body, secret=headers["secret"])
    elif "age" in headers:
        signed = sign(body, timestamp=int(time.time()) - headers["age"])
    elif headers:
        signed = dict(headers, **{"X-Slack-Request-Timestamp": str(int(time.time()))})
    else:
        signed = {}
    before = developments(store)
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        response = post_unsigned(web, body, FORM, signed)
    assert response.status == 401, case
    assert "Traceback" not in response.body
    assert developments(store) == before
    refusals = [r.getMessage() for r in caplog.records if r.name == "bot.web" and "refused a request" in r.getMessage()]
    assert len(refusals) == 1 and why in refusals[0], refusals
    assert fake_slack.calls_to("response_url") == []


def test_a_replayed_request_with_a_valid_old_signature_is_refused(web, store):
    """A captured request re-sent later carries a correct signature for its old timestamp: still 401."""
    body = command_body("log security replayed development")
    captured = sign(body, timestamp=int(time.time()) - 6 * 60)
    before = developments(store)
    assert post_unsigned(web, body, FORM, captured).status == 401
    assert developments(store) == before


def test_a_body_altered_after_signing_is_refused(web, store):
    original = command_body("status")
    headers = sign(original)
    tampered = command_body("log security injected")
    assert post_unsigned(web, tampered, FORM, headers).status == 401


@pytest.mark.parametrize("kind", ["event", "interaction"])
def test_unsigned_events_and_interactions_get_401(web, kind, caplog):
    if kind == "event":
        body = json.dumps({"type": "event_callback", "event_id": "Ev9", "event": {"type": "app_mention", "text": "hi"}})
        content_type = JSON
    else:
        body = urlencode({"payload": json.dumps(share_payload("status"))})
        content_type = FORM
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        assert post_unsigned(web, body, content_type).status == 401
    assert any("unsigned" in r.getMessage() for r in caplog.records if r.name == "bot.web")


def test_url_verification_answers_the_challenge_only_when_signed(web):
    body = json.dumps({"type": "url_verification", "token": "legacy", "challenge": "c-123"})
    assert post_unsigned(web, body, JSON).status == 401
    response = post_signed(web, body, JSON)
    assert response.status == 200 and response.json() == {"challenge": "c-123"}


def test_ssl_check_is_answered_without_running_anything(web, store, fake_slack):
    """Bolt answers ssl_check before the signature check (docs/stack-traps.md): harmless, it touches nothing."""
    before = store.transfer.export_doc()
    fake_slack.reset()
    for body in ("ssl_check=1&token=legacy", "ssl_check=1&token=x&command=%2Froadmap&text=log+security+sneaky"):
        response = post_unsigned(web, body, FORM)
        assert response.status == 200 and response.body == ""
    assert store.transfer.export_doc() == before
    assert fake_slack.calls == []


# -- malformed bodies -----------------------------------------------------------------------------------------------


def form_payload(payload) -> str:
    return "payload=" + quote(json.dumps(payload))


MALFORMED = {
    "empty body": ("", JSON),
    "broken JSON": ("{bad", JSON),
    "JSON array": ("[]", JSON),
    "JSON number": ("42", JSON),
    "JSON string": ('"event_callback"', JSON),
    "JSON without type": ("{}", JSON),
    "unknown JSON type": (json.dumps({"type": "totally_new"}), JSON),
    "event_callback without event": (json.dumps({"type": "event_callback"}), JSON),
    "event_callback with a string event": (json.dumps({"type": "event_callback", "event": "x"}), JSON),
    "event without a type": (json.dumps({"type": "event_callback", "event": {}}), JSON),
    "event with a numeric type": (json.dumps({"type": "event_callback", "event": {"type": 5}}), JSON),
    "authorizations not a list": (
        json.dumps({"type": "event_callback", "authorizations": "x", "event": {"type": "app_mention"}}),
        JSON,
    ),
    "event channel a list": (
        json.dumps({"type": "event_callback", "event": {"type": "app_mention", "channel": [1]}}),
        JSON,
    ),
    "broken form": ("a=%zz&&b", FORM),
    "form without command or payload": ("text=status&user_id=U1", FORM),
    "payload with broken JSON": ("payload=%7Bbad", FORM),
    "payload a JSON list": ("payload=%5B%5D", FORM),
    "payload without type": (form_payload({"actions": []}), FORM),
    "unknown payload type": (form_payload({"type": "nope"}), FORM),
    "block_actions with actions [{}]": (form_payload({"type": "block_actions", "actions": [{}]}), FORM),
    "block_actions without actions": (form_payload({"type": "block_actions"}), FORM),
    "block_actions with string actions": (
        form_payload({"type": "block_actions", "actions": ["share_in_channel"]}),
        FORM,
    ),
    "block_actions with numeric enterprise": (
        form_payload({"type": "block_actions", "enterprise": 5, "actions": [{"action_id": "share_in_channel"}]}),
        FORM,
    ),
    "block_actions with a list user": (
        form_payload({"type": "block_actions", "user": [1], "actions": [{"action_id": "share_in_channel"}]}),
        FORM,
    ),
    "view_submission without view": (form_payload({"type": "view_submission"}), FORM),
    "view_submission with a string view": (form_payload({"type": "view_submission", "view": "x"}), FORM),
    "shortcut without callback_id": (form_payload({"type": "shortcut"}), FORM),
    "invalid UTF-8": ("\udcff", JSON),  # sent as raw bytes b"\xff" below
}


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_bodies_get_a_4xx_never_a_500(web, store, caplog, case, signed):
    body, content_type = MALFORMED[case]
    before = developments(store)
    with caplog.at_level(logging.WARNING):
        if body == "\udcff":
            response = _post_raw(web, b'{"type": "\xff"}', content_type, signed)
        elif signed:
            response = post_signed(web, body, content_type)
        else:
            response = post_unsigned(web, body, content_type)
    assert 400 <= response.status < 500, (case, response.status, response.body)
    assert "Traceback" not in response.body and "Error" not in response.body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a malformed body must not log an error"
    assert developments(store) == before


def _post_raw(web, raw: bytes, content_type: str, signed: bool):
    import hashlib
    import hmac
    import io

    from tests.slack_requests import SIGNING_SECRET, Response

    ts = str(int(time.time()))
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    if signed:
        environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = ts
        # slack_sdk's signer wants text; sign the raw bytes as Slack would.
        digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
        environ["HTTP_X_SLACK_SIGNATURE"] = "v0=" + digest
    captured = {}
    chunks = web(environ, lambda status, headers, exc_info=None: captured.update(status=int(status.split()[0])))
    return Response(captured["status"], {}, b"".join(chunks).decode())


def test_a_slash_command_form_with_missing_fields_is_still_answered(web):
    """Slack always sends user_id and channel_id, but a form without them must not crash the listener."""
    response = post_signed(web, urlencode({"command": "/roadmap", "text": "status"}), FORM)
    assert response.status == 200 and "Security" in response.body


def test_oversized_and_bad_length_bodies_are_refused_before_reading(web):
    big = "command=%2Froadmap&text=" + "x" * 1_000_001
    assert post_signed(web, big, FORM).status == 413
    response = call_wsgi(web, "POST", "/slack/events", "command=x", {"Content-Type": FORM, "Content-Length": "-1"})
    assert response.status == 400


def test_a_share_button_payload_with_odd_fields_is_acknowledged_without_crashing(web, fake_slack, caplog):
    payload = share_payload("status security", response_url=fake_slack.response_url())
    payload["user"] = "U100"  # an id string instead of an object
    payload["channel"] = {"name": "no id"}
    payload["actions"][0]["value"] = 12345  # not a string
    with caplog.at_level(logging.WARNING):
        response = send_interaction(web, payload)
        assert response.status == 200
        posted = fake_slack.wait_for("response_url")
    assert len(posted) == 1 and "12345" in posted[0].body["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_share_button_payload_without_response_url_is_logged_not_crashed(web, fake_slack, caplog):
    payload = share_payload("status")
    del payload["response_url"]
    with caplog.at_level(logging.WARNING):
        assert send_interaction(web, payload).status == 200
    assert any("no response_url" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unhandled_but_well_formed_event_is_a_4xx_not_a_500(web):
    response = send_event(web, {"type": "pin_added", "user": "U1", "item": {"channel": "C1", "ts": "1.2"}})
    assert 400 <= response.status < 500


def test_a_forged_forwarded_for_header_cannot_forge_log_lines(web, caplog):
    headers = {"X-Forwarded-For": "1.2.3.4\nCRITICAL fake: all good"}
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        assert post_unsigned(web, command_body("status"), FORM, headers).status == 401
    line = next(r.getMessage() for r in caplog.records if "refused a request" in r.getMessage())
    assert "\n" not in line and line.endswith("from 1.2.3.4CRITICALfake:allgood")
