"""The Procfile's web process on a loopback port, a keep-alive signed-HTTP client, and resident memory."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.slack_requests import SIGNING_SECRET, command_body, sign

ROOT = Path(__file__).resolve().parent.parent
APP_SPEC = "'bot.web:application()'"


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("Procfile has no web: process")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _expand(command: str, env: dict[str, str]) -> str:
    """Shell-style $VAR and ${VAR:-default}, as the platform's shell would expand the Procfile line."""
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), command)
    return re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), command)


class WebProcess:
    """gunicorn exactly as the Procfile starts it, bound to a free loopback port instead of 0.0.0.0.

    `app_spec` swaps the WSGI app (the floor) while every gunicorn flag stays the Procfile's own.
    """

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, app_spec: str = APP_SPEC):
        self.name = name
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROADMAP_")}
        self.env.update(env, PORT=str(self.port), PYTHONPATH=str(ROOT))
        line = procfile_web().replace(APP_SPEC, app_spec).replace("0.0.0.0:", "127.0.0.1:")
        self.argv = shlex.split(_expand(line, self.env))
        self.log_path = log_dir / f"gunicorn-{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def __enter__(self) -> WebProcess:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        argv = [str(gunicorn) if self.argv[0] == "gunicorn" and gunicorn.exists() else self.argv[0], *self.argv[1:]]
        self._log = open(self.log_path, "w")  # closed in __exit__
        self.proc = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name}: gunicorn exited ({self.proc.returncode}); see {self.log_path}")
            if len(self.workers()) >= _workers(self.argv) and _listening(self.port):
                return self
            time.sleep(0.1)
        raise SystemExit(f"{self.name}: gunicorn did not start within 60 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def workers(self) -> list[int]:
        if self.proc is None:
            return []
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    out.append(int(entry.name))
        return sorted(out)

    def rss(self) -> dict:
        """Resident memory (VmRSS) of the master and of each worker, in MB."""
        master = _rss_mb(self.proc.pid)
        workers = [_rss_mb(p) for p in self.workers()]
        return {"master_mb": master, "workers_mb": workers, "total_mb": round(master + sum(workers), 1)}


def _workers(argv: list[str]) -> int:
    for flag in ("--workers", "-w"):
        if flag in argv:
            return int(argv[argv.index(flag) + 1])
    return 1


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# -- the client -----------------------------------------------------------------------------------------------


@dataclass
class Timing:
    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        ms = sorted(x * 1000 for x in samples)
        q = statistics.quantiles(ms, n=100, method="inclusive")
        return cls(len(ms), round(q[49], 2), round(q[94], 2), round(statistics.fmean(ms), 2), round(ms[0], 2))


# The writes an answer is timed right after ({i}: the request's number): a development where the answer shows
# it (the commonest write), and a status change, after which the counts of steps and pairs are recomputed.
DEVELOPMENT_WRITE = "log security bench write {i}"
STATUS_WRITE = "set SEC-100 {status}"
STATUSES = ("in_progress", "stalled")


class SlackClient:
    """One keep-alive connection, sending requests exactly as Slack does (v0 signature over the raw body)."""

    def __init__(self, port: int, secret: str = SIGNING_SECRET):
        self.port, self.secret = port, secret
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def close(self) -> None:
        self.conn.close()

    def post(self, body: str, content_type: str) -> tuple[int, bytes, float]:
        """(status, body, seconds from the first byte sent to the last byte read)."""
        headers = {"Content-Type": content_type, **sign(body, secret=self.secret)}
        data = body.encode()
        t0 = time.perf_counter()
        try:
            self.conn.request("POST", "/slack/events", data, headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        except (http.client.HTTPException, OSError):
            # gunicorn closed an idle keep-alive connection: reconnect and send again (not timed twice).
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            t0 = time.perf_counter()
            self.conn.request("POST", "/slack/events", data, headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        elapsed = time.perf_counter() - t0
        return resp.status, payload, elapsed

    def command(self, text: str) -> tuple[int, dict, float]:
        status, payload, elapsed = self.post(command_body(text), "application/x-www-form-urlencoded")
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            data = {"raw": payload.decode(errors="replace")}
        return status, data, elapsed

    def measure_after_write(self, text: str, runs: int, warmup: int, write: str = DEVELOPMENT_WRITE) -> Timing:
        """`text` timed right after a signed write (`write`, e.g. `/roadmap log …` or `/roadmap set …`) through the
        same app, so no cache can answer what the write changed (it bumps the version every process's cache is
        filed under); the write itself is not timed."""
        samples = []
        for i in range(warmup + runs):
            status, data, _ = self.command(write.format(i=i, status=STATUSES[i % 2]))
            if status != 200 or "⚠️" in json.dumps(data, ensure_ascii=False):
                raise SystemExit(f"`/roadmap {write}` answered {status}: {str(data)[:300]}")
            status, _data, elapsed = self.command(text)
            if status != 200:
                raise SystemExit(f"`/roadmap {text}` answered {status} during the run")
            if i >= warmup:
                samples.append(elapsed)
        return Timing.of(samples)

    def measure_command(self, text: str, runs: int, warmup: int) -> Timing:
        status, data, _ = self.command(text)
        if status != 200 or not data.get("blocks"):
            raise SystemExit(f"`/roadmap {text}` on port {self.port} answered {status}: {str(data)[:300]}")
        for _ in range(warmup):
            self.command(text)
        samples = []
        for _ in range(runs):
            status, _data, elapsed = self.command(text)
            if status != 200:
                raise SystemExit(f"`/roadmap {text}` answered {status} during the run")
            samples.append(elapsed)
        return Timing.of(samples)
