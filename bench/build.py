"""Synthetic stores: the seeded roadmap, M extra steps (with reciprocal pairs) and N developments.

Benchmark code, not product code: it writes the models' tables directly with bulk inserts (executemany in
batches through SQLAlchemy Core; COPY on PostgreSQL), because going through `record_development()` a million
times would measure the builder, not the bot. The store grows in place (1k → 10k → 100k → 1M), so each size
is a superset of the previous one with the same distribution.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, insert, select, text

from store import db
from store.api import RoadmapStore
from store.models import Cluster, ClusterThread, Development, Reciprocity, Side, Step
from store.roadmap_file import DEFAULT_ROADMAP, load

BATCH = 10_000
EXTRA_STEP_FROM = 100  # extra steps are numbered SEC-100, SEC-101, … (seed steps use small numbers)
# Mostly open, as a live roadmap is; the digest is measured on the open ones.
STATUS_WEIGHTS = {"proposed": 35, "agreed": 25, "in_progress": 25, "stalled": 10, "done": 4, "dropped": 1}
_WORDS = (
    "minsk vilnius warsaw kyiv washington brussels embassy sanctions potash tariffs aviation belavia prisoners "
    "release pardon border crossing talks envoy statement ministry agreement memorandum visit delegation "
    "consulate license waiver humanitarian corridor grain exports fertiliser nuclear inspection observers "
    "election opposition media journalists detained court verdict amnesty refugees visa regime dialogue "
    "confidence measures exercise troops deployment airspace drone incident bilateral trade reopening "
    "ambassador accreditation restored restrictions eased lifted extended announced confirmed denied reported"
)
WORDS = _WORDS.split()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Target:
    """Where the benchmark store lives: the URL the web process gets, and an engine for the builder."""

    backend: str
    url: str  # DATABASE_URL for the web process
    engine: Engine
    cleanup: list = field(default_factory=list)

    def close(self) -> None:
        self.engine.dispose()
        for fn in reversed(self.cleanup):
            fn()


def open_target(database_url: str | None, out_dir: Path) -> Target:
    """A fresh, migrated, seeded store: a file SQLite DB, or a dedicated PostgreSQL schema (dropped after)."""
    if not database_url:
        path = out_dir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path.resolve()}"
        target = Target("sqlite", url, db.make_engine(url))
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(db.normalize_url(database_url))
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
            log(f"dropped schema {schema}")

        sep = "&" if "?" in database_url else "?"
        url = f"{db.normalize_url(database_url)}{sep}options=-csearch_path%3D{schema}"
        target = Target("postgresql", url, db.make_engine(url), [drop])
    db.upgrade(target.engine)
    RoadmapStore(target.engine).transfer.import_doc(load(DEFAULT_ROADMAP))
    return target


@dataclass
class Shape:
    """What the builder knows about the store it grows."""

    clusters: list[int]
    steps_by_cluster: dict[int, list[int]]
    developments: int = 0
    ts_counter: int = 0


def add_steps(engine: Engine, extra: int, seed: int = 7) -> Shape:
    """Add `extra` steps spread over the clusters, most of them in reciprocal pairs across sides."""
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        clusters = list(conn.execute(select(Cluster.id, Cluster.prefix, Cluster.roadmap_id).order_by(Cluster.position)))
        sides = [r[0] for r in conn.execute(select(Side.id).order_by(Side.position))]
        now = datetime.now(UTC)
        rows = []
        for i in range(extra):
            cluster_id, prefix, roadmap_id = clusters[i % len(clusters)]
            number = EXTRA_STEP_FROM + i // len(clusters)
            status = rnd.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
            rows.append(
                dict(
                    roadmap_id=roadmap_id,
                    key=f"{prefix}-{number}",
                    number=number,
                    cluster_id=cluster_id,
                    side_id=sides[(i // len(clusters)) % 2] if rnd.random() < 0.7 else rnd.choice(sides),
                    title=_sentence(rnd, 40, 160).capitalize(),
                    detail=_sentence(rnd, 0, 400) if rnd.random() < 0.5 else "",
                    status=status,
                    due_on=date.today() + timedelta(days=rnd.randint(-200, 500)) if rnd.random() < 0.6 else None,
                    source="",
                    source_url=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        for chunk in _chunks(rows, BATCH):
            conn.execute(insert(Step.__table__), chunk)
        steps = list(conn.execute(select(Step.id, Step.cluster_id, Step.side_id, Step.number).order_by(Step.id)))
        # Pairs: consecutive extra steps of one cluster whose sides differ (about 4 in 10 extra steps).
        by_cluster: dict[int, list] = {}
        for s in steps:
            by_cluster.setdefault(s.cluster_id, []).append(s)
        pairs = []
        for members in by_cluster.values():
            extra_steps = [s for s in members if s.number >= EXTRA_STEP_FROM]
            for a, b in zip(extra_steps[::2], extra_steps[1::2], strict=False):
                if a.side_id != b.side_id and rnd.random() < 0.8:
                    pairs.append(dict(step_id=min(a.id, b.id), counterpart_id=max(a.id, b.id)))
        for chunk in _chunks(pairs, BATCH):
            conn.execute(insert(Reciprocity.__table__), chunk)
        n_devs = conn.execute(select(func.count()).select_from(Development)).scalar_one()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE cluster, step, reciprocity"))  # what autovacuum would have done by now
    log(f"  added {extra:,} steps and {len(pairs):,} reciprocal pairs in {time.perf_counter() - t0:.1f} s")
    return Shape(
        clusters=[c[0] for c in clusters],
        steps_by_cluster={cid: [s.id for s in members] for cid, members in by_cluster.items()},
        developments=n_devs,
    )


def grow_developments(engine: Engine, shape: Shape, target: int, seed: int = 11) -> float:
    """Add developments until the store holds `target` of them; returns the seconds it took."""
    todo = target - shape.developments
    if todo <= 0:
        return 0.0
    rnd = random.Random(seed + target)
    texts = [_sentence(rnd, 80, 400) for _ in range(4000)]
    authors = [f"U{rnd.randrange(10**8, 10**9)}" for _ in range(60)]
    today = date.today()
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    done = 0
    postgres = engine.dialect.name == "postgresql"
    log(f"  adding {todo:,} developments ({'COPY' if postgres else 'executemany'}, batches of {BATCH:,})")
    while done < todo:
        n = min(BATCH, todo - done)
        rows = []
        for _ in range(n):
            cluster_id = rnd.choice(shape.clusters)
            step_id = rnd.choice(shape.steps_by_cluster[cluster_id]) if rnd.random() < 0.6 else None
            occurred = today - timedelta(days=rnd.randrange(730))
            slack = rnd.random() < 0.5
            if slack:
                shape.ts_counter += 1
            rows.append(
                dict(
                    cluster_id=cluster_id,
                    step_id=step_id,
                    text=rnd.choice(texts),
                    author=rnd.choice(authors),
                    occurred_on=occurred,
                    precision="day",
                    recorded_at=datetime(occurred.year, occurred.month, occurred.day, 12, tzinfo=UTC),
                    source="" if rnd.random() < 0.8 else "Reuters",
                    url=None if rnd.random() < 0.7 else f"https://example.org/news/{rnd.randrange(10**9)}",
                    slack_channel="CBENCHLOG" if slack else None,
                    slack_ts=f"1600000000.{shape.ts_counter:09d}" if slack else None,
                    permalink=None,
                    edited_at=None,
                    retracted_at=now if rnd.random() < 0.01 else None,
                )
            )
        if postgres:
            _copy(engine, rows)
        else:
            with engine.begin() as conn:
                conn.execute(insert(Development.__table__), rows)
        done += n
        if done % (BATCH * 10) == 0 or done == todo:
            rate = done / (time.perf_counter() - t0)
            log(f"    {shape.developments + done:>9,} developments  ({rate:,.0f} rows/s)")
    shape.developments = target
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE development"))  # what autovacuum would have done by now
    return time.perf_counter() - t0


def register_thread(engine: Engine, channel: str, ts: str, cluster_slug: str = "security") -> None:
    """A cluster thread, as `/roadmap threads` would have posted it (the ingest benchmark replies in it)."""
    with engine.begin() as conn:
        cluster_id = conn.execute(select(Cluster.id).where(Cluster.slug == cluster_slug)).scalar_one()
        conn.execute(insert(ClusterThread.__table__), [dict(channel=channel, ts=ts, cluster_id=cluster_id)])


def count_developments(engine: Engine, channel: str | None = None) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(Development)
        if channel is not None:
            q = q.where(Development.slack_channel == channel)
        return conn.execute(q).scalar_one()


def count_open_steps(engine: Engine) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(Step).where(Step.status.not_in(("done", "dropped")))
        return conn.execute(q).scalar_one()


_COLUMN_NAMES = (
    "cluster_id step_id text author occurred_on precision recorded_at source url slack_channel slack_ts "
    "permalink edited_at retracted_at"
)
_COLUMNS = _COLUMN_NAMES.split()


def _copy(engine: Engine, rows: list[dict]) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()
        with cur.copy(f"COPY development ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in _COLUMNS])
        raw.commit()
    finally:
        raw.close()


def _sentence(rnd: random.Random, low: int, high: int) -> str:
    goal = rnd.randint(low, high)
    words: list[str] = []
    length = 0
    while length < goal:
        w = rnd.choice(WORDS)
        words.append(w)
        length += len(w) + 1
    return " ".join(words)[:high]


def _chunks(rows: list, n: int):
    for i in range(0, len(rows), n):
        yield rows[i : i + n]
