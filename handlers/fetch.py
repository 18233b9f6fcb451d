"""Fetching a watched source over HTTP(S) with `requests`, politely and safely.

- Timeouts (connect and read) and an overall deadline, a size cap (checked on Content-Length and while reading),
  at most MAX_REDIRECTS redirects followed by hand (a loop is named as one), conditional GET (ETag and
  Last-Modified → 304), a pause between two requests to the same host, and a User-Agent that says who we are.
- No probing of the internal network: before every request, the first and every redirect hop, the host is
  resolved and refused when any of its addresses is loopback, private, link-local, reserved, multicast or
  unspecified (`allow_private` lifts this, for intranet sources and tests: ROADMAP_WATCH_ALLOW_PRIVATE=1).
  The connection itself is pinned to addresses that passed the same check (handlers/pinned.py), so a DNS answer
  that changes between the check and the connection (rebinding) is refused too.
Every failure is a FetchError whose message is fit to show in `watch list`.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests

from handlers.pinned import RefusedAddress, pinned_adapter, refusal_in

USER_AGENT = "RoadmapBot/0.1 (source watch of a Slack roadmap bot; polls every 15 min; honours ETag/304)"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
TOTAL_SECONDS = 30.0
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
HOST_SPACING_SECONDS = 2.0
MAX_URL_CHARS = 2000
MAX_RETRY_AFTER_SECONDS = 24 * 3600
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024

Resolver = Callable[[str], list[str]]


class FetchError(Exception):
    """A fetch that did not give a usable body; the message says why, for `watch list`. `retry_after` is how
    many seconds the source asked us to wait (429 or 503 with Retry-After), if it did."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int  # 200, or 304 when the source has not changed since the validators we sent
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def system_resolver(host: str) -> list[str]:
    """Every address the host resolves to (socket.getaddrinfo)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from exc
    return sorted({info[4][0] for info in infos})


def refused_address(address: str) -> str | None:
    """Why an address may not be fetched by default (None: it is a public address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for attr, what in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_private", "a private"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(ip, attr):
            return f"{what} address"
    if not ip.is_global:
        return "a non-public address"
    return None


def check_url(url: str) -> tuple[str, str]:
    """(scheme, host) of an http(s) URL, or FetchError saying what is wrong with it."""
    if len(url) > MAX_URL_CHARS:
        raise FetchError(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise FetchError(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise FetchError("only http:// and https:// sources can be watched")
    if not host:
        raise FetchError("the URL has no host")
    if parts.username or parts.password:
        raise FetchError("a URL with a user name or password is not accepted (it would be shown in Slack)")
    return parts.scheme, host


def literal_refusal(url: str) -> str | None:
    """Without any DNS lookup: why this URL's host is refused by default (an IP literal or `localhost`)."""
    _, host = check_url(url)
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return f"{host} is a loopback address"
    try:
        why = refused_address(host)
    except ValueError:
        return None  # a name, resolved at fetch time
    return f"{host} is {why}" if why else None


class Fetcher:
    """One per process; safe to share between threads (the per-host pause is kept under a lock)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolve: Resolver = system_resolver,
        session: requests.Session | None = None,
        max_bytes: int = MAX_BYTES,
        spacing_seconds: float = HOST_SPACING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.allow_private = allow_private
        self.resolve = resolve
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # No proxies or .netrc credentials from the environment: a proxy would resolve hosts itself (around the
        # pinned connections below), and .netrc could hand credentials to a host an editor typed.
        self.session.trust_env = False
        adapter = pinned_adapter(self._connectable)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.max_bytes = max_bytes
        self.spacing = spacing_seconds
        self.clock, self.sleep = clock, sleep
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def guard(self, url: str) -> None:
        """Refuse a URL whose host is (or resolves to) an internal address, unless private ones are allowed."""
        _, host = check_url(url)
        if self.allow_private:
            return
        literal = literal_refusal(url)
        if literal:
            raise FetchError(f"refused: {literal} (set ROADMAP_WATCH_ALLOW_PRIVATE=1 to allow internal sources)")
        for address in self.resolve(host):
            why = refused_address(address)
            if why:
                raise FetchError(
                    f"refused: {host} resolves to {address}, {why} "
                    "(set ROADMAP_WATCH_ALLOW_PRIVATE=1 to allow internal sources)"
                )

    def _connectable(self, host: str) -> list[str]:
        """The addresses a connection to `host` may use (the pinned adapter connects to one of these only)."""
        try:
            addresses = [host] if _is_ip(host) else self.resolve(host)
        except FetchError as exc:
            raise RefusedAddress(str(exc)) from exc
        if not self.allow_private:
            for address in addresses:
                why = refused_address(address)
                if why:
                    raise RefusedAddress(
                        f"refused: {host} resolves to {address}, {why} "
                        "(set ROADMAP_WATCH_ALLOW_PRIVATE=1 to allow internal sources)"
                    )
        return addresses

    def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml, text/html;q=0.9"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = self.clock() + TOTAL_SECONDS
        seen = [url]
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self.guard(current)
            self._pause(current)
            response = self._get(current, headers)
            try:
                if response.status_code in _REDIRECTS and response.headers.get("Location"):
                    nxt = urljoin(current, response.headers["Location"])
                    if nxt in seen:
                        raise FetchError(f"redirect loop: {current} → {nxt}")
                    seen.append(nxt)
                    current = nxt
                    continue
                return self._finish(current, response, deadline)
            finally:
                response.close()
        raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")

    def _get(self, url: str, headers: dict) -> requests.Response:
        try:
            return self.session.get(
                url, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False, stream=True
            )
        except requests.exceptions.SSLError as exc:
            raise FetchError(f"TLS certificate error: {_short(exc)}") from exc
        except requests.exceptions.Timeout as exc:
            raise FetchError(f"timed out (connect {CONNECT_TIMEOUT:g} s, read {READ_TIMEOUT:g} s)") from exc
        except requests.exceptions.ConnectionError as exc:
            refused = refusal_in(exc)
            raise FetchError(refused or f"could not connect: {_short(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"could not connect: {_short(exc)}") from exc

    def _finish(self, url: str, response: requests.Response, deadline: float) -> Fetched:
        status = response.status_code
        if status == 304:
            return Fetched(
                url, 304, etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified")
            )
        if status >= 400:
            wait = retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
            said = f"; it asks to wait {wait} s" if wait else ""
            raise FetchError(f"HTTP {status} {response.reason or ''}".strip() + said, retry_after=wait)
        if status != 200:
            raise FetchError(f"unexpected HTTP {status}")
        limit_mb = f"{self.max_bytes / 1024 / 1024:g} MB"
        try:
            declared = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_bytes:
            raise FetchError(f"the response is {declared / 1024 / 1024:.0f} MB; the limit is {limit_mb}")
        body = bytearray()
        try:
            for chunk in response.iter_content(_CHUNK):
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    raise FetchError(f"the response is larger than {limit_mb}; not read further")
                if self.clock() > deadline:
                    raise FetchError(f"the response took longer than {TOTAL_SECONDS:g} s to arrive")
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"the connection broke while reading: {_short(exc)}") from exc
        return Fetched(
            url,
            200,
            bytes(body),
            content_type=response.headers.get("Content-Type", ""),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )

    def _pause(self, url: str) -> None:
        """Space two requests to the same host by `spacing` seconds (politeness; per process)."""
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            now = self.clock()
            wait = self._last.get(host, now - self.spacing) + self.spacing - now
            self._last[host] = now + max(wait, 0)
        if wait > 0:
            self.sleep(wait)


def retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (a number or an HTTP date), at most a day; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = int((when - datetime.now(UTC)).total_seconds())
    return min(seconds, MAX_RETRY_AFTER_SECONDS) if seconds > 0 else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:199] + "…"
