"""Fetching and reading watched sources, with HTTP mocked by `responses`: feeds (RSS 2.0, Atom), pages, 304 Not
Modified, timeouts, certificate errors, 4xx/5xx, malformed and hostile XML, huge bodies, redirects (also a loop,
too many, and one into the internal network), and the refusal of internal addresses without sending anything."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses
from responses import matchers

from handlers import feeds
from handlers.fetch import USER_AGENT, Fetched, Fetcher, FetchError, literal_refusal, refused_address

FEED_URL = "https://news.example.org/rss.xml"
PUBLIC = {"news.example.org": ["93.184.216.34"], "mirror.example.org": ["93.184.216.35"]}

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>MFA news</title><link>https://news.example.org/</link>
<item><title>Visa talks resume in Minsk</title><link>https://news.example.org/a/1?utm_source=rss</link>
  <guid isPermaLink="false">mfa-1</guid><pubDate>Mon, 04 Aug 2025 10:00:00 GMT</pubDate>
  <description>&lt;p&gt;Consular &lt;b&gt;staff&lt;/b&gt; return.&lt;/p&gt;</description></item>
<item><title>Potash transit</title><link>https://news.example.org/a/2</link>
  <pubDate>Sun, 03 Aug 2025 09:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Think tank</title><id>urn:tt</id>
<updated>2025-08-02T10:00:00Z</updated>
<entry><title>Sanctions relief, explained</title><link href="/briefs/81"/><id>urn:tt:81</id>
  <updated>2025-08-02T10:00:00Z</updated><summary>Brief No. 81</summary></entry>
</feed>"""

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title></channel></rss>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&secret;</title><guid>x</guid></item></channel></rss>"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def fetcher(**kwargs) -> Fetcher:
    clock = kwargs.pop("clock", FakeClock())
    resolve = kwargs.pop("resolve", lambda host: PUBLIC.get(host) or pytest.fail(f"unexpected lookup of {host}"))
    return Fetcher(resolve=resolve, clock=clock, sleep=clock.sleep, **kwargs)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# -- feeds and pages ---------------------------------------------------------------------------------------------


def test_an_rss_feed_gives_its_items_with_guid_link_date_and_plain_summary(http):
    http.get(FEED_URL, body=RSS, content_type="application/rss+xml", headers={"ETag": '"v1"'})
    got = fetcher().fetch(FEED_URL)
    parsed = feeds.parse(got)
    assert got.etag == '"v1"' and parsed.kind == "feed" and parsed.title == "MFA news"
    first, second = parsed.entries
    assert first.title == "Visa talks resume in Minsk" and first.identity.startswith("guid:")
    assert first.published == datetime(2025, 8, 4, 10, 0, tzinfo=UTC)
    assert first.summary == "Consular staff return."  # HTML stripped
    # Without a GUID an item is known by its canonical link (tracking parameters and fragments dropped).
    assert second.identity == "url:https://news.example.org/a/2"
    assert feeds.canonical_url("HTTPS://News.Example.org:443/a/1?utm_source=rss&id=3#top") == (
        "https://news.example.org/a/1?id=3"
    )
    assert http.calls[0].request.headers["User-Agent"] == USER_AGENT


def test_an_atom_feed_resolves_relative_links(http):
    http.get("https://news.example.org/atom", body=ATOM, content_type="application/atom+xml")
    (entry,) = feeds.parse(fetcher().fetch("https://news.example.org/atom")).entries
    assert entry.url == "https://news.example.org/briefs/81" and entry.identity == "guid:urn:tt:81"
    assert entry.published == datetime(2025, 8, 2, 10, 0, tzinfo=UTC)


def test_an_html_page_gives_its_title_and_visible_text_and_a_change_gives_the_added_lines():
    page = b"""<html><head><title>Embassy news</title><link rel="canonical" href="https://news.example.org/emb">
    <style>p{}</style><script>var x = "not text";</script></head>
    <body><h1>News</h1><p>Ambassador met the minister.</p></body></html>"""
    parsed = feeds.parse(Fetched("https://news.example.org/emb?utm_source=x", 200, page, "text/html"))
    assert (parsed.kind, parsed.title, parsed.url) == ("page", "Embassy news", "https://news.example.org/emb")
    assert parsed.text == "News\nAmbassador met the minister."
    now = datetime(2025, 8, 5, tzinfo=UTC)
    assert feeds.page_change(parsed.url, parsed.title, None, parsed.text, now) is None  # first look: a baseline
    assert feeds.page_change(parsed.url, parsed.title, parsed.text, parsed.text, now) is None
    changed = feeds.page_change(parsed.url, parsed.title, parsed.text, parsed.text + "\nConsulate reopens.", now)
    assert changed.summary == "Consulate reopens." and changed.identity.startswith("page:https://news.example.org/emb#")
    assert feeds.page_change(parsed.url, parsed.title, parsed.text, "News", now) is None  # only removed text


