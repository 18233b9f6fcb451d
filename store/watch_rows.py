"""Source watch rows as the rest of the store sees them: views (with their source, cluster and thread), and the
sources' part of a roadmap file (export and import, so a backup holds what a channel watches and what it has seen).

The only queries of Cluster and ClusterThread for source watch are here, for the roadmap filter to come.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from store.base import insert_ignore
from store.models import Cluster, ClusterThread, WatchItem, WatchSource, utcnow
from store.queries import development_view
from store.watch_views import WatchItemView, WatchSourceView

# A ClusterThread row whose ts starts so is a claim of a parent not yet posted (store/threads.py).
_THREAD_CLAIM_LIKE = "pending-%"


def cluster_slug(s: Session, cluster_id: int | None) -> str | None:
    return s.exec(select(Cluster.slug).where(Cluster.id == cluster_id)).scalar() if cluster_id else None


def thread_ts(s: Session, channel: str, cluster_id: int | None) -> str | None:
    if cluster_id is None:
        return None
    return s.exec(
        select(ClusterThread.ts).where(
            ClusterThread.channel == channel,
            ClusterThread.cluster_id == cluster_id,
            ClusterThread.ts.notlike(_THREAD_CLAIM_LIKE),
        )
    ).scalar()


def source_name(source: WatchSource) -> str:
    return source.title or source.url.split("://", 1)[-1][:80]


def source_view(s: Session, row: WatchSource, with_page: bool = False) -> WatchSourceView:
    proposed = s.exec(
        select(func.count())
        .select_from(WatchItem)
        .where(WatchItem.source_id == row.id, WatchItem.status.in_(("proposed", "confirmed", "ignored")))
    ).one()[0]
    return WatchSourceView(
        id=row.id,
        channel=row.channel,
        url=row.url,
        cluster=cluster_slug(s, row.cluster_id),
        keywords=tuple(k for k in row.keywords.split("\n") if k),
        interval_seconds=row.interval_seconds,
        roadmap_id=row.roadmap_id,
        status=row.status,
        kind=row.kind,
        title=row.title,
        next_poll_at=row.next_poll_at,
        etag=row.etag,
        last_modified=row.last_modified,
        last_polled_at=row.last_polled_at,
        last_ok_at=row.last_ok_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failures=row.failures,
        created_by=row.created_by,
        proposed=proposed,
        thread_ts=thread_ts(s, row.channel, row.cluster_id),
        page_text=row.page_text if with_page else None,
    )


def item_view(s: Session, item: WatchItem) -> WatchItemView:
    source = s.get(WatchSource, item.source_id)
    dev_cluster = None
    if item.development_id:
        dev_cluster = development_view(s, item.development_id).cluster
    return WatchItemView(
        id=item.id,
        source_id=item.source_id,
        source_name=source_name(source),
        source_url=source.url,
        channel=source.channel,
        cluster=dev_cluster or cluster_slug(s, source.cluster_id),
        url=item.url,
        title=item.title,
        summary=item.summary,
        published_on=item.published_on,
        matched=tuple(m for m in item.matched.split(", ") if m),
        status=item.status,
        message_channel=item.message_channel,
        message_ts=item.message_ts,
        decided_by=item.decided_by,
        decided_at=item.decided_at,
        development_id=item.development_id,
    )


# -- the sources in a roadmap file ------------------------------------------------------------------------------


def export_sources(s: Session, roadmap_id: int) -> list[dict]:
    """The roadmap's sources not removed, with the keys of the items each has seen (so a restored source
    proposes only items that are really new)."""
    out = []
    live = select(WatchSource).where(WatchSource.roadmap_id == roadmap_id, WatchSource.status != "removed")
    for row in s.exec(live.order_by(WatchSource.id)).scalars():
        seen = s.exec(
            select(WatchItem.item_key)
            .where(WatchItem.source_id == row.id, WatchItem.status != "pending")
            .order_by(WatchItem.item_key)
        ).scalars()
        doc = {"channel": row.channel, "url": row.url}
        if row.cluster_id:
            doc["cluster"] = cluster_slug(s, row.cluster_id)
        if row.keywords:
            doc["keywords"] = row.keywords.split("\n")
        doc.update(every=row.interval_seconds, status=row.status, created_by=row.created_by)
        keys = list(seen)
        if keys:
            doc["seen"] = keys
        out.append(doc)
    return out


def import_sources(s: Session, docs: list[dict], cluster_ids: dict[str, int], roadmap_id: int) -> int:
    """Add the sources of a roadmap file (a source already watched in that channel is kept as it is) and mark
    the items they had seen as seen. Returns how many sources were added."""
    added = 0
    for d in docs:
        values = dict(
            channel=d["channel"],
            url=d["url"],
            roadmap_id=roadmap_id,
            cluster_id=cluster_ids[d["cluster"]] if d.get("cluster") else None,
            keywords="\n".join(d.get("keywords") or []),
            interval_seconds=int(d.get("every") or 900),
            status=d.get("status") or "active",
            title="",
            next_poll_at=utcnow(),
            failures=0,
            created_by=d.get("created_by", "import"),
            created_at=utcnow(),
            # A source that had seen items is past its first poll: what it finds next is new.
            last_ok_at=utcnow() if d.get("seen") else None,
        )
        new_id = s.exec(insert_ignore(s, WatchSource, values, ["channel", "url"]).returning(WatchSource.id)).scalar()
        added += new_id is not None
        source_id = (
            new_id
            or s.exec(
                select(WatchSource.id).where(WatchSource.channel == d["channel"], WatchSource.url == d["url"])
            ).scalar_one()
        )
        for key in d.get("seen") or []:
            item = dict(source_id=source_id, item_key=key, title="", summary="", matched="", status="skipped")
            s.exec(insert_ignore(s, WatchItem, dict(item, created_at=utcnow()), ["source_id", "item_key"]))
    return added
