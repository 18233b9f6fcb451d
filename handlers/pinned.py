"""A `requests` adapter whose connections go only to addresses that passed the internal-network check.

Checking a host's DNS answer and then letting urllib3 resolve it again leaves a gap: a name can answer with a
public address for the check and a private one for the connection (DNS rebinding). Here the connection itself
resolves the host once, checks every address, and connects to a checked one; TLS still verifies the certificate
against the host name (urllib3 wraps the socket with server_hostname = the URL's host).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

# host → the addresses it may be connected to (raises RefusedAddress, or returns [] when it cannot resolve)
Checker = Callable[[str], list[str]]


class RefusedAddress(Exception):
    """The host resolved to an address the fetcher may not connect to; the message says which and why."""


class _Refused(NewConnectionError):
    """Carries a RefusedAddress through urllib3 and requests, which wrap connection errors twice."""

    def __init__(self, conn, message: str):
        super().__init__(conn, message)
        self.refusal = message


def _pinned_new_conn(self) -> socket.socket:
    try:
        addresses = self._roadmap_check(self._dns_host)
    except RefusedAddress as exc:
        raise _Refused(self, str(exc)) from exc
    last: OSError | None = None
    for address in addresses:
        try:
            return connection.create_connection(
                (address, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            last = exc
    raise NewConnectionError(self, f"Failed to establish a new connection: {last or 'no address'}")


def pinned_adapter(check: Checker) -> HTTPAdapter:
    """An adapter for http:// and https:// whose every new connection goes through `check`."""

    class Conn(HTTPConnection):
        _roadmap_check = staticmethod(check)
        _new_conn = _pinned_new_conn

    class TLSConn(HTTPSConnection):
        _roadmap_check = staticmethod(check)
        _new_conn = _pinned_new_conn

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}

    return Adapter()


def refusal_in(exc: BaseException) -> str | None:
    """The RefusedAddress message inside a requests ConnectionError (wrapped by MaxRetryError), if any."""
    seen = 0
    pending: list[BaseException | None] = [exc]
    while pending and seen < 10:
        e = pending.pop()
        seen += 1
        if e is None:
            continue
        if isinstance(e, _Refused):
            return e.refusal
        pending += [getattr(e, "reason", None), e.__cause__, e.__context__]
        pending += [a for a in e.args if isinstance(a, BaseException)]
    return None
