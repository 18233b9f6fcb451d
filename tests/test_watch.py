"""Source watch through the real path: `/roadmap watch …` as signed commands, the clock's poller fetching feeds
(HTTP mocked by `responses`) and posting proposals to the fake Slack, and Confirm / Ignore as signed
`block_actions` — on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
import responses
from slack_sdk import WebClient

from bot.app import create_app
from bot.clock import Clock
from bot.web import SlackWSGI
from handlers.fetch import Fetcher
from handlers.registry import Caller, run_command
from handlers.watch_poller import WatchPoller
from store.api import RoadmapStore
from store.watch import backoff_seconds
from tests.blockkit import assert_valid_message, message_text
from tests.slack_requests import TEAM, answer, send_interaction

CHANNEL = "C100"
EDITOR = "U0EDITOR"
FEED = "https://news.example.org/rss.xml"
T0 = datetime(2025, 8, 5, 12, 0, tzinfo=UTC)


def soon(days: int = 0) -> datetime:
    """A clock tick a minute from now (sources added now are due), `days` later."""
    return datetime.now(UTC) + timedelta(minutes=1, days=days)


def rss(*items: tuple[str, str, str]) -> bytes:
    """An RSS 2.0 feed of (guid, title, pubDate) items."""
    body = "".join(
        f"<item><title>{title}</title><link>https://news.example.org/{guid}</link><guid>{guid}</guid>"
        f"<pubDate>{when}</pubDate><description>About {title}</description></item>"
        for guid, title, when in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>MFA news</title>{body}</channel></rss>'.encode()


VISA = ("v1", "Visa talks resume", "Mon, 04 Aug 2025 10:00:00 GMT")
POTASH = ("p1", "Potash transit deal", "Sun, 03 Aug 2025 09:00:00 GMT")


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, editors=(EDITOR,))


@pytest.fixture
def web(settings, store):
    return SlackWSGI(create_app(settings, store), store)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def poller_for(settings, store: RoadmapStore, fake_slack, **fetcher_kwargs) -> WatchPoller:
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    fetcher = Fetcher(resolve=lambda host: ["93.184.216.34"], sleep=lambda s: None, **fetcher_kwargs)
    return WatchPoller(settings, store, client, fetcher)


@pytest.fixture
def poller(settings, store, fake_slack):
    return poller_for(settings, store, fake_slack)


def watch(web, text: str, user: str = EDITOR, channel: str = CHANNEL) -> dict:
    return answer(web, f"watch {text}", user=user, channel=channel)


def proposals(fake_slack) -> list:
    posts = fake_slack.calls_to("chat.postMessage")
    for p in posts:
        assert_valid_message({"text": p.body["text"], "blocks": p.json_field("blocks")})
    return posts


def item_id_of(post) -> int:
    actions = next(b for b in post.json_field("blocks") if b["type"] == "actions")
    return int(next(e for e in actions["elements"] if e.get("action_id") == "watch_confirm")["value"])


def click(web, fake_slack, post, action: str = "watch_confirm", user: str = "U200", cluster: str | None = None):
    """A signed block_actions click on a posted proposal, as Slack sends it."""
    item_id = item_id_of(post)
    ts = post_ts(fake_slack, post)
    block_id = f"watch_item_{item_id}"
    selected = {"value": cluster} if cluster else None
    payload = {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": ts, "channel_id": post.body["channel"], "is_ephemeral": False},
        "channel": {"id": post.body["channel"]},
        "message": {"type": "message", "ts": ts, "text": post.body["text"]},
        "trigger_id": "1.2.3",
        "response_url": fake_slack.response_url(f"click-{user}"),
        "state": {"values": {block_id: {"watch_cluster": {"type": "static_select", "selected_option": selected}}}},
        "actions": [{"action_id": action, "block_id": block_id, "type": "button", "value": str(item_id)}],
    }
    response = send_interaction(web, payload)
    assert response.status == 200, response.body
    return ts


def post_ts(fake_slack, post) -> str:
    """The ts the fake gave a post: it numbers the posts it answered in order (none is scripted to fail here)."""
    posts = fake_slack.calls_to("chat.postMessage")
    index = next(i for i, p in enumerate(posts) if p is post)
    return f"1700000000.{index + 1:06d}"


# -- the command ----------------------------------------------------------------------------------------------


def test_an_editor_adds_a_source_with_cluster_keywords_and_interval_and_sees_it_listed(web, store):
    message = watch(web, f'add <{FEED}> diplomatic visa "potash transit" every 1h')
    text = message_text(message)
    assert "Watching *#1*" in text and "polled within a minute, then every 1 h" in text
    (source,) = store.watch.sources(CHANNEL)
    assert (source.url, source.cluster, source.keywords, source.interval_seconds) == (
        FEED,
        "diplomatic",
        ("visa", "potash transit"),
        3600,
    )
    listed = message_text(watch(web, "list", user="U200"))  # anyone may list
    assert "#1" in listed and "cluster `diplomatic`" in listed and "visa, potash transit" in listed
    assert "first poll within a minute" in listed


def test_a_first_word_that_is_not_a_cluster_slug_or_prefix_is_a_keyword(web, store):
    watch(web, f"add {FEED} Poland sanctions")  # "Poland" is a title word of a cluster, but a keyword here
    (source,) = store.watch.sources(CHANNEL)
    assert source.cluster is None and source.keywords == ("Poland", "sanctions")
    watch(web, "add https://news.example.org/other SEC visa")
    assert store.watch.sources(CHANNEL)[1].cluster == "security"


def test_watch_changes_are_for_editors_and_a_refusal_changes_nothing(web, store):
    text = message_text(watch(web, f"add {FEED}", user="U200"))
    assert "Only editors can change watched sources" in text
    assert store.watch.sources() == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("add http://127.0.0.1/feed", "Refused: 127.0.0.1 is a loopback address"),
        ("add http://10.0.0.5/feed", "Refused: 10.0.0.5 is a private address"),
        ("add http://169.254.169.254/latest", "Refused: 169.254.169.254 is a link-local address"),
        ("add ftp://news.example.org/feed", "only http:// and https://"),
        ("add", "Say which feed or page to watch"),
        (f"add {FEED} every 2m", "between every 5 minutes and every 7 days"),
        (f"add {FEED} every often", "is not an interval"),
        (f'add {FEED} "unbalanced', "Could not read that"),
        ("pause 42", "There is no source “#42”"),
        ("frobnicate", "“frobnicate” is not a watch command"),
    ],
)
def test_bad_input_gets_a_clear_answer_and_changes_nothing(web, store, text, says):
    message = watch(web, text)
    assert says in message_text(message)
    assert store.watch.sources() == []


def test_watching_the_same_url_twice_names_the_source(web, store):
    watch(web, f"add {FEED}")
    assert "already watches that URL as source #1" in message_text(watch(web, f"add {FEED} visa"))


def test_private_addresses_are_allowed_when_the_operator_says_so(settings, store, fake_slack):
    web = SlackWSGI(create_app(dataclasses.replace(settings, watch_allow_private=True), store), store)
    watch(web, "add http://10.0.0.5/feed")
    assert [s.url for s in store.watch.sources()] == ["http://10.0.0.5/feed"]


def test_pause_resume_and_remove(web, store):
    watch(web, f"add {FEED}")
    assert "Paused *#1*" in message_text(watch(web, "pause 1"))
    assert store.watch.source(1).status == "paused"
    assert "already paused" in message_text(watch(web, "pause #1"))
    assert "Resumed *#1*" in message_text(watch(web, "resume 1"))
    assert "Stopped watching *#1*" in message_text(watch(web, "remove 1"))
    assert store.watch.sources() == []
    assert "No source is watched" in message_text(watch(web, "list"))


def test_the_console_lists_but_cannot_add_without_a_channel(store):
    reply = run_command(store, f"watch add {FEED}", Caller())
    assert not reply.ok and "in the Slack channel where its proposals should go" in message_text(reply.message)
    assert "No source is watched yet" in message_text(run_command(store, "watch", Caller()).message)


# -- polling and proposing ------------------------------------------------------------------------------------------


def test_a_new_source_is_polled_within_a_minute_and_matching_items_are_proposed(web, store, poller, http, fake_slack):
    http.get(FEED, body=rss(VISA, POTASH), content_type="application/rss+xml", headers={"ETag": '"e1"'})
    watch(web, f"add {FEED} diplomatic visa")
    created = store.watch.source(1).next_poll_at
    (outcome,) = poller.poll_due(created + timedelta(seconds=59))
    assert outcome.status == "ok" and len(outcome.proposed) == 1
    (post,) = proposals(fake_slack)
    assert post.body["channel"] == CHANNEL and "thread_ts" not in post.body
    text = message_text({"text": post.body["text"], "blocks": post.json_field("blocks")})
    assert "<https://news.example.org/v1|Visa talks resume>" in text
    assert "MFA news" in text and "published 4 Aug 2025" in text and "matched: visa" in text
    actions = next(b for b in post.json_field("blocks") if b["type"] == "actions")
    assert [e.get("action_id") for e in actions["elements"]] == ["watch_cluster", "watch_confirm", "watch_ignore"]
    assert actions["elements"][0]["initial_option"]["value"] == "diplomatic"
    source = store.watch.source(1)
    assert source.title == "MFA news" and source.etag == '"e1"' and source.kind == "feed"
    assert source.next_poll_at == created + timedelta(seconds=59) + timedelta(minutes=15)


def test_each_item_is_proposed_once_ever_and_unchanged_feeds_are_asked_with_their_etag(
    web, store, poller, http, fake_slack
):
    watch(web, f"add {FEED}")
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml", headers={"ETag": '"e1"'})
    poller.poll_due(soon())
    http.replace(responses.GET, FEED, status=304)
    assert [o.status for o in poller.poll_due(soon(1))] == ["not_modified"]
    assert http.calls[-1].request.headers["If-None-Match"] == '"e1"'
    http.replace(responses.GET, FEED, body=rss(POTASH, VISA), content_type="application/rss+xml")
    poller.poll_due(soon(2))
    assert [p.body["text"].split(": ", 1)[1] for p in proposals(fake_slack)] == [
        "Visa talks resume",
        "Potash transit deal",
    ]


def test_the_first_poll_proposes_only_the_newest_few_and_counts_the_rest_as_seen(web, store, poller, http, fake_slack):
    items = [(f"g{n}", f"Item {n}", f"Mon, {n + 1:02d} Aug 2025 10:00:00 GMT") for n in range(6)]
    http.get(FEED, body=rss(*items), content_type="application/rss+xml")
    watch(web, f"add {FEED}")
    poller.poll_due(soon())
    # The three newest, posted oldest first.
    assert [p.body["text"].rsplit(": ", 1)[1] for p in proposals(fake_slack)] == ["Item 3", "Item 4", "Item 5"]
    poller.poll_due(soon(1))
    assert len(proposals(fake_slack)) == 3


def test_proposals_go_to_the_cluster_thread_of_the_channel_when_there_is_one(web, store, poller, http, fake_slack):
    (slot,) = [s for s in store.threads.claim_all(CHANNEL, EDITOR) if s.cluster == "diplomatic"]
    store.threads.confirm(CHANNEL, "diplomatic", slot.claim, "1699999999.000100")
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml")
    assert "in the `diplomatic` thread" in message_text(watch(web, f"add {FEED} diplomatic"))
    poller.poll_due(soon())
    (post,) = proposals(fake_slack)
    assert post.body["thread_ts"] == "1699999999.000100"


def test_a_page_is_proposed_when_its_text_gains_lines(web, store, poller, http, fake_slack):
    url = "https://news.example.org/embassy"
    page = "<html><head><title>Embassy</title></head><body><p>{}</p></body></html>"
    http.get(url, body=page.format("Office hours"), content_type="text/html")
    watch(web, f"add {url} consul")
    poller.poll_due(soon())
    assert proposals(fake_slack) == []  # the first look is the baseline
    http.replace(
        responses.GET, url, body=page.format("Office hours</p><p>Consular section reopens"), content_type="text/html"
    )
    poller.poll_due(soon(1))
    (post,) = proposals(fake_slack)
    assert "Consular section reopens" in str(post.json_field("blocks"))


def test_a_source_is_polled_on_its_own_interval(web, store, poller, http):
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml")
    watch(web, f"add {FEED} every 1h")
    start = store.watch.source(1).next_poll_at
    assert len(poller.poll_due(start)) == 1
    assert poller.poll_due(start + timedelta(minutes=59)) == []
    assert len(poller.poll_due(start + timedelta(minutes=60))) == 1


# -- failures --------------------------------------------------------------------------------------------------------


def test_a_failing_source_is_recorded_backs_off_and_does_not_stop_the_others(web, store, poller, http, fake_slack):
    broken = "https://news.example.org/broken"
    http.get(broken, status=503)
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml")
    watch(web, f"add {broken}")
    watch(web, f"add {FEED}")
    now = soon()
    outcomes = {o.source_id: o for o in poller.poll_due(now)}
    assert outcomes[1].status == "failed" and outcomes[2].status == "ok"
    assert len(proposals(fake_slack)) == 1
    source = store.watch.source(1)
    assert source.failing and source.failures == 1 and source.last_error == "HTTP 503 Service Unavailable"
    listed = message_text(watch(web, "list"))
    assert "⚠️ HTTP 503 Service Unavailable" in listed and "1 failure in a row" in listed
    poller.poll_due(source.next_poll_at)
    assert store.watch.source(1).failures == 2
    assert store.watch.source(1).next_poll_at == source.next_poll_at + timedelta(seconds=backoff_seconds(900, 2))
    http.replace(responses.GET, broken, body=rss(POTASH), content_type="application/rss+xml")
    poller.poll_due(store.watch.source(1).next_poll_at)
    recovered = store.watch.source(1)
    assert recovered.failures == 0 and not recovered.failing
    assert "⚠️" not in message_text(watch(web, "list"))


def test_an_unexpected_error_in_one_source_is_recorded_and_the_tick_goes_on(web, store, poller, http, monkeypatch):
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml")
    watch(web, "add https://news.example.org/buggy")
    watch(web, f"add {FEED}")
    real = poller.fetcher.fetch

    def fetch(url, **kwargs):
        if url.endswith("buggy"):
            raise RuntimeError("parser bug")
        return real(url, **kwargs)

    monkeypatch.setattr(poller.fetcher, "fetch", fetch)
    outcomes = poller.poll_due(soon())
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert store.watch.source(1).last_error == "internal error: RuntimeError: parser bug"


def test_a_proposal_slack_refused_is_released_and_proposed_at_the_next_poll(web, store, poller, http, fake_slack):
    from tests.fakes import Scripted

    http.get(FEED, body=rss(VISA), content_type="application/rss+xml", headers={"ETag": '"e1"'})
    watch(web, f"add {FEED}")
    fake_slack.script("chat.postMessage", Scripted(body={"ok": False, "error": "not_in_channel"}))
    poller.poll_due(soon())
    source = store.watch.source(1)
    assert "not_in_channel" in source.last_error and "/invite @roadmap" in source.last_error
    assert source.etag is None  # so the next poll reads the feed again, not a 304
    poller.poll_due(source.next_poll_at)
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert store.watch.source(1).proposed == 1


# -- two clocks -------------------------------------------------------------------------------------------------------


def test_two_clocks_on_one_database_propose_each_item_once(settings, engine_factory, store, http, fake_slack, web):
    http.get(FEED, body=rss(VISA, POTASH), content_type="application/rss+xml")
    watch(web, f"add {FEED}")
    watch(web, "add https://news.example.org/other.xml")
    http.get("https://news.example.org/other.xml", body=rss(("o1", "Other", VISA[2])), content_type="text/xml")
    clocks = [Clock(None, poller=poller_for(settings, RoadmapStore(engine_factory()), fake_slack)) for _ in range(2)]
    now = soon()
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Clock.poll_sources, clocks, [now, now]))
        now += timedelta(minutes=16)
    assert sorted(p.body["text"].rsplit(": ", 1)[1] for p in proposals(fake_slack)) == [
        "Other",
        "Potash transit deal",
        "Visa talks resume",
    ]
    assert (
        store.watch.claim_item(1, "guid:https://news.example.org/v1", url=None, title="x") is None
    )  # the database says no


def test_a_clock_without_a_poller_polls_nothing():
    assert Clock(None).poll_sources(T0) == []


# -- Confirm / Ignore -------------------------------------------------------------------------------------------------


@pytest.fixture
def proposed(web, store, poller, http, fake_slack):
    """A source in `diplomatic` and one posted proposal (Visa talks, published 4 Aug 2025)."""
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml")
    watch(web, f"add {FEED} diplomatic")
    poller.poll_due(soon())
    (post,) = proposals(fake_slack)
    return post


def test_confirm_records_the_development_once_and_updates_the_proposal(web, store, fake_slack, proposed):
    ts = click(web, fake_slack, proposed, user="U200")
    dev = store.developments.of_message(CHANNEL, ts)
    assert (dev.cluster, dev.text, dev.author, dev.occurred_on) == (
        "diplomatic",
        "Visa talks resume",
        "U200",
        date(2025, 8, 4),
    )
    assert dev.url == "https://news.example.org/v1" and dev.source == "MFA news"
    (update,) = fake_slack.wait_for("chat.update")
    blocks = update.json_field("blocks")
    assert_valid_message({"text": update.body["text"], "blocks": blocks})
    assert update.body["ts"] == ts and not any(b["type"] == "actions" for b in blocks)
    assert "Confirmed by <@U200>" in str(blocks)
    # Slack retries the click (or the user double-clicks): nothing more is recorded, the message says the same.
    click(web, fake_slack, proposed, user="U200")
    assert len(fake_slack.wait_for("chat.update", 2)) == 2
    assert len([d for d in store.search("Visa talks").developments if d.text == "Visa talks resume"]) == 1
    assert fake_slack.calls_to("response_url") == []


def test_a_second_person_is_told_someone_was_first(web, store, fake_slack, proposed):
    click(web, fake_slack, proposed, action="watch_ignore", user="U200")
    click(web, fake_slack, proposed, action="watch_confirm", user="U300")
    (note,) = fake_slack.wait_for("response_url")
    assert "already ignored" in str(note.body) and note.body["replace_original"] is False
    assert store.search("Visa talks").developments == []
    assert store.watch.item(item_id_of(proposed)).decided_by == "U200"


def test_ignore_dismisses_without_recording(web, store, fake_slack, proposed):
    ts = click(web, fake_slack, proposed, action="watch_ignore")
    assert store.developments.of_message(CHANNEL, ts) is None
    (update,) = fake_slack.wait_for("chat.update")
    assert "Ignored by <@U200>" in str(update.json_field("blocks"))


def test_the_cluster_chosen_in_the_menu_wins_over_the_sources(web, store, fake_slack, proposed):
    ts = click(web, fake_slack, proposed, cluster="economic")
    assert store.developments.of_message(CHANNEL, ts).cluster == "economic"


def test_confirm_without_any_cluster_asks_for_one_and_records_nothing(web, store, poller, http, fake_slack):
    http.get(FEED, body=rss(VISA), content_type="application/rss+xml")
    watch(web, f"add {FEED}")
    poller.poll_due(soon())
    (post,) = proposals(fake_slack)
    actions = next(b for b in post.json_field("blocks") if b["type"] == "actions")
    assert "initial_option" not in actions["elements"][0]
    ts = click(web, fake_slack, post)
    (note,) = fake_slack.wait_for("response_url")
    assert "Choose a cluster in the menu first" in str(note.body)
    assert store.developments.of_message(CHANNEL, ts) is None
    click(web, fake_slack, post, cluster="humanitarian")
    assert store.developments.of_message(CHANNEL, ts).cluster == "humanitarian"


def test_choosing_a_cluster_in_the_menu_is_acknowledged(web, fake_slack, proposed):
    payload = {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": "U200"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1.2", "channel_id": CHANNEL},
        "trigger_id": "1.2.3",
        "response_url": fake_slack.response_url("menu"),
        "actions": [{"action_id": "watch_cluster", "block_id": "watch_item_1", "type": "static_select"}],
    }
    assert send_interaction(web, payload).status == 200


def test_text_from_a_feed_can_never_ping_or_link(web, store, poller, http, fake_slack):
    hostile = ("h1", "&lt;!channel&gt; Visa &lt;https://evil.example|click&gt;", VISA[2])
    http.get(FEED, body=rss(hostile), content_type="application/rss+xml")
    watch(web, f"add {FEED}")
    poller.poll_due(soon())
    (post,) = proposals(fake_slack)
    text = str(post.json_field("blocks")) + post.body["text"]
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; Visa" in text


def test_a_source_that_asks_to_wait_is_not_polled_before_it_said(web, store, poller, http):
    http.get(FEED, status=503, headers={"Retry-After": "7200"})
    watch(web, f"add {FEED}")
    now = soon()
    poller.poll_due(now)
    assert store.watch.source(1).next_poll_at == now + timedelta(seconds=7200)
    assert "asks to wait 7200 s" in message_text(watch(web, "list"))


def test_the_clock_process_polls_sources_every_minute(settings, store, fake_slack):
    from apscheduler.schedulers.background import BackgroundScheduler

    from handlers.digest_sender import DigestSender

    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    scheduler = BackgroundScheduler(timezone=UTC)  # never started: the jobs are inspected, not run
    poller = poller_for(settings, store, fake_slack)
    Clock(DigestSender(settings, store, client, client), scheduler=scheduler, poller=poller).add_jobs()
    job = scheduler.get_job("watch")
    assert job.trigger.interval == timedelta(seconds=60) and job.func.__name__ == "poll_sources"
    assert scheduler.get_job("reload") is not None
    bare = BackgroundScheduler(timezone=UTC)
    Clock(DigestSender(settings, store, client, client), scheduler=bare).add_jobs()
    assert bare.get_job("watch") is None  # no poller, no source watch
