"""The App Home and its forms through the real path: signed app_home_opened, block_actions and view_submission
payloads through the real app, views.publish / views.open on the fake Slack, rebuilds through the outbox."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date, timedelta

import pytest

from bot.app import build_services, create_app
from bot.web import SlackWSGI
from handlers import home as home_module
from handlers.outbox import OutboxWorker
from store.models import utcnow
from tests.fakes import Scripted
from tests.slack_requests import TEAM, answer, send_event, send_interaction
from tests.test_record_shortcut import assert_valid_view

EDITOR = "U0EDITOR"
VIEWER = "U0VIEWER"
LATER = timedelta(minutes=1)


@pytest.fixture
def store(store):
    """The seeded store with the seed's own outbox work already done."""
    for work in store.outbox.claim(utcnow() + LATER, limit=100):
        store.outbox.done(work)
    return store


@pytest.fixture
def services(settings, store):
    return build_services(dataclasses.replace(settings, editors=(EDITOR,)), store)


@pytest.fixture
def web(services, store):
    return SlackWSGI(create_app(services.settings, store, services=services), store)


def open_home(web, fake_slack, user: str = VIEWER) -> dict:
    before = len(fake_slack.calls_to("views.publish"))
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1.1"}
    response = send_event(web, event, event_id=f"Ev{user}{before}")
    assert response.status == 200, response.body
    published = fake_slack.wait_for("views.publish", before + 1, timeout=15)
    assert len(published) == before + 1
    assert published[-1].body["user_id"] == user
    view = published[-1].json_field("view")
    assert_valid_view(view)
    return view


def text_of(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def action_payload(action_id: str, value: str, user: str = VIEWER, kind: str = "button") -> dict:
    action = {"action_id": action_id, "block_id": "b1", "type": kind, "action_ts": "1.2"}
    if kind == "button":
        action["value"] = value
    else:
        action["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": "1337.42.home",
        "container": {"type": "view", "view_id": "V1"},
        "view": {"id": "V1", "type": "home", "callback_id": "", "private_metadata": "", "blocks": []},
        "actions": [action],
    }


def click(web, fake_slack, action_id: str, value: str, user: str = VIEWER, kind: str = "button") -> str:
    """A Home control: returns nothing to check but the republished Home's text."""
    before = len(fake_slack.calls_to("views.publish"))
    assert send_interaction(web, action_payload(action_id, value, user, kind)).status == 200
    published = fake_slack.wait_for("views.publish", before + 1, timeout=15)
    assert len(published) == before + 1
    view = published[-1].json_field("view")
    assert_valid_view(view)
    return text_of(view)


def open_form(web, fake_slack, action_id: str, value: str, user: str = VIEWER, kind: str = "button") -> dict:
    before = len(fake_slack.calls_to("views.open"))
    assert send_interaction(web, action_payload(action_id, value, user, kind)).status == 200
    opened = fake_slack.wait_for("views.open", before + 1, timeout=15)
    assert len(opened) == before + 1 and opened[-1].body["trigger_id"] == "1337.42.home"
    view = opened[-1].json_field("view")
    assert_valid_view(view)
    return view


def submit(web, view: dict, values: dict, user: str = VIEWER) -> dict:
    payload = {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user},
        "api_app_id": "A1",
        "trigger_id": "1337.43.home",
        "view": {
            "id": "V2",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": values},
            "hash": "1.abc",
        },
    }
    response = send_interaction(web, payload)
    assert response.status == 200, response.body
    return response.json()


def log_values(cluster=None, step=None, text="", day=None, url=None) -> dict:
    return {
        "cluster": {"cluster": {"type": "static_select", "selected_option": {"value": cluster} if cluster else None}},
        "step": {"step": {"type": "static_select", "selected_option": {"value": step} if step else None}},
        "date": {"date": {"type": "datepicker", "selected_date": day}},
        "text": {"text": {"type": "plain_text_input", "value": text}},
        "url": {"url": {"type": "url_text_input", "value": url}},
    }


def status_values(status: str, note: str = "") -> dict:
    return {
        "status": {"status": {"type": "static_select", "selected_option": {"value": status}}},
        "note": {"note": {"type": "plain_text_input", "value": note}},
    }


def rid(store) -> int:
    return store.roadmaps.all()[0].id


# -- the Home -----------------------------------------------------------------------------------------------------
def test_opening_the_home_publishes_it_with_step_ids_and_the_side_select(web, fake_slack, store):
    view = open_home(web, fake_slack)
    assert view["type"] == "home"
    text = text_of(view)
    assert "U.S.–Belarus normalisation roadmap" in text and "Whose move" in text and "`SEC-1`" in text
    assert "Pick your side" in text  # no side chosen yet
    controls = next(b for b in view["blocks"] if b.get("block_id") == "home_controls")
    assert [e["action_id"] for e in controls["elements"]] == ["home_side", "log_development_open"]  # one roadmap
    assert store.home.pref(VIEWER).seen_at is not None


