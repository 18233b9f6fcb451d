"""Moving a roadmap in and out of the store: `roadmap import` (merge or replace), `roadmap export` (the whole store,
a backup) and the first-run seed. The file format itself is store.roadmap_file."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store.base import Database, insert_ignore
from store.developments import SlackMessage, add_development, checked_text
from store.models import (
    Cluster,
    ClusterThread,
    Development,
    DigestSchedule,
    Reciprocity,
    RoadmapInfo,
    Side,
    Step,
    StepChange,
    WatchItem,
    WatchSource,
)
from store.names import key_order
from store.steps import AUDITED_FIELDS, audit_row, change_field
from store.watch_rows import export_sources, import_sources


class Transfer:
    def __init__(self, db: Database):
        self.db = db

    def is_empty(self) -> bool:
        with self.db.session() as s:
            return s.exec(select(Cluster.id).limit(1)).first() is None

    def import_doc(self, doc: dict, *, replace: bool = False, actor: str = "import") -> dict[str, int]:
        """Load a validated roadmap document (store.roadmap_file.parse) in one transaction.

        Merge by default: sides, clusters and steps are matched by code, slug and id and updated; pairs,
        threads and developments are added unless already there. `replace` empties the store first.
        Returns counts of what was added.
        """
        counts = dict.fromkeys(("sides", "clusters", "steps", "pairs", "developments", "changes"), 0)
        with self.db.session(write=True) as s:
            if replace:
                _wipe(s)
            info = doc.get("roadmap") or {}
            for key in ("title", "description"):
                if info.get(key):
                    s.merge(RoadmapInfo(key=key, value=str(info[key]).strip()))
            if info.get("sources"):
                s.merge(RoadmapInfo(key="sources", value="\n".join(str(x) for x in info["sources"])))
            sides = {x.code: x for x in s.exec(select(Side)).scalars()}
            for pos, d in enumerate(doc["sides"]):
                side = sides.get(d["code"]) or Side(code=d["code"], name=d["name"])
                counts["sides"] += side.id is None
                side.name, side.position = d["name"], pos
                s.add(side)
                sides[side.code] = side
            clusters = {x.slug: x for x in s.exec(select(Cluster)).scalars()}
            steps = {x.key: x for x in s.exec(select(Step)).scalars()}
            s.flush()
            for pos, d in enumerate(doc["clusters"]):
                c = clusters.get(d["slug"]) or Cluster(slug=d["slug"], prefix=d["prefix"], title=d["title"])
                counts["clusters"] += c.id is None
                c.prefix, c.title, c.summary, c.position = (
                    d["prefix"],
                    d["title"],
                    d.get("summary") or "",
                    pos,
                )
                s.add(c)
                s.flush()
                clusters[c.slug] = c
                for sd in d.get("steps") or []:
                    counts["changes"] += _upsert_step(s, steps, c, sides[sd["side"]], sd, actor, counts)
            s.flush()
            existing_pairs = {(r.step_id, r.counterpart_id) for r in s.exec(select(Reciprocity)).scalars()}
            for d in doc["clusters"]:
                for sd in d.get("steps") or []:
                    for other in sd.get("answers") or []:
                        a, b = sorted((steps[sd["id"]].id, steps[other].id))
                        if (a, b) not in existing_pairs:
                            s.add(Reciprocity(step_id=a, counterpart_id=b))
                            existing_pairs.add((a, b))
                            counts["pairs"] += 1
            counts["developments"] = _import_developments(s, doc.get("developments") or [])
            for t in doc.get("threads") or []:
                ins = insert_ignore(
                    s,
                    ClusterThread,
                    dict(channel=t["channel"], ts=str(t["ts"]), cluster_id=clusters[t["cluster"]].id),
                    ["channel", "ts"],
                )
                s.exec(ins)
            if doc.get("watch_sources"):
                cluster_ids = {slug: c.id for slug, c in clusters.items()}
                counts["watch sources"] = import_sources(s, doc["watch_sources"], cluster_ids)
            for d in doc.get("digest_schedules") or []:
                s.merge(
                    DigestSchedule(
                        channel=d["channel"],
                        cron=d["cron"],
                        timezone=d["timezone"],
                        enabled=bool(d.get("enabled", True)),
                        updated_by=d.get("updated_by", actor),
                    )
                )
        return counts

    def seed_if_empty(self, doc: dict) -> bool:
        """Load `doc` into an empty store; True if this call loaded it. Safe when two processes race."""
        if not self.is_empty():
            return False
        try:
            self.import_doc(doc)
        except IntegrityError:
            return False  # another process seeded it first
        return True

    def export_doc(self) -> dict:
        """The whole store as a roadmap document (round-trips through import_doc)."""
        with self.db.session() as s:
            info = {r.key: r.value for r in s.exec(select(RoadmapInfo)).scalars()}
            sides = s.exec(select(Side).order_by(Side.position)).scalars().all()
            side_code = {x.id: x.code for x in sides}
            clusters = s.exec(select(Cluster).order_by(Cluster.position)).scalars().all()
            cluster_slug = {c.id: c.slug for c in clusters}
            steps = s.exec(select(Step).order_by(Step.cluster_id, Step.number)).scalars().all()
            step_key = {x.id: x.key for x in steps}
            answers: dict[int, list[str]] = defaultdict(list)
            for r in s.exec(select(Reciprocity).order_by(Reciprocity.id)).scalars():
                answers[r.step_id].append(step_key[r.counterpart_id])
                answers[r.counterpart_id].append(step_key[r.step_id])
            history: dict[int, list[dict]] = defaultdict(list)
            for h in s.exec(select(StepChange).order_by(StepChange.changed_at, StepChange.id)).scalars():
                history[h.step_id].append(
                    _drop_none(
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
            by_cluster: dict[int, list[dict]] = defaultdict(list)
            for x in steps:
                by_cluster[x.cluster_id].append(
                    _drop_none(
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
                            "history": history[x.id] or None,
                        }
                    )
                )
            devs = []
            for d in s.exec(select(Development).order_by(Development.occurred_on, Development.id)).scalars():
                slack = None
                if d.slack_channel:
                    slack = _drop_none({"channel": d.slack_channel, "ts": d.slack_ts, "permalink": d.permalink})
                devs.append(
                    _drop_none(
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
                for t in s.exec(select(ClusterThread).order_by(ClusterThread.id)).scalars()
            ]
            schedules = [
                {"channel": d.channel, "cron": d.cron, "timezone": d.timezone, "enabled": d.enabled}
                for d in s.exec(select(DigestSchedule).order_by(DigestSchedule.channel)).scalars()
            ]
            watched = export_sources(s)
        roadmap = _drop_none(
            {
                "title": info.get("title"),
                "description": info.get("description"),
                "sources": info["sources"].split("\n") if info.get("sources") else None,
            }
        )
        doc = {
            "format": "roadmap/1",
            "roadmap": roadmap,
            "sides": [{"code": x.code, "name": x.name} for x in sides],
            "clusters": [
                _drop_none(
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
        if schedules:
            doc["digest_schedules"] = schedules
        if watched:
            doc["watch_sources"] = watched
        return doc


def _wipe(s: Session) -> None:
    # Watched sources refer to clusters and developments: they go first, and come back from the file.
    for model in (
        WatchItem,
        WatchSource,
        StepChange,
        Reciprocity,
        Development,
        ClusterThread,
        Step,
        Cluster,
        Side,
        RoadmapInfo,
        DigestSchedule,
    ):
        s.exec(delete(model))


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _upsert_step(
    s: Session,
    steps: dict[str, Step],
    cluster: Cluster,
    side: Side,
    d: dict,
    actor: str,
    counts: dict[str, int],
) -> int:
    """Insert or update one step from a document; returns how many audited changes it made."""
    fields = {
        "cluster_id": cluster.id,
        "side_id": side.id,
        "number": key_order(d["id"])[1],
        "title": d["title"].strip(),
        "detail": (d.get("detail") or "").strip(),
        "status": d.get("status", "proposed"),
        "due_on": d.get("due"),
        "source": (d.get("source") or "").strip(),
        "source_url": d.get("url"),
    }
    step = steps.get(d["id"])
    changes = 0
    if step is None:
        step = Step(key=d["id"], **fields)
        s.add(step)
        s.flush()
        steps[step.key] = step
        counts["steps"] += 1
        for h in d.get("history") or []:
            s.add(
                audit_row(
                    step.id,
                    h["field"],
                    h.get("from"),
                    h.get("to"),
                    actor=str(h.get("actor", actor)),
                    note=h.get("note") or "",
                    at=h["at"],
                )
            )
        return 0
    for name, value in fields.items():
        if getattr(step, name) == value:
            continue
        if name in AUDITED_FIELDS:
            change_field(s, step, name, value, actor=actor, note="imported")
            changes += 1
        else:
            setattr(step, name, value)
    s.add(step)
    return changes


def _import_developments(s: Session, devs: list[dict]) -> int:
    """Add the document's developments through the one recording path; a Slack message or a dated fact already
    in the store is never added twice."""
    slugs = {c.id: c.slug for c in s.exec(select(Cluster)).scalars()}
    seen = {
        (slugs[r.cluster_id], r.occurred_on, r.text)
        for r in s.exec(select(Development.cluster_id, Development.occurred_on, Development.text)).all()
    }
    added = 0
    for d in devs:
        slack = d.get("slack") or {}
        message = None
        if slack.get("channel"):
            message = SlackMessage(slack["channel"], str(slack["ts"]), slack.get("permalink"))
        elif (d["cluster"], d["date"], checked_text(d["text"])) in seen:
            # `seen` holds only what the store had before this import: two identical facts inside one file (two
            # people logging the same words the same day) are both kept, or a restore would lose one.
            continue
        _id, created = add_development(
            s,
            text=d["text"],
            author=str(d.get("author") or "import"),
            cluster=None if d.get("step") else d["cluster"],
            step=d.get("step"),
            occurred_on=d["date"],
            source=d.get("source") or "",
            url=d.get("url"),
            slack=message,
            precision=d.get("precision", "day"),
            recorded_at=d.get("recorded_at"),
            edited_at=d.get("edited_at"),
            retracted_at=d.get("retracted_at"),
        )
        added += created
    return added
