"""The one module that reads and writes the roadmap. Handlers, the CLI and the scheduler call it;
it returns plain views (store.views), never ORM objects, and each call is one transaction."""

from __future__ import annotations

import difflib
import functools
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from store.models import (
    OPEN_STATUSES,
    STATUSES,
    Cluster,
    ClusterThread,
    DataVersion,
    Development,
    DigestRun,
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
    ClusterDigest,
    ClusterRef,
    ClusterSummary,
    DevelopmentView,
    DigestContent,
    DigestRunView,
    DigestScheduleView,
    DueChange,
    PairView,
    Recorded,
    SearchResult,
    SideProgress,
    SideTotals,
    SideView,
    StaleStep,
    StatusChange,
    StepDetail,
    StepView,
    ThreadSlot,
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


_DATA_VERSION = select(DataVersion.n).where(DataVersion.id == 1)


def _cached_read(method):
    """Cache a read method's answer in this process while the roadmap's data_version stays the same.

    Database triggers bump data_version in the same transaction as any write to the tables status answers read
    (migration 0003), so every process sees a change at once; the cache only spares recomputing answers nothing
    has changed since."""

    @functools.wraps(method)
    def cached(self: RoadmapStore, *args, **kwargs):
        key = (method.__name__, args, tuple(sorted(kwargs.items())))
        return self._cached(key, lambda: method(self, *args, **kwargs))

    return cached


class RoadmapStore:
    CACHE_ENTRIES = 512

    def __init__(self, engine: Engine):
        self.engine = engine
        # Readers use a deferred transaction on SQLite; writers take the write lock at BEGIN (store.db).
        self._read_engine = engine.execution_options(readonly=True)
        self._cache: dict[tuple, object] = {}
        self._cache_version: int | None = None
        self._cache_lock = threading.Lock()
        self._local = threading.local()  # the version of an open snapshot(), per thread

    def data_version(self) -> int:
        # Core, not a Session: this runs before every cached answer, so it is kept to one indexed read.
        try:
            with self._read_engine.connect() as conn:
                return conn.execute(_DATA_VERSION).scalar_one()
        except (OperationalError, DBAPIError) as exc:
            if not _is_connectivity_error(exc):
                raise
            raise StoreUnavailable("the roadmap store is unavailable, try again in a moment") from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Cached reads inside this block share one data_version read: one round trip for a whole answer.

        For read-only work only: a write inside the block would not be seen by the cached reads after it."""
        if getattr(self._local, "version", None) is not None:
            yield
            return
        self._local.version = self.data_version()
        try:
            yield
        finally:
            self._local.version = None

    def _cached(self, key: tuple, compute):
        # The version is read before the data: an answer is never older than the version it is filed under.
        version = getattr(self._local, "version", None)
        if version is None:
            version = self.data_version()
        with self._cache_lock:
            if version != self._cache_version:
                self._cache.clear()
                self._cache_version = version
            elif key in self._cache:
                return self._cache[key]
        value = compute()
        with self._cache_lock:
            if self._cache_version == version and len(self._cache) < self.CACHE_ENTRIES:
                self._cache[key] = value
        return value

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

    @_cached_read
    def info(self) -> dict[str, str]:
        with self._session() as s:
            return {r.key: r.value for r in s.exec(select(RoadmapInfo)).scalars()}

    @_cached_read
    def clusters(self) -> list[ClusterRef]:
        with self._session() as s:
            return [_cluster_ref(c) for c in s.exec(select(Cluster).order_by(Cluster.position)).scalars()]

    @_cached_read
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
    @_cached_read
    def cluster_overview(self) -> list[ClusterSummary]:
        """Every cluster: progress per side, open pairs, who owes the next move, latest development.

        Bounded queries only: steps and pairs are counted in SQL (grouped by cluster, side and state, so the
        answer's size does not grow with the roadmap), and the latest development is one index probe per cluster.
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
            side_rows = s.exec(select(Side)).scalars().all()
            sides = {x.id: SideView(x.code, x.name) for x in side_rows}
            side_order = {x.id: x.position for x in side_rows}
            counts = s.exec(
                select(
                    Step.cluster_id,
                    Step.side_id,
                    func.count(),
                    func.sum(func.cast(Step.status == "done", _int())),
                ).group_by(Step.cluster_id, Step.side_id)
            ).all()
            tallies = _pair_tally(s)
        progress: dict[int, list[SideProgress]] = defaultdict(list)
        for cluster_id, side_id, total, done in sorted(counts, key=lambda r: side_order[r[1]]):
            progress[cluster_id].append(SideProgress(sides[side_id], int(done or 0), int(total)))
        out = []
        for cluster, latest_on in clusters:
            open_pairs = 0
            owed: dict[str, int] = defaultdict(int)
            owed_sides: dict[str, SideView] = {}
            for a_side, a_state, b_side, b_state, n in tallies.get(cluster.id, []):
                # One representative pair per (side, state) combination: PairView keeps the one rule.
                pair = PairView(_state_step(sides[a_side], a_state), _state_step(sides[b_side], b_state))
                if not pair.is_open:
                    continue
                open_pairs += n
                for side in pair.owed_by:
                    owed[side.code] += n
                    owed_sides[side.code] = side
            out.append(
                ClusterSummary(
                    cluster=_cluster_ref(cluster),
                    progress=progress.get(cluster.id, []),
                    open_pairs=open_pairs,
                    owed=sorted(((owed_sides[c], n) for c, n in owed.items()), key=lambda x: -x[1]),
                    latest_on=latest_on,
                    steps_total=sum(p.total for p in progress.get(cluster.id, [])),
                )
            )
        return out

    @_cached_read
    def cluster_detail(self, slug: str, developments: int = 5, steps: int = 12, pairs: int = 12) -> ClusterDetail:
        """One cluster: every side's progress, its first `steps` steps per side (by number), its first `pairs`
        pairs with the pair counts, and the latest developments. Bounded: each list is an index range scan."""
        with self._session() as s:
            cluster = s.exec(select(Cluster).where(Cluster.slug == slug)).scalars().first()
            if cluster is None:
                raise NotFound("cluster", slug, [c.slug for c in self.clusters()])
            side_rows = {x.id: x for x in s.exec(select(Side)).scalars()}
            counts = s.exec(
                select(Step.side_id, func.count(), func.sum(func.cast(Step.status == "done", _int())))
                .where(Step.cluster_id == cluster.id)
                .group_by(Step.side_id)
            ).all()
            counts = sorted(counts, key=lambda r: side_rows[r[0]].position)
            sides = {i: SideView(x.code, x.name) for i, x in side_rows.items()}
            progress = [SideProgress(sides[i], int(d or 0), int(n)) for i, n, d in counts]
            grouped: list[tuple[SideView, list[StepView]]] = []
            for side_id, _n, _done in counts:
                side = side_rows[side_id]
                first = s.exec(
                    select(Step)
                    .where(Step.cluster_id == cluster.id, Step.side_id == side_id)
                    .order_by(Step.number)
                    .limit(steps)
                ).scalars()
                grouped.append((sides[side_id], [_step_view(x, side, cluster.slug) for x in first]))
            pair_views = _pairs(s, cluster_id=cluster.id, limit=pairs).get(cluster.id, [])
            tally = _pair_tally(s, cluster_id=cluster.id).get(cluster.id, [])
            states = [(PairView(_state_step(sides[a], sa), _state_step(sides[b], sb)), n) for a, sa, b, sb, n in tally]
            devs = _latest_developments(s, Development.cluster_id == cluster.id, developments)
        return ClusterDetail(
            _cluster_ref(cluster),
            grouped,
            pair_views,
            devs,
            progress=progress,
            pairs_total=sum(n for _, n in states),
            open_pairs=sum(n for p, n in states if p.is_open),
        )

    @_cached_read
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

    @_cached_read
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
        text = _checked_text(text)
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
        view, old = self._change_step(key, "status", normalize_status(status), actor, note)
        return StatusChange(view, old, old != view.status)

    def set_due(self, key: str, due_on: date | None, actor: str, note: str = "") -> DueChange:
        """Set or clear a step's due date, recorded in its history like a status change."""
        view, old = self._change_step(key, "due_on", due_on, actor, note)
        return DueChange(view, old, old != due_on)

    def _change_step(self, key: str, field: str, value, actor: str, note: str) -> tuple[StepView, object]:
        """Change one field of a step and record who, when, before, after and why in its history, in one
        transaction; nothing is written when the value is already what was asked."""
        with self._session(write=True) as s:
            step = self._step(s, key)
            old = getattr(step, field)
            if old != value:
                setattr(step, field, value)
                step.updated_at = utcnow()
                s.add(step)
                s.add(
                    StepChange(
                        step_id=step.id,
                        actor=actor,
                        field=field,
                        old_value=_opt_str(old),
                        new_value=_opt_str(value),
                        note=strip_control_chars(note).strip(),
                    )
                )
            view = _step_view(step, s.get(Side, step.side_id), s.get(Cluster, step.cluster_id).slug)
        return view, old

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
            # A near miss within the typed cluster prefix (ECO-99 → ECO-9), never a jump to another cluster.
            prefix = norm.rsplit("-", 1)[0]
            same = [k for k in keys if k.rsplit("-", 1)[0] == prefix] or keys
            raise NotFound("step", key, keys, _suggest(norm, same, same))
        return step

    def _development_view(self, s: Session, dev_id: int) -> DevelopmentView:
        row = s.exec(
            select(Development, Cluster.slug, Step.key)
            .join(Cluster, Cluster.id == Development.cluster_id)
            .outerjoin(Step, Step.id == Development.step_id)
            .where(Development.id == dev_id)
        ).one()
        return _dev_view(*row)

    # -- digest ----------------------------------------------------------------------------------------
    def digest_content(
        self,
        *,
        today: date,
        since: datetime,
        stale_days: int,
        developments_per_cluster: int = 15,
        items_per_list: int = 20,
    ) -> DigestContent:
        """What the weekly digest reports, per cluster, in a fixed number of queries whatever the store's size.

        Every count (open pairs, who owes, overdue, stale, per side and per cluster) is exact and computed in SQL;
        the lists carry the first `items_per_list` of each per cluster (pairs where one side owes the next move
        first, the longest overdue first, stale ones in roadmap order), so a digest stays readable and bounded however
        large the roadmap grows. Stale: an open step with no (unretracted) development dated on or after
        `today - stale_days`, via NOT EXISTS on the (step_id, occurred_on) index. New developments: recorded
        after `since`, at most `developments_per_cluster` per cluster, with how many more there were.
        """
        cutoff = today - timedelta(days=stale_days)
        open_ = Step.status.in_(OPEN_STATUSES)
        live = Development.retracted_at.is_(None)
        recent = (
            select(Development.id)
            .where(Development.step_id == Step.id, Development.occurred_on >= cutoff, live)
            .correlate(Step)
            .exists()
        )
        is_stale = and_(open_, ~recent)
        is_overdue = and_(open_, Step.due_on < today)
        with self._session() as s:
            title = s.exec(select(RoadmapInfo.value).where(RoadmapInfo.key == "title")).scalar() or "Roadmap"
            clusters = s.exec(select(Cluster).order_by(Cluster.position)).scalars().all()
            sides = s.exec(select(Side).order_by(Side.position)).scalars().all()
            side_view = {x.id: SideView(x.code, x.name) for x in sides}
            counts = s.exec(
                select(
                    Step.cluster_id,
                    Step.side_id,
                    func.count(),
                    func.sum(func.cast(Step.status == "done", _int())),
                    func.sum(func.cast(open_, _int())),
                    func.sum(func.cast(is_overdue, _int())),
                    func.sum(func.cast(is_stale, _int())),
                ).group_by(Step.cluster_id, Step.side_id)
            ).all()
            tallies = _pair_tally(s)
            pairs = _pairs(s, pair_ids=_first_open_pairs(items_per_list))
            steps_q = (
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .order_by(Cluster.position, Step.number)
            )
            overdue = s.exec(
                steps_q.where(Step.id.in_(_first_per_cluster(is_overdue, (Step.due_on, Step.number), items_per_list)))
            ).all()
            last_on = (
                select(func.max(Development.occurred_on))
                .where(Development.step_id == Step.id, live)
                .correlate(Step)
                .scalar_subquery()
            )
            # In roadmap order: ordering by each step's latest development would compute it for every stale step;
            # `last_on` is computed only for the steps shown.
            stale = s.exec(
                steps_q.add_columns(last_on).where(
                    Step.id.in_(_first_per_cluster(is_stale, (Step.number,), items_per_list))
                )
            ).all()
            # New developments: a range on ix_development_recorded, so the work grows with what is new this week,
            # not with the store (a window function over the whole table tempted SQLite into a full index scan).
            new_keys = s.exec(
                select(Development.id, Development.cluster_id, Development.occurred_on).where(
                    Development.recorded_at > since, live
                )
            ).all()
            newest: dict[int, list] = defaultdict(list)
            for dev_id, cluster_id, occurred_on in new_keys:
                newest[cluster_id].append((occurred_on, dev_id))
            new_count = {cid: len(rows) for cid, rows in newest.items()}
            shown_ids = [
                i for rows in newest.values() for _, i in sorted(rows, reverse=True)[:developments_per_cluster]
            ]
            new_rows = s.exec(
                select(Development, Cluster.slug, Step.key)
                .join(Cluster, Cluster.id == Development.cluster_id)
                .outerjoin(Step, Step.id == Development.step_id)
                .where(Development.id.in_(shown_ids))
                .order_by(Development.occurred_on.desc(), Development.id.desc())
            ).all()
        slug_id = {c.slug: c.id for c in clusters}
        by_cluster: dict[int, dict] = {
            c.id: dict(progress=[], overdue=[], stale=[], developments=[], more=0, n_overdue=0, n_stale=0)
            for c in clusters
        }
        order = {x.id: x.position for x in sides}
        totals = {x.id: dict(open=0, done=0, owed=0, overdue=0, stale=0) for x in sides}
        for cluster_id, side_id, total, done, opened, late, stale_n in sorted(counts, key=lambda r: order[r[1]]):
            entry = by_cluster[cluster_id]
            entry["progress"].append(SideProgress(side_view[side_id], int(done or 0), int(total)))
            entry["n_overdue"] += int(late or 0)
            entry["n_stale"] += int(stale_n or 0)
            totals[side_id]["done"] += int(done or 0)
            totals[side_id]["open"] += int(opened or 0)
            totals[side_id]["overdue"] += int(late or 0)
            totals[side_id]["stale"] += int(stale_n or 0)
        for step, side, slug in sorted(overdue, key=lambda r: (r[0].due_on, r[0].number)):
            by_cluster[step.cluster_id]["overdue"].append(_step_view(step, side, slug))
        for step, side, slug, last in stale:
            by_cluster[step.cluster_id]["stale"].append(StaleStep(_step_view(step, side, slug), last))
        for dev, slug, key in new_rows:
            entry = by_cluster[slug_id[slug]]
            entry["developments"].append(_dev_view(dev, slug, key))
            entry["more"] = new_count[dev.cluster_id] - min(new_count[dev.cluster_id], developments_per_cluster)
        side_ids = {x.code: x.id for x in sides}
        out = []
        for c in clusters:
            entry = by_cluster[c.id]
            open_total = 0
            for a_side, a_state, b_side, b_state, n in tallies.get(c.id, []):
                # One representative pair per (side, state) combination: PairView keeps the one rule.
                pair = PairView(_state_step(side_view[a_side], a_state), _state_step(side_view[b_side], b_state))
                if pair.is_open:
                    open_total += n
                    for owing in pair.owed_by:
                        totals[side_ids[owing.code]]["owed"] += n
            shown = sorted((p for p in pairs.get(c.id, []) if p.is_open), key=lambda p: len(p.owed_by) != 1)
            out.append(
                ClusterDigest(
                    cluster=_cluster_ref(c),
                    progress=entry["progress"],
                    open_pairs=shown,
                    overdue=entry["overdue"],
                    stale=entry["stale"],
                    developments=entry["developments"],
                    more_developments=entry["more"],
                    open_pairs_total=open_total,
                    overdue_total=entry["n_overdue"],
                    stale_total=entry["n_stale"],
                )
            )
        # Sides without a step of their own (observers in the roadmap file) have nothing to total.
        with_steps = {side_id for _, side_id, *_ in counts}
        side_totals = [SideTotals(side_view[x.id], **totals[x.id]) for x in sides if x.id in with_steps]
        return DigestContent(title, today, since, stale_days, out, side_totals)

    def claim_digest(
        self,
        channel: str,
        period: str,
        worker: str,
        *,
        now: datetime,
        stale_after: timedelta,
        retry_after: Callable[[int], timedelta],
    ) -> DigestRunView | None:
        """Claim one (channel, period) for sending; None if it is not this worker's to send.

        The first claim is INSERT … ON CONFLICT DO NOTHING RETURNING on the unique (channel, period). An existing
        row is taken over only when it failed and its backoff (`retry_after(attempts)`) is over, or when it has
        been 'claimed' for longer than `stale_after` (its worker crashed mid-send: the caller must check Slack
        for the message before posting again). The takeover is a compare-and-set on the attempt count, so two
        workers never both win it. The returned view's `attempts` counts this attempt.
        """
        with self._session(write=True) as s:
            values = dict(channel=channel, period=period, status="claimed", claimed_by=worker, claimed_at=now)
            new_id = s.exec(
                _insert_ignore(s, DigestRun, dict(values, attempts=1), ["channel", "period"]).returning(DigestRun.id)
            ).scalar()
            if new_id is None:
                row = s.exec(
                    select(DigestRun).where(DigestRun.channel == channel, DigestRun.period == period)
                ).scalar_one()
                if row.status == "sent":
                    return None
                if row.status == "claimed" and row.claimed_at > now - stale_after:
                    return None
                if row.status == "failed" and row.claimed_at > now - retry_after(row.attempts):
                    return None
                new_id = s.exec(
                    update(DigestRun)
                    .where(
                        DigestRun.id == row.id,
                        DigestRun.status == row.status,
                        DigestRun.attempts == row.attempts,
                    )
                    .values(**values, attempts=row.attempts + 1)
                    .returning(DigestRun.id)
                ).scalar()
                if new_id is None:
                    return None
            row = s.exec(select(DigestRun).where(DigestRun.id == new_id)).scalar_one()
            return _run_view(row)

    def finish_digest(
        self,
        run: DigestRunView,
        *,
        now: datetime,
        message_ts: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record how a claimed attempt ended: sent (with the first message's ts) or failed (with the reason).

        Only the attempt that holds the claim may record it (a worker taken over as stale cannot overwrite).
        """
        status = "failed" if error else "sent"
        with self._session(write=True) as s:
            done = s.exec(
                update(DigestRun)
                .where(
                    DigestRun.id == run.id,
                    DigestRun.status == "claimed",
                    DigestRun.attempts == run.attempts,
                )
                .values(status=status, finished_at=now, message_ts=message_ts, error=(error or None) and error[:2000])
                .returning(DigestRun.id)
            ).scalar()
        return done is not None

    def last_sent_digest(self, channel: str) -> DigestRunView | None:
        """The channel's latest successful digest (its claim time is when its content was read)."""
        with self._session() as s:
            row = s.exec(
                select(DigestRun)
                .where(DigestRun.channel == channel, DigestRun.status == "sent")
                .order_by(DigestRun.claimed_at.desc(), DigestRun.id.desc())
                .limit(1)
            ).scalar()
        return _run_view(row) if row else None

    def digest_runs(self, channel: str | None = None, limit: int = 50) -> list[DigestRunView]:
        with self._session() as s:
            q = select(DigestRun).order_by(DigestRun.claimed_at.desc(), DigestRun.id.desc()).limit(limit)
            if channel:
                q = q.where(DigestRun.channel == channel)
            return [_run_view(r) for r in s.exec(q).scalars()]

    def digest_schedules(self) -> list[DigestScheduleView]:
        with self._session() as s:
            rows = s.exec(select(DigestSchedule).order_by(DigestSchedule.channel)).scalars().all()
        return [_schedule_view(r) for r in rows]

    def digest_schedule(self, channel: str) -> DigestScheduleView | None:
        with self._session() as s:
            row = s.get(DigestSchedule, channel)
        return _schedule_view(row) if row else None

    def set_digest_schedule(
        self, channel: str, *, cron: str, timezone: str, enabled: bool, updated_by: str, now: datetime | None = None
    ) -> DigestScheduleView:
        """Create or replace a channel's schedule (one row per channel: an upsert, not read-then-write)."""
        values = dict(
            channel=channel,
            cron=cron,
            timezone=timezone,
            enabled=enabled,
            updated_by=updated_by,
            updated_at=now or utcnow(),
        )
        with self._session(write=True) as s:
            s.exec(_upsert(s, DigestSchedule, values, ["channel"]))
            row = s.exec(select(DigestSchedule).where(DigestSchedule.channel == channel)).scalar_one()
            return _schedule_view(row)

    # -- threads ------------------------------------------------------------------------------------
    def claim_cluster_threads(self, channel: str, actor: str) -> list[ThreadSlot]:
        """Every cluster's parent message in `channel`: the posted ones, and a claim for each missing one.

        The claim is a row holding a placeholder ts, inserted with ON CONFLICT DO NOTHING on (channel, cluster):
        of two runs racing in one channel, only one gets to post a cluster's parent. A claim left behind by a
        run that died before confirming is taken over after PENDING_CLAIM_SECONDS.
        """
        slots = []
        with self._session(write=True) as s:
            for cluster in s.exec(select(Cluster).order_by(Cluster.position)).scalars():
                claim = _new_claim()
                values = dict(channel=channel, ts=claim, cluster_id=cluster.id, created_by=actor, created_at=utcnow())
                got = s.exec(
                    _insert_ignore(s, ClusterThread, values, ["channel", "cluster_id"]).returning(ClusterThread.id)
                ).scalar()
                if got is not None:
                    slots.append(ThreadSlot(cluster.slug, claim=claim))
                    continue
                row = s.exec(
                    select(ClusterThread).where(
                        ClusterThread.channel == channel, ClusterThread.cluster_id == cluster.id
                    )
                ).scalar_one()
                if not _is_claim(row.ts):
                    slots.append(ThreadSlot(cluster.slug, ts=row.ts))
                elif (utcnow() - row.created_at).total_seconds() > PENDING_CLAIM_SECONDS:
                    taken = self._swap_thread_ts(s, channel, cluster.id, row.ts, claim)
                    slots.append(ThreadSlot(cluster.slug, claim=claim if taken else None))
                else:
                    slots.append(ThreadSlot(cluster.slug))
        return slots

    def reclaim_cluster_thread(self, channel: str, cluster: str, lost_ts: str) -> str | None:
        """Claim the right to repost a parent that Slack no longer has; None if another run already did."""
        claim = _new_claim()
        with self._session(write=True) as s:
            cluster_id = self._cluster_id(s, cluster)
            return claim if self._swap_thread_ts(s, channel, cluster_id, lost_ts, claim) else None

    def confirm_cluster_thread(self, channel: str, cluster: str, claim: str, ts: str) -> bool:
        """Record the posted parent's ts in place of the claim."""
        with self._session(write=True) as s:
            return self._swap_thread_ts(s, channel, self._cluster_id(s, cluster), claim, ts)

    def release_cluster_thread(self, channel: str, cluster: str, claim: str) -> None:
        """Give up a claim (the post failed), so that the next run posts the parent."""
        with self._session(write=True) as s:
            s.exec(
                delete(ClusterThread).where(
                    ClusterThread.channel == channel,
                    ClusterThread.cluster_id == self._cluster_id(s, cluster),
                    ClusterThread.ts == claim,
                )
            )

    def thread_cluster(self, channel: str, thread_ts: str) -> str | None:
        """The cluster whose parent message is (channel, thread_ts), or None for any other thread."""
        with self._session() as s:
            return s.exec(
                select(Cluster.slug)
                .join(ClusterThread, ClusterThread.cluster_id == Cluster.id)
                .where(ClusterThread.channel == channel, ClusterThread.ts == thread_ts)
            ).scalar()

    def slack_development(self, channel: str, ts: str) -> DevelopmentView | None:
        """The development recorded from a Slack message (retracted ones included), if any."""
        with self._session() as s:
            dev_id = s.exec(
                select(Development.id).where(Development.slack_channel == channel, Development.slack_ts == ts)
            ).scalar()
            return self._development_view(s, dev_id) if dev_id is not None else None

    def set_development_permalink(self, channel: str, ts: str, permalink: str) -> bool:
        """Fill in a Slack development's permalink (fetched after the row was stored); False if none to fill."""
        with self._session(write=True) as s:
            return (
                s.exec(
                    update(Development)
                    .where(
                        Development.slack_channel == channel,
                        Development.slack_ts == ts,
                        Development.permalink.is_(None),
                    )
                    .values(permalink=permalink[:2000])
                    .returning(Development.id)
                ).first()
                is not None
            )

    def edit_slack_development(
        self, channel: str, ts: str, *, text: str, edited_at: datetime, cluster: str, step: str | None = None
    ) -> DevelopmentView | None:
        """Apply an edit of the Slack message a development came from: new text, and the step it now names
        (or none, back to `cluster`). An edit older than the last one applied is ignored, so a late retry
        cannot undo a newer edit. None if there is no such (unretracted) development or the edit is stale."""
        text = _checked_text(text)
        with self._session(write=True) as s:
            if step:
                step_row = self._step(s, step)
                cluster_id, step_id = step_row.cluster_id, step_row.id
            else:
                cluster_id, step_id = self._cluster_id(s, cluster), None
            dev_id = s.exec(
                update(Development)
                .where(
                    Development.slack_channel == channel,
                    Development.slack_ts == ts,
                    Development.retracted_at.is_(None),
                    or_(Development.edited_at.is_(None), Development.edited_at < edited_at),
                )
                .values(text=text, cluster_id=cluster_id, step_id=step_id, edited_at=edited_at)
                .returning(Development.id)
            ).scalar()
            return self._development_view(s, dev_id) if dev_id is not None else None

    def retract_slack_development(self, channel: str, ts: str, at: datetime | None = None) -> bool:
        """Retract the development of a deleted Slack message: kept (and exported) but no longer shown."""
        with self._session(write=True) as s:
            return (
                s.exec(
                    update(Development)
                    .where(
                        Development.slack_channel == channel,
                        Development.slack_ts == ts,
                        Development.retracted_at.is_(None),
                    )
                    .values(retracted_at=at or utcnow())
                    .returning(Development.id)
                ).first()
                is not None
            )

    def steps_by_cluster(self) -> list[tuple[ClusterRef, list[StepView]]]:
        """Every cluster with its steps in order (for pickers)."""
        with self._session() as s:
            clusters = s.exec(select(Cluster).order_by(Cluster.position)).scalars().all()
            rows = s.exec(
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .order_by(Cluster.position, Step.number, Side.position)
            ).all()
        steps: dict[str, list[StepView]] = defaultdict(list)
        for step, side, slug in rows:
            steps[slug].append(_step_view(step, side, slug))
        return [(_cluster_ref(c), steps[c.slug]) for c in clusters]

    def _cluster_id(self, s: Session, slug: str) -> int:
        cluster_id = s.exec(select(Cluster.id).where(Cluster.slug == slug)).scalar()
        if cluster_id is None:
            raise NotFound("cluster", slug, [c.slug for c in self.clusters()])
        return cluster_id

    def _swap_thread_ts(self, s: Session, channel: str, cluster_id: int, old: str, new: str) -> bool:
        """Compare-and-set of a thread row's ts: the database decides which of two racing runs wins."""
        return (
            s.exec(
                update(ClusterThread)
                .where(
                    ClusterThread.channel == channel,
                    ClusterThread.cluster_id == cluster_id,
                    ClusterThread.ts == old,
                )
                .values(ts=new, created_at=utcnow())
                .returning(ClusterThread.id)
            ).first()
            is not None
        )


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


def _pairs(
    s: Session,
    cluster_id: int | None = None,
    step_id: int | None = None,
    limit: int | None = None,
    pair_ids=None,
) -> dict[int, list[PairView]]:
    """Reciprocal pairs keyed by the cluster of their first step (the first `limit` of them, if given)."""
    a, b, sa_, sb, ca, cb = _PAIR_ALIASES  # built once: fresh aliases per call cost more than the query
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
        q = q.where(_pair_in_cluster(cluster_id))
    if step_id is not None:
        # On the pair's own indexed columns, so both backends probe ix_reciprocity_* instead of scanning pairs.
        q = q.where(or_(Reciprocity.step_id == step_id, Reciprocity.counterpart_id == step_id))
    if pair_ids is not None:
        q = q.where(Reciprocity.id.in_(pair_ids))
    if limit is not None:
        q = q.limit(limit)
    out: dict[int, list[PairView]] = defaultdict(list)
    for st_a, sd_a, cs_a, st_b, sd_b, cs_b in s.exec(q).all():
        pair = PairView(_step_view(st_a, sd_a, cs_a), _step_view(st_b, sd_b, cs_b))
        key = cluster_id if cluster_id is not None else st_a.cluster_id
        out[key].append(pair)
    return out


def _first_per_cluster(condition, order_by: tuple, n: int):
    """Ids of the first `n` steps per cluster that meet `condition`, in `order_by` order (a window function)."""
    ranked = (
        select(Step.id.label("id"), func.row_number().over(partition_by=Step.cluster_id, order_by=order_by).label("rn"))
        .where(condition)
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.rn <= n)


def _first_open_pairs(n: int):
    """Ids of the first `n` open pairs per cluster (of the first step): those where exactly one side owes the next
    move (its counterpart is done) first, then by step number."""
    a, b = aliased(Step), aliased(Step)
    a_open, b_open = a.status.in_(OPEN_STATUSES), b.status.in_(OPEN_STATUSES)
    one_owes = or_(and_(a.status == "done", b_open), and_(b.status == "done", a_open))
    ranked = (
        select(
            Reciprocity.id.label("id"),
            func.row_number()
            .over(partition_by=a.cluster_id, order_by=(case((one_owes, 0), else_=1), a.number, b.number))
            .label("rn"),
        )
        .join(a, a.id == Reciprocity.step_id)
        .join(b, b.id == Reciprocity.counterpart_id)
        .where(or_(a_open, b_open))
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.rn <= n)


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


def _dialect_insert(s: Session, model, values: dict):
    """An INSERT of the session's dialect: plain insert() has no ON CONFLICT clause."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model).values(**values)


def _insert_ignore(s: Session, model, values: dict, conflict_cols: list[str]):
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    return _dialect_insert(s, model, values).on_conflict_do_nothing(index_elements=conflict_cols)


# -- digest helpers ---------------------------------------------------------------------------------------------


def _run_view(r: DigestRun) -> DigestRunView:
    return DigestRunView(
        id=r.id,
        channel=r.channel,
        period=r.period,
        status=r.status,
        claimed_by=r.claimed_by,
        claimed_at=r.claimed_at,
        finished_at=r.finished_at,
        attempts=r.attempts,
        error=r.error,
        message_ts=r.message_ts,
    )


def _schedule_view(r: DigestSchedule) -> DigestScheduleView:
    return DigestScheduleView(r.channel, r.cron, r.timezone, r.enabled, r.updated_by, r.updated_at)


def _upsert(s: Session, model, values: dict, conflict_cols: list[str]):
    """INSERT … ON CONFLICT DO UPDATE for the session's dialect: the row ends up holding `values`."""
    ins = _dialect_insert(s, model, values)
    changed = {k: ins.excluded[k] for k in values if k not in conflict_cols}
    return ins.on_conflict_do_update(index_elements=conflict_cols, set_=changed)


# -- threads helpers ------------------------------------------------------------------------------------------

# A claim older than this belongs to a run that died between claiming and posting; it may be taken over.
PENDING_CLAIM_SECONDS = 120
_CLAIM_PREFIX = "pending-"


def _new_claim() -> str:
    return _CLAIM_PREFIX + uuid.uuid4().hex[:16]


def _is_claim(ts: str) -> bool:
    return ts.startswith(_CLAIM_PREFIX)


def _checked_text(text: str) -> str:
    """A development's text as stored: control characters dropped, trimmed, non-empty, within the limit."""
    text = strip_control_chars(text or "").strip()
    if not text:
        raise Invalid("a development needs some text")
    if len(text) > MAX_DEVELOPMENT_CHARS:
        raise Invalid(
            f"that development is {len(text):,} characters; the limit is {MAX_DEVELOPMENT_CHARS:,}. "
            "Shorten it or link to the full text."
        )
    return text


# -- status (bounded queries) -----------------------------------------------------------------------------------

_PAIR_ALIASES = (
    aliased(Step, name="step_a"),
    aliased(Step, name="step_b"),
    aliased(Side, name="side_a"),
    aliased(Side, name="side_b"),
    aliased(Cluster, name="cluster_a"),
    aliased(Cluster, name="cluster_b"),
)


def _state(status):
    """A step's status as the three states that decide a pair: done, dropped, or open."""
    return case((status == "done", "done"), (status == "dropped", "dropped"), else_="open")


def _state_step(side: SideView, state: str) -> StepView:
    status = state if state in ("done", "dropped") else "proposed"
    return StepView("", "", side, "", "", status, None, "", None)


def _pair_tally(s: Session, cluster_id: int | None = None) -> dict[int, list[tuple[int, str, int, str, int]]]:
    """Pairs counted by (cluster of the first step, each step's side and state): rows bounded by the number of
    sides and states, however many pairs there are."""
    a, b = _PAIR_ALIASES[0], _PAIR_ALIASES[1]
    state_a, state_b = _state(a.status), _state(b.status)
    q = (
        select(a.cluster_id, a.side_id, state_a, b.side_id, state_b, func.count())
        .select_from(Reciprocity)
        .join(a, a.id == Reciprocity.step_id)
        .join(b, b.id == Reciprocity.counterpart_id)
        .group_by(a.cluster_id, a.side_id, state_a, b.side_id, state_b)
    )
    if cluster_id is not None:
        q = q.where(_pair_in_cluster(cluster_id))
    out: dict[int, list[tuple[int, str, int, str, int]]] = defaultdict(list)
    for c_id, a_side, a_state, b_side, b_state, n in s.exec(q).all():
        out[cluster_id if cluster_id is not None else c_id].append((a_side, a_state, b_side, b_state, int(n)))
    return out


def _pair_in_cluster(cluster_id: int):
    """Pairs with a step in the cluster, found through the indexes (the cluster's step ids, then the pairs'
    step columns) rather than by joining every pair first."""
    ids = select(Step.id).where(Step.cluster_id == cluster_id)
    return or_(Reciprocity.step_id.in_(ids), Reciprocity.counterpart_id.in_(ids))


# -- security ----
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_chars(text: str) -> str:
    """Drop C0 control characters other than tab and newlines: PostgreSQL refuses NUL in text (the command would
    fail on one backend and not the other), and ESC sequences would reach the console's terminal."""
    return _CONTROL_CHARS.sub("", text)
