"""Reading the roadmap: its clusters, sides and steps, and the status answers (overview, cluster, step,
open commitments). Every answer is a plain view, cached per process under data_version (store.cache)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from sqlalchemy import func, select

from store import names
from store.base import Database
from store.cache import ReadCache, cached_read
from store.errors import NotFound
from store.models import Cluster, Development, Roadmap, Side, Step, StepChange, StepOwner
from store.queries import (
    as_int,
    cluster_ref,
    find_step,
    first_open_pairs,
    latest_developments,
    step_view,
    tallied_pairs,
)
from store.queries import (
    pairs as list_pairs,
)
from store.roadmaps import Scope
from store.tallies import pair_tally
from store.views import (
    ChangeView,
    ClusterDetail,
    ClusterRef,
    ClusterSummary,
    PairView,
    SideProgress,
    SideView,
    StepDetail,
    StepView,
)


class RoadmapReads:
    def __init__(self, db: Database, cache: ReadCache, scope: Scope):
        self.db = db
        self.cache = cache
        self.scope = scope

    @property
    def rid(self) -> int | None:
        return self.scope.id

    # -- what the roadmap is made of ----------------------------------------------------------------------------
    @cached_read(structure=True)
    def info(self) -> dict[str, str]:
        """The roadmap's slug, title, description and sources (one per line); empty for an empty store."""
        with self.db.session() as s:
            r = s.get(Roadmap, self.rid) if self.rid is not None else None
        if r is None:
            return {}
        return {"slug": r.slug, "title": r.title, "description": r.description, "sources": r.sources}

    def title(self) -> str:
        return self.info().get("title", "Roadmap")

    @cached_read(structure=True)
    def clusters(self) -> list[ClusterRef]:
        with self.db.session() as s:
            return [cluster_ref(c) for c in s.exec(self._clusters()).scalars()]

    def cluster_title(self, slug: str) -> str:
        return next((c.title for c in self.clusters() if c.slug == slug), slug)

    @cached_read(structure=True)
    def sides(self) -> list[SideView]:
        with self.db.session() as s:
            q = select(Side).where(Side.roadmap_id == self.rid).order_by(Side.position)
            return [SideView(x.code, x.name) for x in s.exec(q).scalars()]

    def resolve_cluster(self, term: str) -> ClusterRef:
        """Slug, step prefix, unambiguous slug prefix, or a word of the title (case-insensitive)."""
        return names.resolve_cluster(self.clusters(), term)

    def resolve_side(self, term: str) -> SideView:
        return names.resolve_side(self.sides(), term)

    def resolve_scope(self, term: str) -> tuple[ClusterRef | None, SideView | None]:
        """A cluster or a side (`/roadmap ledger <cluster | side>`); (None, None) for an empty term."""
        return names.resolve_scope(self.clusters(), self.sides(), term)

    def step_exists(self, key: str) -> bool:
        with self.db.session() as s:
            return s.exec(select(Step.id).where(Step.roadmap_id == self.rid, Step.key == key)).first() is not None

    def existing_steps(self, keys: list[str]) -> set[str]:
        """Which of `keys` are step ids of this roadmap (one query)."""
        if not keys:
            return set()
        with self.db.session() as s:
            return set(s.exec(select(Step.key).where(Step.roadmap_id == self.rid, Step.key.in_(keys))).scalars())

    def steps_by_cluster(self) -> list[tuple[ClusterRef, list[StepView]]]:
        """Every cluster with its steps in order (for pickers)."""
        with self.db.session() as s:
            clusters = s.exec(self._clusters()).scalars().all()
            rows = s.exec(
                select(Step, Side, Cluster.slug)
                .join(Side, Side.id == Step.side_id)
                .join(Cluster, Cluster.id == Step.cluster_id)
                .where(Step.roadmap_id == self.rid)
                .order_by(Cluster.position, Step.number, Side.position)
            ).all()
        steps: dict[str, list[StepView]] = defaultdict(list)
        for step, side, slug in rows:
            steps[slug].append(step_view(step, side, slug))
        return [(cluster_ref(c), steps[c.slug]) for c in clusters]

    # -- status answers -----------------------------------------------------------------------------------------
    @cached_read
    def cluster_overview(self) -> list[ClusterSummary]:
        """Every cluster: progress per side, open pairs, who owes the next move, latest development.

        Bounded queries only: steps and pairs are counted in SQL (grouped by cluster, side and state, so the
        answer's size does not grow with the roadmap), and the latest development is one index probe per cluster.
        The counts stay cached while only developments are recorded (store/cache.py); the latest dates are read
        again after each."""
        counted = self._overview_counts()
        with self.db.session() as s:
            latest = (
                select(Development.occurred_on)
                .where(Development.cluster_id == Cluster.id, Development.retracted_at.is_(None))
                .order_by(Development.occurred_on.desc(), Development.id.desc())
                .limit(1)
                .correlate(Cluster)
                .scalar_subquery()
            )
            latest_on = dict(s.exec(select(Cluster.id, latest).where(Cluster.roadmap_id == self.rid)).all())
        return [replace(summary, latest_on=latest_on.get(cid)) for cid, summary in counted]

    @cached_read(structure=True)
    def _overview_counts(self) -> list[tuple[int, ClusterSummary]]:
        """cluster_overview without the latest development dates: (cluster id, summary) in cluster order."""
        with self.db.session() as s:
            clusters = s.exec(select(Cluster).where(Cluster.roadmap_id == self.rid).order_by(Cluster.position)).all()
            side_rows = s.exec(select(Side).where(Side.roadmap_id == self.rid)).scalars().all()
            sides = {x.id: SideView(x.code, x.name) for x in side_rows}
            side_order = {x.id: x.position for x in side_rows}
            counts = s.exec(
                select(Step.cluster_id, Step.side_id, func.count(), func.sum(as_int(Step.status == "done")))
                .where(Step.roadmap_id == self.rid)
                .group_by(Step.cluster_id, Step.side_id)
            ).all()
            tallies = pair_tally(s, self.rid)
        progress: dict[int, list[SideProgress]] = defaultdict(list)
        for cluster_id, side_id, total, done in sorted(counts, key=lambda r: side_order[r[1]]):
            progress[cluster_id].append(SideProgress(sides[side_id], int(done or 0), int(total)))
        out = []
        for (cluster,) in clusters:
            open_pairs = 0
            owed: dict[str, int] = defaultdict(int)
            owed_sides: dict[str, SideView] = {}
            for pair, n in tallied_pairs(tallies.get(cluster.id, []), sides):
                if not pair.is_open:
                    continue
                open_pairs += n
                for side in pair.owed_by:
                    owed[side.code] += n
                    owed_sides[side.code] = side
            summary = ClusterSummary(
                cluster=cluster_ref(cluster),
                # Tuples: immutable and hashable, so a cluster whose counts did not change renders from the memo.
                progress=tuple(progress.get(cluster.id, [])),
                open_pairs=open_pairs,
                owed=tuple(sorted(((owed_sides[c], n) for c, n in owed.items()), key=lambda x: -x[1])),
                latest_on=None,
                steps_total=sum(p.total for p in progress.get(cluster.id, [])),
            )
            out.append((cluster.id, summary))
        return out

    @cached_read
    def cluster_detail(self, slug: str, developments: int = 5, steps: int = 12, pairs: int = 12) -> ClusterDetail:
        """One cluster: every side's progress, its first `steps` steps per side (by number), its first
        `pairs` pairs with the pair counts, and the latest developments. Each list is an index range scan; all
        but the developments stay cached while only developments are recorded (store/cache.py)."""
        cluster_id, detail = self._cluster_structure(slug, steps, pairs)
        with self.db.session() as s:
            devs = latest_developments(s, Development.cluster_id == cluster_id, developments)
        return replace(detail, developments=devs)

    @cached_read(structure=True)
    def _cluster_structure(self, slug: str, steps: int, pairs: int) -> tuple[int, ClusterDetail]:
        """cluster_detail without its developments: (cluster id, detail)."""
        with self.db.session() as s:
            cluster = (
                s.exec(select(Cluster).where(Cluster.roadmap_id == self.rid, Cluster.slug == slug)).scalars().first()
            )
            if cluster is None:
                raise NotFound("cluster", slug, [c.slug for c in self.clusters()])
            side_rows = {x.id: x for x in s.exec(select(Side).where(Side.roadmap_id == self.rid)).scalars()}
            counts = s.exec(
                select(Step.side_id, func.count(), func.sum(as_int(Step.status == "done")))
                .where(Step.cluster_id == cluster.id)
                .group_by(Step.side_id)
            ).all()
            counts = sorted(counts, key=lambda r: side_rows[r[0]].position)
            sides = {i: SideView(x.code, x.name) for i, x in side_rows.items()}
            progress = [SideProgress(sides[i], int(d or 0), int(n)) for i, n, d in counts]
            grouped: list[tuple[SideView, list[StepView]]] = []
            shown: dict[int, str] = {}
            for side_id, _n, _done in counts:
                first = (
                    s.exec(
                        select(Step)
                        .where(Step.cluster_id == cluster.id, Step.side_id == side_id)
                        .order_by(Step.number)
                        .limit(steps)
                    )
                    .scalars()
                    .all()
                )
                shown.update({x.id: x.key for x in first})
                grouped.append((sides[side_id], [step_view(x, side_rows[side_id], cluster.slug) for x in first]))
            owners: dict[str, tuple[str, ...]] = {}
            if shown:  # the shown steps' own owners (a change of owners writes the step: data_version moves)
                q = select(StepOwner.step_id, StepOwner.owner).where(StepOwner.step_id.in_(list(shown)))
                for step_id, owner in s.exec(q.order_by(StepOwner.id)).all():
                    owners[shown[step_id]] = (*owners.get(shown[step_id], ()), owner)
            pair_views = list_pairs(s, self.rid, cluster_id=cluster.id, limit=pairs).get(cluster.id, [])
            states = tallied_pairs(pair_tally(s, self.rid, cluster_id=cluster.id).get(cluster.id, []), sides)
        return cluster.id, ClusterDetail(
            cluster_ref(cluster),
            grouped,
            pair_views,
            [],
            progress=progress,
            pairs_total=sum(n for _, n in states),
            open_pairs=sum(n for p, n in states if p.is_open),
            owners=owners,
        )

    @cached_read
    def step_detail(self, key: str, developments: int = 10, history: int = 20) -> StepDetail:
        """One step, its pairs and history (cached while only developments are recorded) and its latest
        developments (one index range scan)."""
        step_id, detail = self._step_structure(key, history)
        if not developments:
            return detail
        with self.db.session() as s:
            devs = latest_developments(s, Development.step_id == step_id, developments)
        return replace(detail, developments=devs)

    @cached_read(structure=True)
    def _step_structure(self, key: str, history: int) -> tuple[int, StepDetail]:
        """step_detail without its developments: (step id, detail)."""
        with self.db.session() as s:
            step = find_step(s, key, self.rid)
            side = s.get(Side, step.side_id)
            cluster = s.get(Cluster, step.cluster_id)
            view = step_view(step, side, cluster.slug)
            step_pairs = [p for ps in list_pairs(s, self.rid, step_id=step.id).values() for p in ps]
            changes = s.exec(
                select(StepChange)
                .where(StepChange.step_id == step.id)
                .order_by(StepChange.changed_at.desc(), StepChange.id.desc())
                .limit(history)
            ).scalars()
            hist = [ChangeView(c.changed_at, c.actor, c.field, c.old_value, c.new_value, c.note) for c in changes]
        return step.id, StepDetail(view, step_pairs, hist, [])

    def step(self, key: str) -> StepView:
        """One step's current state (no history, no developments)."""
        return self.step_detail(key, developments=0, history=0).step

    @cached_read(structure=True)
    def open_commitments(
        self, side: str | None = None, limit: int | None = 10
    ) -> list[tuple[ClusterRef, list[PairView], int]]:
        """Open reciprocal pairs per cluster: (cluster, its first `limit` open pairs, how many there are); with
        `side`, only pairs where that side owes a move. Bounded: the counts come from the pair tally (rows per
        side and state, not per pair) and only the listed pairs are read (one window query)."""
        with self.db.session() as s:
            clusters = s.exec(self._clusters()).scalars().all()
            side_rows = s.exec(select(Side).where(Side.roadmap_id == self.rid)).scalars().all()
            sides = {x.id: SideView(x.code, x.name) for x in side_rows}
            side_id = next((x.id for x in side_rows if x.code == side), None) if side else None
            tallies = pair_tally(s, self.rid)
            pair_ids = first_open_pairs(
                [c.id for c in clusters], limit if limit is not None else 10**9, side_id=side_id, owed_first=False
            )
            by_cluster = list_pairs(s, self.rid, pair_ids=pair_ids)
        out = []
        for c in clusters:
            total = sum(
                n
                for pair, n in tallied_pairs(tallies.get(c.id, []), sides)
                if pair.is_open and (side is None or any(x.code == side for x in pair.owed_by))
            )
            if total:
                out.append((cluster_ref(c), by_cluster.get(c.id, []), total))
        return out

    def _clusters(self):
        return select(Cluster).where(Cluster.roadmap_id == self.rid).order_by(Cluster.position)
