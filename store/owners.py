"""Who owns a step: Slack users (U…/W…) and user groups (S…). A side's default owner owns its steps that name no
owner of their own. Assigning and unassigning is audited in the step's history (field `owners`), and the steps
someone owns (`mine`) are read in one query per roadmap. Conditional due dates are set here too."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import and_, case, delete, exists, or_, select
from sqlmodel import Session

from store.base import Database, insert_ignore, upsert
from store.cache import cached_read
from store.due_rules import owners_for, waits_on
from store.errors import Invalid, NotFound
from store.models import (
    OPEN_STATUSES,
    Cluster,
    Development,
    Reciprocity,
    Roadmap,
    Side,
    SideDefaultOwner,
    Step,
    StepDueRule,
    StepOwner,
    utcnow,
)
from store.outbox import CLUSTER_CHANGED, enqueue
from store.owner_views import DueRuleView, OwnedStep, OwnerNotice, OwnersChange, OwnersView
from store.queries import find_step, step_view
from store.roadmaps import Scope
from store.steps import audit_row
from store.views import StepView

OWNER_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")


def check_ids(ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(ids))
    bad = [i for i in ids if not OWNER_ID.match(i)]
    if bad:
        raise Invalid(f"“{bad[0]}” is not a Slack user or user group: mention them, e.g. @maria or @us-desk")
    if not ids:
        raise Invalid("say who: `/roadmap assign <STEP-ID> @user|@group …`")
    return ids


def _joined(ids: tuple[str, ...]) -> str | None:
    return ", ".join(ids) if ids else None


def _touch(s: Session, step: Step) -> None:
    """A change shown with the step (owners, a waiting date): the step row is written too, so the read cache's
    data_version moves (its triggers watch `step`, not these tables) and what shows the cluster is refreshed."""
    step.updated_at = utcnow()
    s.add(step)
    enqueue(s, CLUSTER_CHANGED, str(step.cluster_id))


class Owners:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope
        self.cache = scope.cache  # owners and due rules are under data_version (migration 0013)

    def _view(self, s: Session, step: Step) -> OwnersView:
        side = s.get(Side, step.side_id)
        own = tuple(
            s.exec(select(StepOwner.owner).where(StepOwner.step_id == step.id).order_by(StepOwner.id)).scalars()
        )
        default = s.exec(select(SideDefaultOwner.owner).where(SideDefaultOwner.side_id == side.id)).scalar()
        rule = s.get(StepDueRule, step.id)
        rule_view = DueRuleView(step.key, s.get(Step, rule.after_step_id).key, rule.days) if rule else None
        return OwnersView(step_view(step, side, s.get(Cluster, step.cluster_id).slug), own, default, rule_view)

    @cached_read(structure=True)
    def of_step(self, key: str) -> OwnersView:
        with self.db.session() as s:
            return self._view(s, find_step(s, key, self.scope.id))

    def assign(self, key: str, owners: Iterable[str], actor: str, note: str = "") -> OwnersChange:
        return self._change(key, check_ids(owners), actor, note, add=True)

    def unassign(self, key: str, owners: Iterable[str], actor: str, note: str = "") -> OwnersChange:
        return self._change(key, check_ids(owners), actor, note, add=False)

    def _change(self, key: str, ids: list[str], actor: str, note: str, *, add: bool) -> OwnersChange:
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            old = self._view(s, step).own
            if add:
                for owner in ids:
                    s.exec(
                        insert_ignore(
                            s, StepOwner, dict(step_id=step.id, owner=owner, added_by=actor), ["step_id", "owner"]
                        )
                    )
            else:
                s.exec(delete(StepOwner).where(StepOwner.step_id == step.id, StepOwner.owner.in_(ids)))
            view = self._view(s, step)
            if view.own != old:
                _touch(s, step)
                s.add(audit_row(step.id, "owners", _joined(old), _joined(view.own), actor=actor, note=note))
        return OwnersChange(view.step, old, view.own)

    def replace(self, s: Session, step: Step, owners: list[str], actor: str) -> None:
        """An import's owners for a step, inside its transaction (audited when they differ)."""
        old = tuple(
            s.exec(select(StepOwner.owner).where(StepOwner.step_id == step.id).order_by(StepOwner.id)).scalars()
        )
        if tuple(owners) == old:
            return
        s.exec(delete(StepOwner).where(StepOwner.step_id == step.id))
        for owner in owners:
            s.add(StepOwner(step_id=step.id, owner=owner, added_by=actor))
        _touch(s, step)
        s.add(audit_row(step.id, "owners", _joined(old), _joined(tuple(owners)), actor=actor, note="imported"))

    def set_side_default(self, side: str, owner: str | None, actor: str) -> None:
        """The default owner of a side's steps (by side code), or none."""
        with self.db.session(write=True) as s:
            row = s.exec(select(Side).where(Side.roadmap_id == self.scope.id, Side.code == side)).scalars().first()
            if row is None:
                codes = list(s.exec(select(Side.code).where(Side.roadmap_id == self.scope.id)).scalars())
                raise NotFound("side", side, codes)
            if owner is None:
                s.exec(delete(SideDefaultOwner).where(SideDefaultOwner.side_id == row.id))
            else:
                check_ids([owner])
                s.exec(upsert(s, SideDefaultOwner, dict(side_id=row.id, owner=owner, set_by=actor), ["side_id"]))

    def side_defaults(self) -> dict[str, str]:
        """Side code → default owner."""
        with self.db.session() as s:
            q = (
                select(Side.code, SideDefaultOwner.owner)
                .join(SideDefaultOwner, SideDefaultOwner.side_id == Side.id)
                .where(Side.roadmap_id == self.scope.id)
            )
            return dict(s.exec(q).all())

    def set_due_rule(self, key: str, days: int, after: str, actor: str) -> DueRuleView:
        """Due `days` after `after` is done. Refused (nothing changed): unknown steps, itself, a cycle, a step
        already done (its date would be in the past), a negative or absurd count."""
        if not 0 <= days <= 3660:
            raise Invalid("the number of days after must be between 0 and 3660")
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            other = find_step(s, after, self.scope.id)
            if other.id == step.id:
                raise Invalid(f"{step.key} cannot wait on itself")
            if step.id in waits_on(s, other.id):
                raise Invalid(f"{other.key} already waits on {step.key}: that would be a cycle of due dates")
            if other.status == "done":
                raise Invalid(
                    f"{other.key} is already done, so “{days} days after” would be a date in the past; "
                    f"give {step.key} a date instead (e.g. `/roadmap due {step.key} in {days} days`)"
                )
            s.exec(
                upsert(
                    s,
                    StepDueRule,
                    dict(step_id=step.id, after_step_id=other.id, days=days, created_by=actor),
                    ["step_id"],
                )
            )
            _touch(s, step)
            s.add(audit_row(step.id, "due_rule", None, f"{days}d after {other.key}", actor=actor))
            return DueRuleView(step.key, other.key, days)

    def clear_due_rule(self, key: str, actor: str) -> bool:
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            rule = s.get(StepDueRule, step.id)
            if rule is None:
                return False
            after = s.get(Step, rule.after_step_id).key
            s.delete(rule)
            _touch(s, step)
            s.add(audit_row(step.id, "due_rule", f"{rule.days}d after {after}", None, actor=actor))
            return True

    def notice(self, step_id: int, done_id: int) -> OwnerNotice | None:
        """The outbox's owner notice (ids, not keys: the row was written with the change); None if gone."""
        with self.db.session() as s:
            views = []
            for sid in (step_id, done_id):
                step = s.get(Step, sid)
                if step is None:
                    return None
                views.append(step_view(step, s.get(Side, step.side_id), s.get(Cluster, step.cluster_id).slug))
            return OwnerNotice(views[0], views[1], s.get(Step, step_id).roadmap_id)

    def owner_ids(self) -> set[str]:
        """Every owner named in this roadmap (steps and side defaults)."""
        with self.db.session() as s:
            rid = self.scope.id
            own = s.exec(select(StepOwner.owner).join(Step, Step.id == StepOwner.step_id).where(Step.roadmap_id == rid))
            defaults = s.exec(
                select(SideDefaultOwner.owner)
                .join(Side, Side.id == SideDefaultOwner.side_id)
                .where(Side.roadmap_id == rid)
            )
            return set(own.scalars()) | set(defaults.scalars())

    def owned_steps(self, user: str, groups: tuple[str, ...]) -> list[StepView]:
        """The open steps `user` or one of their `groups` own (what the App Home lists)."""
        return [o.step for o in self.mine((user, *groups), utcnow().date())]

    def mine(self, ids: Iterable[str], today: date, stale_days: int = 30) -> list[OwnedStep]:
        """Open steps of this roadmap owned by any of `ids` (a user and their groups), directly or as their side's
        default owner when the step names none: overdue first (longest first), then by due date, then in order."""
        ids = list(ids)
        if not ids:
            return []
        owned_directly = exists().where(StepOwner.step_id == Step.id, StepOwner.owner.in_(ids))
        has_owner = exists().where(StepOwner.step_id == Step.id)
        by_default = and_(
            ~has_owner,
            exists().where(SideDefaultOwner.side_id == Step.side_id, SideDefaultOwner.owner.in_(ids)),
        )
        with self.db.session() as s:
            rid = self.scope.id
            slug = s.exec(select(Roadmap.slug).where(Roadmap.id == rid)).scalar()
            rows = s.exec(
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .where(Step.roadmap_id == rid, Step.status.in_(OPEN_STATUSES), or_(owned_directly, by_default))
                .order_by(
                    case((Step.due_on < today, 0), else_=1),
                    case((Step.due_on.is_(None), 1), else_=0),
                    Step.due_on,
                    Cluster.position,
                    Step.number,
                )
                .limit(200)
            ).all()
            step_ids = [r[0].id for r in rows]
            done_counterparts = _with_done_counterpart(s, step_ids)
            cutoff = today - timedelta(days=stale_days)
            recent = set(
                s.exec(
                    select(Development.step_id).where(
                        Development.step_id.in_(step_ids),
                        Development.occurred_on >= cutoff,
                        Development.retracted_at.is_(None),
                    )
                ).scalars()
            )
            return [
                OwnedStep(
                    step=step_view(step, side, cslug),
                    roadmap=slug,
                    overdue=step.due_on is not None and step.due_on < today,
                    your_move=step.id in done_counterparts,
                    stale=step.id not in recent,
                    owners=owners_for(s, step),
                )
                for step, side, cslug in rows
            ]


def _with_done_counterpart(s: Session, step_ids: list[int]) -> set[int]:
    """Of these steps, those paired with a step that is done: the other side moved, it is their owner's move."""
    if not step_ids:
        return set()
    rows = s.exec(
        select(Reciprocity.step_id, Reciprocity.counterpart_id).where(
            or_(Reciprocity.step_id.in_(step_ids), Reciprocity.counterpart_id.in_(step_ids))
        )
    ).all()
    others = {b if a in step_ids else a for a, b in rows}
    done_ids = (
        set(s.exec(select(Step.id).where(Step.id.in_(others), Step.status == "done")).scalars()) if others else set()
    )
    result = set()
    for a, b in rows:
        if a in step_ids and b in done_ids:
            result.add(a)
        if b in step_ids and a in done_ids:
            result.add(b)
    return result
