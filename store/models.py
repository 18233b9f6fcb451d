"""The roadmap schema, the only module (with the migrations) that knows table and column names. Times are aware
UTC datetimes (sqlmodel's UTCDateTime); calendar facts (when something happened, a due date) are dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import CheckConstraint, Column, Index, MetaData, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

metadata: MetaData = SQLModel.metadata  # with the naming convention set in store/__init__.py

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
    # The timeline chart of this digest: NULL (not yet), uploading, uploaded (detail: file id) or failed (reason).
    chart_status: str | None = Field(default=None, max_length=16)
    chart_detail: str | None = Field(default=None, sa_column=Column(Text))


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


class StepDependency(SQLModel, table=True):
    """Sequencing: `step_id` waits on `blocker_id` (it can start once the blocker is done). Cycles are refused
    before insert, in the writing transaction (store/sequencing.py)."""

    __tablename__ = "step_dependency"
    __table_args__ = (
        UniqueConstraint("step_id", "blocker_id", name="uq_step_dependency_pair"),
        CheckConstraint("step_id <> blocker_id", name="not_self"),
    )
    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id")  # leads the unique constraint's index
    blocker_id: int = Field(foreign_key="step.id", index=True)  # "what does this step unblock"
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class StepClaim(SQLModel, table=True):
    """A government's own account of a step: the status a side claims, with its source (an official readout, a
    ministry statement). One current claim per (step, side); every change is kept in the step's history."""

    __tablename__ = "step_claim"
    __table_args__ = (
        UniqueConstraint("step_id", "side_id", name="uq_step_claim_step_side"),
        CheckConstraint("status IN ('proposed', 'agreed', 'in_progress', 'done', 'stalled', 'dropped')", name="status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id")  # leads the unique constraint's index
    side_id: int = Field(foreign_key="side.id")
    status: str = Field(max_length=16)
    source: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, max_length=2000)
    claimed_on: date
    claimed_by: str = Field(default="", max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow)


WATCH_SOURCE_STATUSES: tuple[str, ...] = ("active", "paused", "removed")
WATCH_ITEM_STATUSES: tuple[str, ...] = ("pending", "proposed", "confirmed", "ignored", "skipped")


