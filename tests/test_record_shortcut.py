"""The "Record as development" message shortcut through the real path: a signed message_action opens the modal
(views.open on the fake), a signed view_submission validates and saves it."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.slack_requests import TEAM, send_interaction
from tests.test_threads import development_inserts_fail, run_threads, threads_of

CHANNEL = "C300"
MESSAGE_TS = "1754006400.000200"  # 31 July 2025 in New York


def assert_valid_view(view: dict) -> None:
    """Like assert_valid_message, for a modal: it parses, validates and round-trips to exactly what we send."""
    parsed = View(**view)
    parsed.validate_json()
    assert parsed.to_dict() == view, "view does not round-trip (misspelt or unknown key?)"
    assert len(view["blocks"]) <= 100
    for raw in view["blocks"]:
        block = Block.parse(raw)
        assert block is not None and block.to_dict() == raw, raw


def shortcut_payload(text: str, ts: str = MESSAGE_TS, user: str = "U100", **message) -> dict:
    return {
        "type": "message_action",
        "token": "legacy",
        "callback_id": "record_development",
        "trigger_id": "1337.42.abcd",
        "response_url": "http://127.0.0.1:9/r",
        "team": TEAM,
        "api_app_id": "A1",
        "channel": {"id": CHANNEL, "name": "news"},
        "user": {"id": user, "name": "analyst"},
        "message_ts": ts,
        "message": {"type": "message", "user": "U300", "text": text, "ts": ts, **message},
    }


def submission(
    view: dict, *, cluster: str | None, step: str | None = None, text: str, day: str = "2025-07-31", user="U100"
):
    """A view_submission of the modal `view` with these values, as Slack would send it."""
    step_block = next(b for b in view["blocks"] if b.get("block_id") == "step")
    if step_block["element"]["type"] == "static_select":
        step_value = {"type": "static_select", "selected_option": {"value": step} if step else None}
    else:
        step_value = {"type": "plain_text_input", "value": step}
    values = {
        "cluster": {"cluster": {"type": "static_select", "selected_option": {"value": cluster} if cluster else None}},
        "step": {"step": step_value},
        "date": {"date": {"type": "datepicker", "selected_date": day}},
        "text": {"text": {"type": "plain_text_input", "value": text}},
    }
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": "1337.43.abcd",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": values},
            "hash": "1.abc",
        },
    }


def open_modal(web, fake_slack, text: str, **message) -> dict:
    before = len(fake_slack.calls_to("views.open"))
    response = send_interaction(web, shortcut_payload(text, **message))
    assert response.status == 200
    opened = fake_slack.wait_for("views.open", before + 1)
    assert len(opened) == before + 1
    assert opened[-1].body["trigger_id"] == "1337.42.abcd"
    view = opened[-1].json_field("view")
    assert_valid_view(view)
    return view


def submit(web, payload: dict) -> dict:
    response = send_interaction(web, payload)
    assert response.status == 200, response.body
    return response.json()


def element(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)["element"]


def test_shortcut_opens_a_modal_prefilled_with_the_message(web, fake_slack):
    view = open_modal(web, fake_slack, "Lukashenko &amp; envoy met; <@U9> says SEC-2 is <https://x.example|on track>")
    assert (
        element(view, "text")["initial_value"]
        == "Lukashenko & envoy met; @U9 says SEC-2 is on track (https://x.example)"
    )
    assert element(view, "date")["initial_date"] == "2025-07-31"
    clusters = [o["value"] for o in element(view, "cluster")["options"]]
    assert clusters == ["security", "economic", "humanitarian", "mediation", "ukraine", "diplomatic"]
    steps = element(view, "step")
    assert steps["type"] == "static_select"
    assert sum(len(g["options"]) for g in steps["option_groups"]) <= 100
    # The step the message names is preselected, and with it its cluster.
    assert steps["initial_option"]["value"] == "SEC-2"
    assert element(view, "cluster")["initial_option"]["value"] == "security"


def test_submission_records_the_message_once_with_its_permalink(web, fake_slack, store):
    view = open_modal(web, fake_slack, "Belavia overflight ban eased")
    answer = submit(web, submission(view, cluster="economic", step="ECO-1", text="Belavia overflight ban eased"))
    assert answer["response_action"] == "update"
    assert_valid_view(answer["view"])
    assert "Recorded" in json.dumps(answer["view"])
    fake_slack.wait_for("chat.getPermalink")
    dev = store.developments.of_message(CHANNEL, MESSAGE_TS)
    assert (dev.cluster, dev.step, dev.author, dev.occurred_on) == ("economic", "ECO-1", "U100", date(2025, 7, 31))
    # Recorded again (another person, another cluster): still one development, and the modal says so.
    again = submit(web, submission(view, cluster="security", text="something else", user="U101"))
    assert "already recorded" in json.dumps(again["view"])
    assert len(store.search("Belavia overflight").developments) == 1
    assert store.developments.of_message(CHANNEL, MESSAGE_TS).text == "Belavia overflight ban eased"
    assert store.developments.of_message(CHANNEL, MESSAGE_TS).permalink.endswith(MESSAGE_TS.replace(".", ""))


@pytest.mark.parametrize(
    "fields, block, says",
    [
        (dict(cluster="security", step="SEC-99", text="x"), "step", "no step"),
        (dict(cluster="security", step="ECO-1", text="x"), "step", "economic"),
        (dict(cluster=None, text="x"), "cluster", "Choose a cluster"),
        (dict(cluster="security", text="   "), "text", "what happened"),
        (dict(cluster="security", text="x", day="2999-01-01"), "date", "future"),
    ],
)
def test_invalid_submissions_keep_the_modal_open_with_an_error_and_save_nothing(
    web, fake_slack, store, fields, block, says
):
    view = open_modal(web, fake_slack, "Some news")
    answer = submit(web, submission(view, **fields))
    assert answer["response_action"] == "errors"
    assert says in answer["errors"][block]
    assert store.developments.of_message(CHANNEL, MESSAGE_TS) is None


def test_a_message_in_a_cluster_thread_preselects_that_cluster(web, fake_slack, store):
    run_threads(web, fake_slack, channel=CHANNEL)
    parent = threads_of(store, CHANNEL)["ukraine"]
    view = open_modal(web, fake_slack, "A reply without a step", thread_ts=parent)
    assert element(view, "cluster")["initial_option"]["value"] == "ukraine"
    assert "initial_option" not in element(view, "step")


def test_with_more_steps_than_a_select_holds_the_step_is_typed(web, fake_slack, store, seed_doc):
    doc = copy.deepcopy(seed_doc)
    cluster = doc["clusters"][0]
    side = cluster["steps"][0]["side"]
    cluster["steps"] += [
        {"id": f"{cluster['prefix']}-{n}", "side": side, "title": f"Step {n}"} for n in range(200, 260)
    ]
    store.transfer.import_doc(doc)
    view = open_modal(web, fake_slack, "News about SEC-250")
    step = element(view, "step")
    assert step["type"] == "plain_text_input" and step["initial_value"] == "SEC-250"
    answer = submit(web, submission(view, cluster="security", step="sec-250", text="News about SEC-250"))
    assert answer["response_action"] == "update"
    assert store.developments.of_message(CHANNEL, MESSAGE_TS).step == "SEC-250"
    view = open_modal(web, fake_slack, "Other news", ts="1754006400.000300")
    answer = submit(web, submission(view, cluster="security", step="SEC-999", text="Other news"))
    assert answer["response_action"] == "errors" and "SEC-999" in answer["errors"]["step"]


def test_a_database_failure_keeps_the_modal_open_and_saves_nothing(web, fake_slack, store):
    view = open_modal(web, fake_slack, "Some news")
    with development_inserts_fail(store.engine):
        answer = submit(web, submission(view, cluster="security", text="Some news"))
    assert answer["response_action"] == "errors" and "unavailable" in answer["errors"]["text"]
    assert store.developments.of_message(CHANNEL, MESSAGE_TS) is None
    assert submit(web, submission(view, cluster="security", text="Some news"))["response_action"] == "update"