def test_choosing_a_side_shows_what_it_owes_next_and_follows_show_latest_developments(web, fake_slack, store):
    open_home(web, fake_slack)
    text = click(web, fake_slack, "home_side", f"{rid(store)}|BY", kind="static_select")
    assert "What Belarus owes next" in text and "`/roadmap commitments BY`" in text
    assert store.home.pref(VIEWER).side == "BY"
    text = click(web, fake_slack, "home_follow", f"{rid(store)}|security", kind="static_select")
    assert store.home.followed(VIEWER, rid(store)) == ["security"]
    assert "*Security cooperation*" in text and "Unfollow" in text
    text = click(web, fake_slack, "home_unfollow", f"{rid(store)}|security")
    assert store.home.followed(VIEWER, rid(store)) == [] and "Unfollow" not in text


def test_a_cluster_thread_is_linked_from_the_home(web, fake_slack, store):
    from tests.test_threads import run_threads

    run_threads(web, fake_slack, "C0TEAM", user=EDITOR)
    text = text_of(open_home(web, fake_slack))
    assert "<https://policy.slack.com/archives/C0TEAM/p" in text


def big_roadmap(n_clusters: int = 30, n_steps: int = 30) -> dict:
    clusters = []
    for c in range(n_clusters):
        steps = []
        for n in range(1, n_steps + 1):
            side = "A" if n % 2 else "B"
            step = {"id": f"C{c}-{n}", "side": side, "title": f"Step {n} of cluster {c}", "due": date(2024, 1, 1)}
            if side == "B":
                step["answers"] = [f"C{c}-{n - 1}"]
            steps.append(step)
        clusters.append({"slug": f"c{c}", "prefix": f"C{c}", "title": f"Cluster {c}", "steps": steps})
    return {
        "format": "roadmap/1",
        "roadmap": {"slug": "big", "title": "A big roadmap"},
        "sides": [{"code": "A", "name": "Side A"}, {"code": "B", "name": "Side B"}],
        "clusters": clusters,
        "developments": [],
    }


def test_a_huge_roadmap_stays_within_100_blocks_and_says_how_many_more(web, fake_slack, store):
    store.transfer.import_doc(big_roadmap())
    big = store.roadmaps.resolve("big").id
    open_home(web, fake_slack)
    text = click(web, fake_slack, "home_roadmap", f"{big}|", kind="static_select")
    assert "A big roadmap" in text
    for c in range(30):
        store.home.follow(VIEWER, big, f"c{c}")
    text = click(web, fake_slack, "home_side", f"{big}|A", kind="static_select")
    view = fake_slack.calls_to("views.publish")[-1].json_field("view")
    assert len(view["blocks"]) <= 100
    assert "⏰ Overdue (900)" in text and "… and 892 more" in text  # 30 × 30 steps, all due in 2024
    assert "… and 442 more — `/roadmap commitments A`" in text  # 450 pairs wait on side A
    assert "… and 24 more — `/roadmap status &lt;cluster&gt;`" in text  # followed: 6 shown
    assert "… and 10 more — `/roadmap status`" in text  # whose move: 20 clusters shown


def test_should_the_caps_be_raised_the_home_is_still_cut_at_100_blocks_keeping_its_footer(services, store, monkeypatch):
    store.transfer.import_doc(big_roadmap())
    big = store.roadmaps.resolve("big").id
    store.home.set_side(VIEWER, big, "A")
    monkeypatch.setattr(home_module, "MAX_STEPS", 60)
    view = home_module.home_view(services, VIEWER)
    assert len(view["blocks"]) == 100
    assert_valid_view(view)
    assert "show everything" in view["blocks"][-1]["elements"][0]["text"]


def test_a_form_for_a_roadmap_that_is_gone_says_so(web, fake_slack, store):
    view = open_form(web, fake_slack, "log_development_open", "999||")
    assert "no longer on the roadmap" in text_of(view) and "submit" not in view


def test_the_roadmap_picker_shows_another_roadmap_and_nothing_of_the_first(web, fake_slack, store):
    from tests.test_roadmaps import MOLDOVA

    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    moldova = store.roadmaps.resolve("moldova").id
    store.home.follow(VIEWER, rid(store), "security")
    view = open_home(web, fake_slack)
    controls = next(b for b in view["blocks"] if b.get("block_id") == "home_controls")
    assert controls["elements"][0]["action_id"] == "home_roadmap"
    text = click(web, fake_slack, "home_roadmap", f"{moldova}|", kind="static_select")
    # Step ids clash across the two (both have SEC-2): what shows, and what its menus act on, is Moldova's.
    assert "Moldova" in text and "Gura Bicului" in text and "Security cooperation" not in text
    assert f"status|{moldova}|SEC-2" in text and f"|{rid(store)}|" not in text
    assert store.home.followed(VIEWER, moldova) == []