class WatchSource(SQLModel, table=True):
    """A feed or page the bot watches for a channel (source watch). `next_poll_at` is both the schedule and the
    claim: a clock takes a due source by moving it forward with a compare-and-set, so two clocks poll it once."""

    __tablename__ = "watch_source"
    __table_args__ = (
        UniqueConstraint("channel", "url", name="uq_watch_source_channel_url"),
        CheckConstraint("status IN ('active', 'paused', 'removed')", name="status"),
        CheckConstraint("interval_seconds > 0", name="interval"),
        Index("ix_watch_source_due", "status", "next_poll_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    url: str = Field(max_length=2000)
    roadmap_id: int = Field(foreign_key="roadmap.id")  # the roadmap its proposals are recorded in
    cluster_id: int | None = Field(default=None, foreign_key="cluster.id")
    keywords: str = Field(default="", sa_column=Column(Text, nullable=False))  # one keyword or phrase a line
    interval_seconds: int = 900
    status: str = Field(default="active", max_length=16)
    kind: str | None = Field(default=None, max_length=8)  # feed | page, once fetched
    title: str = Field(default="", max_length=300)
    next_poll_at: datetime = Field(default_factory=utcnow)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    page_text: str | None = Field(default=None, sa_column=Column(Text))  # an HTML page's last text, for changes
    last_polled_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = None
    failures: int = 0
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class WatchItem(SQLModel, table=True):
    """One item a source carried (a feed entry, a change of a page): proposed once, ever — the unique key is the
    feed GUID or canonical URL (hashed), per source. Its proposal message (channel, ts) becomes the identity of
    the development a Confirm records, so a retried click records once."""

    __tablename__ = "watch_item"
    __table_args__ = (
        UniqueConstraint("source_id", "item_key", name="uq_watch_item_source_key"),
        CheckConstraint(
            "status IN ('pending', 'proposed', 'confirmed', 'ignored', 'skipped')",
            name="status",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="watch_source.id", index=True)
    item_key: str = Field(max_length=64)
    url: str | None = Field(default=None, max_length=2000)
    title: str = Field(default="", max_length=500)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    published_on: date | None = None
    matched: str = Field(default="", max_length=500)
    status: str = Field(default="pending", max_length=16)
    message_channel: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = None
    development_id: int | None = Field(default=None, foreign_key="development.id")
    created_at: datetime = Field(default_factory=utcnow)


class HomePref(SQLModel, table=True):
    """A user's App Home: the roadmap it shows (when the store holds several), the side the user is on in it (reset
    when the roadmap changes, so a side never leaks into another roadmap) and when they last opened it."""

    __tablename__ = "home_pref"
    user: str = Field(primary_key=True, max_length=64)
    roadmap_id: int | None = Field(default=None, foreign_key="roadmap.id")
    side: str | None = Field(default=None, max_length=16)
    seen_at: datetime | None = Field(default=None, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class HomeFollow(SQLModel, table=True):
    """A cluster a user follows on their App Home (the cluster reaches its roadmap)."""

    __tablename__ = "home_follow"
    __table_args__ = (UniqueConstraint("user", "cluster_id", name="uq_home_follow_user_cluster"),)
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(max_length=64)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class ChannelCanvas(SQLModel, table=True):
    """A channel's roadmap canvas (`/roadmap canvas`): claimed (canvas_id NULL) before Slack creates it, so two
    runs never create two; it shows the roadmap it was created for, whatever the channel follows later."""

    __tablename__ = "channel_canvas"
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32, unique=True)
    roadmap_id: int = Field(foreign_key="roadmap.id", index=True)
    canvas_id: str | None = Field(default=None, max_length=32)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class CanvasSection(SQLModel, table=True):
    """The section of a channel canvas that shows one cluster: replaced on its own when the cluster changes."""

    __tablename__ = "canvas_section"
    __table_args__ = (UniqueConstraint("canvas_id", "cluster_id", name="uq_canvas_section_cluster"),)
    id: int | None = Field(default=None, primary_key=True)
    canvas_id: int = Field(foreign_key="channel_canvas.id")
    cluster_id: int = Field(foreign_key="cluster.id")
    section_id: str = Field(max_length=120)


class ChannelDefaultCluster(SQLModel, table=True):
    """Where a 📝 reaction on a message outside any cluster thread records it (`/roadmap default-cluster`)."""

    __tablename__ = "channel_default_cluster"
    channel: str = Field(primary_key=True, max_length=32)
    cluster_id: int = Field(foreign_key="cluster.id")
    set_by: str = Field(default="", max_length=64)
    set_at: datetime = Field(default_factory=utcnow)


class StepOwner(SQLModel, table=True):
    """Who owns a step: Slack users (U…/W…) and user groups (S…); a step with none is owned by its side's default."""

    __tablename__ = "step_owner"
    __table_args__ = (
        UniqueConstraint("step_id", "owner", name="uq_step_owner_step_owner"),
        Index("ix_step_owner_owner", "owner"),
    )
    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id")
    owner: str = Field(max_length=32)
    added_by: str = Field(default="", max_length=64)
    added_at: datetime = Field(default_factory=utcnow)


class SideDefaultOwner(SQLModel, table=True):
    """The owner (a user or a user group) of a side's steps that name no owner of their own."""

    __tablename__ = "side_default_owner"
    side_id: int = Field(primary_key=True, foreign_key="side.id")
    owner: str = Field(max_length=32)
    set_by: str = Field(default="", max_length=64)
    set_at: datetime = Field(default_factory=utcnow)


class StepDueRule(SQLModel, table=True):
    """A conditional due date: the step falls due `days` after `after_step_id` is marked done (then it is applied,
    audited, and removed)."""

    __tablename__ = "step_due_rule"
    step_id: int = Field(primary_key=True, foreign_key="step.id")
    after_step_id: int = Field(foreign_key="step.id", index=True)
    days: int
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ReminderRun(SQLModel, table=True):
    """One claim per (user, local date): the database makes a reminder DM go out at most once a day."""

    __tablename__ = "reminder_run"
    __table_args__ = (UniqueConstraint("user_id", "local_date", name="uq_reminder_run_user_date"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=32)
    local_date: date
    status: str = Field(default="claimed", max_length=16)
    claimed_by: str = Field(default="", max_length=120)
    claimed_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    channel: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)


class ReminderSnooze(SQLModel, table=True):
    """A user's step left out of their reminders until a date."""

    __tablename__ = "reminder_snooze"
    user_id: str = Field(primary_key=True, max_length=32)
    step_id: int = Field(primary_key=True, foreign_key="step.id")
    until: date


class ReminderOptOut(SQLModel, table=True):
    """`/roadmap remind off`: this user gets no reminder DMs."""

    __tablename__ = "reminder_opt_out"
    user_id: str = Field(primary_key=True, max_length=32)
    at: datetime = Field(default_factory=utcnow)


class UserTimezone(SQLModel, table=True):
    """users.info's `tz` of a user, cached (refetched after a TTL)."""

    __tablename__ = "user_timezone"
    user_id: str = Field(primary_key=True, max_length=32)
    tz: str = Field(max_length=64)
    fetched_at: datetime = Field(default_factory=utcnow)


class RoadmapHoliday(SQLModel, table=True):
    """A day without reminders (the roadmap file's `holidays:`)."""

    __tablename__ = "roadmap_holiday"
    roadmap_id: int = Field(primary_key=True, foreign_key="roadmap.id")
    day: date = Field(primary_key=True)


# Rows that only database triggers write, in their own module (imported here, after the naming convention).
from store.counters import DataVersion, DevelopmentVersion, PairCount, StepActivity  # noqa: E402, F401
