"""`roadmap export` / `roadmap import --replace` round-trip the whole store through the CLI, as the README's
"Backups" section promises — on SQLite and PostgreSQL, into the same database and into a fresh one."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.cli import main
from store import db
from store.api import RoadmapStore
from store.developments import SlackMessage
from store.names import strip_control_chars
from store.roadmap_file import dump, parse

README = Path(__file__).parents[1] / "README.md"


@pytest.fixture
def database_url(backend, tmp_path, request):
    """A DATABASE_URL for the CLI, and a way to make a second, empty database of the same kind."""
    created: list[str] = []
    if backend == "sqlite":

        def fresh(name: str = "roadmap") -> str:
            return f"sqlite:///{tmp_path / name}.db"

        yield fresh
        return
    url, _ = request.getfixturevalue("pg_url_in_schema")
    admin = create_engine(db.normalize_url(url))

    def fresh(name: str = "roadmap") -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        created.append(schema)
        # The schema travels in the URL as libpq options, exactly as an operator could write it.
        return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)

    yield fresh
    with admin.begin() as conn:
        for schema in created:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def cli(monkeypatch, url: str, *argv: str) -> int:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("ROADMAP_SEED", raising=False)
    return main(list(argv))


def open_store(url: str) -> RoadmapStore:
    return RoadmapStore(db.make_engine(url))


def test_export_then_import_replace_restores_everything(database_url, monkeypatch, tmp_path, capsys):
    url = database_url()
    assert cli(monkeypatch, url, "db", "upgrade") == 0
    assert cli(monkeypatch, url, "ask", "--user", "U0EDITOR", "set SEC-1 agreed signed in Minsk") == 0
    assert cli(monkeypatch, url, "ask", "log security 2025-08-01 Minsk restated its pledge") == 0
    store = open_store(url)
    store.developments.record(
        text="From a Slack thread: <!channel> & “quotes”\nsecond line  ",
        author="U0AUTHOR",
        step="ECO-1",
        slack=SlackMessage(
            "C0ROADMAP", "1700000000.000100", "https://policy.slack.com/archives/C0ROADMAP/p1700000000000100"
        ),
    )
    store.transfer.import_doc(
        {
            **store.transfer.export_doc(),
            "threads": [{"channel": "C0ROADMAP", "ts": "1700000000.000001", "cluster": "security"}],
            "digest_schedules": [{"channel": "C0DIGEST", "cron": "0 9 * * 1", "timezone": "Europe/Warsaw"}],
        }
    )
    backup = tmp_path / "backup.yaml"
    assert cli(monkeypatch, url, "export", str(backup)) == 0
    before = store.transfer.export_doc()
    assert before["threads"] and before["digest_schedules"]

    # Damage after the backup: a wrong status, a stray development.
    store.steps.set_status("SEC-1", "dropped", actor="U0MISTAKE")
    store.developments.record(text="stray", author="U0MISTAKE", cluster="economic")

    assert cli(monkeypatch, url, "import", "--replace", str(backup)) == 0
    assert store.transfer.export_doc() == before
    assert store.roadmap.step_detail("SEC-1").history[0].actor == "U0EDITOR"

    # And into a brand-new database, as after losing the old one.
    other = database_url("restored")
    assert cli(monkeypatch, other, "db", "upgrade") == 0
    assert cli(monkeypatch, other, "import", "--replace", str(backup)) == 0
    assert open_store(other).transfer.export_doc() == before
    capsys.readouterr()


def test_export_to_stdout_is_a_valid_roadmap_file(database_url, monkeypatch, capsys):
    url = database_url()
    assert cli(monkeypatch, url, "db", "upgrade") == 0
    capsys.readouterr()
    assert cli(monkeypatch, url, "export") == 0
    doc = parse(capsys.readouterr().out)  # the whole store: every roadmap in it
    (roadmap,) = doc["roadmaps"]
    assert roadmap["roadmap"]["slug"] == "us-belarus" and roadmap["clusters"] and roadmap["developments"]


def test_importing_a_broken_file_changes_nothing(database_url, monkeypatch, tmp_path, capsys):
    url = database_url()
    assert cli(monkeypatch, url, "db", "upgrade") == 0
    assert cli(monkeypatch, url, "ask", "status") == 0
    before = open_store(url).transfer.export_doc()
    broken = tmp_path / "broken.yaml"
    broken.write_text("format: roadmap/1\nsides: []\nclusters: [{slug: x}]\n", encoding="utf-8")
    assert cli(monkeypatch, url, "import", "--replace", str(broken)) == 1
    assert "not a valid roadmap file" in capsys.readouterr().err
    assert open_store(url).transfer.export_doc() == before


def test_the_readme_backup_commands_are_the_ones_tested():
    readme = README.read_text(encoding="utf-8")
    assert "roadmap export backup.yaml" in readme and "roadmap import --replace backup.yaml" in readme


TEXTS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=120).filter(
    lambda t: strip_control_chars(t).strip()
)


MINI = {
    "format": "roadmap/1",
    "sides": [{"code": "US", "name": "United States"}, {"code": "BY", "name": "Belarus"}],
    "clusters": [
        {
            "slug": "security",
            "prefix": "SEC",
            "title": "Security",
            "steps": [{"id": "SEC-1", "side": "US", "title": "A"}],
        }
    ],
    "developments": [],
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dev_text=TEXTS, note=st.text(max_size=60))
@example(dev_text="0\x850", note="a\u2028b")  # YAML folds NEL and U+2028 unless quoted (found by this test)
@example(dev_text="a\r\nb  \n", note="x\ufeff")
def test_any_text_survives_export_and_import(empty_store, dev_text, note):
    """YAML quoting of odd text (quotes, colons, newlines, trailing spaces, emoji, RTL) must not change a byte."""
    store = empty_store
    if store.transfer.is_empty():
        store.transfer.import_doc(MINI)  # small, so that each example is quick
    store.developments.record(text=dev_text, author="U0AUTHOR", cluster="security")
    store.steps.set_status(
        "SEC-1", "agreed" if store.roadmap.step_detail("SEC-1").step.status != "agreed" else "done", "U0", note
    )
    before = store.transfer.export_doc()
    store.transfer.import_doc(parse(dump(before)), replace=True)
    assert store.transfer.export_doc() == before
