"""roadmaps: several roadmaps in one store, and the roadmap each channel follows

Sides, clusters and steps gain a roadmap; slugs, prefixes, side codes and step ids become unique per roadmap.
Existing data moves into the built-in roadmap (`us-belarus`), with its title, description and sources taken from
roadmap_info, which this replaces. Nothing else changes: developments, history, pairs, threads and digest rows
keep pointing at the same clusters and steps.

Revision ID: 0004_roadmaps
Revises: 0003_data_version
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004_roadmaps"
down_revision: str | None = "0003_data_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUILTIN_SLUG = "us-belarus"
SCOPED = ("side", "cluster", "step")
# The columns that were unique across the store and are unique per roadmap from now on.
UNIQUE_COLUMNS = {"side": ("code",), "cluster": ("slug", "prefix"), "step": ("key",)}
TRIGGERED = ("roadmap", "channel_roadmap")  # besides 0003's tables


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "roadmap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roadmap")),
        sa.UniqueConstraint("slug", name=op.f("uq_roadmap_slug")),
    )
    op.create_table(
        "channel_roadmap",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("bound_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("bound_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["roadmap_id"], ["roadmap.id"], name=op.f("fk_channel_roadmap_roadmap_id_roadmap")),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_roadmap")),
    )
    op.create_index(op.f("ix_channel_roadmap_roadmap_id"), "channel_roadmap", ["roadmap_id"], unique=False)

    info = dict(bind.execute(sa.text("SELECT key, value FROM roadmap_info")).all())
    has_data = bind.execute(sa.text("SELECT 1 FROM side UNION SELECT 1 FROM cluster LIMIT 1")).first() is not None
    roadmap_id = None
    if has_data or info:
        bind.execute(
            sa.text(
                "INSERT INTO roadmap (slug, title, description, sources, created_at) "
                "VALUES (:slug, :title, :description, :sources, CURRENT_TIMESTAMP)"
            ),
            dict(
                slug=BUILTIN_SLUG,
                title=info.get("title") or "Roadmap",
                description=info.get("description") or "",
                sources=info.get("sources") or "",
            ),
        )
        roadmap_id = bind.execute(sa.text("SELECT id FROM roadmap WHERE slug = :s"), dict(s=BUILTIN_SLUG)).scalar()

    for table in SCOPED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("roadmap_id", sa.Integer(), nullable=True))
        if roadmap_id is not None:
            bind.execute(sa.text(f"UPDATE {table} SET roadmap_id = :r"), dict(r=roadmap_id))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("roadmap_id", existing_type=sa.Integer(), nullable=False)
            for column in UNIQUE_COLUMNS[table]:
                batch.drop_constraint(f"uq_{table}_{column}", type_="unique")
                batch.create_unique_constraint(f"uq_{table}_roadmap_{column}", ["roadmap_id", column])
            batch.create_foreign_key(f"fk_{table}_roadmap_id_roadmap", "roadmap", ["roadmap_id"], ["id"])
    op.drop_table("roadmap_info")
    _triggers(sqlite)


def _triggers(sqlite: bool) -> None:
    """data_version bumps on the new tables; on SQLite also again on the tables batch mode copied (a table's
    triggers go with it)."""
    if not sqlite:
        for table in TRIGGERED:
            op.execute(
                f"CREATE TRIGGER trg_{table}_data_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()"
            )
        return
    for table in (*TRIGGERED, *SCOPED):
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_{event.lower()}_data_version")
            op.execute(
                f"CREATE TRIGGER trg_{table}_{event.lower()}_data_version AFTER {event} ON {table} "
                "BEGIN UPDATE data_version SET n = n + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    raise NotImplementedError("0004_roadmaps cannot be undone: restore a backup (roadmap export) instead")
