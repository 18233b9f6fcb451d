"""The briefing note: its content and citations (every footnote resolves to a source, every source is cited), the
documents reopened with libraries (DOCX with python-docx, PDF with pypdf, its first page rendered to PNG with
pypdfium2), the brief's `as of` through the one as-of path, and the CLI."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
import time_machine
from docx import Document
from PIL import Image
from pypdf import PdfReader

from bot import cli
from handlers.brief import parse_brief_args
from handlers.brief_build import build_brief
from handlers.brief_render import render_brief, to_markdown
from handlers.chart import timeline_png
from store.developments import SlackMessage
from store.errors import Invalid, NotFound
from tests.test_asof import scripted  # noqa: F401  (the fixture: a scripted history of SEC-1 and SEC-2)

NY = ZoneInfo("America/New_York")
TODAY = date(2026, 6, 1)


@pytest.fixture
def brief(scripted):  # noqa: F811
    with time_machine.travel(datetime(2026, 4, 10, 15, tzinfo=UTC), tick=False):
        record_visit(scripted)
    return build_brief(scripted, today=TODAY, tz=NY, cluster="security", since=date(2026, 2, 1), as_of=TODAY)


def record_visit(store) -> None:
    store.developments.record(
        text="Zq envoy visit, see *this* [link](https://evil.example) <!channel>",
        author="U9",
        cluster="security",
        occurred_on=date(2026, 4, 10),
        source="BelTA, 10 April 2026",
        url="https://belta.example/visit",
    )


def cited(brief) -> set[int]:
    return {n for c in brief.clusters for s in (*c.pairs, *c.overdue, *c.events) for n in s.notes}


def test_every_statement_cites_a_source_and_every_footnote_is_cited(brief):
    statements = [s for c in brief.clusters for s in (*c.pairs, *c.overdue, *c.events)]
    assert statements and all(s.notes for s in statements)
    numbers = [f.number for f in brief.footnotes]
    assert numbers == list(range(1, len(numbers) + 1))
    assert cited(brief) == set(numbers)
    assert all(f.text.strip() for f in brief.footnotes)
    first_seen = list(dict.fromkeys(n for s in statements for n in s.notes))
    assert first_seen == sorted(first_seen), "footnotes are numbered in reading order"
    dates = [s.label for s in brief.clusters[0].events]
    assert dates[0] == "1 Feb 2026" and dates[-1] == "30 Apr 2026"  # oldest first


def test_steps_cite_their_brief_footnote_and_events_their_link(brief):
    by_number = {f.number: f for f in brief.footnotes}
    (c,) = brief.clusters
    pair = next(s for s in c.pairs if "SEC-1 (Belarus, done)" in s.text and "SEC-2 (United States" in s.text)
    assert "Next move: United States." in pair.text
    assert all("Quincy Brief No. 81" in by_number[n].text for n in pair.notes)
    visit = next(s for s in c.events if "envoy visit" in s.text)
    (n,) = visit.notes
    assert (by_number[n].text, by_number[n].url) == ("BelTA, 10 April 2026", "https://belta.example/visit")
    slack = next(s for s in c.events if s.text.startswith("SEC-1: Zq talks"))
    assert "Recorded in the roadmap by U1" in by_number[slack.notes[0]].text
    change = next(s for s in c.events if "SEC-1 (Belarus) status changed from agreed to done" in s.text)
    assert "audit history" in by_number[change.notes[0]].text


def test_a_slack_development_cites_its_permalink(store):
    slack = SlackMessage("C1", "1.000100", "https://policy.slack.com/archives/C1/p1000100")
    today = datetime.now(NY).date()  # the store's default date runs ahead (UTC+14): name the day
    store.developments.record(text="Zq from Slack", author="U1", cluster="security", slack=slack, occurred_on=today)
    b = build_brief(store, today=today, tz=NY, cluster="security")
    (n,) = next(s for s in b.clusters[0].events if "Zq from Slack" in s.text).notes
    assert b.footnotes[n - 1].url == "https://policy.slack.com/archives/C1/p1000100"


def test_overdue_steps_are_listed_as_of_the_day(scripted):  # noqa: F811
    b = build_brief(scripted, today=TODAY, tz=NY, cluster="security", as_of=date(2026, 4, 20))
    (overdue,) = b.clusters[0].overdue
    assert overdue.label == "SEC-2" and "due 1 Apr 2026, 19 days overdue" in overdue.text
    before = build_brief(scripted, today=TODAY, tz=NY, cluster="security", as_of=date(2026, 3, 31))
    assert before.clusters[0].overdue == []


def test_the_period_holds_what_happened_between_since_and_as_of(scripted):  # noqa: F811
    b = build_brief(scripted, today=TODAY, tz=NY, cluster="security", since=date(2026, 2, 11), as_of=date(2026, 3, 6))
    texts = [s.text for s in b.clusters[0].events]
    assert any("Zq talks in Minsk" in t for t in texts)
    assert any("changed from agreed to done" in t for t in texts)
    assert not any("agreed in Minsk" in t for t in texts)  # 10 Feb, before the period
    assert not any("in progress" in t for t in texts)  # 30 Apr, after it


def test_the_brief_refuses_what_status_refuses(scripted):  # noqa: F811
    with pytest.raises(Invalid, match="in the future"):
        build_brief(scripted, today=TODAY, tz=NY, as_of=date(2099, 1, 1))
    with pytest.raises(Invalid, match="did not exist"):
        build_brief(scripted, today=TODAY, tz=NY, as_of=date(1999, 1, 1))
    with pytest.raises(Invalid, match="starts"):
        build_brief(scripted, today=TODAY, tz=NY, since=date(2026, 5, 2), as_of=date(2026, 5, 1))
    with pytest.raises(NotFound):
        build_brief(scripted, today=TODAY, tz=NY, cluster="atlantis")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (None, None, None, "pdf")),
        ("security docx", ("security", None, None, "docx")),
        ("as of 2025-07-01 since 2025-06-01 md", (None, date(2025, 6, 1), date(2025, 7, 1), "md")),
        ("Poland since 2025-06-01 --pdf", ("Poland", date(2025, 6, 1), None, "pdf")),
    ],
)
def test_brief_arguments_in_any_order(text, expected):
    a = parse_brief_args(text)
    assert (a.cluster, a.since, a.as_of, a.fmt) == expected


def test_a_bad_date_in_the_arguments_is_named():
    with pytest.raises(Invalid, match="“June” is not a date after “since”"):
        parse_brief_args("since June")


# -- the documents -----------------------------------------------------------------------------------------------


def test_markdown_footnotes_all_resolve_and_user_text_cannot_format(brief):
    text = to_markdown(brief)
    refs = set(re.findall(r"\[\^(\d+)\](?!:)", text))
    defs = set(re.findall(r"^\[\^(\d+)\]: \S", text, re.M))
    assert refs and refs == defs == {str(f.number) for f in brief.footnotes}
    assert r"see \*this\* \[link\](https://evil.example) \<\!channel\>" in text
    assert "<https://belta.example/visit>" in text
    assert re.search(r"^United States \d+/6 done · Belarus \d+/4 done · NATO", text, re.M)
    assert text.startswith("# U.S.–Belarus normalisation roadmap — briefing note")


def docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in Document(io.BytesIO(data)).paragraphs)


def test_docx_opens_and_holds_the_statements_and_their_sources(brief):
    chart = timeline_png(brief_timeline(brief))
    doc = Document(io.BytesIO(render_brief(brief, "docx", chart)))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "briefing note" in text and "Security cooperation" in text and "Overdue steps" in text
    assert "SEC-1 (Belarus, done)" in text and "Next move: United States." in text
    for f in brief.footnotes:
        assert f"[{f.number}] {f.text}" in text
    marks = {int(n) for n in re.findall(r"\[(\d+)\](?! )", text)}
    assert marks == {f.number for f in brief.footnotes}
    assert len(doc.inline_shapes) == 1  # the chart


def brief_timeline(brief, store=None):
    from store.views import Timeline

    return Timeline(brief.since, 12, [c.cluster for c in brief.clusters], [], [], [])


def test_pdf_text_holds_the_sources_and_its_first_page_renders(brief):
    data = render_brief(brief, "pdf", timeline_png(brief_timeline(brief)))
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    assert "briefing note" in text and "Security cooperation" in text and "Sources" in text
    assert "Next move: United States." in text
    for f in brief.footnotes:
        assert f"[{f.number}]" in text
    assert "BelTA, 10 April 2026" in text and "↔" in text  # Unicode survives (DejaVu Sans)
    pdf = pypdfium2.PdfDocument(data)
    try:
        image = pdf[0].render(scale=1).to_pil()
    finally:
        pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    png = Image.open(io.BytesIO(out.getvalue()))
    assert png.size[0] > 500 and png.size[1] > 700
    lo, hi = png.convert("L").getextrema()
    assert lo < 100 and hi > 200, "the page is not blank"


# -- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def local_env(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith(("ROADMAP_", "SLACK_")) or k == "DATABASE_URL":
            monkeypatch.delenv(k)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("fmt", ["md", "docx", "pdf"])
def test_cli_writes_the_brief_in_each_format(local_env, capsys, fmt):
    out = local_env / f"brief.{fmt}"
    assert cli.main(["brief", "security", "as", "of", "2025-07-01", "--format", fmt, "-o", str(out)]) == 0
    data = out.read_bytes()
    text = {
        "md": lambda: data.decode(),
        "docx": lambda: docx_text(data),
        "pdf": lambda: " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages),
    }[fmt]()
    assert "Security cooperation" in text and "Sources" in text
    assert "wrote" in capsys.readouterr().err
    if fmt == "md":
        assert (local_env / "brief.png").read_bytes().startswith(b"\x89PNG")


def test_cli_brief_refuses_an_unknown_cluster_naming_the_valid_ones(local_env, capsys):
    assert cli.main(["brief", "atlantis"]) == 1
    err = capsys.readouterr().err
    assert "atlantis" in err and "security" in err


def test_cli_writes_the_chart(local_env, capsys):
    out = local_env / "t.png"
    assert cli.main(["chart", "security", "-o", str(out)]) == 0
    assert Image.open(out).format == "PNG"
    assert "Developments per week" in capsys.readouterr().err


def test_cli_shows_a_progress_bar_on_a_terminal(local_env, capsys, monkeypatch):
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True)
    assert cli.main(["brief", "--format", "md", "-o", str(local_env / "b.md")]) == 0
    err = capsys.readouterr().err
    assert "\rclusters [###....." in err and "clusters [####################] 6/6\n" in err
