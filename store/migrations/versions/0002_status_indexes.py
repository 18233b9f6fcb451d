"""indexes for bounded status answers

Per-side step counts (`/roadmap status`) read only ix_step_cluster_side_status; the first steps of each side of a
cluster (`/roadmap status <cluster>`) are one range scan of ix_step_cluster_side_number.

Revision ID: 0002_status
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_status"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.create_index("ix_step_cluster_side_status", ["cluster_id", "side_id", "status"], unique=False)
        batch_op.create_index("ix_step_cluster_side_number", ["cluster_id", "side_id", "number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.drop_index("ix_step_cluster_side_number")
        batch_op.drop_index("ix_step_cluster_side_status")