def test_keywords_match_at_the_start_of_a_word_regardless_of_case():
    assert feeds.matched_keywords(("sanction", "visa regime"), "New SANCTIONS on potash") == ("sanction",)
    assert feeds.matched_keywords(("visa regime",), "the Visa regime eased") == ("visa regime",)
    assert feeds.matched_keywords(("visa",), "envisaged talks") is None
    assert feeds.matched_keywords((), "anything") == ()


# -- hostile and broken input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BOMB, "refused: the feed declares XML entities"),
        (EXTERNAL, "refused: the feed declares XML entities"),
        (b"<?xml version='1.0'?><rss><channel><title>cut off</channel>", "malformed XML"),
    ],
    ids=["entity-expansion", "external-entity", "malformed"],
)
def test_hostile_or_malformed_xml_is_refused_before_any_feed_parser_reads_it(http, body, message):
    http.get(FEED_URL, body=body, content_type="application/xml")
    with pytest.raises(FetchError, match=message):
        feeds.parse(fetcher().fetch(FEED_URL))


def test_a_body_that_is_neither_feed_nor_page_is_an_error():
    with pytest.raises(FetchError, match="neither an RSS/Atom feed nor an HTML page"):
        feeds.parse(Fetched(FEED_URL, 200, b'{"json": true}', "application/json"))


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (requests.exceptions.ConnectTimeout("slow"), "timed out"),
        (requests.exceptions.ReadTimeout("slow"), "timed out"),
        (requests.exceptions.SSLError("certificate verify failed: self-signed"), "TLS certificate error"),
        (requests.exceptions.ConnectionError("refused"), "could not connect"),
    ],
)
def test_network_failures_become_errors_that_say_what_happened(http, error, message):
    http.get(FEED_URL, body=error)
    with pytest.raises(FetchError, match=message):
        fetcher().fetch(FEED_URL)


@pytest.mark.parametrize(("status", "message"), [(404, "HTTP 404 Not Found"), (503, "HTTP 503 Service Unavailable")])
def test_http_errors_are_errors(http, status, message):
    http.get(FEED_URL, status=status, body=b"nope")
    with pytest.raises(FetchError, match=message):
        fetcher().fetch(FEED_URL)


def test_a_declared_50_mb_body_is_refused_without_reading_it(http):
    http.get(
        FEED_URL, body=b"<rss/>", headers={"Content-Length": str(50 * 1024 * 1024)}, auto_calculate_content_length=False
    )
    with pytest.raises(FetchError, match="50 MB; the limit is 5 MB"):
        fetcher().fetch(FEED_URL)


def test_a_body_that_grows_past_the_cap_is_cut_off_while_reading(http):
    http.get(FEED_URL, body=b"<rss>" + b" " * (5 * 1024 * 1024 + 10), auto_calculate_content_length=False)
    with pytest.raises(FetchError, match="larger than 5 MB"):
        fetcher().fetch(FEED_URL)


# -- conditional GET, politeness -----------------------------------------------------------------------------------


def test_validators_are_sent_and_304_means_not_modified(http):
    validators = {"If-None-Match": '"v1"', "If-Modified-Since": "Mon, 04 Aug 2025 10:00:00 GMT"}
    http.get(FEED_URL, status=304, match=[matchers.header_matcher(validators)])
    got = fetcher().fetch(FEED_URL, etag='"v1"', last_modified="Mon, 04 Aug 2025 10:00:00 GMT")
    assert got.not_modified and got.body == b""


def test_two_requests_to_one_host_are_spaced_and_other_hosts_are_not_held_up(http):
    for url in (FEED_URL, "https://news.example.org/atom", "https://mirror.example.org/rss"):
        http.get(url, body=RSS, content_type="application/rss+xml")
    clock = FakeClock()
    f = fetcher(clock=clock, spacing_seconds=2.0)
    f.fetch(FEED_URL)
    f.fetch("https://mirror.example.org/rss")
    assert clock.slept == []
    f.fetch("https://news.example.org/atom")
    assert clock.slept == [2.0]


# -- redirects ------------------------------------------------------------------------------------------------------


def test_redirects_are_followed_and_checked_hop_by_hop(http):
    http.get(FEED_URL, status=301, headers={"Location": "https://mirror.example.org/rss"})
    http.get("https://mirror.example.org/rss", body=RSS, content_type="application/rss+xml")
    got = fetcher().fetch(FEED_URL)
    assert got.url == "https://mirror.example.org/rss" and len(feeds.parse(got).entries) == 2


def test_a_redirect_loop_and_too_many_redirects_are_errors(http):
    http.get(FEED_URL, status=302, headers={"Location": "https://mirror.example.org/rss"})
    http.get("https://mirror.example.org/rss", status=302, headers={"Location": FEED_URL})
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher().fetch(FEED_URL)
    for n in range(7):
        http.get(f"https://news.example.org/hop{n}", status=307, headers={"Location": f"/hop{n + 1}"})
    with pytest.raises(FetchError, match="too many redirects"):
        fetcher().fetch("https://news.example.org/hop0")


