"""Each government's own account: a side's claimed status of a step, with its source (an official readout, a
ministry statement), kept beside the team's own assessment (the step's status) and never mixed with it.

One current claim per (step, side), held by the table's unique constraint (an upsert); every new, changed or
withdrawn claim is written to the step's history through `audit_row`, as field `claim:<SIDE>`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, case, delete, func, select, true
from sqlmodel import Session

from store import names
from store.base import Database, upsert
from store.cache import ReadCache, cached_read
from store.errors import Invalid
from store.models import Cluster, Side, Step, StepClaim, utcnow
from store.names import strip_control_chars
from store.queries import find_step, steps_by_id
from store.roadmaps import Scope
from store.steps import audit_row
from store.views import ClaimChange, ClaimsList, ClaimView, SideView

MAX_SOURCE_CHARS = 500
MAX_URL_CHARS = 2000  # the column's length


class Claims:
    def __init__(self, db: Database, cache: ReadCache, scope: Scope):
        self.db = db
        self.cache = cache
        self.scope = scope

    def set_claim(
        self,
        key: str,
        side: str,
        status: str | None,
        *,
        source: str = "",
        url: str | None = None,
        claimed_on: date,
        actor: str,
    ) -> ClaimChange:
        """Record what `side` claims about step `key` (status None withdraws its claim), audited."""
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            side_row = resolve_side(s, side, self.scope.id)
            old = claim_of(s, step.id, side_row.id)
            if status is None:
                if old is not None:
                    s.exec(delete(StepClaim).where(StepClaim.step_id == step.id, StepClaim.side_id == side_row.id))
            else:
                put_claim(
                    s,
                    step,
                    side_row,
                    status=names.normalize_status(status),
                    source=source,
                    url=url,
                    claimed_on=claimed_on,
                    actor=actor,
                )
            record_claim_change(s, step, side_row, old, actor)
            new = claim_of(s, step.id, side_row.id)
            view = steps_by_id(s, [step.id])[step.id]
        return ClaimChange(new, old, view)

    @cached_read
    def claims(self, cluster_slug: str | None = None, side_code: str | None = None, limit: int = 30) -> ClaimsList:
        """Claims in scope, the ones that diverge from the team's assessment first, then in roadmap order."""
        with self.db.session() as s:
            conditions = [Step.roadmap_id == self.scope.id]
            if cluster_slug is not None:
                conditions.append(Cluster.slug == cluster_slug)
            if side_code is not None:
                conditions.append(Side.code == side_code)
            where = and_(true(), *conditions)
            diverges = StepClaim.status != Step.status
            total, divergent = s.exec(
                _joined(select(func.count(), func.sum(case((diverges, 1), else_=0)))).where(where)
            ).one()
            rows = s.exec(
                _claim_rows()
                .where(where)
                .order_by(case((diverges, 0), else_=1), Cluster.position, Step.number, Side.position)
                .limit(limit)
            ).all()
            claims = _views(s, rows)
        return ClaimsList(claims, int(total or 0), int(divergent or 0))


# -- queries (the only places here that select Step/Side rows directly) ----------------------------------------


def resolve_side(s: Session, term: str, rid: int | None) -> Side:
    sides = s.exec(select(Side).where(Side.roadmap_id == rid).order_by(Side.position)).scalars().all()
    view = names.resolve_side([SideView(x.code, x.name) for x in sides], term)
    return next(x for x in sides if x.code == view.code)


def _joined(q):
    """`q` over claims joined to their step, side and the step's cluster."""
    return (
        q.select_from(StepClaim)
        .join(Step, Step.id == StepClaim.step_id)
        .join(Side, Side.id == StepClaim.side_id)
        .join(Cluster, Cluster.id == Step.cluster_id)
    )


def _claim_rows():
    return _joined(select(StepClaim, Side))


def _views(s: Session, rows) -> list[ClaimView]:
    """Claims as views, with the steps they are about (one query for all the steps)."""
    steps = steps_by_id(s, {c.step_id for c, _ in rows})
    return [
        ClaimView(steps[c.step_id], SideView(sd.code, sd.name), c.status, c.source, c.url, c.claimed_on, c.claimed_by)
        for c, sd in rows
    ]


def claims_of_step(s: Session, step_id: int) -> list[ClaimView]:
    rows = s.exec(_claim_rows().where(StepClaim.step_id == step_id).order_by(Side.position)).all()
    return _views(s, rows)


def claim_of(s: Session, step_id: int, side_id: int) -> ClaimView | None:
    rows = s.exec(_claim_rows().where(StepClaim.step_id == step_id, StepClaim.side_id == side_id)).all()
    return (_views(s, rows) or [None])[0]


def all_claims(s: Session) -> list[tuple[int, str, StepClaim]]:
    """Every claim with its step id and side code (for the export)."""
    rows = s.exec(
        select(StepClaim, Side.code).join(Side, Side.id == StepClaim.side_id).order_by(StepClaim.step_id, Side.position)
    ).all()
    return [(c.step_id, code, c) for c, code in rows]


# -- writing -------------------------------------------------------------------------------------------------


def put_claim(
    s: Session,
    step: Step,
    side: Side,
    *,
    status: str,
    source: str,
    url: str | None,
    claimed_on: date,
    actor: str,
) -> None:
    """Insert or replace the side's claim on the step, inside the caller's transaction (no audit: the caller
    writes it, or the import brings the history with it)."""
    source = strip_control_chars(source or "").strip()
    if not source and not url:
        raise Invalid("a claim needs its source: an official readout, a ministry statement, a link")
    if len(source) > MAX_SOURCE_CHARS:
        raise Invalid(f"the source is {len(source):,} characters; the limit is {MAX_SOURCE_CHARS}")
    if url is not None and len(url) > MAX_URL_CHARS:
        raise Invalid(f"the link is {len(url):,} characters; the limit is {MAX_URL_CHARS:,}")
    values = dict(
        step_id=step.id,
        side_id=side.id,
        status=status,
        source=source,
        url=url,
        claimed_on=claimed_on,
        claimed_by=actor,
        recorded_at=utcnow(),
    )
    s.exec(upsert(s, StepClaim, values, ["step_id", "side_id"]))


def claim_facts(c: ClaimView | None) -> tuple | None:
    """What a claim says (status, source, link, date): two claims saying the same are one claim."""
    return None if c is None else (c.status, c.source, c.url, c.claimed_on)


def record_claim_change(s: Session, step: Step, side: Side, old: ClaimView | None, actor: str) -> None:
    """Write the step's history entry for a claim that was `old` and is now what the table holds (if it changed)."""
    new = claim_of(s, step.id, side.id)
    if claim_facts(old) == claim_facts(new):
        return
    shown = new or old
    where = " · ".join(x for x in (shown.source, shown.url or "", shown.claimed_on.isoformat()) if x)
    note = f"withdrawn ({where})" if new is None else where
    before, after = (None if c is None else c.status for c in (old, new))
    s.add(audit_row(step.id, f"claim:{side.code}", before, after, actor=actor, note=note))
