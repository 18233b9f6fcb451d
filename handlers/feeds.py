"""What a fetched source says: the entries of an RSS or Atom feed (feedparser), or an HTML page's title and text
(the standard library's HTMLParser); and which of a source's keywords an item matches.

Hostile XML is refused before any feed parser sees it: defusedxml parses the document with entity declarations
and external references forbidden, so an entity-expansion bomb or an external entity (a local file, an internal
URL) is an error recorded on the source, never expanded or fetched. Malformed XML is an error as well: a feed that
is not well-formed is reported, not guessed at.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

import defusedxml
import feedparser
from defusedxml import ElementTree as SafeET

from handlers.fetch import Fetched, FetchError

MAX_ENTRIES = 100  # per poll; feeds list their newest first
MAX_SUMMARY_CHARS = 600
MAX_CHANGE_CHARS = 1500
MAX_PAGE_TEXT_CHARS = 100_000  # what is kept of a page to compare the next poll with (store/watch.py keeps as much)
_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|yclid)$", re.I)
_CHARSET = re.compile(rb"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)
_FEED_ROOT = re.compile(rb"<(rss|feed|rdf:rdf)[\s>]", re.I)
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "iframe"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "article", "header", "footer", "nav", "main", "aside", "blockquote", "pre", "hr", "table",
}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    identity: str  # "guid:…" (the feed's GUID) or "url:…" (the canonical link): what makes it the same item
    url: str | None
    title: str
    summary: str
    published: datetime | None  # UTC


@dataclass(frozen=True)
class Parsed:
    kind: str  # feed | page
    title: str
    entries: list[Entry]
    text: str | None = None  # a page's visible text, one line per block
    url: str | None = None  # a page's canonical URL


def parse(fetched: Fetched) -> Parsed:
    kind = sniff(fetched.body, fetched.content_type)
    if kind == "feed":
        return parse_feed(fetched.body, fetched.url, fetched.content_type)
    return parse_page(fetched.body, fetched.url, fetched.content_type)


def sniff(body: bytes, content_type: str) -> str:
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    ctype = content_type.split(";")[0].strip().lower()
    if _FEED_ROOT.search(head) or ctype in ("application/rss+xml", "application/atom+xml", "application/rdf+xml"):
        return "feed"
    if "html" in ctype or re.search(rb"<(!doctype html|html)[\s>]", head, re.I):
        return "page"
    if ctype.endswith("xml") or head.startswith(b"<?xml"):
        return "feed"
    raise FetchError(f"neither an RSS/Atom feed nor an HTML page (Content-Type {ctype or 'none'})")


def screen_xml(body: bytes) -> None:
    """Refuse XML that declares entities or references external ones, and XML that is not well-formed."""
    try:
        SafeET.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        raise FetchError("refused: the feed declares XML entities (an entity-expansion attack is possible)") from exc
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden) as exc:
        raise FetchError("refused: the feed refers to external XML entities") from exc
    except ParseError as exc:
        raise FetchError(f"malformed XML: {exc}") from exc
    except defusedxml.DefusedXmlException as exc:
        raise FetchError(f"refused unsafe XML: {exc}") from exc


def parse_feed(body: bytes, url: str, content_type: str = "") -> Parsed:
    screen_xml(body)
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # A stream, never bytes or str: feedparser would try a str as a URL and bytes as a file name.
    doc = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=True)
    if not doc.get("version") and not doc.entries:
        reason = doc.get("bozo_exception")
        raise FetchError(f"not an RSS or Atom feed{f': {reason}' if reason else ''}")
    entries = []
    for e in doc.entries[:MAX_ENTRIES]:
        link = e.get("link") or None
        link = urljoin(url, link) if link else None
        title = _one_line(e.get("title") or "")
        guid = (e.get("id") or "").strip()
        if guid:
            identity = f"guid:{guid}"
        elif link:
            identity = f"url:{canonical_url(link)}"
        elif title:
            identity = f"title:{title}"
        else:
            continue  # nothing to tell it by, nothing to show
        when = e.get("published_parsed") or e.get("updated_parsed")
        published = datetime(*when[:6], tzinfo=UTC) if when else None
        summary = _clip(html_text(e.get("summary") or ""), MAX_SUMMARY_CHARS)
        entries.append(Entry(identity, link, title or (link or ""), summary, published))
    return Parsed("feed", _one_line(doc.feed.get("title") or ""), entries)


def parse_page(body: bytes, url: str, content_type: str = "") -> Parsed:
    text = body.decode(_charset(body, content_type), errors="replace")
    page = _PageText()
    page.feed(text)
    page.close()
    canonical = canonical_url(urljoin(url, page.canonical)) if page.canonical else canonical_url(url)
    text = page.text()
    if len(text) > MAX_PAGE_TEXT_CHARS:  # cut at a line, the same way every poll, so an unchanged page compares equal
        text = text[:MAX_PAGE_TEXT_CHARS].rsplit("\n", 1)[0]
    return Parsed("page", _one_line(page.title), [], text=text, url=canonical)


def page_change(url: str, title: str, previous: str | None, text: str, when: datetime) -> Entry | None:
    """The item for a changed page: the lines it gained since `previous` (None for the first poll, which only
    takes the page as it is, and for a change that only removed text)."""
    if previous is None or previous == text:
        return None
    before = set(previous.splitlines())
    added = [line for line in text.splitlines() if line not in before]
    if not added:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    summary = _clip(" · ".join(added), MAX_CHANGE_CHARS)
    return Entry(f"page:{url}#{digest}", None, title or url, summary, when)


def matched_keywords(keywords: tuple[str, ...], *texts: str) -> tuple[str, ...] | None:
    """The keywords found in the texts (a keyword matches at the start of a word, case-insensitive, so
    `sanction` finds "sanctions"); () when the source has none (everything matches); None when none matched."""
    if not keywords:
        return ()
    haystack = " ".join(texts)
    found = tuple(k for k in keywords if re.search(r"(?<!\w)" + re.escape(k), haystack, re.I))
    return found or None


def canonical_url(url: str) -> str:
    """One spelling per address: lower-case scheme and host, no default port, no fragment, no tracking
    parameters (utm_*, fbclid, …)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", query, ""))


def html_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed entry's summary), on one line."""
    page = _PageText(whole_page=False)
    page.feed(fragment)
    page.close()
    return _one_line(" ".join(page.text().splitlines()))


class _PageText(HTMLParser):
    def __init__(self, whole_page: bool = True):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.canonical: str | None = None
        self._lines: list[str] = [""]
        self._skip = 0
        self._in_title = False
        self._whole = whole_page

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "link" and "canonical" in (a.get("rel") or "").lower().split() and a.get("href"):
            self.canonical = a["href"]
        elif tag in _SKIP_TAGS and (self._whole or tag != "head"):
            self._skip += 1
        if tag in _BLOCK_TAGS:
            self._lines.append("")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS and self._skip and (self._whole or tag != "head"):
            self._skip -= 1
        if tag in _BLOCK_TAGS:
            self._lines.append("")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._lines[-1] += data

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in self._lines)
        return "\n".join(line for line in lines if line)


def _charset(body: bytes, content_type: str) -> str:
    """The page's encoding: the Content-Type's charset, else a <meta> charset, else UTF-8 (many ministry sites
    still serve windows-1251)."""
    m = _CHARSET.search(content_type.encode("ascii", "ignore")) or _CHARSET.search(body[:4096])
    name = m.group(1).decode("ascii", "ignore") if m else "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
