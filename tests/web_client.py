"""A small browser over the real WSGI app, for the web pages: keeps cookies, reads Set-Cookie headers one by
one, and signs in through the fake identity provider (tests/fakes.py) exactly as a browser would."""

from __future__ import annotations

import dataclasses
import http.client
import io
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes, urlsplit

import html5lib

from bot.app import create_app
from bot.web import SlackWSGI, pages_for

BASE_URL = "http://roadmap.test"


def web_settings(settings, fake_slack, base_url: str = BASE_URL):
    return dataclasses.replace(
        settings,
        slack_client_id=fake_slack.client_id,
        slack_client_secret=fake_slack.client_secret,
        slack_authorize_url=fake_slack.authorize_url,
        roadmap_base_url=base_url,
    )


def web_app(settings, store) -> SlackWSGI:
    """The web process's WSGI app exactly as bot.web.application() assembles it."""
    return SlackWSGI(create_app(settings, store), store, pages=pages_for(settings, store))


@dataclass
class Page:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]


@dataclass
class Browser:
    app: object
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, target: str, body: bytes = b"", headers: dict | None = None) -> Page:
        parts = urlsplit(target)
        environ = {
            "REQUEST_METHOD": method,
            # As a WSGI server passes it: percent-decoded bytes, as latin-1 text.
            "PATH_INFO": unquote_to_bytes(parts.path).decode("latin-1") if parts.path else "/",
            "QUERY_STRING": parts.query,
            "SERVER_NAME": "roadmap.test",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "CONTENT_LENGTH": str(len(body)),
        }
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for k, v in (headers or {}).items():
            environ["HTTP_" + k.upper().replace("-", "_")] = v
        captured: dict = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"], captured["headers"] = int(status.split()[0]), list(response_headers)

        text = b"".join(self.app(environ, start_response)).decode("utf-8")
        page = Page(captured["status"], captured["headers"], text)
        for cookie in page.set_cookies():
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return page

    def get(self, target: str) -> Page:
        return self.request("GET", target)

    def follow(self, target: str, limit: int = 5) -> Page:
        """GET, following redirects on this site (the fake identity provider is visited over real HTTP)."""
        page = self.get(target)
        for _ in range(limit):
            if page.status not in (302, 303):
                return page
            location = page.header("Location") or "/"
            if location.startswith("http://127.0.0.1"):
                location = visit_identity_provider(location)
            page = self.get(location)
        return page

    def sign_in(self, next_path: str = "/") -> Page:
        page = self.follow(next_path)
        assert page.status == 200, page.body
        return page


def visit_identity_provider(url: str) -> str:
    """What a browser does at Slack's authorize page (the fake signs the person in at once): the redirect back."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        response.read()
        assert response.status == 302, f"the identity provider refused: {response.status}"
        back = response.getheader("Location")
    finally:
        conn.close()
    back_parts = urlsplit(back)
    return f"{back_parts.path}?{back_parts.query}"


def assert_valid_html(text: str) -> None:
    """Strict HTML5 parsing (html5lib raises on every parse error the WHATWG spec names)."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    parser.parse(text)
    assert text.startswith("<!DOCTYPE html>")
