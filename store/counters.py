"""The rows that only database triggers write: the read cache's version counters (store/cache.py) and each step's
activity (store/activity.py). store.models imports this module, so the schema is whole wherever it is read."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field, SQLModel


class DataVersion(SQLModel, table=True):
    """The counter triggers bump on every write to roadmap, channel_roadmap, side, cluster, step and reciprocity
    (0003, 0004): with development_version (0006), the key under which status answers are cached."""

    __tablename__ = "data_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
    id: int = Field(default=1, primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)


class DevelopmentVersion(SQLModel, table=True):
    """The counter of writes to development (0006): answers of steps and pairs only stay cached while developments
    are recorded, and development writers never wait on data_version's row (store/cache.py)."""

    __tablename__ = "development_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
    id: int = Field(default=1, primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)


class StepActivity(SQLModel, table=True):
    """Each step's moves (migration 0013, store/activity.py): nothing in the code writes it."""

    __tablename__ = "step_activity"
    step_id: int = Field(primary_key=True)  # no foreign key: the row goes with its step (trigger)
    developments: int = 0
    last_development_on: date | None = None
    status_changes: int = 0
    last_status_at: datetime | None = None


class PairCount(SQLModel, table=True):
    """Reciprocal pairs counted by each step's cluster, side and state (done, dropped, open) — migration 0014,
    store/tallies.py. The first step is the pair's `step_id`, the second its `counterpart_id`."""

    __tablename__ = "pair_count"
    a_cluster_id: int = Field(primary_key=True)
    b_cluster_id: int = Field(primary_key=True)
    a_side_id: int = Field(primary_key=True)
    a_state: str = Field(primary_key=True, max_length=8)
    b_side_id: int = Field(primary_key=True)
    b_state: str = Field(primary_key=True, max_length=8)
    n: int = 0
