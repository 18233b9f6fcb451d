"""Fixtures: every store test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL too.

In CI (CI=true) the PostgreSQL run is required: a missing TEST_DATABASE_URL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from bot.settings import Settings
from store import db
from store.api import RoadmapStore
from store.roadmap_file import DEFAULT_ROADMAP, load
from tests.fakes import FakeSlack
from tests.slack_requests import SIGNING_SECRET

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def pytest_configure(config):
    if os.environ.get("CI") == "true" and not PG_URL:
        raise pytest.UsageError("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL tests must run in CI")


def pytest_report_header(config):
    return f"databases under test: {', '.join(BACKENDS)}"


@pytest.fixture(scope="session")
def seed_doc() -> dict:
    return load(DEFAULT_ROADMAP)


def _sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'roadmap.db'}"


@pytest.fixture
def pg_url_in_schema() -> Iterator[tuple[str, dict]]:
    """A fresh PostgreSQL schema for one test: (url, connect_args that select it)."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db.normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield PG_URL, {"options": f"-csearch_path={schema}"}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def engine_factory(backend, tmp_path, request):
    """Returns a function that makes an (unmigrated) engine on this test's database; call it more than once
    to get several engines on the same database (e.g. two processes)."""
    engines = []
    if backend == "sqlite":
        url, connect_args = _sqlite_url(tmp_path), {}
    else:
        url, connect_args = request.getfixturevalue("pg_url_in_schema")

    def make(**kwargs):
        if connect_args:
            kwargs["connect_args"] = dict(connect_args)
        engine = db.make_engine(url, **kwargs)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.dispose()


@pytest.fixture
def engine(engine_factory):
    e = engine_factory()
    db.upgrade(e)
    return e


@pytest.fixture
def empty_store(engine) -> RoadmapStore:
    return RoadmapStore(engine)


@pytest.fixture
def store(empty_store, seed_doc) -> RoadmapStore:
    empty_store.transfer.import_doc(seed_doc)
    return empty_store


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def settings(fake_slack) -> Settings:
    return Settings(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        timezone="America/New_York",
        digest_channel="CDIGEST",
    )


@pytest.fixture
def web(settings, store):
    """The real WSGI app (guard + Bolt + listeners) on the seeded store, talking to the fake Slack."""
    from bot.app import create_app
    from bot.web import SlackWSGI

    return SlackWSGI(create_app(settings, store), store)
