"""cards and canvases: a channel's roadmap canvas and its per-cluster sections; a channel's default cluster

Revision ID: 0009_cards
Revises: 0008_home
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009_cards"
down_revision: str | None = "0008_home"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_canvas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("canvas_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"], name=op.f("fk_channel_canvas_roadmap_id_roadmap")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_canvas")),
        sa.UniqueConstraint("channel", name=op.f("uq_channel_canvas_channel")),
    )
    op.create_index(op.f("ix_channel_canvas_roadmap_id"), "channel_canvas", ["roadmap_id"], unique=False)
    op.create_table(
        "canvas_section",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canvas_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("section_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["canvas_id"], ["channel_canvas.id"], name=op.f("fk_canvas_section_canvas_id_channel_canvas")
        ),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"], name=op.f("fk_canvas_section_cluster_id_cluster")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canvas_section")),
        sa.UniqueConstraint("canvas_id", "cluster_id", name="uq_canvas_section_cluster"),
    )
    op.create_table(
        "channel_default_cluster",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("set_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["cluster.id"], name=op.f("fk_channel_default_cluster_cluster_id_cluster")
        ),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_default_cluster")),
    )


def downgrade() -> None:
    op.drop_table("channel_default_cluster")
    op.drop_table("canvas_section")
    op.drop_index(op.f("ix_channel_canvas_roadmap_id"), table_name="channel_canvas")
    op.drop_table("channel_canvas")
