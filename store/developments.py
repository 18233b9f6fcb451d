"""Developments: dated facts of a cluster (and perhaps a step). `add_development` holds every rule of what a
development may be, and every door goes through it: the `log` command, thread replies, the message shortcut,
imports, and any door added later. Edits and retractions of Slack-born developments live here too.

Rules: the text has no control characters, is not empty and is at most MAX_DEVELOPMENT_CHARS long; it belongs
to a cluster, or to a step (and so to the step's cluster) — when both are named they must agree; it records what
has happened, so its date is not in the future; a Slack message (channel, ts) is stored once, decided by the
database's unique constraint, not a prior read.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from store.base import Database, insert_of
from store.errors import Invalid
from store.models import Cluster, Development, utcnow
from store.names import strip_control_chars
from store.outbox import CLUSTER_CHANGED, enqueue
from store.queries import development_view, find_cluster_id, find_step
from store.roadmaps import Scope
from store.views import DevelopmentView, Recorded

MAX_DEVELOPMENT_CHARS = 4000
MAX_URL_CHARS = 2000
# Without the caller's own date, "today" is taken as late as any time zone's (UTC+14): a development logged
# just after midnight in Minsk is not "in the future" for a server on UTC.
_LATEST_OFFSET = timedelta(hours=14)


def checked_text(text: str) -> str:
    """A development's text as stored: control characters dropped, trimmed, non-empty, within the limit."""
    text = strip_control_chars(text or "").strip()
    if not text:
        raise Invalid("a development needs some text", field="text")
    if len(text) > MAX_DEVELOPMENT_CHARS:
        raise Invalid(
            f"that development is {len(text):,} characters; the limit is {MAX_DEVELOPMENT_CHARS:,}. "
            "Shorten it or link to the full text.",
            field="text",
        )
    return text


def checked_url(url: str | None) -> str | None:
    """A development's source link: none, or a web address Slack can link to (at most 2,000 characters)."""
    url = strip_control_chars(url or "").strip()
    if not url:
        return None
    if not re.match(r"^https?://[^\s/]+\.[^\s]*$", url) or len(url) > MAX_URL_CHARS:
        limit = f"{MAX_URL_CHARS:,}"
        raise Invalid(f"a source link is a web address (https://…) of at most {limit} characters", field="url")
    return url


@dataclass(frozen=True)
class SlackMessage:
    """Where a development came from in Slack: its identity (channel, ts) and, once known, its permalink."""

    channel: str
    ts: str
    permalink: str | None = None


def add_development(
    s: Session,
    roadmap_id: int | None,
    *,
    text: str,
    author: str,
    cluster: str | None = None,
    cluster_id: int | None = None,
    step: str | None = None,
    occurred_on: date | None = None,
    today: date | None = None,
    source: str = "",
    url: str | None = None,
    slack: SlackMessage | None = None,
    precision: str = "day",
    recorded_at: datetime | None = None,
    edited_at: datetime | None = None,
    retracted_at: datetime | None = None,
) -> tuple[int, bool]:
    """Add one development inside an open transaction: (its id, whether this call created it). The cluster is a
    slug, or `cluster_id` when the caller has it already (a thread's cluster, read in the same transaction)."""
    text = checked_text(text)
    url = checked_url(url)
    today = today or (utcnow() + _LATEST_OFFSET).date()
    occurred_on = occurred_on or today
    if occurred_on > today:
        raise Invalid(
            f"{occurred_on.isoformat()} is in the future; a development records what has happened", field="date"
        )
    step_row = find_step(s, step, roadmap_id) if step else None
    if step_row is not None:
        cluster_id = step_row.cluster_id
        if cluster and find_cluster_id(s, cluster, roadmap_id) != cluster_id:
            step_cluster = s.get(Cluster, cluster_id).slug
            raise Invalid(
                f"{step_row.key} belongs to the {step_cluster} cluster: choose that cluster, or another step",
                field="step",
            )
    elif cluster:
        cluster_id = find_cluster_id(s, cluster, roadmap_id)
    elif cluster_id is None:
        raise Invalid("a development belongs to a cluster or a step", field="cluster")
    values = dict(
        cluster_id=cluster_id,
        step_id=step_row.id if step_row else None,
        text=text,
        author=author,
        occurred_on=occurred_on,
        precision=precision,
        recorded_at=recorded_at or utcnow(),
        source=(source or "").strip(),
        url=url,
        slack_channel=slack.channel if slack else None,
        slack_ts=slack.ts if slack else None,
        permalink=slack.permalink if slack else None,
        edited_at=edited_at,
        retracted_at=retracted_at,
    )
    enqueue(s, CLUSTER_CHANGED, str(cluster_id))
    if slack is None:
        dev = Development(**values)
        s.add(dev)
        s.flush()
        return dev.id, True
    new_id = s.execute(_insert_from_slack(s.get_bind().dialect.name), values).scalar()
    if new_id is not None:
        return new_id, True
    return _slack_id(s, slack.channel, slack.ts), False