def test_the_owned_section_lists_the_steps_the_user_owns(web, fake_slack, store):
    assert "*Steps you or your groups own*\\nNone open." in text_of(open_home(web, fake_slack))
    store.owners.assign("SEC-5", [VIEWER], actor="U0EDITOR")
    store.owners.assign("ECO-1", [VIEWER], actor="U0EDITOR")
    text = text_of(open_home(web, fake_slack))
    assert "Steps you or your groups own" in text and "`SEC-5`" in text and "`ECO-1`" in text


# -- rebuilds through the outbox ---------------------------------------------------------------------------------
def test_a_burst_of_50_changes_is_one_publish_per_user(web, fake_slack, store, services):
    for user in ("U1", "U2"):
        open_home(web, fake_slack, user)
    store.home.seen("U3", at=utcnow() - timedelta(days=home_module.HOME_SEEN_DAYS + 1))  # not opened lately
    fake_slack.reset()
    for n in range(25):
        store.developments.record(text=f"burst {n}", author="U1", cluster="security")
        store.developments.record(text=f"burst {n}", author="U1", cluster="economic")
    worker = OutboxWorker(services)
    assert worker.run_once(utcnow() + LATER) == 2  # the two clusters' rows, fanned out
    assert sorted(w.key for w in store.outbox.pending("home")) == ["U1", "U2"]
    assert worker.run_once(utcnow() + 2 * LATER) == 2
    published = fake_slack.calls_to("views.publish")
    assert sorted(c.body["user_id"] for c in published) == ["U1", "U2"]
    for call in published:
        assert_valid_view(call.json_field("view"))
    assert store.outbox.pending() == []


def test_a_rate_limited_publish_waits_for_retry_after_in_the_outbox(web, fake_slack, store, services):
    open_home(web, fake_slack, "U1")
    store.outbox.enqueue("home", "U1")
    fake_slack.reset()
    fake_slack.script("views.publish", Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}))
    worker = OutboxWorker(services)
    now = utcnow() + LATER
    assert worker.run_once(now) == 1
    (owed,) = store.outbox.pending("home")
    assert "ratelimited" in owed.last_error and len(fake_slack.calls_to("views.publish")) == 1  # no retry in-thread
    assert worker.run_once(now + timedelta(seconds=29)) == 0
    assert worker.run_once(now + timedelta(seconds=31)) == 1
    assert store.outbox.pending() == [] and len(fake_slack.calls_to("views.publish")) == 2


# -- the forms ----------------------------------------------------------------------------------------------------
def test_log_a_development_from_the_home_records_it_with_its_link(web, fake_slack, store):
    view = open_form(web, fake_slack, "home_step_menu", f"log|{rid(store)}||SEC-2", kind="overflow")
    assert view["callback_id"] == "log_development_form"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["step"]["element"]["initial_option"]["value"] == "SEC-2"
    assert blocks["cluster"]["element"]["initial_option"]["value"] == "security"
    assert "initial_value" not in blocks["text"]["element"] and blocks["url"]["element"]["type"] == "url_text_input"
    today = blocks["date"]["element"]["initial_date"]
    answer_ = submit(
        web,
        view,
        log_values("security", "SEC-2", "Envoys met in Minsk", today, "https://news.example.org/minsk"),
    )
    assert answer_["response_action"] == "update" and "Recorded" in json.dumps(answer_["view"])
    assert_valid_view(answer_["view"])
    (dev,) = store.search("Envoys met in Minsk").developments
    assert dev.step == "SEC-2" and dev.url == "https://news.example.org/minsk" and dev.author == VIEWER
    assert [w.key for w in store.outbox.pending("cluster")]  # living views owe their update


@pytest.mark.parametrize(
    "values, field",
    [
        (log_values(None, None, "x", "2025-07-01"), "cluster"),
        (log_values("security", None, "", "2025-07-01"), "text"),
        (log_values("security", None, "Talks", "2999-01-01"), "date"),
        (log_values("economic", "SEC-2", "Talks", "2025-07-01"), "step"),
        (log_values("security", None, "Talks", "2025-07-01", "not a link"), "url"),
        (log_values("security", None, "x" * 4001, "2025-07-01"), "text"),
    ],
)
def test_the_log_form_shows_each_error_in_its_field_and_saves_nothing(web, fake_slack, store, values, field):
    view = open_form(web, fake_slack, "log_development_open", f"{rid(store)}||")
    before = len(store.roadmap.cluster_detail("security", developments=100).developments)
    response = submit(web, view, values)
    assert response["response_action"] == "errors" and list(response["errors"]) == [field]
    assert response["errors"][field].endswith(".")
    assert len(store.roadmap.cluster_detail("security", developments=100).developments) == before


