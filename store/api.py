"""The one module that reads and writes the roadmap. Handlers, the CLI and the scheduler call it;
it returns plain views (store.views), never ORM objects, and each call is one transaction."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import Engine, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from store.models import (
    STATUSES,
    Cluster,
    ClusterThread,
    Development,
    DigestSchedule,
    Reciprocity,
    RoadmapInfo,
    Side,
    Step,
    StepChange,
    utcnow,
)
from store.views import (
    ChangeView,
    ClusterDetail,
    ClusterRef,
    ClusterSummary,
    DevelopmentView,
    PairView,
    Recorded,
    SearchResult,
    SideProgress,
    SideView,
    StatusChange,
    StepDetail,
    StepView,
)

MAX_DEVELOPMENT_CHARS = 4000
STEP_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]{0,11})-?(\d{1,5})$")


class StoreError(Exception):
    """A request the store refuses; the message is safe to show a user."""


class NotFound(StoreError):
    def __init__(self, kind: str, term: str, choices: list[str], suggestion: str | None = None):
        self.kind, self.term, self.choices, self.suggestion = kind, term, choices, suggestion
        super().__init__(f"unknown {kind} {term!r}")


class Ambiguous(StoreError):
    def __init__(self, kind: str, term: str, matches: list[str]):
        self.kind, self.term, self.matches = kind, term, matches
        super().__init__(f"{kind} {term!r} is ambiguous: {', '.join(matches)}")


class Invalid(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The database cannot be reached; nothing was written."""


def normalize_step_key(term: str) -> str | None:
    """`sec-1`, `SEC1`, `Sec-01` → `SEC-1`; None if the term cannot be a step id."""
    m = STEP_KEY_RE.match(term.strip())
    if not m:
        return None
    return f"{m.group(1).upper()}-{int(m.group(2))}"


class RoadmapStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        # Readers use a deferred transaction on SQLite; writers take the write lock at BEGIN (store.db).
        self._read_engine = engine.execution_options(readonly=True)

    # -- sessions ---------------------------------------------------------------------------------
    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        try:
            with Session(self.engine if write else self._read_engine, expire_on_commit=False) as s:
                yield s
                if write:
                    s.commit()
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, IntegrityError) or not _is_connectivity_error(exc):
                raise
            raise StoreUnavailable("the roadmap store is unavailable, try again in a moment") from exc

    def ping(self) -> None:
        with self._session() as s:
            s.exec(select(1)).one()

    # -- lookups ------------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        with self._session() as s:
            return s.exec(select(Cluster.id).limit(1)).first() is None

    def info(self) -> dict[str, str]:
        with self._session() as s:
            return {r.key: r.value for r in s.exec(select(RoadmapInfo)).scalars()}

    def clusters(self) -> list[ClusterRef]:
        with self._session() as s:
            return [_cluster_ref(c) for c in s.exec(select(Cluster).order_by(Cluster.position)).scalars()]

    def sides(self) -> list[SideView]:
        with self._session() as s:
            return [SideView(x.code, x.name) for x in s.exec(select(Side).order_by(Side.position)).scalars()]

    def resolve_cluster(self, term: str) -> ClusterRef:
        """Slug, step prefix, unambiguous slug prefix, or a word of the title (case-insensitive)."""
        return _resolve_cluster(self.clusters(), term)

    def resolve_side(self, term: str) -> SideView:
        sides = self.sides()
        t = term.strip().lower()
        for side in sides:
            if t in (side.code.lower(), side.name.lower()):
                return side
        hits = [x for x in sides if x.name.lower().startswith(t) or t in _words(x.name)]
        if len(hits) == 1:
            return hits[0]
        codes = [x.code for x in sides]
        if len(hits) > 1:
            raise Ambiguous("side", term, [x.code for x in hits])
        raise NotFound("side", term, codes, _suggest(t, [c.lower() for c in codes], codes))

    def step_exists(self, key: str) -> bool:
        with self._session() as s:
            return s.exec(select(Step.id).where(Step.key == key)).first() is not None

    # -- status -------------------------------------------------------------------------------------
    def cluster_overview(self) -> list[ClusterSummary]:
        """Every cluster: progress per side, open pairs, who owes the next move, latest development.

        Bounded queries only: steps are grouped, and the latest development is one index probe per cluster.
        """
        with self._session() as s:
            latest = (
                select(Development.occurred_on)
                .where(Development.cluster_id == Cluster.id, Development.retracted_at.is_(None))
                .order_by(Development.occurred_on.desc(), Development.id.desc())
                .limit(1)
                .correlate(Cluster)
                .scalar_subquery()
            )
            clusters = s.exec(select(Cluster, latest).order_by(Cluster.position)).all()
            sides = {x.id: SideView(x.code, x.name) for x in s.exec(select(Side)).scalars()}
            side_order = {x.id: x.position for x in s.exec(select(Side)).scalars()}
            counts = s.exec(
                select(
                    Step.cluster_id,
                    Step.side_id,
                    func.count(),
                    func.sum(func.cast(Step.status == "done", _int())),
                ).group_by(Step.cluster_id, Step.side_id)
            ).all()
            pairs_by_cluster = _pairs(s)
        progress: dict[int, list[SideProgress]] = defaultdict(list)
        for cluster_id, side_id, total, done in sorted(counts, key=lambda r: side_order[r[1]]):
            progress[cluster_id].append(SideProgress(sides[side_id], int(done or 0), int(total)))
        out = []
        for cluster, latest_on in clusters:
            pairs = [p for p in pairs_by_cluster.get(cluster.id, []) if p.is_open]
            owed: dict[str, int] = defaultdict(int)
            owed_sides: dict[str, SideView] = {}
            for p in pairs:
                for side in p.owed_by:
                    owed[side.code] += 1
                    owed_sides[side.code] = side
            out.append(
                ClusterSummary(
                    cluster=_cluster_ref(cluster),
                    progress=progress.get(cluster.id, []),
                    open_pairs=len(pairs),
                    owed=sorted(((owed_sides[c], n) for c, n in owed.items()), key=lambda x: -x[1]),
                    latest_on=latest_on,
                    steps_total=sum(p.total for p in progress.get(cluster.id, [])),
                )
            )
        return out

    def cluster_detail(self, slug: str, developments: int = 5) -> ClusterDetail:
        with self._session() as s:
            cluster = s.exec(select(Cluster).where(Cluster.slug == slug)).scalars().first()
            if cluster is None:
                raise NotFound("cluster", slug, [c.slug for c in self.clusters()])
            rows = s.exec(
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .where(Step.cluster_id == cluster.id)
                .order_by(Side.position, Step.number)
            ).all()
            grouped: dict[str, tuple[SideView, list[StepView]]] = {}
            for step, side, cslug in rows:
                view = _step_view(step, side, cslug)
                grouped.setdefault(side.code, (view.side, []))[1].append(view)
            pairs = _pairs(s, cluster_id=cluster.id).get(cluster.id, [])
            devs = _latest_developments(s, Development.cluster_id == cluster.id, developments)
        return ClusterDetail(_cluster_ref(cluster), list(grouped.values()), pairs, devs)

    def step_detail(self, key: str, developments: int = 10, history: int = 20) -> StepDetail:
        with self._session() as s:
            step = self._step(s, key)
            side = s.get(Side, step.side_id)
            cluster = s.get(Cluster, step.cluster_id)
            view = _step_view(step, side, cluster.slug)
            pairs = [p for ps in _pairs(s, step_id=step.id).values() for p in ps]
            changes = s.exec(
                select(StepChange)
                .where(StepChange.step_id == step.id)
                .order_by(StepChange.changed_at.desc(), StepChange.id.desc())
                .limit(history)
            ).scalars()
            hist = [ChangeView(c.changed_at, c.actor, c.field, c.old_value, c.new_value, c.note) for c in changes]
            devs = _latest_developments(s, Development.step_id == step.id, developments)
        return StepDetail(view, pairs, hist, devs)

    def open_commitments(self, side: str | None = None) -> list[tuple[ClusterRef, list[PairView]]]:
        """Open reciprocal pairs per cluster; with `side`, only pairs where that side owes a move."""
        with self._session() as s:
            clusters = s.exec(select(Cluster).order_by(Cluster.position)).scalars().all()
            pairs = _pairs(s)
        out = []
        for c in clusters:
            open_pairs = [p for p in pairs.get(c.id, []) if p.is_open]
            if side:
                open_pairs = [p for p in open_pairs if any(x.code == side for x in p.owed_by)]
            if open_pairs:
                out.append((_cluster_ref(c), open_pairs))
        return out

    def search(self, text: str, limit: int = 10) -> SearchResult:
        words = [w for w in re.split(r"\s+", text.strip()) if w][:8]
        if not words:
            raise Invalid("say what to search for, e.g. `find prisoners`")
        with self._session() as s:
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
                .where(step_cond)
                .order_by(Cluster.position, Step.number)
                .limit(limit + 1)
            ).all()
            steps = [_step_view(st, sd, cs) for st, sd, cs in rows]
            dev_cond = and_(*[or_(Development.text.ilike(_like(w)), Development.source.ilike(_like(w))) for w in words])
            devs = _latest_developments(s, dev_cond, limit + 1)
        return SearchResult(text.strip(), steps[:limit], devs[:limit], len(steps) > limit, len(devs) > limit)

    # -- commands -----------------------------------------------------------------------------------
    def record_development(
        self,
        *,
        text: str,
        author: str,
        cluster: str | None = None,
        step: str | None = None,
        occurred_on: date | None = None,
        source: str = "",
        url: str | None = None,
        slack_channel: str | None = None,
        slack_ts: str | None = None,
        permalink: str | None = None,
    ) -> Recorded:
        """Record a dated fact, whichever door it came through (command, thread reply, shortcut, import).

        A Slack message (channel, ts) is stored once: the unique constraint decides, not a prior read.
        """
        text = strip_control_chars(text or "").strip()
        if not text:
            raise Invalid("a development needs some text")
        if len(text) > MAX_DEVELOPMENT_CHARS:
            raise Invalid(
                f"that development is {len(text):,} characters; the limit is {MAX_DEVELOPMENT_CHARS:,}. "
                "Shorten it or link to the full text."
            )
        if (slack_channel is None) != (slack_ts is None):
            raise Invalid("a Slack development needs both channel and ts")
        with self._session(write=True) as s:
            step_row = self._step(s, step) if step else None
            if step_row is not None:
                cluster_id = step_row.cluster_id
            elif cluster:
                c = s.exec(select(Cluster).where(Cluster.slug == cluster)).scalars().first()
                if c is None:
                    raise NotFound("cluster", cluster, [x.slug for x in self.clusters()])
                cluster_id = c.id
            else:
                raise Invalid("a development belongs to a cluster or a step")
            values = dict(
                cluster_id=cluster_id,
                step_id=step_row.id if step_row else None,
                text=text,
                author=author,
                occurred_on=occurred_on or utcnow().date(),
                precision="day",
                recorded_at=utcnow(),
                source=source or "",
                url=url,
                slack_channel=slack_channel,
                slack_ts=slack_ts,
                permalink=permalink,
            )
            if slack_channel is None:
                dev = Development(**values)
                s.add(dev)
                s.flush()
                dev_id, created = dev.id, True
            else:
                dev_id = s.exec(
                    _insert_ignore(s, Development, values, ["slack_channel", "slack_ts"]).returning(Development.id)
                ).scalar()
                created = dev_id is not None
                if not created:
                    dev_id = s.exec(
                        select(Development.id).where(
                            Development.slack_channel == slack_channel, Development.slack_ts == slack_ts
                        )
                    ).scalar_one()
            view = self._development_view(s, dev_id)
        return Recorded(view, created)

    def set_status(self, key: str, status: str, actor: str, note: str = "") -> StatusChange:
        status = normalize_status(status)
        with self._session(write=True) as s:
            step = self._step(s, key)
            old = step.status
            if old != status:
                step.status = status
                step.updated_at = utcnow()
                s.add(step)
                s.add(
                    StepChange(
                        step_id=step.id,
                        actor=actor,
                        field="status",
                        old_value=old,
                        new_value=status,
                        note=strip_control_chars(note).strip(),
                    )
                )
            view = _step_view(step, s.get(Side, step.side_id), s.get(Cluster, step.cluster_id).slug)
        return StatusChange(view, old, old != status)

    # -- import / export ---------------------------------------------------------------------------
    def import_roadmap(self, doc: dict, *, replace: bool = False, actor: str = "import") -> dict[str, int]:
        """Load a validated roadmap document (store.roadmap_file.parse) in one transaction.

        Merge by default: sides, clusters and steps are matched by code, slug and id and updated; pairs,
        threads and developments are added unless already there. `replace` empties the store first.
        Returns counts of what was added.
        """
        counts = dict.fromkeys(("sides", "clusters", "steps", "pairs", "developments", "changes"), 0)
        with self._session(write=True) as s:
            if replace:
                _wipe(s)
            info = doc.get("roadmap") or {}
            for key in ("title", "description"):
                if info.get(key):
                    s.merge(RoadmapInfo(key=key, value=str(info[key]).strip()))
            if info.get("sources"):
                s.merge(RoadmapInfo(key="sources", value="\n".join(str(x) for x in info["sources"])))
            sides = {x.code: x for x in s.exec(select(Side)).scalars()}
            for pos, d in enumerate(doc["sides"]):
                side = sides.get(d["code"]) or Side(code=d["code"], name=d["name"])
                counts["sides"] += side.id is None
                side.name, side.position = d["name"], pos
                s.add(side)
                sides[side.code] = side
            clusters = {x.slug: x for x in s.exec(select(Cluster)).scalars()}
            steps = {x.key: x for x in s.exec(select(Step)).scalars()}
            s.flush()
            for pos, d in enumerate(doc["clusters"]):
                c = clusters.get(d["slug"]) or Cluster(slug=d["slug"], prefix=d["prefix"], title=d["title"])
                counts["clusters"] += c.id is None
                c.prefix, c.title, c.summary, c.position = (
                    d["prefix"],
                    d["title"],
                    d.get("summary") or "",
                    pos,
                )
                s.add(c)
                s.flush()
                clusters[c.slug] = c
                for sd in d.get("steps") or []:
                    counts["changes"] += _upsert_step(s, steps, c, sides[sd["side"]], sd, actor, counts)
            s.flush()
            existing_pairs = {(r.step_id, r.counterpart_id) for r in s.exec(select(Reciprocity)).scalars()}
            for d in doc["clusters"]:
                for sd in d.get("steps") or []:
                    for other in sd.get("answers") or []:
                        a, b = sorted((steps[sd["id"]].id, steps[other].id))
                        if (a, b) not in existing_pairs:
                            s.add(Reciprocity(step_id=a, counterpart_id=b))
                            existing_pairs.add((a, b))
                            counts["pairs"] += 1
            counts["developments"] = _import_developments(s, doc.get("developments") or [], clusters, steps)
            for t in doc.get("threads") or []:
                ins = _insert_ignore(
                    s,
                    ClusterThread,
                    dict(channel=t["channel"], ts=str(t["ts"]), cluster_id=clusters[t["cluster"]].id),
                    ["channel", "ts"],
                )
                s.exec(ins)
            for d in doc.get("digest_schedules") or []:
                s.merge(
                    DigestSchedule(
                        channel=d["channel"],
                        cron=d["cron"],
                        timezone=d["timezone"],
                        enabled=bool(d.get("enabled", True)),
                        updated_by=d.get("updated_by", actor),
                    )
                )
        return counts

    def seed_if_empty(self, doc: dict) -> bool:
        """Load `doc` into an empty store; True if this call loaded it. Safe when two processes race."""
        if not self.is_empty():
            return False
        try:
            self.import_roadmap(doc)
        except IntegrityError:
            return False  # another process seeded it first
        return True

    def export_roadmap(self) -> dict:
        """The whole store as a roadmap document (round-trips through import_roadmap)."""
        with self._session() as s:
            info = {r.key: r.value for r in s.exec(select(RoadmapInfo)).scalars()}
            sides = s.exec(select(Side).order_by(Side.position)).scalars().all()
            side_code = {x.id: x.code for x in sides}
            clusters = s.exec(select(Cluster).order_by(Cluster.position)).scalars().all()
            cluster_slug = {c.id: c.slug for c in clusters}
            steps = s.exec(select(Step).order_by(Step.cluster_id, Step.number)).scalars().all()
            step_key = {x.id: x.key for x in steps}
            answers: dict[int, list[str]] = defaultdict(list)
            for r in s.exec(select(Reciprocity).order_by(Reciprocity.id)).scalars():
                answers[r.step_id].append(step_key[r.counterpart_id])
                answers[r.counterpart_id].append(step_key[r.step_id])
            history: dict[int, list[dict]] = defaultdict(list)
            for h in s.exec(select(StepChange).order_by(StepChange.changed_at, StepChange.id)).scalars():
                history[h.step_id].append(
                    _drop_none(
                        {
                            "at": h.changed_at,
                            "actor": h.actor,
                            "field": h.field,
                            "from": h.old_value,
                            "to": h.new_value,
                            "note": h.note or None,
                        }
                    )
                )
            by_cluster: dict[int, list[dict]] = defaultdict(list)
            for x in steps:
                by_cluster[x.cluster_id].append(
                    _drop_none(
                        {
                            "id": x.key,
                            "side": side_code[x.side_id],
                            "title": x.title,
                            "detail": x.detail or None,
                            "status": x.status,
                            "due": x.due_on,
                            "source": x.source or None,
                            "url": x.source_url,
                            "answers": sorted(answers[x.id], key=_key_order) or None,
                            "history": history[x.id] or None,
                        }
                    )
                )
            devs = []
            for d in s.exec(select(Development).order_by(Development.occurred_on, Development.id)).scalars():
                slack = None
                if d.slack_channel:
                    slack = _drop_none({"channel": d.slack_channel, "ts": d.slack_ts, "permalink": d.permalink})
                devs.append(
                    _drop_none(
                        {
                            "date": d.occurred_on,
                            "precision": d.precision if d.precision != "day" else None,
                            "cluster": cluster_slug[d.cluster_id],
                            "step": step_key.get(d.step_id),
                            "text": d.text,
                            "source": d.source or None,
                            "url": d.url,
                            "author": d.author,
                            "recorded_at": d.recorded_at,
                            "slack": slack,
                            "edited_at": d.edited_at,
                            "retracted_at": d.retracted_at,
                        }
                    )
                )
            threads = [
                {"channel": t.channel, "ts": t.ts, "cluster": cluster_slug[t.cluster_id]}
                for t in s.exec(select(ClusterThread).order_by(ClusterThread.id)).scalars()
            ]
            schedules = [
                {"channel": d.channel, "cron": d.cron, "timezone": d.timezone, "enabled": d.enabled}
                for d in s.exec(select(DigestSchedule).order_by(DigestSchedule.channel)).scalars()
            ]
        roadmap = _drop_none(
            {
                "title": info.get("title"),
                "description": info.get("description"),
                "sources": info["sources"].split("\n") if info.get("sources") else None,
            }
        )
        doc = {
            "format": "roadmap/1",
            "roadmap": roadmap,
            "sides": [{"code": x.code, "name": x.name} for x in sides],
            "clusters": [
                _drop_none(
                    {
                        "slug": c.slug,
                        "prefix": c.prefix,
                        "title": c.title,
                        "summary": c.summary or None,
                        "steps": by_cluster[c.id],
                    }
                )
                for c in clusters
            ],
            "developments": devs,
        }
        if threads:
            doc["threads"] = threads
        if schedules:
            doc["digest_schedules"] = schedules
        return doc

    # -- helpers ------------------------------------------------------------------------------------
    def _step(self, s: Session, key: str) -> Step:
        norm = normalize_step_key(key) or key.strip().upper()
        step = s.exec(select(Step).where(Step.key == norm)).scalars().first()
        if step is None:
            keys = sorted(s.exec(select(Step.key)).scalars(), key=_key_order)
            raise NotFound("step", key, keys, _suggest(norm, keys, keys))
        return step

    def _development_view(self, s: Session, dev_id: int) -> DevelopmentView:
        row = s.exec(
            select(Development, Cluster.slug, Step.key)
            .join(Cluster, Cluster.id == Development.cluster_id)
            .outerjoin(Step, Step.id == Development.step_id)
            .where(Development.id == dev_id)
        ).one()
        return _dev_view(*row)