@functools.cache
def _insert_from_slack(dialect: str):
    """Built once (the commonest write: a thread reply): a message already recorded is not recorded again."""
    insert = insert_of(dialect)
    return (
        insert(Development)
        .on_conflict_do_nothing(index_elements=["slack_channel", "slack_ts"])
        .returning(Development.id)
    )


def _slack_id(s: Session, channel: str, ts: str) -> int | None:
    return s.exec(
        select(Development.id).where(Development.slack_channel == channel, Development.slack_ts == ts)
    ).scalar()


def _of_message(channel: str, ts: str):
    return (Development.slack_channel == channel, Development.slack_ts == ts)


class Developments:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def record(self, **fields) -> Recorded:
        """Record a development in its own transaction (see add_development for the fields and the rules)."""
        with self.db.session(write=True) as s:
            dev_id, created = add_development(s, self.scope.id, **fields)
            return Recorded(development_view(s, dev_id), created)

    def of_message(self, channel: str, ts: str) -> DevelopmentView | None:
        """The development recorded from a Slack message (retracted ones included), if any."""
        with self.db.session() as s:
            dev_id = _slack_id(s, channel, ts)
            return development_view(s, dev_id) if dev_id is not None else None

    def set_permalink(self, channel: str, ts: str, permalink: str) -> bool:
        """Fill in a Slack development's permalink (fetched after the row was stored); False if none to fill."""
        with self.db.session(write=True) as s:
            done = s.exec(
                update(Development)
                .where(*_of_message(channel, ts), Development.permalink.is_(None))
                .values(permalink=permalink[:2000])
                .returning(Development.id)
            ).first()
        return done is not None

    def edit(
        self, channel: str, ts: str, *, text: str, edited_at: datetime, cluster: str, step: str | None = None
    ) -> DevelopmentView | None:
        """Apply an edit of the Slack message a development came from: new text, and the step it now names (or
        none, back to `cluster`). An edit older than the last one applied is ignored, so a late retry cannot undo
        a newer edit. None if there is no such (unretracted) development or the edit is stale."""
        text = checked_text(text)
        with self.db.session(write=True) as s:
            if step:
                step_row = find_step(s, step, self.scope.id)
                cluster_id, step_id = step_row.cluster_id, step_row.id
            else:
                cluster_id, step_id = find_cluster_id(s, cluster, self.scope.id), None
            dev_id = s.exec(
                update(Development)
                .where(
                    *_of_message(channel, ts),
                    Development.retracted_at.is_(None),
                    or_(Development.edited_at.is_(None), Development.edited_at < edited_at),
                )
                .values(text=text, cluster_id=cluster_id, step_id=step_id, edited_at=edited_at)
                .returning(Development.id)
            ).scalar()
            if dev_id is None:
                return None
            enqueue(s, CLUSTER_CHANGED, str(cluster_id))
            return development_view(s, dev_id)

    def retract(self, channel: str, ts: str, at: datetime | None = None) -> bool:
        """Retract the development of a deleted Slack message: kept (and exported) but no longer shown."""
        with self.db.session(write=True) as s:
            cluster_id = s.exec(
                update(Development)
                .where(*_of_message(channel, ts), Development.retracted_at.is_(None))
                .values(retracted_at=at or utcnow())
                .returning(Development.cluster_id)
            ).scalar()
            if cluster_id is not None:
                enqueue(s, CLUSTER_CHANGED, str(cluster_id))
        return cluster_id is not None
