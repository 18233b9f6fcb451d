"""Source watch: the feeds and pages a channel watches, the items they carried, and each proposal's decision.

The database holds every guarantee (docs/stack-traps.md, APScheduler: every clock fires every job):
- a due source is claimed by a compare-and-set on `next_poll_at` (`claim_due`), so two clocks poll it once;
- an item is stored once per source under its key (feed GUID or canonical URL, hashed): the unique constraint
  decides whether this poll proposes it (`claim_item`), so it is proposed once, ever;
- a decision is a compare-and-set on the item's status, and a Confirm records the development through the one
  recording path (`add_development`) in the same transaction, with the proposal message as its Slack identity:
  a retried or double click records once.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session

from store.base import Database, dialect_insert
from store.developments import SlackMessage, add_development
from store.errors import Invalid, NotFound
from store.models import WatchItem, WatchSource, utcnow
from store.queries import development_view, find_cluster_id
from store.roadmaps import Scope
from store.watch_rows import cluster_slug, item_view, source_name, source_view
from store.watch_views import WatchDecision, WatchItemView, WatchSourceView

DEFAULT_INTERVAL_SECONDS = 15 * 60
MIN_INTERVAL_SECONDS = 5 * 60
MAX_INTERVAL_SECONDS = 7 * 24 * 3600
MAX_BACKOFF_SECONDS = 6 * 3600
MAX_KEYWORDS = 20
MAX_KEYWORD_CHARS = 80
MAX_PAGE_TEXT_CHARS = 100_000
OPEN_ITEM_STATUSES = ("pending", "proposed")
# A pending item this old was claimed by a poll that died before posting it (or before noting the post).
STALE_PENDING = timedelta(minutes=10)


def item_key(identity: str) -> str:
    """The stored key of an item's identity (GUID or canonical URL): fixed length, whatever the feed sends."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def backoff_seconds(interval_seconds: int, failures: int) -> int:
    """After `failures` failed polls in a row: the interval, then doubling, up to MAX_BACKOFF_SECONDS (but never
    less often than the source's own interval)."""
    return max(interval_seconds, min(interval_seconds * 2 ** max(failures - 1, 0), MAX_BACKOFF_SECONDS))


