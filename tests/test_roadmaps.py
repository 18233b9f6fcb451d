"""Several roadmaps in one store: each channel follows its own. Two roadmaps whose cluster slugs and step ids clash
(`security`, `SEC-1` in both), every command answered from the channel's roadmap over signed requests, import and
export per roadmap and of the whole store, and the migration of a store that predates roadmaps."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from bot.app import create_app
from bot.cli import main
from bot.web import SlackWSGI
from store import db
from store.api import RoadmapStore
from store.errors import Invalid
from store.roadmap_file import dump, parse
from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import answer, send_event
from tests.test_record_shortcut import element, open_modal
from tests.test_threads import reply, run_threads, threads_of

EDITOR, READER = "U0EDITOR", "U0READER"
BY, MD, NEW = "C0BELARUS", "C0MOLDOVA", "C0NEWCHAN"

MOLDOVA = {
    "format": "roadmap/1",
    "roadmap": {"slug": "moldova", "title": "Moldova–Transnistria settlement track"},
    "sides": [{"code": "MD", "name": "Moldova"}, {"code": "TN", "name": "Transnistria"}],
    "clusters": [
        {
            "slug": "security",
            "prefix": "SEC",
            "title": "Security zone and peacekeeping",
            "steps": [
                {
                    "id": "SEC-1",
                    "side": "MD",
                    "title": "Reduce checkpoints on the Dniester bridges",
                    "answers": ["SEC-2"],
                },
                {"id": "SEC-2", "side": "TN", "title": "Open the Gura Bicului bridge to freight"},
            ],
        },
        {
            "slug": "economy",
            "prefix": "ECN",
            "title": "Trade and licences",
            "steps": [{"id": "ECN-1", "side": "TN", "title": "Register Tiraspol exporters in Chisinau"}],
        },
    ],
    "developments": [
        {"date": date(2025, 5, 2), "cluster": "security", "step": "SEC-1", "text": "Chisinau lifted two checkpoints"}
    ],
}


@pytest.fixture
def two(store) -> RoadmapStore:
    """The seeded U.S.–Belarus roadmap plus Moldova, each followed by a channel of its own."""
    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    store.roadmaps.bind(BY, "us-belarus", EDITOR)
    store.roadmaps.bind(MD, "moldova", EDITOR)
    return store


@pytest.fixture
def web(settings, two):
    return SlackWSGI(create_app(dataclasses.replace(settings, editors=(EDITOR,)), two), two)


def said(web, command: str, channel: str, user: str = EDITOR) -> str:
    message = answer(web, command, channel=channel, user=user)
    assert_valid_message(message)
    return message_text(message)


def test_every_read_answers_from_the_channels_roadmap(web):
    assert "Moldova–Transnistria" in said(web, "status", MD) and "U.S.–Belarus" not in said(web, "status", MD)
    assert "U.S.–Belarus" in said(web, "status", BY)
    assert "Security zone and peacekeeping" in said(web, "status security", MD)
    assert "Security cooperation" in said(web, "status security", BY)
    assert "Dniester" in said(web, "status SEC-1", MD) and "Dniester" not in said(web, "status SEC-1", BY)
    assert "Transnistria" in said(web, "commitments", MD) and "Belarus" not in said(web, "commitments", MD)
    assert "Chisinau lifted" in said(web, "find checkpoints", MD)
    assert "Chisinau lifted" not in said(web, "find checkpoints", BY)
    assert "economy" in said(web, "help", MD) and "economy" not in said(web, "help", BY)


def test_writes_land_in_the_channels_roadmap_only(web, two):
    assert "Recorded" in said(web, "log SEC-1 Bridge talks resumed", MD, user=READER)
    said(web, "set SEC-2 agreed opened for a trial week", MD)
    said(web, "due SEC-1 2026-03-01", MD)
    moldova, belarus = two.for_roadmap("moldova"), two.for_roadmap("us-belarus")
    assert moldova.roadmap.step("SEC-2").status == "agreed" and moldova.roadmap.step("SEC-1").due_on == date(2026, 3, 1)
    assert belarus.roadmap.step("SEC-2").status == "proposed" and belarus.roadmap.step("SEC-1").due_on is None
    assert [d.text for d in moldova.search("Bridge talks").developments] == ["Bridge talks resumed"]
    assert belarus.search("Bridge talks").developments == []


def test_a_channel_that_follows_none_is_told_the_roadmaps_and_how_to_bind(web, two):
    text = said(web, "status", NEW)
    assert "follows no roadmap" in text and "moldova" in text and "us-belarus" in text and "/roadmap use" in text
    assert "Recorded" not in said(web, "log security something", NEW)
    assert two.for_roadmap("moldova").search("something").developments == []


def test_a_command_can_name_its_roadmap(web):
    assert "Security zone and peacekeeping" in said(web, "moldova: status security", NEW)
    assert "Security cooperation" in said(web, "us-belarus: status security", MD)
    text = said(web, "narnia: status", NEW)
    assert "no roadmap “narnia”" in text and "moldova" in text and "us-belarus" in text


def test_roadmaps_lists_them_with_their_channels_and_use_binds_for_editors_only(web, two):
    text = said(web, "roadmaps", MD)
    assert "moldova" in text and f"<#{MD}>" in text and f"<#{BY}>" in text
    assert "Only editors" in said(web, "use moldova", NEW, user=READER)
    assert two.roadmaps.bound_to(NEW) is None
    assert "now follows" in said(web, "use moldova", NEW)
    assert "Security zone" in said(web, "status security", NEW)
    assert "There is no roadmap" in said(web, "use atlantis", NEW)


def test_threads_digest_and_shortcut_act_on_the_channels_roadmap(web, two, fake_slack):
    run_threads(web, fake_slack, channel=MD, user=EDITOR)
    moldova = two.for_roadmap("moldova")
    posted = threads_of(moldova, MD)
    assert set(posted) == {"security", "economy"}
    assert send_event(web, reply("SEC-2 open again for zzlorries", posted["security"], channel=MD)).status == 200
    assert [d.step for d in moldova.search("zzlorries").developments] == ["SEC-2"]
    assert two.for_roadmap("us-belarus").search("zzlorries").developments == []
    preview = said(web, "digest preview", MD)
    assert "Moldova–Transnistria" in preview and "Belarus" not in preview


def test_the_shortcut_offers_only_the_channels_steps(web, fake_slack, monkeypatch):
    import tests.test_record_shortcut as shortcut

    monkeypatch.setattr(shortcut, "CHANNEL", MD)
    view = open_modal(web, fake_slack, "Bridge news")
    assert [o["value"] for o in element(view, "cluster")["options"]] == ["security", "economy"]


def test_export_and_import_one_roadmap_and_the_whole_store(two, engine_factory):
    moldova_doc = two.for_roadmap("moldova").transfer.export_doc()
    assert moldova_doc["roadmap"]["slug"] == "moldova" and moldova_doc["roadmap"]["channels"] == [MD]
    whole = two.transfer.export_store()
    assert [r["roadmap"]["slug"] for r in whole["roadmaps"]] == ["us-belarus", "moldova"]

    fresh_engine = engine_factory()
    db.upgrade(fresh_engine)
    fresh = RoadmapStore(fresh_engine)
    fresh.transfer.import_doc(parse(dump(whole)), replace=True)
    assert fresh.transfer.export_store() == whole  # a whole-store backup restores exactly

    # --replace of one roadmap leaves the other alone.
    fresh.for_roadmap("moldova").steps.set_status("SEC-1", "done", actor="U1")
    fresh.transfer.import_doc(parse(dump(moldova_doc)), replace=True)
    assert fresh.for_roadmap("moldova").roadmap.step("SEC-1").status == "proposed"
    assert fresh.for_roadmap("us-belarus").transfer.export_doc() == two.for_roadmap("us-belarus").transfer.export_doc()


def test_a_slug_clash_with_another_title_asks_for_replace_or_a_new_slug(two):
    clash = copy.deepcopy(MOLDOVA)
    clash["roadmap"]["title"] = "Something else entirely"
    with pytest.raises(Invalid, match="--replace"):
        two.transfer.import_doc(clash)
    assert two.for_roadmap("moldova").roadmap.title() == "Moldova–Transnistria settlement track"
    anonymous = copy.deepcopy(MOLDOVA)
    del anonymous["roadmap"]["slug"]
    with pytest.raises(Invalid, match="names no roadmap"):
        two.transfer.import_doc(anonymous)


def test_the_console_takes_a_roadmap(two, monkeypatch, capsys, tmp_path, engine):
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "sqlite":
        pytest.skip("the console test opens the store by URL; the schema-per-test PostgreSQL URL is not one")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("ROADMAP_SEED", raising=False)
    assert main(["ask", "--roadmap", "moldova", "status", "security"]) == 0
    assert "Security zone and peacekeeping" in capsys.readouterr().out
    assert main(["ask", "status"]) == 1
    assert "follows no roadmap" in capsys.readouterr().out
    assert main(["export", "--roadmap", "atlantis"]) == 1
    assert "moldova" in capsys.readouterr().err


# -- the migration from a store that predates roadmaps ---------------------------------------------------------


def test_migration_from_0003_keeps_every_row(engine_factory):
    engine = engine_factory()
    db.upgrade(engine, "0003_data_version")
    now = datetime(2025, 7, 1, 12, tzinfo=UTC)
    with engine.begin() as conn:
        run = conn.execute
        run(text("INSERT INTO roadmap_info (key, value) VALUES ('title', 'Old title'), ('sources', 'a\nb')"))
        run(
            text(
                "INSERT INTO side (id, code, name, position) "
                "VALUES (1, 'US', 'United States', 0), (2, 'BY', 'Belarus', 1)"
            )
        )
        run(
            text(
                "INSERT INTO cluster (id, slug, prefix, title, summary, position) "
                "VALUES (1, 'security', 'SEC', 'Security', '', 0)"
            )
        )
        for sid, key, side in ((1, "SEC-1", 1), (2, "SEC-2", 2)):
            run(
                text(
                    "INSERT INTO step (id, key, number, cluster_id, side_id, title, detail, status, source, created_at,"
                    " updated_at) VALUES (:i, :k, :n, 1, :s, :k, '', 'proposed', '', :t, :t)"
                ),
                dict(i=sid, k=key, n=sid, s=side, t=now),
            )
        run(text("INSERT INTO reciprocity (step_id, counterpart_id) VALUES (1, 2)"))
        run(
            text(
                "INSERT INTO step_change (step_id, changed_at, actor, field, old_value, new_value, note) "
                "VALUES (1, :t, 'U1', 'status', 'proposed', 'agreed', 'why')"
            ),
            dict(t=now),
        )
        run(
            text(
                "INSERT INTO development (cluster_id, step_id, text, author, occurred_on, precision, recorded_at, "
                "source, slack_channel, slack_ts) "
                "VALUES (1, 1, 'Talks', 'U1', '2025-06-21', 'day', :t, '', 'C1', '1.1')"
            ),
            dict(t=now),
        )
        run(
            text(
                "INSERT INTO cluster_thread (channel, ts, cluster_id, created_by, created_at) "
                "VALUES ('C1', '9.9', 1, 'U1', :t)"
            ),
            dict(t=now),
        )
        run(
            text(
                "INSERT INTO digest_schedule (channel, cron, timezone, enabled, updated_by, updated_at) "
                "VALUES ('C2', '0 9 * * 1', 'UTC', true, 'U1', :t)"
            ),
            dict(t=now),
        )
        run(
            text(
                "INSERT INTO digest_run (channel, period, status, claimed_by, claimed_at, attempts) "
                "VALUES ('C2', '2025-06-30T09:00:00Z', 'sent', 'w', :t, 1)"
            ),
            dict(t=now),
        )
        if engine.dialect.name == "postgresql":  # rows inserted with their ids: move the sequences past them
            for table in ("side", "cluster", "step"):
                run(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    db.upgrade(engine)
    store = RoadmapStore(engine)
    (roadmap,) = store.roadmaps.all()
    assert (roadmap.slug, roadmap.title, roadmap.sources, roadmap.clusters) == (
        "us-belarus",
        "Old title",
        ("a", "b"),
        1,
    )
    doc = store.transfer.export_doc()
    steps = doc["clusters"][0]["steps"]
    assert [s["id"] for s in steps] == ["SEC-1", "SEC-2"] and steps[0]["answers"] == ["SEC-2"]
    assert steps[0]["history"][0]["note"] == "why"
    assert doc["developments"][0]["slack"] == {"channel": "C1", "ts": "1.1"}
    assert doc["threads"] == [{"channel": "C1", "ts": "9.9", "cluster": "security"}]
    assert doc["digest_schedules"][0]["channel"] == "C2"
    assert store.digests.last_sent("C2").period == "2025-06-30T09:00:00Z"
    assert store.roadmap.step_detail("SEC-1").developments[0].text == "Talks"
    # After the migration the store takes a second roadmap with the same step ids.
    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    assert store.for_roadmap("moldova").roadmap.step("SEC-1").title.startswith("Reduce")


def test_the_ledger_sequencing_and_claims_stay_in_their_roadmap(web, two):
    said(web, "after SEC-2 SEC-1", MD)
    said(web, "claim SEC-1 MD done Chisinau readout", MD)
    ledger = said(web, "ledger", MD)
    assert "SEC-1" in ledger and "Belarus" not in ledger and "NATO" not in ledger
    assert "Chisinau readout" in said(web, "claims", MD) and "1 claim" in said(web, "claims", MD)
    assert "Chisinau readout" not in said(web, "claims", BY)
    assert two.for_roadmap("us-belarus").sequencing.blocked() == ([], 0)
    assert [b.step.key for b in two.for_roadmap("moldova").sequencing.blocked()[0]] == ["SEC-2"]


def test_a_watched_source_proposes_into_its_own_roadmap(two):
    moldova = two.for_roadmap("moldova")
    source = moldova.watch.add(MD, "https://news.example.org/md.rss", cluster="security", created_by=EDITOR)
    assert source.roadmap_id == moldova.scope.id and source.cluster == "security"
    assert [s["url"] for s in moldova.transfer.export_doc()["watch_sources"]] == ["https://news.example.org/md.rss"]
    assert "watch_sources" not in two.for_roadmap("us-belarus").transfer.export_doc()
