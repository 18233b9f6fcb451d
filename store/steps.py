"""Changing a step: its status and due date, each change audited (who, when, before, after, why).

`audit_row` is the one place an audit row is built: commands, thread replies and imports all use it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from store.base import Database, opt_str
from store.due_rules import apply_after_done
from store.models import Cluster, Side, Step, StepChange, utcnow
from store.names import normalize_status, strip_control_chars
from store.outbox import CLUSTER_CHANGED, enqueue
from store.queries import find_step, step_view
from store.roadmaps import Scope
from store.unblocking import owe_unblocked, unblocked_ids
from store.views import DueChange, StatusChange, StepView

# The fields whose change is recorded in a step's history (an import that renumbers a step records nothing).
AUDITED_FIELDS = ("status", "title", "detail", "due_on", "side_id")


def audit_row(
    step_id: int,
    field: str,
    old,
    new,
    *,
    actor: str,
    note: str = "",
    at: datetime | None = None,
) -> StepChange:
    """One entry of a step's history."""
    return StepChange(
        step_id=step_id,
        changed_at=at or utcnow(),
        actor=actor,
        field=field,
        old_value=opt_str(old),
        new_value=opt_str(new),
        note=strip_control_chars(note or "").strip(),
    )


class Steps:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def set_status(self, key: str, status: str, actor: str, note: str = "") -> StatusChange:
        view, old = self._change(key, "status", normalize_status(status), actor, note)
        return StatusChange(view, old, old != view.status)

    def set_due(self, key: str, due_on: date | None, actor: str, note: str = "") -> DueChange:
        """Set or clear a step's due date, recorded in its history like a status change."""
        view, old = self._change(key, "due_on", due_on, actor, note)
        return DueChange(view, old, old != due_on)

    def _change(self, key: str, field: str, value, actor: str, note: str) -> tuple[StepView, object]:
        """Change one field and record it in the step's history, in one transaction; nothing is written when the
        value is already what was asked."""
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            old = change_field(s, step, field, value, actor=actor, note=note)
            view = step_view(step, s.get(Side, step.side_id), s.get(Cluster, step.cluster_id).slug)
        return view, old


def change_field(s: Session, step: Step, field: str, value, *, actor: str, note: str = ""):
    """Set one field of a step inside an open transaction, audited; returns the old value."""
    old = getattr(step, field)
    if old != value:
        setattr(step, field, value)
        step.updated_at = utcnow()
        s.add(step)
        enqueue(s, CLUSTER_CHANGED, str(step.cluster_id))
        if field in AUDITED_FIELDS:
            s.add(audit_row(step.id, field, old, value, actor=actor, note=note))
        if field == "status" and value == "done":
            # Conditional due dates waiting on this step, in this transaction: every door that marks a step done
            # comes through here. The date counts from today in UTC (the store knows no time zone).
            # The steps this one was the last open blocker of are unblocked: their owners are told, with the date
            # a rule may set now (one notice, not a second one for the date).
            s.flush()
            unblocked = unblocked_ids(s, step.id)
            apply_after_done(
                s, step, actor=actor, today=utcnow().date(), set_due=change_field, told=frozenset(unblocked)
            )
            owe_unblocked(s, step, unblocked)
    return old