class Watch:
    """Sources are added in (and propose into) a roadmap: the scope's when added. Polls and decisions act on
    each source's own roadmap, whatever the store object's scope."""

    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    # -- sources ---------------------------------------------------------------------------------------------
    def add(
        self,
        channel: str,
        url: str,
        *,
        cluster: str | None = None,
        keywords: tuple[str, ...] = (),
        interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
        created_by: str = "",
        now: datetime | None = None,
    ) -> WatchSourceView:
        """Watch `url` for `channel`, first poll due at once. A source removed earlier is watched again with the
        new settings (its items stay seen); one that is watched already is refused, naming its id."""
        now = now or utcnow()
        keywords = _checked_keywords(keywords)
        if not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
            raise Invalid("poll a source between every 5 minutes and every 7 days (e.g. `every 1h`)", field="every")
        with self.db.session(write=True) as s:
            rid = self.scope.require()
            values = dict(
                channel=channel,
                url=url,
                roadmap_id=rid,
                cluster_id=find_cluster_id(s, cluster, rid) if cluster else None,
                keywords="\n".join(keywords),
                interval_seconds=interval_seconds,
                status="active",
                title="",
                next_poll_at=now,
                failures=0,
                created_by=created_by,
                created_at=now,
            )
            ins = dialect_insert(s, WatchSource, values).on_conflict_do_nothing(index_elements=["channel", "url"])
            new_id = s.exec(ins.returning(WatchSource.id)).scalar()
            if new_id is None:
                row = s.exec(
                    select(WatchSource).where(WatchSource.channel == channel, WatchSource.url == url)
                ).scalar_one()
                if row.status != "removed":
                    raise Invalid(f"this channel already watches that URL as source #{row.id}", field="url")
                for k in (
                    "roadmap_id",
                    "cluster_id",
                    "keywords",
                    "interval_seconds",
                    "status",
                    "next_poll_at",
                    "created_by",
                ):
                    setattr(row, k, values[k])
                row.failures = 0
                s.add(row)
                s.flush()
                new_id = row.id
            return source_view(s, s.get(WatchSource, new_id))

    def sources(self, channel: str | None = None) -> list[WatchSourceView]:
        """The sources watched (active and paused) in `channel`, or everywhere, oldest first."""
        with self.db.session() as s:
            q = select(WatchSource).where(WatchSource.status != "removed").order_by(WatchSource.id)
            if channel:
                q = q.where(WatchSource.channel == channel)
            return [source_view(s, row) for row in s.exec(q).scalars()]

    def source(self, source_id: int) -> WatchSourceView:
        with self.db.session() as s:
            return source_view(s, _find_source(s, source_id, None))

    def set_status(self, source_id: int, status: str, channel: str | None = None) -> tuple[WatchSourceView, bool]:
        """Pause, resume (active) or remove a source: (the source, whether this call changed it). A resumed source
        is polled at the next tick. `channel` limits the choices named when the id is unknown."""
        with self.db.session(write=True) as s:
            row = _find_source(s, source_id, channel)
            changed = row.status != status
            if changed:
                row.status = status
                if status == "active":
                    row.next_poll_at = utcnow()
                s.add(row)
                s.flush()
            return source_view(s, row), changed

    # -- polling ---------------------------------------------------------------------------------------------
    def claim_due(self, now: datetime | None = None, limit: int = 20) -> list[WatchSourceView]:
        """Claim up to `limit` due active sources for one poll each: a compare-and-set moves `next_poll_at` one
        interval on, so another clock's claim of the same source finds it no longer due and skips it."""
        now = now or utcnow()
        claimed = []
        with self.db.session(write=True) as s:
            due = s.exec(
                select(WatchSource.id, WatchSource.interval_seconds)
                .where(WatchSource.status == "active", WatchSource.next_poll_at <= now)
                .order_by(WatchSource.next_poll_at)
                .limit(limit)
            ).all()
            for source_id, interval in due:
                got = s.exec(
                    update(WatchSource)
                    .where(
                        WatchSource.id == source_id,
                        WatchSource.status == "active",
                        WatchSource.next_poll_at <= now,
                    )
                    .values(next_poll_at=now + timedelta(seconds=interval), last_polled_at=now)
                    .returning(WatchSource.id)
                ).scalar()
                if got is not None:
                    claimed.append(source_view(s, s.get(WatchSource, got), with_page=True))
        return claimed

    def record_success(
        self,
        source_id: int,
        now: datetime,
        *,
        kind: str | None = None,
        title: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        page_text: str | None = None,
    ) -> None:
        """A poll that worked (also a 304): failures reset; validators and the page snapshot kept for next time."""
        values: dict = dict(last_ok_at=now, failures=0)
        if kind:
            values["kind"] = kind
        if title:
            values["title"] = title[:300]
        if etag is not None or last_modified is not None:
            values["etag"] = etag[:500] if etag else None
            values["last_modified"] = last_modified[:100] if last_modified else None
        if page_text is not None:
            values["page_text"] = page_text[:MAX_PAGE_TEXT_CHARS]
        with self.db.session(write=True) as s:
            s.exec(update(WatchSource).where(WatchSource.id == source_id).values(**values))

    def record_failure(
        self,
        source_id: int,
        now: datetime,
        error: str,
        *,
        forget_validators: bool = False,
        not_before_seconds: int | None = None,
    ) -> WatchSourceView:
        """A poll that failed: the reason and time are kept for `watch list`, and the next poll backs off (and
        waits at least `not_before_seconds`, a source's Retry-After). `forget_validators`: the next poll must
        read the source whole (no 304), e.g. after a proposal failed."""
        with self.db.session(write=True) as s:
            row = s.get(WatchSource, source_id)
            if row is None:
                raise NotFound("source", f"#{source_id}", [])
            row.failures += 1
            row.last_error, row.last_error_at = error[:1000], now
            if forget_validators:
                row.etag = row.last_modified = None
            if row.status == "active":
                wait = max(backoff_seconds(row.interval_seconds, row.failures), not_before_seconds or 0)
                row.next_poll_at = now + timedelta(seconds=wait)
            s.add(row)
            s.flush()
            return source_view(s, row)

    # -- items -----------------------------------------------------------------------------------------------
    def claim_item(
        self,
        source_id: int,
        identity: str,
        *,
        url: str | None,
        title: str,
        summary: str = "",
        published_on: date | None = None,
        matched: tuple[str, ...] = (),
        status: str = "pending",
        now: datetime | None = None,
    ) -> int | None:
        """Store an item of a source once: its id if this call stored it (so it may propose it), None if the
        source carried it before (whichever clock, whenever). `status='skipped'` records it as seen only.
        A pending claim older than STALE_PENDING belongs to a poll that died before posting: it is taken over."""
        now = now or utcnow()
        values = dict(
            source_id=source_id,
            item_key=item_key(identity),
            url=url[:2000] if url else None,
            title=title[:500],
            summary=summary[:4000],
            published_on=published_on,
            matched=", ".join(matched)[:500],
            status=status,
            created_at=now,
        )
        with self.db.session(write=True) as s:
            ins = dialect_insert(s, WatchItem, values).on_conflict_do_nothing(index_elements=["source_id", "item_key"])
            new_id = s.exec(ins.returning(WatchItem.id)).scalar()
            if new_id is not None or status != "pending":
                return new_id
            # Compare-and-set on the claim's time: of two polls taking over one stale claim, one wins.
            return s.exec(
                update(WatchItem)
                .where(
                    WatchItem.source_id == source_id,
                    WatchItem.item_key == values["item_key"],
                    WatchItem.status == "pending",
                    WatchItem.created_at < now - STALE_PENDING,
                )
                .values(created_at=now)
                .returning(WatchItem.id)
            ).scalar()

    def known(self, source_id: int, identities: list[str], now: datetime | None = None) -> set[str]:
        """Which of these identities the source carried before (so a poll only builds proposals for new ones);
        a stale pending claim does not count, so that the poll takes it over."""
        keys = {item_key(i): i for i in identities}
        stale = (WatchItem.status == "pending") & (WatchItem.created_at < (now or utcnow()) - STALE_PENDING)
        with self.db.session() as s:
            found = s.exec(
                select(WatchItem.item_key).where(WatchItem.source_id == source_id, WatchItem.item_key.in_(keys), ~stale)
            ).scalars()
            return {keys[k] for k in found}

    def item_posted(self, item_id: int, channel: str, ts: str) -> None:
        with self.db.session(write=True) as s:
            s.exec(
                update(WatchItem)
                .where(WatchItem.id == item_id, WatchItem.status == "pending")
                .values(status="proposed", message_channel=channel, message_ts=ts)
            )

    def release_item(self, item_id: int) -> None:
        """Give back the claim of an item whose proposal could not be posted: the next poll proposes it again."""
        with self.db.session(write=True) as s:
            s.exec(delete(WatchItem).where(WatchItem.id == item_id, WatchItem.status == "pending"))

    def item(self, item_id: int) -> WatchItemView:
        with self.db.session() as s:
            return item_view(s, _find_item(s, item_id))

    def decide(
        self,
        item_id: int,
        decision: str,
        *,
        user: str,
        cluster: str | None = None,
        message: SlackMessage | None = None,
        today: date | None = None,
    ) -> WatchDecision:
        """Confirm (record the development) or ignore a proposal, once: whoever decides first wins, a retried or
        second click gets `already`. `cluster` overrides the source's; `message` is the proposal's identity."""
        if decision not in ("confirm", "ignore"):
            raise Invalid(f"{decision!r} is not a decision: confirm or ignore")
        now = utcnow()
        with self.db.session(write=True) as s:
            item = _find_item(s, item_id)
            outcome = "confirmed" if decision == "confirm" else "ignored"
            # The compare-and-set first: it locks the row, so a concurrent click waits here and then finds it taken.
            won = s.exec(
                update(WatchItem)
                .where(WatchItem.id == item_id, WatchItem.status.in_(OPEN_ITEM_STATUSES))
                .values(status=outcome, decided_by=user, decided_at=now)
                .returning(WatchItem.id)
            ).scalar()
            s.refresh(item)
            if won is None:
                dev = development_view(s, item.development_id) if item.development_id else None
                return WatchDecision(item_view(s, item), "already", dev)
            if decision == "ignore":
                return WatchDecision(item_view(s, item), outcome)
            source = s.get(WatchSource, item.source_id)
            slug = cluster or cluster_slug(s, source.cluster_id)
            if not slug:
                raise Invalid("choose a cluster for this development first", field="cluster")
            if message is None and item.message_channel and item.message_ts:
                message = SlackMessage(item.message_channel, item.message_ts)
            today = today or now.date()
            dev_id, _ = add_development(
                s,
                source.roadmap_id,
                text=_development_text(item),
                author=user,
                cluster=slug,
                occurred_on=min(item.published_on or today, today),
                today=today,
                source=source_name(source),
                url=item.url,
                slack=message,
            )
            item.development_id = dev_id
            s.add(item)
            s.flush()
            return WatchDecision(item_view(s, item), outcome, development_view(s, dev_id))


