"""The roadmap schema. The only module (with the migrations) that knows table and column names.

Times are timezone-aware UTC datetimes (sqlmodel's UTCDateTime); calendar facts (when something
happened, a due date) are dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, MetaData, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Stable constraint names, so Alembic migrations can refer to them on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

STATUSES: tuple[str, ...] = ("proposed", "agreed", "in_progress", "done", "stalled", "dropped")
OPEN_STATUSES: tuple[str, ...] = ("proposed", "agreed", "in_progress", "stalled")
CLOSED_STATUSES: tuple[str, ...] = ("done", "dropped")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Roadmap(SQLModel, table=True):
    """One normalisation roadmap: its sides, clusters, steps, pairs and developments hang off it. A store holds
    several; cluster slugs and step ids are unique within a roadmap, not across the store."""

    __tablename__ = "roadmap"
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    sources: str = Field(default="", sa_column=Column(Text, nullable=False))  # one per line
    created_at: datetime = Field(default_factory=utcnow)


class ChannelRoadmap(SQLModel, table=True):
    """Which roadmap a Slack channel follows (`/roadmap use`)."""

    __tablename__ = "channel_roadmap"
    channel: str = Field(primary_key=True, max_length=32)
    roadmap_id: int = Field(foreign_key="roadmap.id", index=True)
    bound_by: str = Field(default="", max_length=64)
    bound_at: datetime = Field(default_factory=utcnow)


class DataVersion(SQLModel, table=True):
    """One row whose counter database triggers bump on every write to roadmap, channel_roadmap, side, cluster, step
    and reciprocity (migrations 0003, 0004; development has its own counter since 0006): with
    development_version, the key under which status answers are cached."""

    __tablename__ = "data_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
    id: int = Field(default=1, primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)


class DevelopmentVersion(SQLModel, table=True):
    """The counter of writes to development (migration 0006), apart from data_version: answers made of steps and
    pairs only stay cached while developments are recorded, and development writers never wait on data_version's
    row (store/cache.py)."""

    __tablename__ = "development_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
    id: int = Field(default=1, primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)


class Side(SQLModel, table=True):
    __tablename__ = "side"
    __table_args__ = (UniqueConstraint("roadmap_id", "code", name="uq_side_roadmap_code"),)
    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    code: str = Field(max_length=16)
    name: str = Field(max_length=120)
    position: int = 0


class Cluster(SQLModel, table=True):
    __tablename__ = "cluster"
    __table_args__ = (
        UniqueConstraint("roadmap_id", "slug", name="uq_cluster_roadmap_slug"),
        UniqueConstraint("roadmap_id", "prefix", name="uq_cluster_roadmap_prefix"),
    )
    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    slug: str = Field(max_length=40)
    prefix: str = Field(max_length=12)
    title: str = Field(max_length=200)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    position: int = 0


class Step(SQLModel, table=True):
    __tablename__ = "step"
    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'agreed', 'in_progress', 'done', 'stalled', 'dropped')", name="status"),
        Index("ix_step_cluster_position", "cluster_id", "number"),
        # Status answers: per-side counts read only this index; a side's first steps are one range scan.
        Index("ix_step_cluster_side_status", "cluster_id", "side_id", "status"),
        Index("ix_step_cluster_side_number", "cluster_id", "side_id", "number"),
        # The roadmap's counts per cluster, side and status (status overview) from this index alone (0006).
        Index("ix_step_roadmap_tally", "roadmap_id", "cluster_id", "side_id", "status"),
        UniqueConstraint("roadmap_id", "key", name="uq_step_roadmap_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Denormalised from the cluster, so that a step id is unique per roadmap and found with one index probe.
    roadmap_id: int = Field(foreign_key="roadmap.id")
    key: str = Field(max_length=24)
    number: int = 0
    cluster_id: int = Field(foreign_key="cluster.id")
    side_id: int = Field(foreign_key="side.id", index=True)
    title: str = Field(max_length=300)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="proposed", max_length=16)
    due_on: date | None = None
    source: str = Field(default="", sa_column=Column(Text, nullable=False))
    source_url: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Reciprocity(SQLModel, table=True):
    """A reciprocal pair: two steps of different sides that answer each other.

    Stored once per pair, lower step id first, so (a, b) and (b, a) cannot both exist.
    """

    __tablename__ = "reciprocity"
    __table_args__ = (
        UniqueConstraint("step_id", "counterpart_id", name="uq_reciprocity_pair"),
        CheckConstraint("step_id < counterpart_id", name="ordered"),
    )
    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id", index=True)
    counterpart_id: int = Field(foreign_key="step.id", index=True)


class Development(SQLModel, table=True):
    __tablename__ = "development"
    __table_args__ = (
        # The same Slack message can never be stored twice (NULLs, i.e. imported facts, never collide).
        UniqueConstraint("slack_channel", "slack_ts", name="uq_development_slack_message"),
        Index("ix_development_cluster_latest", "cluster_id", "occurred_on", "id"),
        Index("ix_development_step_latest", "step_id", "occurred_on", "id"),
        Index("ix_development_recorded", "recorded_at"),
        CheckConstraint("precision IN ('day', 'month')", name="precision"),
    )
    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id")
    step_id: int | None = Field(default=None, foreign_key="step.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    author: str = Field(default="import", max_length=64)
    occurred_on: date
    precision: str = Field(default="day", max_length=8)
    recorded_at: datetime = Field(default_factory=utcnow)
    source: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, max_length=2000)
    slack_channel: str | None = Field(default=None, max_length=32)
    slack_ts: str | None = Field(default=None, max_length=32)
    permalink: str | None = Field(default=None, max_length=2000)
    edited_at: datetime | None = None
    retracted_at: datetime | None = None


class StepChange(SQLModel, table=True):
    """Audit trail: every change of a step's status or fields."""

    __tablename__ = "step_change"
    __table_args__ = (Index("ix_step_change_step", "step_id", "changed_at"),)
    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id")
    changed_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=64)
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None, sa_column=Column(Text))
    new_value: str | None = Field(default=None, sa_column=Column(Text))
    note: str = Field(default="", sa_column=Column(Text, nullable=False))