def test_a_redirect_into_the_internal_network_is_refused_before_it_is_followed(http):
    http.get(FEED_URL, status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(FetchError, match=r"refused: 169\.254\.169\.254 is a link-local address"):
        fetcher().fetch(FEED_URL)
    assert [c.request.url for c in http.calls] == [FEED_URL]  # the metadata address was never asked


# -- the internal network ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/feed", "127.0.0.1 is a loopback address"),
        ("http://10.1.2.3/feed", "10.1.2.3 is a private address"),
        ("http://[::1]/feed", "::1 is a loopback address"),
        ("http://localhost/feed", "localhost is a loopback address"),
        ("http://192.168.0.10/feed", "192.168.0.10 is a private address"),
    ],
)
def test_internal_addresses_are_refused_without_sending_anything(http, url, why):
    with pytest.raises(FetchError, match=f"refused: {why}"):
        fetcher().fetch(url)
    assert len(http.calls) == 0
    assert literal_refusal(url) == why


def test_a_name_whose_dns_answer_is_private_is_refused():
    f = fetcher(resolve=lambda host: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(FetchError, match=r"intranet.example.org resolves to 10.0.0.7, a private address"):
        f.fetch("https://intranet.example.org/feed")


def test_allow_private_lets_intranet_sources_through(http):
    http.get("http://10.1.2.3/feed", body=RSS, content_type="application/rss+xml")
    got = fetcher(allow_private=True).fetch("http://10.1.2.3/feed")
    assert len(feeds.parse(got).entries) == 2


def test_what_counts_as_internal():
    assert refused_address("::ffff:127.0.0.1") == "a loopback address"  # IPv4-mapped
    assert refused_address("100.64.0.1") == "a non-public address"  # carrier-grade NAT
    assert refused_address("0.0.0.0") is not None
    assert refused_address("93.184.216.34") is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://news.example.org/rss", "only http:// and https://"),
        ("https://user:pw@news.example.org/rss", "user name or password"),
        ("https:///rss", "no host"),
    ],
)
def test_urls_that_cannot_be_watched(url, message):
    with pytest.raises(FetchError, match=message):
        fetcher().fetch(url)


def test_a_page_in_windows_1251_is_read_in_its_own_encoding():
    page = '<html><head><meta charset="windows-1251"><title>МИД</title></head><body><p>Визы</p></body></html>'
    parsed = feeds.parse(Fetched("https://mfa.example.by/", 200, page.encode("cp1251"), "text/html"))
    assert (parsed.title, parsed.text) == ("МИД", "Визы")
    parsed = feeds.parse(
        Fetched("https://mfa.example.by/", 200, "<p>Визы</p>".encode("cp1251"), "text/html; charset=cp1251")
    )
    assert parsed.text == "Визы"


def test_a_huge_page_is_compared_on_a_stable_prefix():
    body = ("<p>" + "x" * 80 + "</p>") * 3000
    first = feeds.parse(Fetched("https://news.example.org/p", 200, body.encode(), "text/html")).text
    assert len(first) <= feeds.MAX_PAGE_TEXT_CHARS
    again = feeds.parse(Fetched("https://news.example.org/p", 200, body.encode(), "text/html")).text
    assert feeds.page_change("u", "t", first, again, datetime.now(UTC)) is None


# -- real connections (a loopback server; no `responses`) ---------------------------------------------------------


@pytest.fixture
def feed_server():
    """A loopback HTTP server serving RSS with an ETag (304 when it matches); records every request path."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", str(len(RSS)))
            self.end_headers()
            self.wfile.write(RSS)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_an_intranet_feed_is_fetched_over_a_real_connection_when_allowed(feed_server):
    port, seen = feed_server
    f = Fetcher(allow_private=True, resolve=lambda host: ["127.0.0.1"], sleep=lambda s: None)
    got = f.fetch(f"http://intranet.example.org:{port}/feed")
    assert len(feeds.parse(got).entries) == 2 and got.etag == '"v1"'
    assert f.fetch(f"http://127.0.0.1:{port}/feed", etag=got.etag).not_modified
    assert seen == ["/feed", "/feed"]


def test_a_dns_answer_that_turns_private_after_the_check_is_refused_at_the_connection(feed_server):
    port, seen = feed_server
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public for the check, loopback for the connection
    f = Fetcher(resolve=lambda host: next(answers), sleep=lambda s: None)
    with pytest.raises(FetchError, match=r"refused: rebind.example.org resolves to 127\.0\.0\.1, a loopback"):
        f.fetch(f"http://rebind.example.org:{port}/feed")
    assert seen == []  # nothing reached the internal service


def test_a_source_that_asks_to_wait_says_how_long(http):
    http.get(FEED_URL, status=429, headers={"Retry-After": "7200"})
    with pytest.raises(FetchError, match="HTTP 429 Too Many Requests; it asks to wait 7200 s") as e:
        fetcher().fetch(FEED_URL)
    assert e.value.retry_after == 7200
    from handlers.fetch import retry_after

    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None  # in the past
    assert retry_after("999999") == 24 * 3600 and retry_after("soon") is None and retry_after(None) is None
