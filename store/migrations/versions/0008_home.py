"""home: per-user App Home state (the roadmap and side it shows, when it was last opened) and followed clusters

Revision ID: 0008_home
Revises: 0007_owners
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_home"
down_revision: str | None = "0007_owners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_pref",
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=True),
        sa.Column("side", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"], name=op.f("fk_home_pref_roadmap_id_roadmap")),
        sa.PrimaryKeyConstraint("user", name=op.f("pk_home_pref")),
    )
    op.create_index("ix_home_pref_seen_at", "home_pref", ["seen_at"], unique=False)
    op.create_table(
        "home_follow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["cluster.id"], name=op.f("fk_home_follow_cluster_id_cluster")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_home_follow")),
        sa.UniqueConstraint("user", "cluster_id", name="uq_home_follow_user_cluster"),
    )
    op.create_index("ix_home_follow_cluster_id", "home_follow", ["cluster_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_home_follow_cluster_id", table_name="home_follow")
    op.drop_table("home_follow")
    op.drop_index("ix_home_pref_seen_at", table_name="home_pref")
    op.drop_table("home_pref")
