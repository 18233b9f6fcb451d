"""The read-only web pages through the real WSGI app: off without Sign in with Slack, never served without a
session, and, signed in, the overview, a cluster, a step and search — valid HTML, escaped, unchanging."""

from __future__ import annotations

import dataclasses
import os
import re
from html import unescape

import pytest

from tests.slack_requests import answer
from tests.web_client import BASE_URL, Browser, assert_valid_html, web_app, web_settings

PAGES = ["/", "/clusters/security", "/steps/SEC-1", "/search?q=Kellogg"]


@pytest.fixture
def wsettings(settings, fake_slack):
    return web_settings(settings, fake_slack)


@pytest.fixture
def site(wsettings, store):
    return web_app(wsettings, store)


@pytest.fixture
def signed_in(site) -> Browser:
    browser = Browser(site)
    browser.sign_in()
    return browser


def _text(html: str) -> str:
    """The visible text, roughly: tags and the <style> element out, whitespace collapsed."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.parametrize("path", [*PAGES, "/login", "/auth/callback"])
def test_without_sign_in_settings_the_pages_are_off(web, path):
    page = Browser(web).get(path)
    assert page.status == 404 and page.body == "not found"


@pytest.mark.parametrize("missing", ["slack_client_id", "slack_client_secret", "roadmap_base_url"])
def test_each_of_the_three_settings_is_needed(wsettings, store, missing):
    page = Browser(web_app(dataclasses.replace(wsettings, **{missing: None}), store)).get("/")
    assert page.status == 404


@pytest.mark.parametrize("path", [*PAGES, "/nope", "/clusters/zzz"])
def test_nothing_is_served_without_a_session(site, path):
    page = Browser(site).get(path)
    assert page.status == 303 and page.body == ""
    assert page.header("Location").startswith("/login?next=")


def test_a_forged_or_foreign_session_cookie_is_no_session(site, wsettings, store, signed_in):
    real = signed_in.cookies["roadmap_session"]
    payload, _, _signature = real.rpartition(".")
    for cookie in (real[:-2] + ("AA" if real[-2:] != "AA" else "BB"), payload + ".x", "garbage", ""):
        page = Browser(site, {"roadmap_session": cookie}).get("/")
        assert page.status == 303, cookie
    # A cookie signed with another deployment's client secret is not ours.
    other = web_app(dataclasses.replace(wsettings, slack_client_secret="another-secret"), store)
    assert Browser(other, {"roadmap_session": real}).get("/").status == 303


def test_a_session_expires(site, signed_in, time_machine):
    assert signed_in.get("/").status == 200
    time_machine.move_to("2099-01-01")
    assert signed_in.get("/").status == 303


def test_the_overview_shows_every_cluster_with_progress_and_links(signed_in, store):
    page = signed_in.get("/")
    assert page.status == 200 and page.header("Content-Type") == "text/html; charset=utf-8"
    assert_valid_html(page.body)
    text = _text(page.body)
    for summary in store.roadmap.cluster_overview():
        assert summary.cluster.title in text
        assert f'href="/clusters/{summary.cluster.slug}"' in page.body
    assert "Open reciprocal pairs" in text and "Signed in as Ada Analyst" in text
    assert "<script" not in page.body  # nothing needs JavaScript to read


def test_a_cluster_page_lists_its_steps_pairs_and_developments(signed_in, store):
    page = signed_in.get("/clusters/security")
    assert page.status == 200
    assert_valid_html(page.body)
    detail = store.roadmap.cluster_detail("security")
    text = _text(page.body)
    assert detail.cluster.title in text
    for _side, steps in detail.steps_by_side:
        for s in steps:
            assert f'href="/steps/{s.key}"' in page.body and s.title in text
    assert "Reciprocal pairs" in text and "Latest developments" in text
    assert detail.developments and detail.developments[0].text[:40] in text


def test_a_step_page_shows_counterparts_history_and_developments(signed_in, store):
    store.steps.set_status("SEC-1", "in_progress", actor="U0EDITOR", note="talks resumed in Minsk")
    store.developments.record(
        text="Envoys met on <b>SEC-1</b> & agreed", author="U100", cluster="security", step="SEC-1"
    )
    page = signed_in.get("/steps/sec-1")  # typed in lower case: the same step
    assert page.status == 200
    assert_valid_html(page.body)
    detail = store.roadmap.step_detail("SEC-1")
    text = _text(page.body)
    assert detail.step.title in text and "in progress" in text
    for pair in detail.pairs:
        assert f'href="/steps/{pair.counterpart_of("SEC-1").key}"' in page.body
    assert "talks resumed in Minsk" in text and "U0EDITOR" in text
    # User text is escaped: shown, never markup.
    assert "Envoys met on &lt;b&gt;SEC-1&lt;/b&gt; &amp; agreed" in page.body and "<b>SEC-1" not in page.body


def test_a_stored_javascript_link_is_never_a_link(signed_in, store, engine):
    from sqlalchemy import text

    from store.errors import Invalid

    with pytest.raises(Invalid):  # the recording path refuses it...
        store.developments.record(text="Zzscript check", author="U1", cluster="security", url="javascript:alert(1)")
    store.developments.record(text="Zzscript check", author="U100", cluster="security")
    with engine.begin() as conn:  # ...and a row that holds one anyway (an old store) is still shown as text
        conn.execute(text("UPDATE development SET url = 'javascript:alert(1)' WHERE text = 'Zzscript check'"))
    page = signed_in.get("/search?q=Zzscript")
    assert "Zzscript check" in page.body and "javascript:" not in page.body


def test_search_finds_steps_and_developments(signed_in, store):
    page = signed_in.get("/search?q=Kellogg")
    assert page.status == 200
    assert_valid_html(page.body)
    result = store.search("Kellogg")
    assert result.developments
    assert result.developments[0].text[:40] in _text(page.body)
    assert 'value="Kellogg"' in page.body


@pytest.mark.parametrize(
    "query",
    [
        "",
        "q=",
        "q=%20%20",
        "q=" + "x" * 50_000,
        "q=%ff%fe%00%1b%5B2J",
        "q=%",
        "q=%zz&q=second",
        "a=1&&&b&q=%E2%80%AE%3Cscript%3E",
        "q=" + "+".join(["word"] * 500),
        ";;;===&&&",
    ],
)
def test_odd_or_oversized_query_strings_never_error(signed_in, query):
    page = signed_in.get(f"/search?{query}")
    assert page.status == 200, page.body
    assert_valid_html(page.body)
    assert "<script>" not in page.body


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/nope", "There is no such page"),
        ("/clusters/zzz", "There is no cluster"),
        ("/steps/ZZ-99", "There is no step"),
        ("/steps/not a step", "There is no step"),
        ("/steps/" + "A" * 500, "There is no such page"),
        ("/clusters/a/b", "There is no such page"),
        ("/steps/%ff%00", "There is no such page"),
        ("/steps/%ff", "There is no step"),
        ("/clusters/%3Cb%3E%C3%A9", "There is no cluster"),
        ("/clusters/%E2%80%AE", "There is no such page"),
    ],
)
def test_unknown_pages_are_404s_with_a_way_back(signed_in, path, says):
    page = signed_in.get(path)
    assert page.status == 404
    assert_valid_html(page.body)
    assert says in _text(page.body) and 'href="/"' in page.body


def test_an_unknown_cluster_lists_the_clusters(signed_in, store):
    page = signed_in.get("/clusters/zzz")
    for c in store.roadmap.clusters():
        assert f'href="/clusters/{c.slug}"' in page.body


def test_the_pages_cannot_change_anything(signed_in, store):
    before = store.transfer.export_doc()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in PAGES:
            page = signed_in.request(method, path, b"status=done")
            assert page.status == 405 and "GET" in page.header("Allow")
    for path in PAGES:
        page = signed_in.get(path)
        head = signed_in.request("HEAD", path)
        assert page.status == head.status == 200 and head.body == ""
        assert head.header("Content-Length") == page.header("Content-Length") == str(len(page.body.encode()))
    assert store.transfer.export_doc() == before


def test_pages_are_private_and_locked_down(signed_in):
    page = signed_in.get("/")
    assert page.header("Cache-Control") == "private, no-store"
    csp = page.header("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script" not in csp and "frame-ancestors 'none'" in csp
    assert page.header("X-Content-Type-Options") == "nosniff"


def test_status_answers_link_to_their_pages_only_when_the_base_url_is_set(settings, store, fake_slack):
    plain_web = web_app(settings, store)
    linked_web = web_app(dataclasses.replace(settings, roadmap_base_url=BASE_URL), store)
    for text, url in (
        ("status", f"{BASE_URL}/"),
        ("status security", f"{BASE_URL}/clusters/security"),
        ("status sec-1", f"{BASE_URL}/steps/SEC-1"),
    ):
        plain = answer(plain_web, text)
        linked = answer(linked_web, text)
        link = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{url}|View on the web>"}]}
        assert link in linked["blocks"]
        assert "View on the web" not in str(plain)
        # Unset, the answer is exactly what it was: the link is the only difference.
        assert [b for b in linked["blocks"] if b != link] == plain["blocks"]


def test_the_gunicorn_entry_point_serves_the_pages_when_configured(monkeypatch, tmp_path, fake_slack):
    from bot.web import application

    for k in [k for k in os.environ if k.startswith(("ROADMAP_", "SLACK_"))]:
        monkeypatch.delenv(k)
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_CLIENT_ID": fake_slack.client_id,
        "SLACK_CLIENT_SECRET": fake_slack.client_secret,
        "SLACK_AUTHORIZE_URL": fake_slack.authorize_url,
        "ROADMAP_BASE_URL": BASE_URL,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    app = application()
    assert app.app.oauth_flow is None  # the client credentials did not turn Bolt into an OAuth app
    browser = Browser(app)
    assert browser.get("/").status == 303
    assert "Security cooperation" in browser.sign_in().body
    link = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{BASE_URL}/|View on the web>"}]}
    assert link in answer(app, "status")["blocks"]


def test_with_several_roadmaps_each_has_its_pages_and_links_to_them(signed_in, store, wsettings):
    import copy

    from tests.test_roadmaps import MOLDOVA

    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    home = signed_in.get("/")
    assert home.status == 200 and 'href="/r/moldova/"' in home.body and 'href="/r/us-belarus/"' in home.body
    assert_valid_html(home.body)
    page = signed_in.get("/r/moldova/clusters/security")
    assert page.status == 200 and "Security zone and peacekeeping" in _text(page.body)
    assert 'href="/r/moldova/steps/SEC-1"' in page.body and 'href="/r/moldova/"' in page.body
    assert "Dniester" in _text(signed_in.get("/r/moldova/steps/SEC-1").body)
    assert "Security cooperation" in _text(signed_in.get("/r/us-belarus/clusters/security").body)
    missing = signed_in.get("/r/narnia/")
    assert missing.status == 404 and 'href="/r/moldova/"' in missing.body
    # Slack answers link to the page of the roadmap they answer from.
    from bot.app import create_app
    from bot.web import SlackWSGI

    store.roadmaps.bind("C0MD", "moldova", "U1")
    web = SlackWSGI(create_app(wsettings, store), store)
    message = answer(web, "status SEC-1", channel="C0MD")
    assert f"{BASE_URL}/r/moldova/steps/SEC-1" in str(message["blocks"])
