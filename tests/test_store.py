"""The store: migrations from empty, the seeded roadmap's integrity, import/export, uniqueness in the database."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store import db
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.errors import Invalid, NotFound
from store.models import Development, Reciprocity, Side, Step
from store.roadmap_file import RoadmapFileError, dump, parse

SLUGS = ["security", "economic", "humanitarian", "mediation", "ukraine", "diplomatic"]


def test_migrations_build_the_schema_from_empty(engine_factory):
    engine = engine_factory()
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {
        "step",
        "side",
        "cluster",
        "reciprocity",
        "development",
        "step_change",
        "cluster_thread",
        "digest_run",
        "digest_schedule",
        "alembic_version",
    } <= tables
    head = ScriptDirectory.from_config(db.alembic_config(engine)).get_current_head()
    assert db.current_revision(engine) == head
    assert db.head_revision() == head, "migration files are named after their revision (a start reads heads so)"
    db.upgrade(engine)  # idempotent: every process may run it on start
    assert db.current_revision(engine) == head


def test_migrations_match_the_models(engine):
    """Autogenerate finds nothing to do: the migrations and the SQLModel models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from store.models import metadata
    from store.search_sql import in_models

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": in_models}), metadata)
    assert diff == []


def test_seed_has_the_six_clusters_in_order(store):
    assert [c.slug for c in store.roadmap.clusters()] == SLUGS


def test_seed_integrity(store, engine):
    with Session(engine) as s:
        steps = s.exec(select(Step)).scalars().all()
        sides = {x.id: x.code for x in s.exec(select(Side)).scalars()}
        pairs = s.exec(select(Reciprocity)).scalars().all()
    by_id = {x.id: x for x in steps}
    assert len(steps) >= 30
    for step in steps:
        assert step.cluster_id and step.side_id, step.key
        assert step.source, f"{step.key} has no citation"
    assert len(pairs) >= 15
    for p in pairs:
        assert by_id[p.step_id].side_id != by_id[p.counterpart_id].side_id, (p.step_id, p.counterpart_id)
    sides_per_cluster = defaultdict(set)
    for step in steps:
        sides_per_cluster[step.cluster_id].add(sides[step.side_id])
    assert len(sides_per_cluster) == 6
    assert all(len(v) >= 2 for v in sides_per_cluster.values()), sides_per_cluster


def test_seed_holds_the_brief_and_the_article(store):
    """The headline recommendations and the article's dated events are there, findable by search."""
    security = store.roadmap.cluster_detail("security")
    steps = {s.key: s for _, group in security.steps_by_side for s in group}
    nato = [s for s in steps.values() if s.side.code == "BY" and "NATO" in s.title]
    assert nato, "Belarus's commitment not to abet aggression against NATO states"
    pledge = store.roadmap.step_detail(nato[0].key)
    counterparts = [p.counterpart_of(nato[0].key) for p in pledge.pairs]
    assert any(c.side.code == "US" and "government" in c.title.lower() for c in counterparts)

    for words, when in [
        ("Kellogg", date(2025, 6, 21)),
        ("Tsikhanouski", date(2025, 6, 21)),
        ("Nuhfer", None),
        ("Ziankovich", None),
        ("Pompeo", date(2020, 2, 1)),
        ("Zapad", date(2025, 6, 11)),
    ]:
        found = store.search(words)
        assert found.developments, f"no development mentions {words}"
        if when:
            assert when in {d.occurred_on for d in found.developments}, words
    migrants = store.search("migrant")
    assert any(s.side.code == "BY" for s in migrants.steps)
    border = store.search("border crossings")
    assert {"PL", "LT"} <= {s.side.code for s in border.steps}


def test_overview_counts_and_next_move(store):
    overview = {c.cluster.slug: c for c in store.roadmap.cluster_overview()}
    assert list(overview) == SLUGS
    sec = overview["security"]
    assert sec.steps_total == sum(p.total for p in sec.progress)
    assert sec.open_pairs >= 1
    assert sec.latest_on is not None


def test_next_move_follows_status(store):
    pair = store.roadmap.open_commitments()[0][1][0]
    a, b = pair.first, pair.second
    assert {s.code for s in pair.owed_by} == {a.side.code, b.side.code}  # neither done: both owe
    store.steps.set_status(a.key, "done", actor="U1", note="signed")
    after = store.roadmap.step_detail(a.key).pairs
    moved = next(p for p in after if b.key in (p.first.key, p.second.key))
    assert [s.code for s in moved.owed_by] == [b.side.code]
    assert any(
        any(x.code == b.side.code for x in p.owed_by)
        for _, ps, _n in store.roadmap.open_commitments(b.side.code)
        for p in ps
    )


def test_set_status_records_history(store):
    change = store.steps.set_status("sec-1", "agreed", actor="U42", note="agreed in Minsk")
    assert change.changed and change.old_status == "proposed" and change.step.status == "agreed"
    again = store.steps.set_status("SEC-1", "agreed", actor="U42")
    assert not again.changed
    history = store.roadmap.step_detail("SEC-1").history
    assert [(h.actor, h.old_value, h.new_value, h.note) for h in history] == [
        ("U42", "proposed", "agreed", "agreed in Minsk")
    ]


