"""The roadmap file's owners, conditional due dates and holidays (import, export, and clearing them when a roadmap
is replaced); store/transfer.py calls these inside its own transaction.

    sides:    - {code: US, name: United States, default_owner: S0USDESK}
    steps:    - {id: SEC-2, …, owners: [U0MARIA, S0USDESK], due_after: {step: SEC-1, days: 14}}
    holidays: [2026-12-25, 2027-01-01]
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, or_, select
from sqlmodel import Session

from store.base import upsert
from store.due_rules import waits_on
from store.models import ReminderSnooze, RoadmapHoliday, Side, SideDefaultOwner, Step, StepDueRule, StepOwner
from store.steps import audit_row


def wipe(s: Session, roadmap_id: int | None) -> None:
    """What hangs off a roadmap's steps and sides, before they are deleted (foreign keys)."""
    if roadmap_id is None:
        for model in (StepOwner, StepDueRule, ReminderSnooze, SideDefaultOwner, RoadmapHoliday):
            s.exec(delete(model))
        return
    step_ids = select(Step.id).where(Step.roadmap_id == roadmap_id)
    s.exec(delete(StepOwner).where(StepOwner.step_id.in_(step_ids)))
    s.exec(delete(StepDueRule).where(or_(StepDueRule.step_id.in_(step_ids), StepDueRule.after_step_id.in_(step_ids))))
    s.exec(delete(ReminderSnooze).where(ReminderSnooze.step_id.in_(step_ids)))
    side_ids = select(Side.id).where(Side.roadmap_id == roadmap_id)
    s.exec(delete(SideDefaultOwner).where(SideDefaultOwner.side_id.in_(side_ids)))
    s.exec(delete(RoadmapHoliday).where(RoadmapHoliday.roadmap_id == roadmap_id))


def export(s: Session, rid: int) -> tuple[dict[int, dict], dict[int, str], list[date]]:
    """(step id → {owners, due_after}, side id → default owner, holidays) of one roadmap."""
    per_step: dict[int, dict] = {}
    owners = s.exec(
        select(StepOwner.step_id, StepOwner.owner)
        .join(Step, Step.id == StepOwner.step_id)
        .where(Step.roadmap_id == rid)
        .order_by(StepOwner.id)
    ).all()
    for step_id, owner in owners:
        per_step.setdefault(step_id, {}).setdefault("owners", []).append(owner)
    rules = s.exec(
        select(StepDueRule.step_id, Step.key, StepDueRule.days)
        .join(Step, Step.id == StepDueRule.after_step_id)
        .where(Step.roadmap_id == rid)
    ).all()
    for step_id, after, days in rules:
        per_step.setdefault(step_id, {})["due_after"] = {"step": after, "days": days}
    defaults = dict(
        s.exec(
            select(SideDefaultOwner.side_id, SideDefaultOwner.owner)
            .join(Side, Side.id == SideDefaultOwner.side_id)
            .where(Side.roadmap_id == rid)
        ).all()
    )
    holidays = sorted(s.exec(select(RoadmapHoliday.day).where(RoadmapHoliday.roadmap_id == rid)).scalars())
    return per_step, defaults, holidays


def import_(
    s: Session,
    doc: dict,
    rid: int,
    steps: dict[str, Step],
    sides: dict[str, Side],
    actor: str,
    existing: set[str],
) -> None:
    """Owners (audited when they change), conditional dates, side default owners and holidays from a file. What
    the file does not mention is left as it is (a merge); a file that names them replaces them."""
    for d in doc.get("sides") or []:
        if d.get("default_owner"):
            values = dict(side_id=sides[d["code"]].id, owner=str(d["default_owner"]), set_by=actor)
            s.exec(upsert(s, SideDefaultOwner, values, ["side_id"]))
    for c in doc.get("clusters") or []:
        for sd in c.get("steps") or []:
            step = steps[sd["id"]]
            if "owners" in sd:
                _replace_owners(s, step, [str(o) for o in sd.get("owners") or []], actor, audit=step.key in existing)
            rule = sd.get("due_after")
            if rule:
                after = steps[rule["step"]]
                if step.id not in waits_on(s, after.id) and after.id != step.id:
                    values = dict(step_id=step.id, after_step_id=after.id, days=int(rule["days"]), created_by=actor)
                    s.exec(upsert(s, StepDueRule, values, ["step_id"]))
    if "holidays" in doc:
        s.exec(delete(RoadmapHoliday).where(RoadmapHoliday.roadmap_id == rid))
        for day in sorted(set(doc.get("holidays") or [])):
            s.add(RoadmapHoliday(roadmap_id=rid, day=day))


def _replace_owners(s: Session, step: Step, owners: list[str], actor: str, *, audit: bool) -> None:
    owners = list(dict.fromkeys(owners))
    old = [
        o for o in s.exec(select(StepOwner.owner).where(StepOwner.step_id == step.id).order_by(StepOwner.id)).scalars()
    ]
    if owners == old:
        return
    s.exec(delete(StepOwner).where(StepOwner.step_id == step.id))
    for owner in owners:
        s.add(StepOwner(step_id=step.id, owner=owner, added_by=actor))
    if audit:
        s.add(
            audit_row(
                step.id, "owners", ", ".join(old) or None, ", ".join(owners) or None, actor=actor, note="imported"
            )
        )