class ClusterThread(SQLModel, table=True):
    """A channel's parent message for a cluster; replies in its thread are developments."""

    __tablename__ = "cluster_thread"
    __table_args__ = (
        UniqueConstraint("channel", "ts", name="uq_cluster_thread_message"),
        UniqueConstraint("channel", "cluster_id", name="uq_cluster_thread_channel_cluster"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    ts: str = Field(max_length=32)
    cluster_id: int = Field(foreign_key="cluster.id")
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class DigestSchedule(SQLModel, table=True):
    """Per-channel digest schedule set from Slack (overrides the environment default)."""

    __tablename__ = "digest_schedule"
    channel: str = Field(primary_key=True, max_length=32)
    cron: str = Field(max_length=120)
    timezone: str = Field(max_length=64)
    enabled: bool = True
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class DigestRun(SQLModel, table=True):
    """One claim per (channel, scheduled period): the database, not memory, makes a digest go out once."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("channel", "period", name="uq_digest_run_slot"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    period: str = Field(max_length=40)
    status: str = Field(default="claimed", max_length=16)
    claimed_by: str = Field(default="", max_length=120)
    claimed_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    message_ts: str | None = Field(default=None, max_length=32)


class PendingWork(SQLModel, table=True):
    """The outbox (store/outbox.py): work owed to Slack, one row per (kind, key), written with the change."""

    __tablename__ = "pending_work"
    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_pending_work_kind_key"),
        Index("ix_pending_work_due", "not_before"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    key: str = Field(max_length=200)
    not_before: datetime
    version: int = 0  # bumped by every change that arrives while the row is owed
    attempts: int = 0
    claimed_until: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


# Full-text search (migration 0006, store/search.py). PostgreSQL: GIN indexes on exactly these expressions (a query
# uses an index only when it repeats the index's expression). SQLite: FTS5 tables `development_fts`, `step_fts`
# kept by triggers; a later migration that copies `development` or `step` (batch mode) must re-create them.
SEARCH_SQL = {
    "development": "to_tsvector('english'::regconfig, development.text || ' ' || development.source)",
    # The id's hyphen becomes a space: PostgreSQL's parser would read "SEC-1" as "sec" and the number -1.
    "step": "(setweight(to_tsvector('english'::regconfig, translate(step.key, '-', ' ') || ' ' || step.title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, step.detail || ' ' || step.source), 'B'))",
}
SEARCH_OBJECTS = ("development_fts", "step_fts", "ix_development_search", "ix_step_search")


def in_models(name: str | None, type_: str, _parents: dict | None = None) -> bool:
    """Alembic's include_name: the search objects are managed by hand in migration 0006, not by the models."""
    return not (name and name.startswith(SEARCH_OBJECTS))
