"""Status answers are cached per process only while nothing has changed: database triggers bump data_version
with every write, from any process and any write path."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, update
from sqlmodel import Session, select

from store.api import RoadmapStore
from store.developments import SlackMessage
from store.models import Cluster, Development, Step


def _progress(store: RoadmapStore, slug: str, side: str) -> tuple[int, int]:
    summary = next(c for c in store.roadmap.cluster_overview() if c.cluster.slug == slug)
    p = next(p for p in summary.progress if p.side.code == side)
    return p.done, p.total


def test_a_write_in_another_process_is_seen_at_once(store, engine_factory):
    other = RoadmapStore(engine_factory())  # a second process: its own engine, its own cache
    before = _progress(store, "security", "BY")
    assert store.roadmap.cluster_overview() is store.roadmap.cluster_overview()  # cached while nothing changes
    other.steps.set_status("SEC-1", "done", actor="U0OTHER1")
    assert _progress(store, "security", "BY") == (before[0] + 1, before[1])
    assert store.roadmap.step_detail("SEC-1").step.status == "done"


def test_writes_that_bypass_the_api_still_invalidate(store):
    overview = store.roadmap.cluster_overview()
    detail = store.roadmap.cluster_detail("economic")
    with Session(store.engine) as s:
        cluster_id = s.exec(select(Cluster.id).where(Cluster.slug == "economic")).one()
        s.exec(
            insert(Development).values(
                cluster_id=cluster_id,
                text="Bulk-loaded fact",
                author="import",
                occurred_on=date(2030, 1, 1),
                precision="day",
                source="",
            )
        )
        s.exec(update(Step).where(Step.key == "ECO-1").values(status="agreed"))
        s.commit()
    assert store.roadmap.cluster_overview() is not overview
    latest = next(c for c in store.roadmap.cluster_overview() if c.cluster.slug == "economic").latest_on
    assert latest == date(2030, 1, 1)
    fresh = store.roadmap.cluster_detail("economic")
    assert fresh is not detail and fresh.developments[0].text == "Bulk-loaded fact"
    assert store.roadmap.step_detail("ECO-1").step.status == "agreed"


def test_import_and_retraction_invalidate(store, seed_doc):
    store.developments.record(
        text="Soon retracted", author="U0ABCDEF", cluster="ukraine", slack=SlackMessage("C1", "1.5")
    )
    assert store.search("Soon retracted").developments
    assert store.roadmap.cluster_detail("ukraine").developments[0].text == "Soon retracted"
    store.developments.retract("C1", "1.5", None)
    assert all(d.text != "Soon retracted" for d in store.roadmap.cluster_detail("ukraine").developments)
    store.transfer.import_doc(seed_doc, replace=True)
    assert next(c.slug for c in store.roadmap.clusters()) == "security"
    assert store.roadmap.step_detail("SEC-1").history == []


def test_a_snapshot_reads_the_version_once_and_still_sees_other_processes_afterwards(store, engine_factory):
    other = RoadmapStore(engine_factory())
    reads = []
    original = store.cache.data_version
    store.cache.data_version = lambda: reads.append(1) or original()
    with store.snapshot():
        (
            store.roadmap.info(),
            store.roadmap.clusters(),
            store.roadmap.cluster_overview(),
            store.roadmap.cluster_detail("security"),
        )
    assert len(reads) == 1
    other.steps.set_status("SEC-2", "done", actor="U0OTHER1")
    assert store.roadmap.step_detail("SEC-2").step.status == "done"


def test_a_development_keeps_the_counts_and_pairs_cached_and_a_step_change_does_not(store, engine_factory):
    """development has its own counter (migration 0006): recording one re-reads only what shows developments."""
    other = RoadmapStore(engine_factory())  # the writer is another process
    commitments = store.roadmap.open_commitments()
    counts = store.roadmap._overview_counts()
    detail = store.roadmap.cluster_detail("economic")
    other.developments.record(text="Fresh fact", author="U1", cluster="economic", occurred_on=date.today())
    assert store.roadmap.open_commitments() is commitments  # steps and pairs only: still valid
    assert store.roadmap._overview_counts() is counts
    latest = next(c for c in store.roadmap.cluster_overview() if c.cluster.slug == "economic").latest_on
    assert latest == date.today()
    fresh = store.roadmap.cluster_detail("economic")
    assert fresh is not detail and fresh.developments[0].text == "Fresh fact"
    assert fresh.steps_by_side is detail.steps_by_side  # the structure part reused
    pair = commitments[0][1][0]
    other.steps.set_status(pair.first.key, "done", actor="U1")
    assert store.roadmap.open_commitments() is not commitments
    assert store.roadmap._overview_counts() is not counts
