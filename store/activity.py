"""Each step's moves, counted where they are written: one `step_activity` row per step that has moved, with its
live developments (how many, the latest date) and its status changes (how many, the latest time).

Why: the ledger (who moved last) and the digest (which open steps are stale) asked every development of the
store, grouped by step, on every answer — linear in developments (120 ms at 100k, seconds at a million). Database
triggers (migration 0013) keep the row in the same transaction as the write, whatever the door (commands, thread
replies, imports, bulk loads, retractions, another process), like the data_version counters of store/cache.py.
An insert adds to the counts; an edit that moves, retracts or re-dates a development, or a deletion, recounts
that step's rows (an index range scan). A later migration that copies `development`, `step_change` or `step`
in batch mode (SQLite) must create these triggers again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from store.counters import StepActivity


def last_moves(s: Session, step_ids: set[int] | None) -> tuple[dict[int, tuple], dict[int, int]]:
    """Per step: its latest move as (on, rank, kind) and how many moves it has (one read of step_activity).
    On the same day a status change counts as the later move (rank 1), a firmer act than a reported development."""
    q = select(
        StepActivity.step_id,
        StepActivity.developments,
        StepActivity.last_development_on,
        StepActivity.status_changes,
        StepActivity.last_status_at,
    )
    if step_ids is not None:
        if not step_ids:
            return {}, {}
        q = q.where(StepActivity.step_id.in_(step_ids))
    last: dict[int, tuple] = {}
    counts: dict[int, int] = {}
    for step_id, devs, dev_on, changes, status_at in s.connection().execute(q):  # Core: narrow rows, no entities
        moves = []
        if changes and status_at is not None:
            moves.append((status_at.date(), 1, "status"))
        if devs and dev_on is not None:
            moves.append((dev_on, 0, "development"))
        if moves:
            last[step_id] = max(moves)
            counts[step_id] = int(devs) + int(changes)
    return last, counts


# -- the triggers (migration 0013) ------------------------------------------------------------------------------

_RECOUNT_DEVELOPMENTS = (
    "UPDATE step_activity SET "
    "developments = (SELECT count(*) FROM development d WHERE d.step_id = {id} AND d.retracted_at IS NULL), "
    "last_development_on = (SELECT max(d.occurred_on) FROM development d "
    "WHERE d.step_id = {id} AND d.retracted_at IS NULL) WHERE step_id = {id}"
)
_RECOUNT_CHANGES = (
    "UPDATE step_activity SET "
    "status_changes = (SELECT count(*) FROM step_change c WHERE c.step_id = {id} AND c.field = 'status'), "
    "last_status_at = (SELECT max(c.changed_at) FROM step_change c WHERE c.step_id = {id} AND c.field = 'status') "
    "WHERE step_id = {id}"
)
_COLUMNS = "(step_id, developments, last_development_on, status_changes, last_status_at)"
_MOVED = (
    "(NEW.step_id IS NOT OLD.step_id OR NEW.retracted_at IS NOT OLD.retracted_at OR NEW.occurred_on <> OLD.occurred_on)"
)

SQLITE_TRIGGERS = {
    "step_activity_development_insert": (
        "AFTER INSERT ON development WHEN NEW.step_id IS NOT NULL AND NEW.retracted_at IS NULL BEGIN "
        f"INSERT INTO step_activity {_COLUMNS} VALUES (NEW.step_id, 1, NEW.occurred_on, 0, NULL) "
        "ON CONFLICT (step_id) DO UPDATE SET developments = developments + 1, "
        "last_development_on = max(coalesce(last_development_on, excluded.last_development_on), "
        "excluded.last_development_on); END"
    ),
    "step_activity_development_update": (
        f"AFTER UPDATE OF step_id, retracted_at, occurred_on ON development WHEN {_MOVED} BEGIN "
        f"INSERT OR IGNORE INTO step_activity {_COLUMNS} SELECT NEW.step_id, 0, NULL, 0, NULL "
        "WHERE NEW.step_id IS NOT NULL; "
        f"{_RECOUNT_DEVELOPMENTS.format(id='NEW.step_id')}; {_RECOUNT_DEVELOPMENTS.format(id='OLD.step_id')}; END"
    ),
    "step_activity_development_delete": (
        f"AFTER DELETE ON development WHEN OLD.step_id IS NOT NULL BEGIN "
        f"{_RECOUNT_DEVELOPMENTS.format(id='OLD.step_id')}; END"
    ),
    "step_activity_change_insert": (
        "AFTER INSERT ON step_change WHEN NEW.field = 'status' BEGIN "
        f"INSERT INTO step_activity {_COLUMNS} VALUES (NEW.step_id, 0, NULL, 1, NEW.changed_at) "
        "ON CONFLICT (step_id) DO UPDATE SET status_changes = status_changes + 1, "
        "last_status_at = max(coalesce(last_status_at, excluded.last_status_at), excluded.last_status_at); END"
    ),
    "step_activity_change_delete": (
        f"AFTER DELETE ON step_change WHEN OLD.field = 'status' BEGIN {_RECOUNT_CHANGES.format(id='OLD.step_id')}; END"
    ),
    "step_activity_step_delete": "AFTER DELETE ON step BEGIN DELETE FROM step_activity WHERE step_id = OLD.id; END",
}

POSTGRESQL_FUNCTIONS = {
    "step_activity_development": f"""
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.step_id IS NOT NULL AND NEW.retracted_at IS NULL THEN
      INSERT INTO step_activity AS a {_COLUMNS} VALUES (NEW.step_id, 1, NEW.occurred_on, 0, NULL)
      ON CONFLICT (step_id) DO UPDATE SET developments = a.developments + 1,
        last_development_on = GREATEST(a.last_development_on, EXCLUDED.last_development_on);
    END IF;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF NEW.step_id IS NOT DISTINCT FROM OLD.step_id AND NEW.retracted_at IS NOT DISTINCT FROM OLD.retracted_at
       AND NEW.occurred_on = OLD.occurred_on THEN
      RETURN NULL;
    END IF;
    IF NEW.step_id IS NOT NULL THEN
      INSERT INTO step_activity {_COLUMNS} VALUES (NEW.step_id, 0, NULL, 0, NULL) ON CONFLICT DO NOTHING;
      {_RECOUNT_DEVELOPMENTS.format(id="NEW.step_id")};
    END IF;
  END IF;
  IF OLD.step_id IS NOT NULL THEN
    {_RECOUNT_DEVELOPMENTS.format(id="OLD.step_id")};
  END IF;
  RETURN NULL;