def test_unknown_step_status_and_cluster_name_the_choices(store):
    with pytest.raises(NotFound) as e:
        store.steps.set_status("SEC-99", "done", actor="U1")
    assert "SEC-1" in e.value.choices
    with pytest.raises(NotFound) as e:
        store.steps.set_status("SEC-1", "finished", actor="U1")
    assert "done" in e.value.choices
    with pytest.raises(NotFound) as e:
        store.roadmap.resolve_cluster("securty")
    assert e.value.suggestion == "security" and set(SLUGS) == set(e.value.choices)


@pytest.mark.parametrize(
    "term,slug",
    [
        ("security", "security"),
        ("SEC", "security"),
        ("eco", "economic"),
        ("Ukraine", "ukraine"),
        ("hum", "humanitarian"),
        ("Poland", "mediation"),
    ],
)
def test_cluster_resolution(store, term, slug):
    assert store.roadmap.resolve_cluster(term).slug == slug


def test_slack_message_is_stored_once(store):
    kwargs = dict(
        text="Border crossing at Kuźnica reopened",
        author="U7",
        cluster="mediation",
        slack=SlackMessage("C1", "1700000000.000100"),
    )
    first = store.developments.record(**kwargs)
    second = store.developments.record(**kwargs)
    assert first.created and not second.created
    assert first.development.id == second.development.id
    assert len(store.search("Kuźnica").developments) == 1


def test_unique_slack_message_is_a_database_constraint(engine, store):
    """Even bypassing the API, the database refuses a second row for one Slack message."""
    cluster_id = 1
    with Session(engine) as s:
        for _ in range(2):
            s.add(
                Development(
                    cluster_id=cluster_id,
                    text="x",
                    author="U1",
                    occurred_on=date(2025, 1, 1),
                    slack_channel="C1",
                    slack_ts="1.1",
                )
            )
        with pytest.raises(IntegrityError):
            s.commit()


def test_development_text_is_capped_and_nothing_is_stored(store):
    before = store.search("zzlimit").developments
    with pytest.raises(Invalid, match="limit is 4,000"):
        store.developments.record(text="zzlimit " + "x" * 4000, author="U1", cluster="security")
    assert store.search("zzlimit").developments == before


def test_export_import_round_trip(store, engine_factory, seed_doc):
    store.steps.set_status("ECO-1", "in_progress", actor="U9", note="talks opened")
    store.developments.record(
        text="Talks opened",
        author="U9",
        step="ECO-1",
        slack=SlackMessage("C9", "9.9", "https://policy.slack.com/archives/C9/p99"),
    )
    exported = store.transfer.export_doc()
    text = dump(exported)
    reparsed = parse(text)
    assert reparsed == exported  # the YAML writer loses nothing

    other = RoadmapStore(engine_factory())
    db.upgrade(other.engine)
    other.transfer.import_doc(reparsed)
    assert other.transfer.export_doc() == exported
    assert other.roadmap.step_detail("ECO-1").history[0].note == "talks opened"
    # Importing the same file again adds nothing.
    counts = other.transfer.import_doc(reparsed)
    assert counts["developments"] == 0 and counts["pairs"] == 0 and counts["steps"] == 0


def test_import_replace_restores_a_backup(store):
    backup = store.transfer.export_doc()
    store.steps.set_status("SEC-1", "dropped", actor="U1")
    store.transfer.import_doc(backup, replace=True)
    assert store.roadmap.step_detail("SEC-1").step.status == "proposed"
    assert store.transfer.export_doc() == backup


def test_invalid_roadmap_files_are_refused_with_every_problem(seed_doc):
    bad = dump(seed_doc).replace("side: BY", "side: XX", 1).replace("status: proposed", "status: maybe", 1)
    with pytest.raises(RoadmapFileError) as e:
        parse(bad)
    joined = "\n".join(e.value.errors)
    assert "XX" in joined and "maybe" in joined
    with pytest.raises(RoadmapFileError):
        parse(
            "format: roadmap/1\nsides: [{code: A, name: A}, {code: B, name: B}]\nclusters:\n"
            "  - {slug: one, prefix: ONE, title: One, steps: [{id: ONE-1, side: A, title: t, answers: [ONE-2]},"
            " {id: ONE-2, side: A, title: u}]}\n"
        )


def test_another_roadmap_loads_with_nothing_hard_wired(empty_store):
    doc = parse(
        """
format: roadmap/1
roadmap: {title: Armenia–Azerbaijan peace track}
sides: [{code: AM, name: Armenia}, {code: AZ, name: Azerbaijan}]
clusters:
  - slug: borders
    prefix: BRD
    title: Border delimitation
    steps:
      - {id: BRD-1, side: AM, title: Publish the delimitation maps, answers: [BRD-2]}
      - {id: BRD-2, side: AZ, title: Withdraw from the disputed heights}
developments:
  - {date: 2025-08-08, cluster: borders, text: Initialled in Washington}
"""
    )
    empty_store.transfer.import_doc(doc)
    assert [c.slug for c in empty_store.roadmap.clusters()] == ["borders"]
    assert empty_store.roadmap.info()["title"] == "Armenia–Azerbaijan peace track"
    assert empty_store.roadmap.cluster_overview()[0].open_pairs == 1


def test_seed_if_empty_only_once(empty_store, seed_doc):
    assert empty_store.transfer.seed_if_empty(seed_doc) is True
    assert empty_store.transfer.seed_if_empty(seed_doc) is False
    assert len(empty_store.roadmap.clusters()) == 6
