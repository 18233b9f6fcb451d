"""`find`: ranked full-text search (SQLite FTS5, PostgreSQL GIN tsvector), its grammar, and its index kept current."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from store import db
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.errors import Invalid, NotFound
from store.search_query import Term, fts5, parse
from tests.blockkit import message_text
from tests.slack_requests import answer, send_command
from tests.test_roadmaps import MOLDOVA

DAY = date(2025, 7, 1)


# -- the grammar (pure) -----------------------------------------------------------------------------------------
def test_words_phrases_and_filters_parse():
    q = parse('Kellogg "prisoner release" in:diplomatic side:us after:2025-06 before:2026')
    assert q.terms == (Term(("kellogg",)), Term(("prisoner", "release")))
    assert (q.cluster, q.side, q.after, q.before) == ("diplomatic", "us", date(2025, 6, 1), date(2026, 1, 1))
    assert parse("after:2025-06-21 talks").after == date(2025, 6, 21)


def test_what_a_user_types_is_never_search_syntax():
    q = parse('Kellogg OR NOT x* NEAR(a "AND" ) (')
    assert fts5(q) == '"kellogg" AND "or" AND "not" AND "x" AND "near a" AND "and"'
    assert [t.words for t in parse("no-aggression SEC-1").terms] == [("no", "aggression"), ("sec", "1")]
    assert parse("col:z kellogg").terms == (Term(("col", "z")), Term(("kellogg",)))


@pytest.mark.parametrize(
    "typed, says",
    [
        ("", "say what to search for"),
        ('"prisoner release', "quote is not closed"),
        ("x" * 5000, "5,000 characters"),
        ("<&> *** ()", "no word to search for"),
        ("in:security", "no word to search for"),
        ("talks after:2025-13", "is not a date"),
        ("talks after:yesterday", "is not a date"),
        ("talks after:2025-06 before:2025-01", "nothing can be after"),
        ("talks side:us side:by", "given twice"),
        ("a b c d e f g h i", "the limit is 8"),
    ],
)
def test_malformed_queries_get_a_clear_answer(typed, says):
    with pytest.raises(Invalid) as err:
        parse(typed)
    assert says in str(err.value)


# -- the store, on SQLite and PostgreSQL ----------------------------------------------------------------------------
def _log(store: RoadmapStore, words: str, **fields) -> int:
    fields.setdefault("cluster", "security")
    fields.setdefault("occurred_on", DAY)
    return store.developments.record(text=words, author="U1", **fields).development.id


def test_word_forms_match_and_phrases_keep_their_order(store):
    _log(store, "Minsk released the zqcourier after talks")
    assert [d.text for d in store.search("zqcourier release").developments] == [
        "Minsk released the zqcourier after talks"
    ]
    assert store.search('"released the zqcourier"').developments
    assert not store.search('"zqcourier released"').developments
    assert store.search("ZQCOURIER RELEASING").developments  # case and word form


def test_steps_match_by_id_title_and_detail(store):
    found = store.search("SEC-1")
    assert found.steps[0].key == "SEC-1"
    assert any(s.key == "SEC-1" for s in store.search("abet aggression").steps)


def test_relevance_first_then_newest(store):
    _log(store, "zqrank mentioned once among many other words about a meeting in the capital city", occurred_on=DAY)
    _log(store, "zqrank zqrank zqrank", occurred_on=date(2025, 1, 1))
    _log(store, "zqrank zqrank zqrank", cluster="economic", occurred_on=date(2025, 3, 1))
    found = store.search("zqrank").developments
    assert [(d.text, d.occurred_on) for d in found] == [
        ("zqrank zqrank zqrank", date(2025, 3, 1)),
        ("zqrank zqrank zqrank", date(2025, 1, 1)),
        ("zqrank mentioned once among many other words about a meeting in the capital city", DAY),
    ]


def test_filters_narrow_by_cluster_side_and_date(store):
    _log(store, "zqfilter security cluster", occurred_on=date(2025, 5, 31))
    _log(store, "zqfilter on a Belarus step", step="SEC-1", occurred_on=date(2025, 6, 1))
    _log(store, "zqfilter economic", cluster="economic", occurred_on=date(2025, 7, 2))

    def texts(q):
        return sorted(d.text for d in store.search(q).developments)

    assert texts("zqfilter in:security") == ["zqfilter on a Belarus step", "zqfilter security cluster"]
    assert texts("zqfilter side:belarus") == ["zqfilter on a Belarus step"]
    assert texts("zqfilter side:us") == []
    assert texts("zqfilter after:2025-06") == ["zqfilter economic", "zqfilter on a Belarus step"]
    assert texts("zqfilter before:2025-06") == ["zqfilter security cluster"]
    assert texts("zqfilter after:2025-06 before:2025-07") == ["zqfilter on a Belarus step"]
    assert {s.side.code for s in store.search("commit side:by").steps} == {"BY"}
    assert {s.cluster for s in store.search("commit in:sec").steps} == {"security"}
    with pytest.raises(NotFound) as err:
        store.search("zqfilter in:atlantis")
    assert "security" in err.value.choices


def test_counts_beyond_the_page_are_exact(store):
    for i in range(13):
        _log(store, f"zqcount item {i}")
    found = store.search("zqcount", limit=10)
    assert (len(found.developments), found.developments_total, found.more_developments) == (10, 13, 3)


def test_snippets_mark_the_hit_and_keep_text_apart_from_marks(store):
    _log(store, "Before *bold* <!channel> then the zqsnip word and more")
    found = store.search("zqsnip")
    parts = found.dev_snippets[0].parts
    assert ("zqsnip", True) in parts
    assert "".join(p for p, _ in parts) == "Before *bold* <!channel> then the zqsnip word and more"


def test_the_index_follows_edits_retractions_imports_and_replacements(store, seed_doc):
    slack = SlackMessage("C1", "1751371200.000100")
    store.developments.record(text="zqold wording", author="U1", cluster="security", slack=slack)
    assert store.search("zqold").developments
    store.developments.edit("C1", slack.ts, text="zqnew wording", edited_at=datetime.now(UTC), cluster="security")
    assert not store.search("zqold").developments
    assert store.search("zqnew").developments
    store.developments.retract("C1", slack.ts)
    assert not store.search("zqnew").developments
    doc = copy.deepcopy(seed_doc)
    doc["clusters"][0]["steps"][0]["title"] = "Zqimported title"
    store.transfer.import_doc(doc, replace=True)
    assert [s.title for s in store.search("zqimported").steps] == ["Zqimported title"]
    assert store.search("Kellogg").developments  # the replaced roadmap's developments are indexed again


def test_rows_written_before_the_migration_are_indexed_by_it(engine_factory):
    engine = engine_factory()
    db.upgrade(engine, "0005_outbox")
    # Rows as the schema of 0005 holds them (the store's code now needs later tables, so plain SQL).
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO roadmap (slug, title, description, sources, created_at) "
                "VALUES ('us-belarus', 'Roadmap', '', '', '2025-06-01 00:00:00')"
            )
        )
        rid = conn.execute(text("SELECT id FROM roadmap")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO cluster (roadmap_id, slug, prefix, title, summary, position) "
                "VALUES (:r, 'security', 'SEC', 'Security', '', 0)"
            ),
            dict(r=rid),
        )
        cid = conn.execute(text("SELECT id FROM cluster WHERE slug = 'security'")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO development (cluster_id, text, author, occurred_on, precision, recorded_at, source) "
                "VALUES (:c, 'zqlegacy row', 'import', '2025-06-01', 'day', '2025-06-01 00:00:00', '')"
            ),
            dict(c=cid),
        )
    db.upgrade(engine)
    assert [d.text for d in RoadmapStore(engine).search("zqlegacy").developments] == ["zqlegacy row"]


def test_no_roadmap_sees_anothers_hits(store):
    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    belarus, moldova = store.for_roadmap("us-belarus"), store.for_roadmap("moldova")
    _log(moldova, "zqclash in Chisinau")
    assert [d.text for d in moldova.search("zqclash").developments] == ["zqclash in Chisinau"]
    assert belarus.search("zqclash").developments == []
    assert [s.title for s in moldova.search("SEC-1").steps] == ["Reduce checkpoints on the Dniester bridges"]
    assert "checkpoints" not in " ".join(s.title for s in belarus.search("SEC-1").steps)
    assert moldova.search("Kellogg").developments == [] and belarus.search("Kellogg").developments


# -- through Slack ------------------------------------------------------------------------------------------------
def test_find_answers_with_marked_snippets_and_how_to_narrow(web, store):
    for i in range(12):
        _log(store, f"zqslack <@U999> item {i}")
    message = answer(web, 'find zqslack "item 1"')
    raw = json.dumps(message)
    body = message_text(message)
    assert "*zqslack*" in body and "<@U999>" not in raw and "&lt;@U999&gt;" in raw
    assert "No step matches." in body
    message = answer(web, "find zqslack")
    body = message_text(message)
    assert "… 2 more developments match" in body and "in:&lt;cluster&gt;" in body


@pytest.mark.parametrize("typed", ['"unbalanced', "x" * 5000, "NEAR(a b) OR *", "find after:soon x", "\\ ' ; --"])
def test_malformed_finds_get_an_answer_never_a_500(web, typed):
    response = send_command(web, f"find {typed}")
    assert response.status == 200, response.body
    assert json.loads(response.body)["blocks"]


def test_postgresql_searches_through_the_gin_indexes(store, engine, backend):
    """The query must repeat the indexed expression exactly, or PostgreSQL scans every row."""
    if backend != "postgresql":
        pytest.skip("SQLite searches its FTS5 tables, which are the index")
    from sqlalchemy import event

    with engine.begin() as conn:  # enough rows for the planner to prefer an index, as in any real roadmap
        conn.execute(
            text(
                "INSERT INTO development (cluster_id, text, author, occurred_on, precision, recorded_at, source) "
                "SELECT c.id, 'filler words ' || g, 'x', '2025-01-01', 'day', now(), '' "
                "FROM generate_series(1, 3000) g, (SELECT min(id) AS id FROM cluster) c"
            )
        )
        conn.execute(
            text(
                "INSERT INTO step (roadmap_id, key, number, cluster_id, side_id, title, detail, status, source, "
                "created_at, updated_at) SELECT s.roadmap_id, 'GEN-' || g, g, s.cluster_id, s.side_id, "
                "'filler step ' || g, '', 'proposed', '', now(), now() "
                "FROM generate_series(1, 3000) g, (SELECT * FROM step ORDER BY id LIMIT 1) s"
            )
        )
        conn.execute(text("ANALYZE development"))
        conn.execute(text("ANALYZE step"))
    seen: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "@@" in statement and "LIMIT" in statement and "count(" not in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        store.search("Kellogg")
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    plans = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            plans.append(" ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)))
    assert any("ix_development_search" in p for p in plans), plans
    assert any("ix_step_search" in p for p in plans), plans
