"""`find`: ranked full-text search of steps and developments (migration 0006 keeps the indexes).

SQLite: FTS5 (`development_fts`, `step_fts`; porter stems, so "release" finds "released"), ranked by bm25.
PostgreSQL: the GIN-indexed tsvector expressions of store.search_sql.SEARCH_SQL, ranked by ts_rank; every term is
sent through `phraseto_tsquery`, which takes any text as words. Either way hits are ranked by relevance, then by
date (newest first); the query grammar is store/search_query.py, and no user text is ever query syntax.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session

from store import names
from store.base import Database
from store.models import Cluster, Side, Step
from store.queries import cluster_ref, development_views, step_view
from store.search_query import Query, fts5, parse
from store.search_sql import SEARCH_SQL
from store.views import SearchResult, SideView, Snippet

COUNT_CAP = 1000  # "N more" is exact up to here; beyond it, "1000+ more" (counting every hit of a common word
# across a million developments would cost more than the answer is worth)
HIT, END = "\ue000", "\ue001"  # private-use marks around a hit in a snippet; split into parts, never shown
_SNIPPET_WORDS = 24
_HEADLINE = f'StartSel={HIT}, StopSel={END}, MaxWords=28, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'


def search(db: Database, roadmap_id: int | None, typed: str, limit: int = 10) -> SearchResult:
    query = parse(typed)
    with db.session() as s:
        where, params = _filters(s, roadmap_id, query)
        pg = s.bind.dialect.name == "postgresql"
        params.update(_terms(query, pg))
        step_rows, steps_total = (_pg_steps if pg else _lite_steps)(s, where, params, limit)
        dev_rows, devs_total = (_pg_devs if pg else _lite_devs)(s, where, params, limit)
        steps = _step_views(s, [r[0] for r in step_rows])
        devs = development_views(s, [r[0] for r in dev_rows])
    return SearchResult(
        query.text,
        steps=steps,
        developments=devs,
        steps_total=steps_total,
        developments_total=devs_total,
        step_snippets=[_step_snippet(title, detail) for _, title, detail in step_rows],
        dev_snippets=[_snippet(marked) for _, marked in dev_rows],
        capped=max(steps_total, devs_total) >= COUNT_CAP,
    )


def _filters(s: Session, roadmap_id: int | None, query: Query) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """SQL conditions for steps (`st`) and developments (`d`, its step `ds`) from the query's filters."""
    step_where = ["{st}.roadmap_id = :rid"]
    # The roadmap through a subquery, not a join: PostgreSQL then scans the GIN index once, not once per cluster.
    dev_where = ["{d}.cluster_id IN (SELECT id FROM cluster WHERE roadmap_id = :rid)", "{d}.retracted_at IS NULL"]
    params: dict[str, Any] = {"rid": roadmap_id}
    if query.cluster:
        clusters = s.exec(select(Cluster).where(Cluster.roadmap_id == roadmap_id).order_by(Cluster.position))
        slug = names.resolve_cluster([cluster_ref(c) for c in clusters.scalars()], query.cluster).slug
        params["cid"] = s.exec(
            select(Cluster.id).where(Cluster.roadmap_id == roadmap_id, Cluster.slug == slug)
        ).scalar_one()
        step_where.append("{st}.cluster_id = :cid")
        dev_where.append("{d}.cluster_id = :cid")
    if query.side:
        sides = s.exec(select(Side).where(Side.roadmap_id == roadmap_id).order_by(Side.position)).scalars().all()
        code = names.resolve_side([SideView(x.code, x.name) for x in sides], query.side).code
        params["sid"] = next(x.id for x in sides if x.code == code)
        step_where.append("{st}.side_id = :sid")
        # A development has a side through the step it names; one about a whole cluster has none.
        dev_where.append("{d}.step_id IN (SELECT id FROM step WHERE side_id = :sid)")
    if query.after:
        params["after"] = query.after
        dev_where.append("{d}.occurred_on >= :after")
    if query.before:
        params["before"] = query.before
        dev_where.append("{d}.occurred_on < :before")
    return {"step": step_where, "dev": dev_where}, params


def _terms(query: Query, pg: bool) -> dict[str, Any]:
    if not pg:
        return {"match": fts5(query)}
    terms = {f"t{i}": t.text for i, t in enumerate(query.terms)}
    return {**terms, "headline": _HEADLINE, "headline_all": _HEADLINE + ", HighlightAll=true"}


def _tsquery(params: dict[str, Any]) -> str:
    terms = sorted(k for k in params if k[0] == "t" and k[1:].isdigit())
    return "(" + " && ".join(f"phraseto_tsquery('english'::regconfig, :{k})" for k in terms) + ")"


def _where(conds: list[str], pg: bool) -> str:
    names = {"d": "development", "st": "step"} if pg else {"d": "d", "st": "st"}
    return " AND ".join(c.format(**names) for c in conds)


def _count(s: Session, sql: str, params: dict[str, Any]) -> int:
    return s.exec(text(f"SELECT count(*) FROM ({sql} LIMIT {COUNT_CAP}) AS hits"), params=params).scalar_one()


