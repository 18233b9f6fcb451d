"""Conditional due dates (`/roadmap due SEC-2 14d after SEC-1`) and who owns a step.

A rule is applied inside the transaction that marks its step done (store.steps.change_field), whatever the door
(command, thread status reply, reminder button, import), so nothing can mark a step done without setting the
dates that wait on it. The owners of each step whose date was set are told through the outbox, written in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlmodel import Session

from store.models import SideDefaultOwner, Step, StepDueRule, StepOwner
from store.outbox import enqueue

OWNER_NOTICE = "owner_notice"  # key: "<step id>:<done step id>:<owner>"


def owners_for(s: Session, step: Step) -> tuple[str, ...]:
    """The step's own owners, else its side's default owner, else nobody."""
    own = tuple(s.exec(select(StepOwner.owner).where(StepOwner.step_id == step.id).order_by(StepOwner.id)).scalars())
    if own:
        return own
    default = s.exec(select(SideDefaultOwner.owner).where(SideDefaultOwner.side_id == step.side_id)).scalar()
    return (default,) if default else ()


def waits_on(s: Session, step_id: int) -> list[int]:
    """The steps this one's date waits on, transitively (for the cycle check)."""
    seen: list[int] = []
    current = step_id
    while True:
        after = s.exec(select(StepDueRule.after_step_id).where(StepDueRule.step_id == current)).scalar()
        if after is None or after in seen:
            return seen
        seen.append(after)
        current = after


def apply_after_done(
    s: Session,
    done: Step,
    *,
    actor: str,
    today: date,
    set_due: Callable[..., object],
    told: frozenset[int] = frozenset(),
) -> list[tuple[Step, date]]:
    """Set the due date of every step waiting on `done` (audited through `set_due`, i.e. change_field), remove
    those rules, and owe each owner a notice, except for the steps in `told` (unblocked by `done`: their owners'
    unblocked notice shows the new date). Returns what was set."""
    rules = s.exec(select(StepDueRule).where(StepDueRule.after_step_id == done.id)).scalars().all()
    applied = []
    for rule in rules:
        target = s.get(Step, rule.step_id)
        due_on = today + timedelta(days=rule.days)
        set_due(s, target, "due_on", due_on, actor=actor, note=f"{rule.days} days after {done.key} was done")
        for owner in () if target.id in told else owners_for(s, target):
            enqueue(s, OWNER_NOTICE, f"{target.id}:{done.id}:{owner}", delay=timedelta(0))
        applied.append((target, due_on))
    if rules:
        s.exec(delete(StepDueRule).where(StepDueRule.after_step_id == done.id))
    return applied