END""",
    "step_activity_change": f"""
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.field = 'status' THEN
      INSERT INTO step_activity AS a {_COLUMNS} VALUES (NEW.step_id, 0, NULL, 1, NEW.changed_at)
      ON CONFLICT (step_id) DO UPDATE SET status_changes = a.status_changes + 1,
        last_status_at = GREATEST(a.last_status_at, EXCLUDED.last_status_at);
    END IF;
    RETURN NULL;
  END IF;
  IF OLD.field = 'status' THEN
    {_RECOUNT_CHANGES.format(id="OLD.step_id")};
  END IF;
  RETURN NULL;
END""",
    "step_activity_step": "BEGIN DELETE FROM step_activity WHERE step_id = OLD.id; RETURN NULL; END",
}
POSTGRESQL_TRIGGERS = {
    "trg_step_activity_development": ("development", "AFTER INSERT OR UPDATE OR DELETE", "step_activity_development"),
    "trg_step_activity_change": ("step_change", "AFTER INSERT OR DELETE", "step_activity_change"),
    "trg_step_activity_step": ("step", "AFTER DELETE", "step_activity_step"),
}

FILL = f"""
INSERT INTO step_activity {_COLUMNS}
SELECT step.id, coalesce(d.n, 0), d.last_on, coalesce(c.n, 0), c.last_at
FROM step
LEFT JOIN (SELECT step_id, count(*) AS n, max(occurred_on) AS last_on FROM development
           WHERE step_id IS NOT NULL AND retracted_at IS NULL GROUP BY step_id) d ON d.step_id = step.id
LEFT JOIN (SELECT step_id, count(*) AS n, max(changed_at) AS last_at FROM step_change
           WHERE field = 'status' GROUP BY step_id) c ON c.step_id = step.id
WHERE d.n IS NOT NULL OR c.n IS NOT NULL
"""