# -- SQLite: FTS5 -------------------------------------------------------------------------------------------------
def _lite_devs(s: Session, where: dict, params: dict, limit: int) -> tuple[list, int]:
    body = (
        "FROM development_fts JOIN development d ON d.id = development_fts.rowid "
        f"WHERE development_fts MATCH :match AND {_where(where['dev'], False)}"
    )
    rows = s.exec(
        text(
            f"SELECT d.id, snippet(development_fts, 0, '{HIT}', '{END}', '…', {_SNIPPET_WORDS}) {body} "
            "ORDER BY bm25(development_fts), d.occurred_on DESC, d.id DESC LIMIT :limit"
        ),
        params={**params, "limit": limit},
    ).all()
    return rows, _total(s, rows, limit, f"SELECT 1 {body}", params)


def _lite_steps(s: Session, where: dict, params: dict, limit: int) -> tuple[list, int]:
    body = (
        "FROM step_fts JOIN step st ON st.id = step_fts.rowid JOIN cluster c ON c.id = st.cluster_id "
        f"WHERE step_fts MATCH :match AND {_where(where['step'], False)}"
    )
    rows = s.exec(
        text(
            f"SELECT st.id, highlight(step_fts, 1, '{HIT}', '{END}'), "
            f"snippet(step_fts, 2, '{HIT}', '{END}', '…', {_SNIPPET_WORDS}) {body} "
            "ORDER BY bm25(step_fts, 10.0, 5.0, 1.0, 1.0), c.position, st.number LIMIT :limit"
        ),
        params={**params, "limit": limit},
    ).all()
    return rows, _total(s, rows, limit, f"SELECT 1 {body}", params)


def _total(s: Session, rows: list, limit: int, sql: str, params: dict) -> int:
    return len(rows) if len(rows) < limit else _count(s, sql, params)


# -- PostgreSQL: GIN-indexed tsvector -----------------------------------------------------------------------------
def _pg_devs(s: Session, where: dict, params: dict, limit: int) -> tuple[list, int]:
    q, vec = _tsquery(params), SEARCH_SQL["development"]
    body = f"FROM development WHERE {vec} @@ {q} AND {_where(where['dev'], True)}"
    rows = s.exec(
        text(
            f"SELECT h.id, ts_headline('english'::regconfig, h.text, {q}, :headline) FROM ("
            f"SELECT development.id, development.text, ts_rank({vec}, {q}) AS r, development.occurred_on {body} "
            "ORDER BY r DESC, development.occurred_on DESC, development.id DESC LIMIT :limit) AS h "
            "ORDER BY h.r DESC, h.occurred_on DESC, h.id DESC"
        ),
        params={**params, "limit": limit},
    ).all()
    return rows, _total(s, rows, limit, f"SELECT 1 {body}", params)


def _pg_steps(s: Session, where: dict, params: dict, limit: int) -> tuple[list, int]:
    q, vec = _tsquery(params), SEARCH_SQL["step"]
    body = f"FROM step JOIN cluster c ON c.id = step.cluster_id WHERE {vec} @@ {q} AND {_where(where['step'], True)}"
    rows = s.exec(
        text(
            f"SELECT h.id, ts_headline('english'::regconfig, h.title, {q}, :headline_all), "
            f"ts_headline('english'::regconfig, h.detail, {q}, :headline) FROM ("
            f"SELECT step.id, step.title, step.detail, ts_rank({vec}, {q}) AS r, c.position, step.number {body} "
            "ORDER BY r DESC, c.position, step.number LIMIT :limit) AS h ORDER BY h.r DESC, h.position, h.number"
        ),
        params={**params, "limit": limit},
    ).all()
    return rows, _total(s, rows, limit, f"SELECT 1 {body}", params)


# -- views --------------------------------------------------------------------------------------------------------
def _step_views(s: Session, ids: list[int]):
    if not ids:
        return []
    rows = s.exec(
        select(Step, Side, Cluster.slug)
        .join(Side, Side.id == Step.side_id)
        .join(Cluster, Cluster.id == Step.cluster_id)
        .where(Step.id.in_(ids))
    ).all()
    by_id = {st.id: step_view(st, sd, slug) for st, sd, slug in rows}
    return [by_id[i] for i in ids]


def _snippet(marked: str | None) -> Snippet:
    return Snippet(tuple(_parts(marked or "")))


def _step_snippet(title: str | None, detail: str | None) -> Snippet:
    """The step's title with its hits marked, then the words around a hit in its detail, if there is one."""
    parts = list(_parts(title or ""))
    if detail and HIT in detail:
        parts += [(" — ", False), *_parts(detail)]
    return Snippet(tuple(parts))


def _parts(marked: str) -> Iterable[tuple[str, bool]]:
    for i, chunk in enumerate(marked.split(HIT)):
        hit, _, rest = chunk.partition(END) if i else ("", "", chunk)
        if hit:
            yield hit, True
        if rest.replace(END, ""):
            yield rest.replace(END, ""), False
