"""Links to the web pages posted in Slack unfurl (`link_shared` → `chat.unfurl`) into a compact, valid card of
the step or cluster; once per distinct link, addressed so a redelivery replaces rather than adds, and never in a
channel the bot cannot see."""

from __future__ import annotations

import dataclasses

import pytest

from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import send_event
from tests.web_client import BASE_URL, web_app


@pytest.fixture
def unfurl_web(settings, store):
    return web_app(dataclasses.replace(settings, roadmap_base_url=BASE_URL), store)


def link_shared(*urls: str, **extra) -> dict:
    event = {
        "type": "link_shared",
        "channel": "C100",
        "is_bot_user_member": True,
        "user": "U100",
        "message_ts": "1754006400.000100",
        "event_ts": "1754006400.000100",
        "source": "conversations_history",
        "links": [{"domain": "roadmap.test", "url": u} for u in urls],
    }
    event.update(extra)
    return event


def _unfurls(fake_slack, count: int = 1) -> list:
    calls = fake_slack.wait_for("chat.unfurl", count)
    assert len(calls) == count
    return calls


def _assert_card(card: dict) -> str:
    assert set(card) == {"blocks"}
    message = {"text": "card", "blocks": card["blocks"]}
    assert_valid_message(message)
    assert len(card["blocks"]) <= 3  # compact
    return message_text(message)


def test_a_step_and_a_cluster_link_unfurl_into_cards(unfurl_web, fake_slack, store):
    step_url, cluster_url = f"{BASE_URL}/steps/SEC-1", f"{BASE_URL}/clusters/security"
    assert send_event(unfurl_web, link_shared(step_url, cluster_url)).status == 200
    (call,) = _unfurls(fake_slack)
    assert call.body["channel"] == "C100" and call.body["ts"] == "1754006400.000100"
    unfurls = call.json_field("unfurls")
    assert set(unfurls) == {step_url, cluster_url}
    step = store.roadmap.step("SEC-1")
    text = _assert_card(unfurls[step_url])
    assert f"<{step_url}|SEC-1 · " in text and step.side.name in text and "next move" in text
    text = _assert_card(unfurls[cluster_url])
    assert f"<{cluster_url}|" in text and "Open reciprocal pairs" in text


def test_a_link_repeated_in_a_message_gets_one_card(unfurl_web, fake_slack):
    url = f"{BASE_URL}/steps/SEC-1"
    send_event(unfurl_web, link_shared(url, url, url))
    (call,) = _unfurls(fake_slack)
    assert list(call.json_field("unfurls")) == [url]


def test_a_composer_link_is_addressed_by_its_unfurl_id(unfurl_web, fake_slack):
    event = link_shared(f"{BASE_URL}/steps/SEC-2", source="composer", unfurl_id="C100.1.2.abc", channel="COMPOSER")
    send_event(unfurl_web, event)
    (call,) = _unfurls(fake_slack)
    assert call.body["unfurl_id"] == "C100.1.2.abc" and call.body["source"] == "composer"
    assert "channel" not in call.body and "ts" not in call.body


def test_a_redelivered_event_addresses_the_same_message(unfurl_web, fake_slack):
    # chat.unfurl with the same channel and ts replaces that message's unfurls (Slack's documented behaviour),
    # so a retry re-sends the same card to the same place instead of adding a second one.
    event = link_shared(f"{BASE_URL}/clusters/economic")
    send_event(unfurl_web, event, event_id="Ev1")
    send_event(unfurl_web, event, event_id="Ev1", retry=1)
    first, second = _unfurls(fake_slack, 2)
    assert (first.body["channel"], first.body["ts"]) == (second.body["channel"], second.body["ts"])
    assert first.json_field("unfurls") == second.json_field("unfurls")


def test_nothing_unfurls_in_a_channel_the_bot_cannot_see(unfurl_web, fake_slack):
    assert send_event(unfurl_web, link_shared(f"{BASE_URL}/steps/SEC-1", is_bot_user_member=False)).status == 200
    assert fake_slack.wait_for("chat.unfurl", 1, timeout=0.3) == []


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE_URL}/steps/ZZ-99",  # no such step
        f"{BASE_URL}/clusters/nowhere",  # no such cluster
        f"{BASE_URL}/",  # the overview and search are not cards
        f"{BASE_URL}/search?q=x",
        "https://roadmap.test/steps/SEC-1",  # another scheme: not under ROADMAP_BASE_URL
        "http://elsewhere.test/steps/SEC-1",
        "not a url at all",
    ],
)
def test_links_that_are_not_a_step_or_cluster_page_stay_plain(unfurl_web, fake_slack, url):
    assert send_event(unfurl_web, link_shared(url)).status == 200
    assert fake_slack.wait_for("chat.unfurl", 1, timeout=0.3) == []


def test_without_a_base_url_nothing_unfurls(web, fake_slack):
    assert send_event(web, link_shared(f"{BASE_URL}/steps/SEC-1")).status == 200
    assert fake_slack.wait_for("chat.unfurl", 1, timeout=0.3) == []


def test_an_unfurl_slack_refuses_is_logged_not_raised(unfurl_web, fake_slack, caplog):
    fake_slack.script("chat.unfurl", Scripted(body={"ok": False, "error": "cannot_unfurl_url"}))
    assert send_event(unfurl_web, link_shared(f"{BASE_URL}/steps/SEC-1")).status == 200
    _unfurls(fake_slack)
    fake_slack.wait_for("never", 1, timeout=0.2)
    assert any("chat.unfurl failed: cannot_unfurl_url" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("links", [None, "x", [1, None, {"url": 5}, {}], [{"url": f"{BASE_URL}/steps/SEC-1"}] * 50])
def test_odd_links_fields_never_error(unfurl_web, fake_slack, links):
    event = link_shared()
    event["links"] = links
    assert send_event(unfurl_web, event).status == 200