# -- module helpers -------------------------------------------------------------------------------------


def normalize_status(term: str) -> str:
    t = term.strip().lower().replace(" ", "_").replace("-", "_")
    aliases = {
        "inprogress": "in_progress",
        "progress": "in_progress",
        "started": "in_progress",
        "complete": "done",
        "completed": "done",
        "drop": "dropped",
        "stall": "stalled",
    }
    t = aliases.get(t, t)
    if t not in STATUSES:
        raise NotFound("status", term, list(STATUSES), _suggest(t, list(STATUSES), list(STATUSES)))
    return t


def _is_connectivity_error(exc: DBAPIError) -> bool:
    if getattr(exc, "connection_invalidated", False):
        return True
    msg = str(exc.orig if exc.orig is not None else exc).lower()
    markers = (
        "connection",
        "could not connect",
        "server closed",
        "terminating",
        "timeout",
        "unable to open",
        "database is locked",
        "disk i/o",
        "no such table",
    )
    return isinstance(exc, OperationalError) and any(m in msg for m in markers)


def _int():
    from sqlalchemy import Integer

    return Integer


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def _suggest(term: str, candidates: list[str], display: list[str]) -> str | None:
    hit = difflib.get_close_matches(term.lower(), [c.lower() for c in candidates], n=1, cutoff=0.6)
    if not hit:
        return None
    lowered = [c.lower() for c in candidates]
    return display[lowered.index(hit[0])]


