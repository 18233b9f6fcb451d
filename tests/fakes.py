"""A loopback fake of the Slack Web API (reached through SLACK_API_URL) and of response_url endpoints.

Like bolt-python's own mock server, but bound to port 0, with per-method scripted failures and a record of
every request, so tests assert on what crossed the HTTP boundary rather than on patched functions.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse


@dataclass
class Call:
    method: str  # Web API method ("chat.postMessage") or "response_url"
    path: str
    headers: dict[str, str]
    body: dict

    def json_field(self, name: str):
        value = self.body.get(name)
        return json.loads(value) if isinstance(value, str) else value


@dataclass
class Scripted:
    status: int = 200
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # record the call, then close the connection without answering
    after_answer: bool = False  # do the call's normal work first (a post is posted), then answer as scripted


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.usergroups: dict[str, list[str]] = {}
        # users.info: user id → its time zone (users.info answers user_not_found for anyone else)
        self.users: dict[str, str] = {}
        self.history: dict[str, list[dict]] = {}
        self._script: dict[str, list[Scripted]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                fake._handle(self)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> FakeSlack:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # -- scripting and inspection -----------------------------------------------------------------------
    def script(self, method: str, *responses: Scripted) -> None:
        """The next calls of `method` get these answers, in order; later calls are answered normally."""
        with self._lock:
            self._script.setdefault(method, []).extend(responses)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 3.0) -> list[Call]:
        """Poll until `count` calls of `method` arrived (listeners may answer after the HTTP response)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.calls_to(method)
            if len(calls) >= count:
                return calls
            time.sleep(0.01)
        return self.calls_to(method)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._script.clear()

    # -- the server side --------------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlparse(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length).decode("utf-8") if length else ""
        ctype = req.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and raw:
            body = json.loads(raw)
        else:
            body = dict(parse_qsl(raw, keep_blank_values=True))
        body.update(dict(parse_qsl(url.query)))
        method = "response_url" if url.path.startswith("/response/") else url.path.rsplit("/", 1)[-1]
        call = Call(method, url.path, {k.lower(): v for k, v in req.headers.items()}, body)
        with self._lock:
            self.calls.append(call)
            scripted = self._script.get(method, [])
            step = scripted.pop(0) if scripted else None
        if step and step.after_answer:
            self._answer(method, body)
        if step and step.drop:
            req.close_connection = True
            req.connection.shutdown(2)
            return
        if step:
            status, payload, headers = step.status, step.body or {"ok": False, "error": "scripted"}, step.headers
        else:
            status, payload, headers = 200, self._answer(method, body), {}
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _answer(self, method: str, body: dict) -> dict:
        channel = body.get("channel", "C0")
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team_id": "T1",
                "team": "Policy",
                "url": "https://policy.slack.com/",
            }
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            message = {"ts": ts, "text": body.get("text"), "bot_id": "BBOT"}
            if body.get("metadata"):
                message["metadata"] = body.get("metadata")
            if body.get("thread_ts"):
                message["thread_ts"] = body.get("thread_ts")
            with self._lock:
                self.history.setdefault(channel, []).insert(0, message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": body.get("ts")}
        if method == "chat.getPermalink":
            ts = str(body.get("message_ts", "")).replace(".", "")
            return {"ok": True, "channel": channel, "permalink": f"https://policy.slack.com/archives/{channel}/p{ts}"}
        if method == "users.info":
            user = body.get("user")
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "name": user.lower(), "tz": self.users[user]}}
        if method == "usergroups.list":
            groups = [{"id": g, "handle": g.lower(), "users": list(u)} for g, u in self.usergroups.items()]
            return {"ok": True, "usergroups": groups}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(body.get("users", "")).lstrip("UW")}}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V1"}}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroups.get(body.get("usergroup"), [])}
        if method == "conversations.history":
            with self._lock:
                return {"ok": True, "messages": list(self.history.get(channel, [])), "has_more": False}
        if method == "conversations.replies":
            with self._lock:
                thread = [m for m in self.history.get(channel, []) if body.get("ts") in (m["ts"], m.get("thread_ts"))]
            return {"ok": True, "messages": thread[::-1], "has_more": False}
        return {"ok": True}
