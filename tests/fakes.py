"""A loopback fake of the Slack Web API (reached through SLACK_API_URL) and of response_url endpoints.

Like bolt-python's own mock server, but bound to port 0, with per-method scripted failures and a record of
every request, so tests assert on what crossed the HTTP boundary rather than on patched functions.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlparse


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
        # Canvases: id → its sections in order, each {"id", "markdown"}; a heading starts a section (as in Slack,
        # whose sections.lookup finds headings), and `replace` swaps one section for the new content's.
        self.canvases: dict[str, list[dict]] = {}
        self.channel_canvases: dict[str, str] = {}
        self._section_ids = itertools.count(1)
        # files_upload_v2: files.getUploadURLExternal → POST /upload/<id> (bytes) → files.completeUploadExternal
        self.pending_uploads: dict[str, dict] = {}
        self.files: list[dict] = []  # shared files: id, filename, title, alt_txt, channel, initial_comment, content
        self._script: dict[str, list[Scripted]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        # Sign in with Slack: the app's credentials, who signs in at the authorize page, codes and tokens issued.
        self.client_id, self.client_secret = "111.222", "client-secret"
        self.oidc_user: dict = {"user_id": "U100", "name": "Ada Analyst", "team_id": "T1"}
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, dict] = {}
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

    @property
    def authorize_url(self) -> str:
        """Slack's OpenID Connect authorize page, faked: it signs `oidc_user` in at once and redirects back."""
        return f"http://127.0.0.1:{self.port}/openid/connect/authorize"

    def issue_code(self, user: dict | None = None) -> str:
        """A one-time code as Slack's authorize page would hand back for `user` (default: `oidc_user`)."""
        code = "code-" + secrets.token_hex(8)
        with self._lock:
            self._codes[code] = dict(user or self.oidc_user)
        return code

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

    def canvas_markdown(self, canvas_id: str) -> str:
        with self._lock:
            return "".join(section["markdown"] for section in self.canvases[canvas_id])

    def _sections(self, markdown: str) -> list[dict]:
        sections: list[dict] = []
        for line in markdown.splitlines(keepends=True):
            if line.startswith("#") or not sections:
                sections.append({"id": f"temp:C:S{next(self._section_ids):06d}", "markdown": ""})
            sections[-1]["markdown"] += line
        return sections

    def _canvas_answer(self, method: str, body: dict) -> dict:
        def field(name):
            value = body.get(name)
            return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value

        with self._lock:
            if method == "conversations.canvases.create":
                channel = body.get("channel_id")
                if channel in self.channel_canvases:
                    return {"ok": False, "error": "channel_canvas_already_exists"}
                canvas_id = f"F{len(self.canvases) + 1:08d}"
                self.canvases[canvas_id] = self._sections(field("document_content")["markdown"])
                self.channel_canvases[channel] = canvas_id
                return {"ok": True, "canvas_id": canvas_id}
            canvas = self.canvases.get(body.get("canvas_id"))
            if canvas is None:
                return {"ok": False, "error": "canvas_not_found"}
            if method == "canvases.sections.lookup":
                text = field("criteria").get("contains_text", "")
                found = [s for s in canvas if s["markdown"].startswith("#") and text in s["markdown"].split("\n")[0]]
                return {"ok": True, "sections": [{"id": s["id"]} for s in found]}
            (change,) = field("changes")
            new = self._sections(change["document_content"]["markdown"]) if "document_content" in change else []
            at = [i for i, s in enumerate(canvas) if s["id"] == change.get("section_id")]
            if change["operation"] == "insert_at_end":
                canvas.extend(new)
            elif not at:
                return {"ok": False, "error": "invalid_section_id"}
            elif change["operation"] == "replace":
                canvas[at[0] : at[0] + 1] = new
            return {"ok": True}

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._script.clear()

    def upload_url(self, file_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/upload/{file_id}"

    # -- the server side --------------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlparse(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        data = req.rfile.read(length) if length else b""
        if url.path.startswith("/upload/"):  # the bytes of a file (files_upload_v2's second step)
            return self._handle_upload(req, url.path.rsplit("/", 1)[-1], data)
        raw = data.decode("utf-8")
        ctype = req.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and raw:
            body = json.loads(raw)
        else:
            body = dict(parse_qsl(raw, keep_blank_values=True))
        body.update(dict(parse_qsl(url.query)))
        method = "response_url" if url.path.startswith("/response/") else url.path.rsplit("/", 1)[-1]
        call = Call(method, url.path, {k.lower(): v for k, v in req.headers.items()}, body)
        if url.path == "/openid/connect/authorize":
            with self._lock:
                self.calls.append(call)
            return self._authorize(req, body)
        with self._lock:
            self.calls.append(call)
            scripted = self._script.get(method, [])
            step = scripted.pop(0) if scripted else None
        if step and step.after_answer:
            self._answer(method, body, call.headers)
        if step and step.drop:
            req.close_connection = True
            req.connection.shutdown(2)
            return
        if step:
            status, payload, headers = step.status, step.body or {"ok": False, "error": "scripted"}, step.headers
        else:
            status, payload, headers = 200, self._answer(method, body, call.headers), {}
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def _authorize(self, req: BaseHTTPRequestHandler, query: dict) -> None:
        ok = (
            query.get("client_id") == self.client_id
            and query.get("response_type") == "code"
            and "openid" in query.get("scope", "").split()
            and query.get("redirect_uri", "").startswith("http")
        )
        if not ok:
            req.send_response(400)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        back = {"code": self.issue_code(), "state": query.get("state", "")}
        req.send_response(302)
        req.send_header("Location", f"{query['redirect_uri']}?{urlencode(back)}")
        req.send_header("Content-Length", "0")
        req.end_headers()

    def _openid(self, method: str, body: dict, headers: dict) -> dict:
        if method == "openid.connect.token":
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if headers.get("authorization") != f"Basic {expected}":
                return {"ok": False, "error": "invalid_client_id"}
            with self._lock:
                user = self._codes.pop(body.get("code", ""), None)  # a code works once
            if user is None:
                return {"ok": False, "error": "invalid_code"}
            token = "xoxp-oidc-" + secrets.token_hex(8)
            with self._lock:
                self._tokens[token] = user
            return {"ok": True, "access_token": token, "token_type": "Bearer", "id_token": "not.checked.here"}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            user = self._tokens.get(token)
        if user is None:
            return {"ok": False, "error": "invalid_auth"}
        return {
            "ok": True,
            "sub": user["user_id"],
            "https://slack.com/user_id": user["user_id"],
            "https://slack.com/team_id": user["team_id"],
            "name": user["name"],
        }

    def _handle_upload(self, req: BaseHTTPRequestHandler, file_id: str, content: bytes) -> None:
        call = Call("file_upload", f"/upload/{file_id}", {k.lower(): v for k, v in req.headers.items()}, {})
        with self._lock:
            self.calls.append(call)
            scripted = self._script.get("file_upload", [])
            step = scripted.pop(0) if scripted else None
            if step is None and file_id in self.pending_uploads:
                self.pending_uploads[file_id]["content"] = content
        status, text = (step.status, b"scripted") if step else (200, f"OK - {len(content)}".encode())
        req.send_response(status)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Content-Length", str(len(text)))
        req.end_headers()
        req.wfile.write(text)

    def _answer(self, method: str, body: dict, headers: dict | None = None) -> dict:
        channel = body.get("channel", "C0")
        if method.startswith("openid.connect."):
            return self._openid(method, body, headers or {})
        if method.startswith("canvases.") or method == "conversations.canvases.create":
            return self._canvas_answer(method, body)
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
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):07d}"
            with self._lock:
                self.pending_uploads[file_id] = dict(
                    id=file_id, filename=body.get("filename"), alt_txt=body.get("alt_txt"), length=body.get("length")
                )
            return {"ok": True, "upload_url": self.upload_url(file_id), "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = body.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            shared = []
            with self._lock:
                for f in files:
                    pending = self.pending_uploads.pop(f["id"], {"id": f["id"]})
                    pending.update(
                        title=f.get("title"),
                        channel=body.get("channel_id"),
                        thread_ts=body.get("thread_ts"),
                        initial_comment=body.get("initial_comment"),
                    )
                    self.files.append(pending)
                    shared.append(
                        {
                            "id": f["id"],
                            "title": f.get("title"),
                            "permalink": f"https://policy.slack.com/files/{f['id']}",
                        }
                    )
            return {"ok": True, "files": shared}
        return {"ok": True}
