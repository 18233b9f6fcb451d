"""digest_run.chart_status / chart_detail: the digest's timeline chart is uploaded once per digest slot

The chart upload is part of the claimed, exactly-once delivery: an attempt takes the chart with a compare-and-set
on chart_status (NULL → 'uploading') before uploading, and records 'uploaded' (with the file id) or 'failed' (with
the reason) after. A retry of the same slot sees the column and never uploads a second chart.

Revision ID: 0012_brief
Revises: 0011_watch
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_brief"
down_revision: str | None = "0011_watch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.add_column(sa.Column("chart_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("chart_detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.drop_column("chart_detail")
        batch.drop_column("chart_status")
