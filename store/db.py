"""Engine set-up: URL normalisation, SQLite pragmas, Alembic upgrades.

SQLite is the zero-install default; PostgreSQL (psycopg v3) is the production database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///roadmap.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Accept Heroku-style `postgres://` and bare `postgresql://` and pin the psycopg v3 driver."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str = DEFAULT_DATABASE_URL, **kwargs) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    # A dead database must fail a request fast, well inside Slack's 3 s window.
    kwargs.setdefault("pool_timeout", 2)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("connect_timeout", 2)
    return create_engine(url, connect_args=connect_args, **kwargs)


def _sqlite_engine(url: str, **kwargs) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    connect_args = {"check_same_thread": False}
    if memory:
        # One shared connection so every thread sees the same in-memory database.
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so that we can choose IMMEDIATE below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 1 MB of page cache per connection (SQLite's default is 2 MB): a web worker holds one per thread, and the
        # operating system caches the file anyway.
        cur.execute("PRAGMA cache_size=-1024")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the lock up front: a deferred read-then-write transaction fails with "database is locked"
        # under concurrency instead of waiting (docs/stack-traps.md, SQLAlchemy). Readers stay deferred.
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic); safe to run on every start."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema's revision (Alembic's one-row table), read without importing Alembic."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str:
    """The newest migration's revision: migration files are named after their revision (NNNN_name.py), which
    tests/test_store.py checks against Alembic's own head. A start that finds the schema at head never imports
    Alembic, which costs each web worker 10 MB of its memory."""
    return max(p.stem for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def upgrade_if_behind(engine: Engine) -> None:
    if current_revision(engine) != head_revision():
        upgrade(engine)
