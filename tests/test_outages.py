"""The database going away and coming back, through the real path: a slash command answers "the roadmap store is
unavailable, try again" within Slack's 3 seconds, an event gets a non-2xx so Slack retries it, and after the
database returns nothing is lost and nothing is doubled.

PostgreSQL is cut off with a loopback proxy (tests/netcut.py) or by terminating this test's own backends — never
by stopping the server other test runs share. SQLite is cut off by moving its directory away (an unopenable file).
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from handlers.context import Services
from store import db
from store.api import RoadmapStore
from store.developments import SlackMessage
from tests.blockkit import assert_valid_message, message_text
from tests.conftest import PG_URL
from tests.netcut import TcpProxy
from tests.slack_requests import call_wsgi, send_command, send_event

SLACK_LIMIT_SECONDS = 3.0
UNAVAILABLE = "roadmap store is unavailable, try again"


class Outage:
    """A seeded store whose database a test can take down and bring back."""

    def __init__(self, store: RoadmapStore, down, up, hang=None):
        self.store, self.down, self.up, self.hang = store, down, up, hang


@pytest.fixture
def outage(backend, tmp_path, seed_doc, request):
    if backend == "sqlite":
        home = tmp_path / "db"
        home.mkdir()
        # NullPool: every request opens the file, as a fresh worker would; a pooled handle would outlive the move.
        engine = db.make_engine(f"sqlite:///{home / 'roadmap.db'}", poolclass=NullPool)
        db.upgrade(engine)
        store = RoadmapStore(engine)
        store.transfer.import_doc(seed_doc)
        away = tmp_path / "db-away"
        yield Outage(store, down=lambda: home.rename(away), up=lambda: away.rename(home))
        engine.dispose()
        return
    url, connect_args = request.getfixturevalue("pg_url_in_schema")
    target = make_url(db.normalize_url(url))
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    engine = db.make_engine(
        target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        connect_args=dict(connect_args),
    )
    db.upgrade(engine)
    store = RoadmapStore(engine)
    store.transfer.import_doc(seed_doc)
    yield Outage(store, down=proxy.down, up=proxy.up, hang=proxy.hang)
    proxy.close()
    engine.dispose()


@pytest.fixture
def outage_web(settings, outage):
    from bot.app import create_app
    from bot.web import SlackWSGI

    app = create_app(settings, outage.store)

    # A test-only event listener standing in for the thread listeners being built elsewhere: it records the
    # message through the one API, keyed by (channel, ts), and lets StoreUnavailable propagate as they should.
    @app.event("app_mention")
    def record(event, context):
        Services.of(context).store.developments.record(
            text=event["text"],
            author=event["user"],
            cluster="security",
            slack=SlackMessage(event["channel"], event["ts"]),
        )

    return SlackWSGI(app, outage.store)


def count(store: RoadmapStore, words: str) -> int:
    return sum(words in d["text"] for d in store.transfer.export_doc()["developments"])


def timed_command(web, text: str, **kwargs):
    started = time.monotonic()
    response = send_command(web, text, **kwargs)
    return response, time.monotonic() - started


def test_a_command_during_an_outage_answers_fast_and_the_users_retry_records_once(outage, outage_web):
    outage.down()
    try:
        response, elapsed = timed_command(outage_web, "log security Outage-day development")
    finally:
        outage.up()
    assert response.status == 200
    message = response.json()
    assert_valid_message(message)
    assert UNAVAILABLE in message_text(message).lower() and "nothing was changed" in message_text(message).lower()
    assert elapsed < SLACK_LIMIT_SECONDS, f"answered after {elapsed:.2f} s"
    assert count(outage.store, "Outage-day development") == 0

    # The database is back: the user's retry records once, and every read works again.
    response = send_command(outage_web, "log security Outage-day development")
    assert "Recorded" in message_text(response.json())
    assert count(outage.store, "Outage-day development") == 1
    assert "Security" in message_text(send_command(outage_web, "status security").json())


@pytest.mark.parametrize("text", ["", "status", "status SEC-1", "set SEC-1 agreed", "find Kellogg", "commitments"])
def test_every_command_answers_unavailable_during_an_outage(outage, outage_web, text):
    outage.down()
    try:
        response, elapsed = timed_command(outage_web, text)
    finally:
        outage.up()
    assert response.status == 200 and UNAVAILABLE in message_text(response.json()).lower()
    assert elapsed < SLACK_LIMIT_SECONDS
    assert outage.store.roadmap.step_detail("SEC-1").step.status == "proposed"


def test_a_hung_database_still_answers_within_slacks_3_seconds(outage, outage_web, backend):
    """Accepted but never answered (a hung server, a half-open network): connect_timeout=2 bounds the wait."""
    if outage.hang is None:
        pytest.skip("only a networked database can hang")
    outage.hang()
    try:
        response, elapsed = timed_command(outage_web, "status security")
    finally:
        outage.up()
    assert UNAVAILABLE in message_text(response.json()).lower()
    assert elapsed < SLACK_LIMIT_SECONDS, f"answered after {elapsed:.2f} s"


def test_an_event_during_an_outage_gets_a_503_and_slacks_retry_records_once(outage, outage_web, caplog):
    event = {"type": "app_mention", "user": "U0AUTHOR", "channel": "C0ROADMAP", "ts": "1700000001.000100"}
    event["text"] = "Minsk restated its pledge during the outage"
    outage.down()
    try:
        with caplog.at_level(logging.WARNING):
            response = send_event(outage_web, event, event_id="EvOutage")
    finally:
        outage.up()
    assert response.status == 503, response.body  # non-2xx: Slack retries it
    assert "Traceback" not in response.body
    assert any("store unavailable" in r.getMessage() and "503" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    for retry in (1, 2):  # Slack's retries after the database is back: stored once
        assert send_event(outage_web, event, event_id="EvOutage", retry=retry).status == 200
    assert count(outage.store, "pledge during the outage") == 1


def test_health_check_reports_the_outage(outage, outage_web):
    outage.down()
    try:
        response = call_wsgi(outage_web, "GET", "/healthz")
    finally:
        outage.up()
    assert response.status == 503 and response.json() == {"ok": False, "database": "unavailable"}
    assert call_wsgi(outage_web, "GET", "/healthz").status == 200


def test_an_unopenable_sqlite_file_is_unavailable_not_a_crash(settings, tmp_path):
    from bot.app import create_app
    from bot.web import SlackWSGI

    directory = tmp_path / "not-a-database.db"
    directory.mkdir()  # a directory where the file should be: sqlite cannot open it
    store = RoadmapStore(db.make_engine(f"sqlite:///{directory}"))
    web = SlackWSGI(create_app(settings, store), store)
    response = send_command(web, "log security something")
    assert response.status == 200 and UNAVAILABLE in message_text(response.json()).lower()


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
def test_postgresql_connections_cut_by_the_server_are_replaced_without_a_user_visible_error(
    settings, pg_url_in_schema, seed_doc
):
    """pg_terminate_backend on this test's own connections (found by application_name): pool_pre_ping notices
    the dead connection and the next command simply works; nothing is lost or doubled."""
    from bot.app import create_app
    from bot.web import SlackWSGI

    url, connect_args = pg_url_in_schema
    name = f"roadmap-test-{uuid.uuid4().hex[:8]}"
    engine = db.make_engine(url, connect_args=dict(connect_args, application_name=name))
    db.upgrade(engine)
    store = RoadmapStore(engine)
    store.transfer.import_doc(seed_doc)
    web = SlackWSGI(create_app(settings, store), store)
    try:
        assert "Recorded" in message_text(send_command(web, "log security Before the cut").json())
        admin = create_engine(db.normalize_url(url))
        with admin.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar()
        admin.dispose()
        assert killed >= 1
        assert "Recorded" in message_text(send_command(web, "log security After the cut").json())
        assert count(store, "Before the cut") == 1 and count(store, "After the cut") == 1
    finally:
        engine.dispose()


def test_the_outage_fixture_really_cuts_the_database(outage):
    """Guard against a test that passes because nothing was cut."""
    from store.errors import StoreUnavailable

    outage.down()
    try:
        with pytest.raises(StoreUnavailable):
            outage.store.ping()
    finally:
        outage.up()
    outage.store.ping()