def _resolve_cluster(clusters: list[ClusterRef], term: str) -> ClusterRef:
    t = term.strip().lower()
    slugs = [c.slug for c in clusters]
    for c in clusters:
        if t in (c.slug, c.prefix.lower()):
            return c
    hits = [c for c in clusters if t and c.slug.startswith(t)]
    if not hits:
        hits = [c for c in clusters if t and t in _words(c.title)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise Ambiguous("cluster", term, [c.slug for c in hits])
    candidates = slugs + [c.prefix.lower() for c in clusters]
    suggestion = _suggest(t, candidates, slugs + slugs)
    raise NotFound("cluster", term, slugs, suggestion)


def _cluster_ref(c: Cluster) -> ClusterRef:
    return ClusterRef(c.slug, c.prefix, c.title, c.summary)


def _step_view(step: Step, side: Side, cluster_slug: str) -> StepView:
    return StepView(
        key=step.key,
        cluster=cluster_slug,
        side=SideView(side.code, side.name),
        title=step.title,
        detail=step.detail,
        status=step.status,
        due_on=step.due_on,
        source=step.source,
        source_url=step.source_url,
        updated_at=step.updated_at,
    )


def _dev_view(d: Development, cluster_slug: str, step_key: str | None) -> DevelopmentView:
    return DevelopmentView(
        id=d.id,
        cluster=cluster_slug,
        step=step_key,
        text=d.text,
        author=d.author,
        occurred_on=d.occurred_on,
        precision=d.precision,
        recorded_at=d.recorded_at,
        source=d.source,
        url=d.url,
        permalink=d.permalink,
        slack_channel=d.slack_channel,
        slack_ts=d.slack_ts,
        retracted=d.retracted_at is not None,
    )


def _latest_developments(s: Session, condition, limit: int) -> list[DevelopmentView]:
    rows = s.exec(
        select(Development, Cluster.slug, Step.key)
        .join(Cluster, Cluster.id == Development.cluster_id)
        .outerjoin(Step, Step.id == Development.step_id)
        .where(condition, Development.retracted_at.is_(None))
        .order_by(Development.occurred_on.desc(), Development.id.desc())
        .limit(limit)
    ).all()
    return [_dev_view(*r) for r in rows]


def _pairs(s: Session, cluster_id: int | None = None, step_id: int | None = None) -> dict[int, list[PairView]]:
    """Reciprocal pairs keyed by the cluster of their first step."""
    a, b = aliased(Step), aliased(Step)
    sa_, sb = aliased(Side), aliased(Side)
    ca, cb = aliased(Cluster), aliased(Cluster)
    q = (
        select(a, sa_, ca.slug, b, sb, cb.slug)
        .select_from(Reciprocity)
        .join(a, a.id == Reciprocity.step_id)
        .join(b, b.id == Reciprocity.counterpart_id)
        .join(sa_, sa_.id == a.side_id)
        .join(sb, sb.id == b.side_id)
        .join(ca, ca.id == a.cluster_id)
        .join(cb, cb.id == b.cluster_id)
        .order_by(a.cluster_id, a.number, b.number)
    )
    if cluster_id is not None:
        q = q.where(or_(a.cluster_id == cluster_id, b.cluster_id == cluster_id))
    if step_id is not None:
        q = q.where(or_(a.id == step_id, b.id == step_id))
    out: dict[int, list[PairView]] = defaultdict(list)
    for st_a, sd_a, cs_a, st_b, sd_b, cs_b in s.exec(q).all():
        pair = PairView(_step_view(st_a, sd_a, cs_a), _step_view(st_b, sd_b, cs_b))
        key = cluster_id if cluster_id is not None else st_a.cluster_id
        out[key].append(pair)
    return out


def _wipe(s: Session) -> None:
    for model in (
        StepChange,
        Reciprocity,
        Development,
        ClusterThread,
        Step,
        Cluster,
        Side,
        RoadmapInfo,
        DigestSchedule,
    ):
        s.exec(delete(model))


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _key_order(key: str) -> tuple[str, int]:
    prefix, _, n = key.rpartition("-")
    return (prefix, int(n) if n.isdigit() else 0)


def _upsert_step(
    s: Session,
    steps: dict[str, Step],
    cluster: Cluster,
    side: Side,
    d: dict,
    actor: str,
    counts: dict[str, int],
) -> int:
    """Insert or update one step from a document; returns how many audited changes it made."""
    fields = {
        "cluster_id": cluster.id,
        "side_id": side.id,
        "number": _key_order(d["id"])[1],
        "title": d["title"].strip(),
        "detail": (d.get("detail") or "").strip(),
        "status": d.get("status", "proposed"),
        "due_on": d.get("due"),
        "source": (d.get("source") or "").strip(),
        "source_url": d.get("url"),
    }
    step = steps.get(d["id"])
    changes = 0
    if step is None:
        step = Step(key=d["id"], **fields)
        s.add(step)
        s.flush()
        steps[step.key] = step
        counts["steps"] += 1
        for h in d.get("history") or []:
            s.add(
                StepChange(
                    step_id=step.id,
                    changed_at=h["at"],
                    actor=str(h.get("actor", actor)),
                    field=h["field"],
                    old_value=_opt_str(h.get("from")),
                    new_value=_opt_str(h.get("to")),
                    note=h.get("note") or "",
                )
            )
        return 0
    for name, value in fields.items():
        old = getattr(step, name)
        if old != value:
            if name in ("status", "title", "detail", "due_on", "side_id"):
                s.add(
                    StepChange(
                        step_id=step.id,
                        actor=actor,
                        field=name,
                        old_value=_opt_str(old),
                        new_value=_opt_str(value),
                        note="imported",
                    )
                )
                changes += 1
            setattr(step, name, value)
    if changes:
        step.updated_at = utcnow()
    s.add(step)
    return changes


def _opt_str(value) -> str | None:
    return None if value is None else str(value)


def _import_developments(s: Session, devs: list[dict], clusters: dict, steps: dict) -> int:
    """Add the document's developments; a Slack message or a dated fact already in the store is never added twice."""
    seen = {
        (r.cluster_id, r.occurred_on, r.text)
        for r in s.exec(select(Development.cluster_id, Development.occurred_on, Development.text)).all()
    }
    added = 0
    for d in devs:
        cluster_id = clusters[d["cluster"]].id
        text = d["text"].strip()
        slack = d.get("slack") or {}
        values = dict(
            cluster_id=cluster_id,
            step_id=steps[d["step"]].id if d.get("step") else None,
            text=text,
            author=str(d.get("author") or "import"),
            occurred_on=d["date"],
            precision=d.get("precision", "day"),
            recorded_at=d.get("recorded_at") or utcnow(),
            source=(d.get("source") or "").strip(),
            url=d.get("url"),
            slack_channel=slack.get("channel"),
            slack_ts=str(slack["ts"]) if slack.get("ts") else None,
            permalink=slack.get("permalink"),
            edited_at=d.get("edited_at"),
            retracted_at=d.get("retracted_at"),
        )
        if values["slack_channel"]:
            new_id = s.exec(
                _insert_ignore(s, Development, values, ["slack_channel", "slack_ts"]).returning(Development.id)
            ).scalar()
            added += new_id is not None
        elif (cluster_id, d["date"], text) not in seen:
            # `seen` holds only what the store had before this import: two identical facts inside one file (two
            # people logging the same words the same day) are both kept, or a restore would lose one.
            s.add(Development(**values))
            added += 1
    return added


def _insert_ignore(s: Session, model, values: dict, conflict_cols: list[str]):
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect (plain insert() has no such clause)."""
    dialect = s.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model).values(**values)
    return ins.on_conflict_do_nothing(index_elements=conflict_cols)


# -- security ----
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_chars(text: str) -> str:
    """Drop C0 control characters other than tab and newlines: PostgreSQL refuses NUL in text (the command would
    fail on one backend and not the other), and ESC sequences would reach the console's terminal."""
    return _CONTROL_CHARS.sub("", text)
