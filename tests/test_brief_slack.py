"""`/roadmap brief` and `/roadmap chart` in Slack (signed requests → Bolt → files_upload_v2 against the fake, whose
upload URL points back at itself), upload failures said plainly, and the digest's chart: once per digest slot,
under retries and crashes, and never at the cost of the digest."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from docx import Document
from PIL import Image
from pypdf import PdfReader

from handlers.digest_sender import MARKER_EVENT
from tests.blockkit import assert_valid_message, message_text
from tests.fakes import Scripted
from tests.slack_requests import answer
from tests.test_digest import MONDAY_0900, digests, make_sender

CHANNEL = "C0TEAM"
# Building a document or a chart runs after the answer; the first matplotlib import in a process builds its font
# cache, which on a loaded machine takes seconds. A generous deadline for the poll, not a timing assertion.
WAIT = 60.0


def ask(web, fake_slack, text: str) -> dict:
    return answer(web, text, channel=CHANNEL, response_url=fake_slack.response_url())


def shared(fake_slack, count: int = 1) -> list[dict]:
    fake_slack.wait_for("files.completeUploadExternal", count=count, timeout=WAIT)
    return list(fake_slack.files)


def said(fake_slack) -> str:
    (note,) = fake_slack.wait_for("response_url", timeout=WAIT)
    assert_valid_message({"text": note.body["text"], "blocks": note.body["blocks"]})
    return note.body["text"]


def test_brief_answers_preparing_at_once_then_uploads_the_pdf_with_a_summary(web, fake_slack):
    message = ask(web, fake_slack, "brief security")
    assert "Preparing the briefing note" in message_text(message) and message["response_type"] == "ephemeral"
    (file,) = shared(fake_slack)
    assert file["channel"] == CHANNEL and file["filename"].endswith(".pdf")
    assert file["filename"].startswith("roadmap-brief-security-")
    assert "Briefing note" in file["initial_comment"] and "open reciprocal pair" in file["initial_comment"]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(file["content"])).pages)
    assert "Security cooperation" in text and "Sources" in text
    (url_call,) = fake_slack.calls_to("files.getUploadURLExternal")
    assert int(url_call.body["length"]) == len(file["content"])


def test_brief_as_of_a_date_in_docx(web, fake_slack):
    ask(web, fake_slack, "brief economic since 2025-01-01 as of 2025-07-01 docx")
    (file,) = shared(fake_slack)
    assert file["filename"] == "roadmap-brief-economic-2025-07-01.docx"
    text = "\n".join(p.text for p in Document(io.BytesIO(file["content"])).paragraphs)
    assert "As of: 1 Jul 2025" in text and "Economic ties" in text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("brief atlantis", "There is no cluster “atlantis”"),
        ("brief as of 2099-01-01", "in the future"),
        ("brief since someday", "“someday” is not a date"),
        ("chart atlantis", "There is no cluster “atlantis”"),
    ],
)
def test_bad_arguments_are_answered_at_once_and_nothing_is_uploaded(web, fake_slack, command, says):
    assert says in message_text(ask(web, fake_slack, command))
    assert fake_slack.calls_to("files.getUploadURLExternal") == []


@pytest.mark.parametrize(
    ("method", "scripted", "says"),
    [
        (
            "files.getUploadURLExternal",
            Scripted(body={"ok": False, "error": "not_allowed_token_type"}),
            "this app's token may not upload files",
        ),
        (
            "files.getUploadURLExternal",
            Scripted(body={"ok": False, "error": "missing_scope", "needed": "files:write"}),
            "missing the `files:write` permission",
        ),
        (
            "files.completeUploadExternal",
            Scripted(body={"ok": False, "error": "file_too_large"}),
            "larger than Slack accepts",
        ),
        ("files.completeUploadExternal", Scripted(body={"ok": False, "error": "not_in_channel"}), "/invite @roadmap"),
        ("file_upload", Scripted(status=500), "could not be sent to Slack"),
    ],
)
def test_upload_failures_are_said_plainly(web, fake_slack, method, scripted, says):
    fake_slack.script(method, scripted)
    ask(web, fake_slack, "brief security md")
    text = said(fake_slack)
    assert "The briefing note was not uploaded" in text and says in text
    assert fake_slack.files == []


def test_chart_is_uploaded_as_a_png_with_alt_text(web, fake_slack):
    assert "Preparing the timeline chart" in message_text(ask(web, fake_slack, "chart security"))
    (file,) = shared(fake_slack)
    assert Image.open(io.BytesIO(file["content"])).format == "PNG"
    assert file["alt_txt"].startswith("Developments per week by cluster") and "Security cooperation" in file["alt_txt"]
    assert file["channel"] == CHANNEL


def test_chart_upload_failure_is_said_plainly(web, fake_slack):
    fake_slack.script("files.getUploadURLExternal", Scripted(body={"ok": False, "error": "missing_scope"}))
    ask(web, fake_slack, "chart")
    assert "The chart was not uploaded" in said(fake_slack)


def test_the_console_explains_where_the_documents_go(web):
    text = message_text(answer(web, "help"))
    assert "/roadmap brief" in text and "/roadmap chart" in text


# -- the digest's chart ----------------------------------------------------------------------------------------


def charts(fake_slack) -> list[dict]:
    return [f for f in fake_slack.files if f["filename"].startswith("roadmap-timeline-")]


def test_the_digest_uploads_its_chart_once_into_its_thread(settings, store, fake_slack):
    sender = make_sender(settings, store)
    (outcome,) = sender.run_due(now=MONDAY_0900)
    assert outcome.status == "sent"
    (chart,) = charts(fake_slack)
    assert chart["thread_ts"] == outcome.message_ts and chart["channel"] == "CDIGEST"
    assert chart["alt_txt"] and Image.open(io.BytesIO(chart["content"])).format == "PNG"
    run = store.digests.runs("CDIGEST")[0]
    assert (run.chart_status, run.chart_detail) == ("uploaded", chart["id"])
    assert sender.run_due(now=MONDAY_0900 + timedelta(minutes=1)) == []
    assert len(charts(fake_slack)) == 1


def test_a_retried_digest_uploads_its_chart_once(settings, store, fake_slack):
    sender = make_sender(settings, store)
    fake_slack.script("chat.postMessage", *[Scripted(status=500)] * 3)
    (failed,) = sender.run_due(now=MONDAY_0900)
    assert failed.status == "failed" and charts(fake_slack) == []
    (retried,) = sender.run_due(now=MONDAY_0900 + timedelta(minutes=1, seconds=1))
    assert retried.status == "sent" and len(charts(fake_slack)) == 1


def test_a_stale_takeover_uploads_the_chart_once(settings, store, fake_slack, monkeypatch):
    # The first worker posts the digest and dies before recording it: no chart yet (it follows the outcome).
    first = make_sender(settings, store, worker="first")
    real_finish = store.digests.finish
    monkeypatch.setattr(store.digests, "finish", lambda *a, **k: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        first.run_due(now=MONDAY_0900)
    assert charts(fake_slack) == [] and len(digests(fake_slack)) == 1
    monkeypatch.setattr(store.digests, "finish", real_finish)
    second = make_sender(settings, store, worker="second")
    (outcome,) = second.run_due(now=MONDAY_0900 + timedelta(minutes=15))  # the claim went stale
    assert outcome.status == "sent"
    assert len(charts(fake_slack)) == 1 and len(digests(fake_slack)) == 1  # nothing reposted, one chart
    run = store.digests.runs("CDIGEST")[0]
    assert (run.status, run.attempts, run.chart_status) == ("sent", 2, "uploaded")


def test_a_chart_upload_that_crashed_before_being_recorded_is_never_repeated(settings, store, fake_slack, monkeypatch):
    sender = make_sender(settings, store)
    real = store.digests.finish_chart
    monkeypatch.setattr(store.digests, "finish_chart", lambda *a, **k: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        sender.run_due(now=MONDAY_0900)
    assert len(charts(fake_slack)) == 1
    monkeypatch.setattr(store.digests, "finish_chart", real)
    run = store.digests.runs("CDIGEST")[0]
    assert run.chart_status == "uploading"
    # Whoever holds the same claim and tries the chart again (a takeover, a second worker) finds it taken.
    sender._upload_chart(run, run.message_ts or "1.0", MONDAY_0900, None)
    assert len(charts(fake_slack)) == 1


def test_digest_now_is_answered_before_the_chart(web, fake_slack):
    answer(web, "digest now", channel="C100", response_url=fake_slack.response_url())
    (done,) = fake_slack.wait_for("response_url", timeout=WAIT)
    assert "Digest posted to <#CDIGEST>" in done.body["text"]
    (chart,) = shared(fake_slack)
    assert chart["channel"] == "CDIGEST" and chart["thread_ts"]
    first = next(i for i, c in enumerate(fake_slack.calls) if c.method == "response_url")
    upload = next(i for i, c in enumerate(fake_slack.calls) if c.method == "files.getUploadURLExternal")
    assert first < upload


@pytest.mark.parametrize(
    ("method", "scripted"),
    [
        ("files.getUploadURLExternal", Scripted(body={"ok": False, "error": "missing_scope", "needed": "files:write"})),
        ("file_upload", Scripted(status=500)),
        ("files.completeUploadExternal", Scripted(status=500)),
    ],
)
def test_a_failed_chart_leaves_the_digest_as_it_was(settings, store, fake_slack, method, scripted, caplog):
    fake_slack.script(method, scripted)
    (outcome,) = make_sender(settings, store).run_due(now=MONDAY_0900)
    assert outcome.status == "sent" and len(digests(fake_slack)) == 1
    assert fake_slack.files == []
    run = store.digests.runs("CDIGEST")[0]
    assert run.status == "sent" and run.chart_status == "failed" and run.chart_detail
    assert "the chart was not uploaded" in caplog.text
    (post,) = [c for c in fake_slack.calls_to("chat.postMessage") if c.json_field("metadata")]
    assert post.json_field("metadata")["event_type"] == MARKER_EVENT
