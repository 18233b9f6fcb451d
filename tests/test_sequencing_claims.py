"""Sequencing (`after`) and each government's own account (`claim`, `claims`) through signed requests: blocked and
unblocked steps, refused cycles, claims beside our assessment, all kept in the history, export and import."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date

import pytest

from bot.app import create_app
from bot.web import SlackWSGI
from store.errors import Invalid
from store.roadmap_file import RoadmapFileError, dump, parse, validate
from tests.blockkit import message_text
from tests.slack_requests import answer

EDITOR = "U0EDITOR"


@pytest.fixture
def app(settings, store):
    return SlackWSGI(create_app(dataclasses.replace(settings, editors=(EDITOR,)), store), store)


def say(app, text: str, user: str = EDITOR) -> str:
    return message_text(answer(app, text, user=user))


# -- sequencing ------------------------------------------------------------------------------------------------


def test_a_step_waits_on_security_steps_and_is_shown_blocked_until_they_are_done(app, store):
    text = say(app, "after ECO-1 SEC-1 SEC-2")
    assert "waits on: `SEC-1` Belarus ⚪ proposed, `SEC-2` United States ⚪ proposed" in text
    assert "blocked until `SEC-1`, `SEC-2` are done" in text
    step = say(app, "status ECO-1")
    assert "*Blocked* until `SEC-1`, `SEC-2` are done" in step
    assert "Unblocks: `ECO-1`" in say(app, "status SEC-1")
    cluster = say(app, "status economic")
    assert "Blocked steps (1)" in cluster and "`ECO-1` Grant sectoral sanctions relief" in cluster

    first = say(app, "set SEC-1 done")
    assert "unblocks" not in first, "ECO-1 still waits on SEC-2"
    second = say(app, "set SEC-2 done signed")
    assert "🔓 This unblocks `ECO-1` United States ⚪ proposed" in second
    assert "Not blocked: every step it waits on is done" in say(app, "status ECO-1")
    assert "Blocked steps" not in say(app, "status economic")


def test_unblocked_by_names_the_steps_whose_last_blocker_is_done(store):
    store.sequencing.set_blockers("ECO-1", ["SEC-1", "SEC-2"], actor="U1")
    store.sequencing.set_blockers("ECO-2", ["SEC-1"], actor="U1")
    store.sequencing.set_blockers("ECO-3", ["SEC-1"], actor="U1")
    store.steps.set_status("ECO-3", "dropped", actor="U1")
    assert store.sequencing.unblocked_by("SEC-1") == [], "SEC-1 is not done yet"
    store.steps.set_status("SEC-1", "done", actor="U1")
    assert [s.key for s in store.sequencing.unblocked_by("SEC-1")] == ["ECO-2"], "ECO-1 waits on SEC-2; ECO-3 dropped"
    store.steps.set_status("SEC-2", "done", actor="U1")
    assert [s.key for s in store.sequencing.unblocked_by("SEC-2")] == ["ECO-1"]
    blocked, total = store.sequencing.blocked()
    assert (blocked, total) == ([], 0)


@pytest.mark.parametrize(
    "command, expected",
    [
        ("after SEC-1 ECO-1", "SEC-1 cannot wait on ECO-1: ECO-1 already waits on SEC-1 (ECO-1 → SEC-1)"),
        ("after SEC-2 ECO-2", "SEC-2 cannot wait on ECO-2: ECO-2 already waits on SEC-2 (ECO-2 → ECO-1 → SEC-2)"),
        ("after SEC-1 SEC-1", "SEC-1 cannot wait on itself"),
        ("after SEC-1 SEC-99", "There is no step “SEC-99”"),
        ("after SEC-1", "say which step waits on which"),
    ],
)
def test_a_cycle_a_self_dependency_or_an_unknown_step_is_refused_and_changes_nothing(app, store, command, expected):
    store.sequencing.set_blockers("ECO-1", ["SEC-1", "SEC-2"], actor="U1")
    store.sequencing.set_blockers("ECO-2", ["ECO-1"], actor="U1")
    before = store.transfer.export_doc()
    assert expected.lower() in say(app, command).lower()
    assert store.transfer.export_doc() == before


def test_after_none_clears_and_every_change_is_in_the_history(app, store):
    say(app, "after ECO-1 SEC-1")
    assert "already waits on SEC-1; nothing changed" in say(app, "after ECO-1 sec-1")
    assert "no longer waits on anything (was: SEC-1)" in say(app, "after ECO-1 none")
    history = [h for h in store.roadmap.step_detail("ECO-1").history if h.field == "after"]
    assert [(h.old_value, h.new_value, h.actor) for h in history] == [("SEC-1", None, EDITOR), (None, "SEC-1", EDITOR)]


def test_only_editors_sequence_steps_or_record_claims(app, store):
    before = store.transfer.export_doc()
    assert "Only editors can use `after`" in say(app, "after ECO-1 SEC-1", user="U0READER")
    assert "Only editors can use `claim`" in say(app, "claim SEC-1 BY done BelTA", user="U0READER")
    assert "claims" in say(app, "claims", user="U0READER")  # reading is open to everyone
    assert store.transfer.export_doc() == before


# -- claims ----------------------------------------------------------------------------------------------------


def test_a_claim_is_shown_beside_our_assessment_and_listed_when_it_diverges(app, store):
    text = say(app, "claim SEC-5 Belarus done 2025-06-22 <https://eng.belta.by/politics/view/1|BelTA> readout")
    assert "⚠️ *Belarus* claims ✅ done — <https://eng.belta.by/politics/view/1|BelTA readout>, 22 Jun 2025" in text
    assert "our assessment: 🟡 in progress" in text
    say(app, "claim SEC-6 NATO proposed NATO spokesperson")
    step = say(app, "status SEC-5")
    assert "*Each side's own account*" in step and "Belarus* claims ✅ done" in step
    assert "claim:BY" in step, "the claim is in the step's history"
    listed = say(app, "claims")
    assert "2 claims · 1 differs from our assessment" in listed
    assert listed.index("`SEC-5`") < listed.index("`SEC-6`"), "divergent claims come first"
    assert "⚠️ `SEC-6`" not in listed
    assert "`SEC-6`" not in say(app, "claims Belarus")
    assert "2 claims" in say(app, "claims security") and "0 claims" in say(app, "claims economic")


def test_changing_and_withdrawing_a_claim_is_kept_in_the_history(app, store):
    say(app, "claim SEC-1 BY in progress MFA statement")
    text = say(app, "claim SEC-1 BY done 2025-07-01 BelTA")
    assert "_(was: 🟡 in progress)_" in text
    assert "claim (✅ done) is withdrawn" in say(app, "claim SEC-1 BY none")
    assert "had no claim to withdraw" in say(app, "claim SEC-1 BY none")
    history = [(h.old_value, h.new_value) for h in store.roadmap.step_detail("SEC-1").history if h.field == "claim:BY"]
    assert history == [("done", None), ("in_progress", "done"), (None, "in_progress")]
    assert store.claims.claims().total == 0


@pytest.mark.parametrize(
    "command, expected",
    [
        ("claim SEC-1 Atlantis done BelTA", "There is no side “Atlantis”"),
        ("claim SEC-1 BY finished BelTA", "There is no status “finished”"),
        ("claim SEC-99 BY done BelTA", "There is no step “SEC-99”"),
        ("claim SEC-1 BY done", "a claim needs its source"),
        ("claim SEC-1 BY", "say which step, which side, which status and the source"),
        ("claim SEC-1 BY done 2099-01-01 BelTA", "is in the future"),
    ],
)
def test_a_bad_claim_is_refused_with_the_valid_choices_and_changes_nothing(app, store, command, expected):
    before = store.transfer.export_doc()
    assert expected.lower() in say(app, command).lower()
    assert store.transfer.export_doc() == before


# -- the roadmap file ------------------------------------------------------------------------------------------


def test_after_and_claims_round_trip_through_export_and_import(store):
    store.sequencing.set_blockers("ECO-1", ["SEC-1", "SEC-2"], actor="U1")
    store.claims.set_claim(
        "SEC-5", "BY", "done", source="BelTA", url="https://eng.belta.by/x", claimed_on=date(2025, 6, 22), actor="U1"
    )
    doc = store.transfer.export_doc()
    eco1 = next(s for c in doc["clusters"] for s in c["steps"] if s["id"] == "ECO-1")
    sec5 = next(s for c in doc["clusters"] for s in c["steps"] if s["id"] == "SEC-5")
    assert eco1["after"] == ["SEC-1", "SEC-2"]
    assert sec5["claims"] == [
        {
            "side": "BY",
            "status": "done",
            "source": "BelTA",
            "url": "https://eng.belta.by/x",
            "on": date(2025, 6, 22),
            "by": "U1",
        }
    ]
    counts = store.transfer.import_doc(parse(dump(doc)), replace=True)
    assert (counts["dependencies"], counts["claims"]) == (2, 1)
    assert store.transfer.export_doc() == doc
    again = store.transfer.import_doc(copy.deepcopy(doc))  # a merge of the same file adds nothing
    assert (again["dependencies"], again["claims"]) == (0, 0)


def test_a_file_with_a_cycle_an_unknown_step_or_a_bad_claim_is_refused(seed_doc):
    doc = copy.deepcopy(seed_doc)
    steps = {s["id"]: s for c in doc["clusters"] for s in c["steps"]}
    steps["ECO-1"]["after"] = ["SEC-1"]
    steps["SEC-1"]["after"] = ["ECO-1"]
    steps["SEC-2"]["after"] = ["SEC-99", "SEC-2"]
    steps["SEC-3"]["claims"] = [{"side": "XX", "status": "maybe", "on": "soon"}]
    errors = "\n".join(validate(doc))
    assert "cycle: " in errors and "ECO-1" in errors
    assert "after 'SEC-99', which is not a step in this file" in errors
    assert "a step cannot wait on itself" in errors
    assert "side 'XX' is not one of" in errors and "status 'maybe'" in errors and "needs its `source`" in errors
    assert "`on` must be a date" in errors
    with pytest.raises(RoadmapFileError):
        parse(dump(doc))


def test_an_import_that_would_close_a_cycle_with_the_store_is_refused_whole(store, seed_doc):
    store.sequencing.set_blockers("ECO-1", ["SEC-1"], actor="U1")
    doc = copy.deepcopy(seed_doc)
    next(s for c in doc["clusters"] for s in c["steps"] if s["id"] == "SEC-1")["after"] = ["ECO-1"]
    before = store.transfer.export_doc()
    with pytest.raises(Invalid, match="SEC-1 cannot wait on ECO-1"):
        store.transfer.import_doc(doc)
    assert store.transfer.export_doc() == before


def test_blocked_steps_come_in_roadmap_order_a_page_at_a_time_with_the_exact_count(store, app):
    waiting = [f"ECO-{n}" for n in range(1, 9)] + ["HUM-1", "HUM-2"]
    for key in waiting:
        store.sequencing.set_blockers(key, ["SEC-1", "SEC-4"], actor="U1")
    store.steps.set_status("SEC-4", "done", actor="U1")
    store.steps.set_status("ECO-8", "done", actor="U1")  # a closed step is not blocked
    page, total = store.sequencing.blocked("economic", limit=3)
    assert ([b.step.key for b in page], total) == (["ECO-1", "ECO-2", "ECO-3"], 7)
    assert all([x.key for x in b.open_blockers] == ["SEC-1"] for b in page), "only the blockers not yet done"
    assert store.sequencing.blocked(None, limit=100)[1] == 9
    text = say(app, "status economic")
    assert "Blocked steps (7)" in text and "`ECO-7`" in text