# -- helpers ------------------------------------------------------------------------------------------------


def _checked_keywords(keywords: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for k in keywords:
        k = " ".join(str(k).split())
        if not k:
            continue
        if len(k) > MAX_KEYWORD_CHARS:
            raise Invalid(f"a keyword is at most {MAX_KEYWORD_CHARS} characters", field="keywords")
        if k.lower() not in (x.lower() for x in out):
            out.append(k)
    if len(out) > MAX_KEYWORDS:
        raise Invalid(f"a source takes at most {MAX_KEYWORDS} keywords", field="keywords")
    return tuple(out)


def _find_source(s: Session, source_id: int, channel: str | None) -> WatchSource:
    row = s.get(WatchSource, source_id)
    if row is None or row.status == "removed" or (channel and row.channel != channel):
        q = select(WatchSource.id).where(WatchSource.status != "removed").order_by(WatchSource.id)
        if channel:
            q = q.where(WatchSource.channel == channel)
        raise NotFound("source", f"#{source_id}", [f"#{i}" for i in s.exec(q).scalars()])
    return row


def _find_item(s: Session, item_id: int) -> WatchItem:
    item = s.get(WatchItem, item_id)
    if item is None:
        raise NotFound("proposal", f"#{item_id}", [])
    return item


def _development_text(item: WatchItem) -> str:
    title = " ".join(item.title.split())
    if item.summary and not item.url:  # a page change: the title alone does not say what changed
        return f"{title}: {item.summary}"[:4000] if title else item.summary[:4000]
    return title or item.summary[:4000] or (item.url or "")
