"""The Procfile's web process, exactly as written, serving signed Slack requests over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import SIGNING_SECRET, command_body, sign

ROOT = Path(__file__).resolve().parent.parent


def procfile_command(kind: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {kind}: line in the Procfile")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"web process exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("web process did not start listening")


@pytest.fixture
def web_process(tmp_path, fake_slack):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROADMAP_", "SLACK_"))},
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    cmd = procfile_command("web").replace("--bind 0.0.0.0:", "--bind 127.0.0.1:")
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {cmd}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def request(port: int, method: str, path: str, body: str = "", headers: dict | None = None):
    # Generous: a worker migrates and seeds its store on the first request, slow on a loaded machine.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=45)
    conn.request(method, path, body=body.encode(), headers=headers or {})
    response = conn.getresponse()
    data = response.read().decode()
    conn.close()
    return response.status, data


def test_procfile_web_process_answers_signed_slash_commands(web_process):
    assert re.search(r"gunicorn .*bot\.web:application\(\)", procfile_command("web"))
    status, body = request(web_process, "GET", "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True

    form = command_body("status security")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(form)}
    status, body = request(web_process, "POST", "/slack/events", form, headers)
    assert status == 200, body
    message = json.loads(body)
    assert_valid_message(message)
    assert "SEC-1" in message_text(message)

    status, _ = request(
        web_process, "POST", "/slack/events", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 401
    status, _ = request(
        web_process,
        "POST",
        "/slack/events",
        "payload=%7Bbad",
        {"Content-Type": "application/x-www-form-urlencoded", **sign("payload=%7Bbad")},
    )
    assert status == 400


def test_web_process_refuses_to_start_without_its_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROADMAP_", "SLACK_"))}
    env.update(
        PORT=str(free_port()),
        WEB_CONCURRENCY="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    )
    proc = subprocess.run(
        ["bash", "-c", f"exec {procfile_command('web')}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "roadmap: SLACK_BOT_TOKEN is not set" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def test_socket_mode_requests_reach_the_same_listeners(settings, store):
    """Socket Mode delivers the payload as a dict over the websocket (no HTTP, no signature): same answer."""
    from urllib.parse import parse_qsl

    from slack_bolt.request import BoltRequest

    from bot.app import create_app

    app = create_app(settings, store)
    body = dict(parse_qsl(command_body("status SEC-1")))
    response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    assert response.status == 200
    message = json.loads(response.body)
    assert_valid_message(message)
    assert "SEC-1" in message_text(message)


def test_socket_mode_needs_the_app_token(tmp_path, monkeypatch, capsys):
    from bot import cli

    for k in list(os.environ):
        if k.startswith(("ROADMAP_", "SLACK_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    assert cli.main(["socket"]) == 2
    assert "SLACK_APP_TOKEN is not set" in capsys.readouterr().err
