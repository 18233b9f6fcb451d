"""`find`: steps and developments matching every word typed."""

from __future__ import annotations

import re

from sqlalchemy import and_, or_, select

from store.base import Database
from store.errors import Invalid
from store.models import Cluster, Development, Side, Step
from store.queries import latest_developments, step_view
from store.views import SearchResult

MAX_WORDS = 8


def search(db: Database, roadmap_id: int | None, text: str, limit: int = 10) -> SearchResult:
    words = [w for w in re.split(r"\s+", text.strip()) if w][:MAX_WORDS]
    if not words:
        raise Invalid("say what to search for, e.g. `find prisoners`")
    with db.session() as s:
        step_cond = and_(
            *[
                or_(
                    Step.title.ilike(_like(w)),
                    Step.detail.ilike(_like(w)),
                    Step.key.ilike(_like(w)),
                    Step.source.ilike(_like(w)),
                )
                for w in words
            ]
        )
        rows = s.exec(
            select(Step, Side, Cluster.slug)
            .join(Side, Side.id == Step.side_id)
            .join(Cluster, Cluster.id == Step.cluster_id)
            .where(Step.roadmap_id == roadmap_id, step_cond)
            .order_by(Cluster.position, Step.number)
            .limit(limit + 1)
        ).all()
        steps = [step_view(st, sd, cs) for st, sd, cs in rows]
        dev_cond = and_(
            Cluster.roadmap_id == roadmap_id,
            *[or_(Development.text.ilike(_like(w)), Development.source.ilike(_like(w))) for w in words],
        )
        devs = latest_developments(s, dev_cond, limit + 1)
    return SearchResult(text.strip(), steps[:limit], devs[:limit], len(steps) > limit, len(devs) > limit)


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