def test_a_viewer_is_told_why_not_and_cannot_change_a_status_by_submitting(web, fake_slack, store):
    view = open_form(web, fake_slack, "change_status_open", f"{rid(store)}|SEC-1")
    text = text_of(view)
    assert "Only editors can change the status of `SEC-1`" in text and f"<@{EDITOR}>" in text
    assert "submit" not in view
    # A form opened while still an editor, submitted after: refused on the server too.
    form = open_form(web, fake_slack, "change_status_open", f"{rid(store)}|SEC-1", user=EDITOR)
    response = submit(web, form, status_values("done", "signed"), user=VIEWER)
    assert response["response_action"] == "errors" and "Only editors" in response["errors"]["status"]
    assert store.roadmap.step("SEC-1").status == "proposed"


def test_an_editor_changes_a_status_with_a_note_required_for_dropped(web, fake_slack, store):
    form = open_form(web, fake_slack, "home_step_menu", f"status|{rid(store)}|SEC-1", user=EDITOR, kind="overflow")
    assert form["callback_id"] == "change_status"
    response = submit(web, form, status_values("dropped"), user=EDITOR)
    assert response["response_action"] == "errors" and "Say why" in response["errors"]["note"]
    assert store.roadmap.step("SEC-1").status == "proposed"
    response = submit(web, form, status_values("dropped", "Minsk withdrew"), user=EDITOR)
    assert response["response_action"] == "update"
    assert_valid_view(response["view"])
    detail = store.roadmap.step_detail("SEC-1")
    assert detail.step.status == "dropped" and detail.history[0].note == "Minsk withdrew"
    assert detail.history[0].actor == EDITOR
    fake_slack.wait_for("views.publish")  # the editor's own Home follows at once


def test_the_global_shortcut_opens_the_same_form(web, fake_slack, store):
    payload = {
        "type": "shortcut",
        "token": "legacy",
        "callback_id": "log_development",
        "trigger_id": "1337.42.home",
        "team": TEAM,
        "user": {"id": VIEWER},
        "api_app_id": "A1",
    }
    assert send_interaction(web, payload).status == 200
    (opened,) = fake_slack.wait_for("views.open")
    view = opened.json_field("view")
    assert_valid_view(view)
    assert view["callback_id"] == "log_development_form" and json.loads(view["private_metadata"]) == {
        "roadmap": rid(store)
    }


def test_step_views_and_the_digest_carry_the_buttons(web, store):
    message = answer(web, "status SEC-1")
    actions = next(b for b in message["blocks"] if b.get("block_id") == "step_actions")
    assert [e["value"] for e in actions["elements"]] == [f"{rid(store)}||SEC-1", f"{rid(store)}|SEC-1"]
    preview = answer(web, "digest preview")
    assert any(b.get("block_id") == "digest_actions" for b in preview["blocks"])


def test_only_homes_that_show_the_changed_roadmap_are_rebuilt(store):
    from tests.test_roadmaps import MOLDOVA

    store.transfer.import_doc(copy.deepcopy(MOLDOVA))
    for work in store.outbox.claim(utcnow() + LATER, limit=100):
        store.outbox.done(work)
    moldova = store.roadmaps.resolve("moldova").id
    store.home.seen("U1")  # no roadmap chosen: the first one
    store.home.seen("U2")
    store.home.set_roadmap("U2", moldova)
    store.home.seen("U3")
    store.home.set_roadmap("U3", moldova)
    store.home.follow("U3", rid(store), "security")  # follows a cluster of the other roadmap
    since = utcnow() - timedelta(days=1)
    store.for_roadmap("us-belarus").developments.record(text="Checkpoint talks", author="U1", cluster="security")
    (cluster_row,) = store.outbox.pending("cluster")
    assert store.home.owe_rebuilds(int(cluster_row.key), since) == ["U1", "U3"]
    assert sorted(w.key for w in store.outbox.pending("home")) == ["U1", "U3"]


def test_the_messages_tab_publishes_nothing(web, fake_slack, store):
    event = {"type": "app_home_opened", "user": VIEWER, "channel": "D1", "tab": "messages", "event_ts": "1.1"}
    assert send_event(web, event, event_id="EvMessages").status == 200
    assert store.home.pref(VIEWER).seen_at is None
    assert fake_slack.calls_to("views.publish") == []
