"""A loopback TCP proxy in front of the test PostgreSQL, so a test can take "the database" down and bring it back
without stopping the server other engineers' tests share.

- `down()`: existing connections are cut and the port refuses new ones (a stopped server).
- `hang()`: existing connections are cut and new ones are accepted but never answered (a server that is up but
  not responding, or a half-open network): only the client's connect timeout saves the request.
- `up()`: the same port forwards again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "up"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    # -- control ---------------------------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        return self

    def up(self) -> None:
        self.mode = "up"
        if self._listener is None:
            self._listen()

    def down(self) -> None:
        self.mode = "down"
        self._close_listener()
        self.cut()

    def hang(self) -> None:
        self.cut()
        self.mode = "hang"
        if self._listener is None:
            self._listen()

    def cut(self) -> None:
        """Close every proxied connection, as a server restart or a network cut would."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self.mode = "down"
        self._close_listener()
        self.cut()

    # -- the proxy itself -----------------------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after down(), so the URL stays valid
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._track(client)
            if self.mode == "hang":
                continue  # hold the connection open and say nothing
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._track(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._open.add(s)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
