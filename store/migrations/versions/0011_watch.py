"""source watch: the feeds and pages a channel watches, and the items they proposed

`watch_source.next_poll_at` is the schedule and the claim (a clock moves it forward with a compare-and-set);
`watch_item` holds every item once per source (unique GUID-or-URL key), with its proposal and decision.

Revision ID: 0011_watch
Revises: 0010_ledger
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011_watch"
down_revision: str | None = "0010_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("next_poll_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("page_text", sa.Text(), nullable=True),
        sa.Column("last_polled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_ok_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'paused', 'removed')", name=op.f("ck_watch_source_status")),
        sa.CheckConstraint("interval_seconds > 0", name=op.f("ck_watch_source_interval")),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"], name=op.f("fk_watch_source_cluster_id_cluster")),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"], name=op.f("fk_watch_source_roadmap_id_roadmap")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_source")),
        sa.UniqueConstraint("channel", "url", name="uq_watch_source_channel_url"),
    )
    with op.batch_alter_table("watch_source", schema=None) as batch_op:
        batch_op.create_index("ix_watch_source_due", ["status", "next_poll_at"], unique=False)
    op.create_table(
        "watch_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("matched", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("message_channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("message_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("development_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'proposed', 'confirmed', 'ignored', 'skipped')", name=op.f("ck_watch_item_status")
        ),
        sa.ForeignKeyConstraint(
            ["development_id"], ["development.id"], name=op.f("fk_watch_item_development_id_development")
        ),
        sa.ForeignKeyConstraint(["source_id"], ["watch_source.id"], name=op.f("fk_watch_item_source_id_watch_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_item")),
        sa.UniqueConstraint("source_id", "item_key", name="uq_watch_item_source_key"),
    )
    with op.batch_alter_table("watch_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_watch_item_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    op.drop_table("watch_item")
    op.drop_table("watch_source")
