"""/roadmap through the real path: signed form bodies → guard → Bolt → listener → store → template → HTTP answer."""

from __future__ import annotations

import json

import pytest

from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import answer, call_wsgi, send_interaction, share_payload

SLUGS = ["security", "economic", "humanitarian", "mediation", "ukraine", "diplomatic"]


def test_status_lists_every_cluster_with_progress_and_next_move(web):
    message = answer(web, "status")
    text = message_text(message)
    assert message["response_type"] == "ephemeral"
    for slug in SLUGS:
        assert f"`{slug}`" in text
    assert "done" in text and "next move" in text and "Latest development" in text


def test_status_of_a_cluster_shows_steps_pairs_and_developments(web):
    text = message_text(answer(web, "status security"))
    assert "SEC-1" in text and "↔" in text and "Latest developments" in text
    assert "United States" in text and "Belarus" in text


def test_status_of_a_step_shows_counterpart_history_and_developments(web, store):
    store.steps.set_status("SEC-1", "agreed", actor="U07ABCDE", note="agreed in Minsk")
    text = message_text(answer(web, "status sec-1"))
    assert "SEC-1" in text and "Reciprocal commitments" in text
    assert "agreed in Minsk" in text and "<@U07ABCDE>" in text


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help_lists_commands_with_examples(web, text):
    body = message_text(answer(web, text))
    for word in ("status", "log", "set", "commitments", "find"):
        assert f"/roadmap {word}" in body


def test_unknown_cluster_names_the_valid_ones_and_suggests(web):
    text = message_text(answer(web, "status securty"))
    assert "securty" in text and "Did you mean *security*" in text
    assert all(slug in text for slug in SLUGS)


def test_unknown_command_and_unknown_step_get_clear_errors(web):
    text = message_text(answer(web, "stats"))
    assert "not a roadmap command" in text and "status" in text
    text = message_text(answer(web, "status SEC-99"))
    assert "SEC-99" in text and "SEC-1" in text


def test_log_records_a_development_with_author_and_date(web, store):
    text = message_text(answer(web, "log security 2025-08-01 Minsk restated its no-aggression pledge", user="U55"))
    assert "Recorded" in text
    found = store.search("no-aggression pledge").developments
    assert len(found) == 1 and found[0].author == "U55" and str(found[0].occurred_on) == "2025-08-01"


def test_log_to_a_step_links_it(web, store):
    answer(web, "log ECO-1 Aviation talks opened")
    assert store.roadmap.step_detail("ECO-1").developments[0].text == "Aviation talks opened"


def test_log_containing_the_word_payload_is_still_a_command(web, store):
    """Bolt would parse this form as an (empty) interaction; the guard parses it as the form it is."""
    text = message_text(answer(web, "log security Iskander payload limits discussed"))
    assert "Recorded" in text
    assert store.search("Iskander payload").developments


def test_log_errors_change_nothing(web, store):
    before = store.transfer.export_doc()
    for bad in (
        "log",
        "log security",
        "log nowhere something happened",
        "log security 2999-01-01 future",
        "log security 2025-02-30 not a date",
        "log security " + "x" * 4001,
    ):
        message = answer(web, bad)
        assert "⚠️" in message_text(message), bad
    assert store.transfer.export_doc() == before


def test_log_to_an_unknown_step_names_the_steps_and_stores_nothing(web, store):
    text = message_text(answer(web, "log SEC-99 Talks resumed"))
    assert "There is no step “SEC-99”" in text and "SEC-1" in text
    assert not store.search("Talks resumed").developments


def test_set_changes_status_and_history(web, store):
    text = message_text(answer(web, "set SEC-1 in progress talks under way", user="U1"))
    assert "in progress" in text
    detail = store.roadmap.step_detail("SEC-1")
    assert detail.step.status == "in_progress"
    assert detail.history[0].note == "talks under way" and detail.history[0].actor == "U1"


def test_set_with_unknown_status_names_the_statuses(web, store):
    text = message_text(answer(web, "set SEC-1 finished"))
    assert "proposed" in text and "done" in text
    assert store.roadmap.step_detail("SEC-1").step.status == "proposed"


def test_commitments_for_a_side(web):
    text = message_text(answer(web, "commitments Belarus"))
    assert "Belarus owes" in text and "↔" in text
    text = message_text(answer(web, "commitments Atlantis"))
    assert "There is no side" in text and "BY" in text


def test_find_searches_steps_and_developments(web):
    text = message_text(answer(web, "find Tsikhanouski"))
    assert "Tsikhanouski" in text and "2025" in text
    text = message_text(answer(web, "find"))
    assert "⚠️" in text


def test_user_text_cannot_ping_or_spoof(web, store):
    answer(web, "log security <!channel> see <https://evil.example|official> <@U999> & more")
    message = answer(web, "status security")
    raw = json.dumps(message)
    assert "<!channel>" not in raw and "<@U999>" not in raw and "<https://evil.example" not in raw
    assert "&lt;!channel&gt;" in raw and "&amp; more" in raw


def test_share_button_posts_the_answer_in_channel(web, fake_slack):
    message = answer(web, "status security", response_url=fake_slack.response_url())
    button = next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]
    response = send_interaction(web, share_payload(button["value"], response_url=fake_slack.response_url()))
    assert response.status == 200
    posted = fake_slack.wait_for("response_url")
    assert len(posted) == 1
    assert posted[0].body["response_type"] == "in_channel"
    assert_valid_message({"text": posted[0].body["text"], "blocks": posted[0].body["blocks"]})
    assert "SEC-1" in message_text({"text": posted[0].body["text"], "blocks": posted[0].body["blocks"]})


def test_health_path_checks_the_database(web):
    response = call_wsgi(web, "GET", "/healthz")
    assert response.status == 200 and response.json() == {"ok": True, "database": "ok"}
    assert call_wsgi(web, "GET", "/nope").status == 404
    assert call_wsgi(web, "GET", "/slack/events").status == 405


def test_due_sets_and_clears_a_date_and_the_step_shows_overdue(web, store):
    text = message_text(answer(web, "due ECO-1 2025-01-31 agreed in the working group", user="U0ABCDEF"))
    assert "31 Jan 2025" in text and "already overdue" in text
    detail = store.roadmap.step_detail("ECO-1")
    assert str(detail.step.due_on) == "2025-01-31"
    assert (detail.history[0].field, detail.history[0].new_value) == ("due_on", "2025-01-31")
    assert "overdue" in message_text(answer(web, "status ECO-1"))
    answer(web, "due ECO-1 none")
    assert store.roadmap.step_detail("ECO-1").step.due_on is None


def test_due_with_a_bad_date_changes_nothing(web, store):
    for bad in ("due ECO-1 next-week", "due ECO-1", "due ECO-99 2026-01-01"):
        assert "⚠️" in message_text(answer(web, bad)), bad
    assert store.roadmap.step_detail("ECO-1").step.due_on is None
