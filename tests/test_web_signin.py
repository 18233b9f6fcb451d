"""Sign in with Slack (OpenID Connect) against the fake identity provider of tests/fakes.py: the authorize
redirect, the state check, the token exchange and user info through SLACK_API_URL, the workspace check, and the
session cookie. Also: Bolt stays the single-workspace app with SLACK_CLIENT_ID/SECRET in the environment."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from bot.app import create_app
from bot.web import SlackWSGI
from tests.fakes import Scripted
from tests.slack_requests import answer
from tests.web_client import BASE_URL, Browser, visit_identity_provider, web_app, web_settings


@pytest.fixture
def wsettings(settings, fake_slack):
    return web_settings(settings, fake_slack)


@pytest.fixture
def site(wsettings, store):
    return web_app(wsettings, store)


def _start(browser: Browser, next_path: str = "/") -> tuple[str, dict]:
    """Open a page signed out and follow to Slack's authorize URL: (that URL, its query)."""
    first = browser.get(next_path)
    assert first.status == 303
    login = browser.get(first.header("Location"))
    assert login.status == 303
    location = login.header("Location")
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_the_whole_flow_signs_a_workspace_member_in(site, fake_slack):
    browser = Browser(site)
    location, query = _start(browser, "/clusters/security")
    assert location.startswith(fake_slack.authorize_url + "?")
    assert query["response_type"] == "code" and query["client_id"] == fake_slack.client_id
    assert set(query["scope"].split()) == {"openid", "profile"}
    assert query["redirect_uri"] == f"{BASE_URL}/auth/callback"
    assert len(query["state"]) >= 20
    state_cookie = browser.cookies["roadmap_signin"]
    assert query["state"] not in state_cookie or "." in state_cookie  # signed, not the bare state

    back = browser.get(visit_identity_provider(location))
    assert back.status == 303 and back.header("Location") == "/clusters/security"
    (session,) = [c for c in back.set_cookies() if c.startswith("roadmap_session=")]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Max-Age=43200" in session
    assert "Secure" not in session  # http base URL (a https one is below)
    assert "roadmap_signin" not in browser.cookies  # the state is used up
    # The code went to openid.connect.token with the client's credentials, the token to userInfo, both at the fake.
    (token_call,) = fake_slack.calls_to("openid.connect.token")
    assert token_call.path == "/api/openid.connect.token" and token_call.headers["authorization"].startswith("Basic ")
    assert token_call.body["redirect_uri"] == f"{BASE_URL}/auth/callback"
    (info_call,) = fake_slack.calls_to("openid.connect.userInfo")
    assert info_call.headers["authorization"].startswith("Bearer xoxp-oidc-")
    page = browser.get("/clusters/security")
    assert page.status == 200 and "Signed in as Ada Analyst" in page.body


def test_a_https_base_url_makes_the_cookies_secure(wsettings, store, fake_slack):
    site = web_app(dataclasses.replace(wsettings, roadmap_base_url="https://roadmap.test"), store)
    browser = Browser(site)
    location, _ = _start(browser)
    login_cookie = next(c for c in browser.request("GET", "/login").set_cookies())
    assert "; Secure" in login_cookie
    back = browser.get(visit_identity_provider(location))
    assert all("; Secure" in c for c in back.set_cookies())


def test_a_member_of_another_workspace_is_refused(site, fake_slack):
    fake_slack.oidc_user = {"user_id": "U999", "name": "Outsider", "team_id": "T_OTHER"}
    browser = Browser(site)
    location, _ = _start(browser)
    back = browser.get(visit_identity_provider(location))
    assert back.status == 403 and "Only members of the workspace" in back.body
    assert "roadmap_session" not in browser.cookies
    assert browser.get("/").status == 303


@pytest.mark.parametrize("tamper", ["other-state", ""])
def test_a_callback_whose_state_does_not_match_is_refused(site, fake_slack, tamper):
    browser = Browser(site)
    _start(browser)
    code = fake_slack.issue_code()
    back = browser.get(f"/auth/callback?{urlencode({'code': code, 'state': tamper})}")
    assert back.status == 403 and "expired or was not started here" in back.body
    assert "roadmap_session" not in browser.cookies
    assert fake_slack.calls_to("openid.connect.token") == []  # refused before the code was used


def test_a_callback_without_the_state_cookie_is_refused(site, fake_slack):
    # Someone else's link (login CSRF): this browser never started a sign-in.
    location, _query = _start(Browser(site))
    stranger = Browser(site)
    back = stranger.get(visit_identity_provider(location))
    assert back.status == 403 and "roadmap_session" not in stranger.cookies


def test_a_sign_in_left_too_long_expires(site, time_machine):
    time_machine.move_to("2026-01-05 09:00:00+00:00", tick=False)
    browser = Browser(site)
    location, _ = _start(browser)
    time_machine.move_to("2026-01-05 09:11:00+00:00", tick=False)
    back = browser.get(visit_identity_provider(location))
    assert back.status == 403 and "expired" in back.body


def test_a_code_works_once(site, fake_slack):
    browser = Browser(site)
    location, _ = _start(browser)
    callback = visit_identity_provider(location)
    assert browser.get(callback).status == 303
    again = Browser(site)
    _start(again)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    # Replaying the same callback (new browser, its own state cookie, the old code) fails at Slack.
    code = parse_qs(urlsplit(callback).query)["code"][0]
    again_query = {"code": code, "state": state}
    assert again.get(f"/auth/callback?{urlencode(again_query)}").status == 403


def test_cancelling_at_slack_says_so(site):
    browser = Browser(site)
    _start(browser)
    back = browser.get("/auth/callback?error=access_denied&state=x")
    assert back.status == 403 and "cancelled" in back.body and 'href="/login"' in back.body


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_after_signing_in_the_browser_stays_on_this_site(site, target):
    browser = Browser(site)
    login = browser.get(f"/login?{urlencode({'next': target})}")
    back = browser.get(visit_identity_provider(login.header("Location")))
    assert back.status == 303 and back.header("Location") == "/"


@pytest.mark.parametrize("method", ["openid.connect.token", "openid.connect.userInfo", "auth.test"])
def test_slack_failing_during_sign_in_is_a_clear_page_not_a_500(site, fake_slack, method):
    fake_slack.script(method, Scripted(status=200, body={"ok": False, "error": "internal_error"}))
    browser = Browser(site)
    location, _ = _start(browser)
    back = browser.get(visit_identity_provider(location))
    assert back.status == 403 and "Try again" in back.body
    assert "roadmap_session" not in browser.cookies


def test_signing_out_forgets_the_session(site):
    browser = Browser(site)
    browser.sign_in()
    assert browser.get("/logout").status == 405  # a link cannot sign anyone out
    out = browser.request("POST", "/logout")
    assert out.status == 200 and "signed out" in out.body and "roadmap_session" not in browser.cookies
    assert browser.get("/").status == 303


def test_bolt_stays_a_single_workspace_app_with_client_credentials_in_the_environment(
    settings, store, fake_slack, monkeypatch
):
    # Bolt alone would switch to OAuth installation mode here and answer "please install this app".
    monkeypatch.setenv("SLACK_CLIENT_ID", fake_slack.client_id)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", fake_slack.client_secret)
    app = create_app(web_settings(settings, fake_slack), store)
    assert app.oauth_flow is None
    message = answer(SlackWSGI(app, store), "status")
    assert "Security" in str(message["blocks"])
    import os

    assert os.environ["SLACK_CLIENT_ID"] == fake_slack.client_id  # the environment is left as it was
