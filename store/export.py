"""Writing a roadmap out as a document (the inverse of store.transfer's import): everything a restore needs."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session

from store import transfer_owners
from store.claims import all_claims
from store.models import (
    ChannelRoadmap,
    Cluster,
    ClusterThread,
    Development,
    DigestSchedule,
    Reciprocity,
    Roadmap,
    Side,
    Step,
    StepChange,
)
from store.names import key_order
from store.sequencing import all_edges
from store.watch_rows import export_sources


def channel_schedules(s: Session) -> list[dict]:
    return [
        {"channel": d.channel, "cron": d.cron, "timezone": d.timezone, "enabled": d.enabled}
        for d in s.exec(select(DigestSchedule).order_by(DigestSchedule.channel)).scalars()
    ]


def export_roadmap(s: Session, rid: int) -> dict:
    row = s.get(Roadmap, rid)
    sides = s.exec(select(Side).where(Side.roadmap_id == rid).order_by(Side.position)).scalars().all()
    side_code = {x.id: x.code for x in sides}
    clusters = s.exec(select(Cluster).where(Cluster.roadmap_id == rid).order_by(Cluster.position)).scalars().all()
    cluster_slug = {c.id: c.slug for c in clusters}
    steps = s.exec(select(Step).where(Step.roadmap_id == rid).order_by(Step.cluster_id, Step.number)).scalars().all()
    step_key = {x.id: x.key for x in steps}
    step_ids = select(Step.id).where(Step.roadmap_id == rid)
    cluster_ids = select(Cluster.id).where(Cluster.roadmap_id == rid)
    answers: dict[int, list[str]] = defaultdict(list)
    for r in s.exec(select(Reciprocity).where(Reciprocity.step_id.in_(step_ids)).order_by(Reciprocity.id)).scalars():
        answers[r.step_id].append(step_key[r.counterpart_id])
        answers[r.counterpart_id].append(step_key[r.step_id])
    history: dict[int, list[dict]] = defaultdict(list)
    changes = select(StepChange).where(StepChange.step_id.in_(step_ids)).order_by(StepChange.changed_at, StepChange.id)
    for h in s.exec(changes).scalars():
        history[h.step_id].append(
            drop_none(
                {
                    "at": h.changed_at,
                    "actor": h.actor,
                    "field": h.field,
                    "from": h.old_value,
                    "to": h.new_value,
                    "note": h.note or None,
                }
            )
        )
    after: dict[int, list[str]] = defaultdict(list)
    for step_id, blocker_id in all_edges(s):
        if step_id in step_key:  # this roadmap's
            after[step_id].append(step_key[blocker_id])
    claims: dict[int, list[dict]] = defaultdict(list)
    for step_id, side, c in all_claims(s):
        if step_id not in step_key:
            continue
        claims[step_id].append(
            drop_none(
                {
                    "side": side,
                    "status": c.status,
                    "source": c.source or None,
                    "url": c.url,
                    "on": c.claimed_on,
                    "by": c.claimed_by or None,
                }
            )
        )
    owned, defaults, holidays = transfer_owners.export(s, rid)
    by_cluster: dict[int, list[dict]] = defaultdict(list)
    for x in steps:
        by_cluster[x.cluster_id].append(
            drop_none(
                {
                    "id": x.key,
                    "side": side_code[x.side_id],
                    "title": x.title,
                    "detail": x.detail or None,
                    "status": x.status,
                    "due": x.due_on,
                    "source": x.source or None,
                    "url": x.source_url,
                    "answers": sorted(answers[x.id], key=key_order) or None,
                    "after": sorted(after[x.id], key=key_order) or None,
                    "claims": claims[x.id] or None,
                    **owned.get(x.id, {}),
                    "history": history[x.id] or None,
                }
            )
        )
    devs = []
    developments = (
        select(Development)
        .where(Development.cluster_id.in_(cluster_ids))
        .order_by(Development.occurred_on, Development.id)
    )
    for d in s.exec(developments).scalars():
        slack = None
        if d.slack_channel:
            slack = drop_none({"channel": d.slack_channel, "ts": d.slack_ts, "permalink": d.permalink})
        devs.append(
            drop_none(
                {
                    "date": d.occurred_on,
                    "precision": d.precision if d.precision != "day" else None,
                    "cluster": cluster_slug[d.cluster_id],
                    "step": step_key.get(d.step_id),
                    "text": d.text,
                    "source": d.source or None,
                    "url": d.url,
                    "author": d.author,
                    "recorded_at": d.recorded_at,
                    "slack": slack,
                    "edited_at": d.edited_at,
                    "retracted_at": d.retracted_at,
                }
            )
        )
    threads = [
        {"channel": t.channel, "ts": t.ts, "cluster": cluster_slug[t.cluster_id]}
        for t in s.exec(
            select(ClusterThread).where(ClusterThread.cluster_id.in_(cluster_ids)).order_by(ClusterThread.id)
        ).scalars()
    ]
    channels = list(
        s.exec(
            select(ChannelRoadmap.channel).where(ChannelRoadmap.roadmap_id == rid).order_by(ChannelRoadmap.channel)
        ).scalars()
    )
    roadmap = drop_none(
        {
            "slug": row.slug,
            "title": row.title,
            "description": row.description or None,
            "sources": [x for x in row.sources.split("\n") if x] or None,
            "channels": channels or None,
        }
    )
    doc = {
        "format": "roadmap/1",
        "roadmap": roadmap,
        "sides": [drop_none({"code": x.code, "name": x.name, "default_owner": defaults.get(x.id)}) for x in sides],
        "clusters": [
            drop_none(
                {
                    "slug": c.slug,
                    "prefix": c.prefix,
                    "title": c.title,
                    "summary": c.summary or None,
                    "steps": by_cluster[c.id],
                }
            )
            for c in clusters
        ],
        "developments": devs,
    }
    if threads:
        doc["threads"] = threads
    if holidays:
        doc["holidays"] = holidays
    if watched := export_sources(s, rid):
        doc["watch_sources"] = watched
    return doc


def drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}
