"""Moving a roadmap in and out of the store: `roadmap import` (merge or replace), `roadmap export` (the whole store,
a backup) and the first-run seed. The file format itself is store.roadmap_file."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store import transfer_owners
from store.base import Database, insert_ignore, upsert
from store.claims import claim_facts, claim_of, put_claim, record_claim_change
from store.developments import SlackMessage, add_development, checked_text
from store.errors import Invalid
from store.export import channel_schedules, export_roadmap
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
    StepClaim,
    StepDependency,
    WatchItem,
    WatchSource,
)
from store.names import key_order
from store.outbox import CLUSTER_CHANGED, enqueue
from store.roadmap_file import is_store_document
from store.roadmaps import Scope
from store.sequencing import add_blockers, load_graph
from store.steps import AUDITED_FIELDS, audit_row, change_field
from store.watch_rows import import_sources


class Transfer:
    """Import and export. A scoped store exports its roadmap; the whole store exports every roadmap."""

    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    def is_empty(self) -> bool:
        with self.db.session() as s:
            return s.exec(select(Roadmap.id).limit(1)).first() is None

    def import_doc(self, doc: dict, *, replace: bool = False, actor: str = "import") -> dict[str, int]:
        """Load a validated document (store.roadmap_file.parse) in one transaction; returns counts of what was added.

        A roadmap document adds the roadmap it names (`roadmap: slug:`) or merges into it: sides, clusters and
        steps matched by code, slug and id and updated; pairs, threads and developments added unless already
        there. A document without a slug goes to this store's roadmap (the only one, or the scope's). `replace`
        empties that roadmap first, and only that one. A whole-store document (`roadmaps:`) loads each roadmap;
        with `replace` it empties the whole store first.
        """
        counts = dict.fromkeys(
            ("roadmaps", "sides", "clusters", "steps", "pairs", "developments", "changes", "dependencies", "claims"), 0
        )
        with self.db.session(write=True) as s:
            if is_store_document(doc):
                if replace:
                    _wipe(s)
                for roadmap_doc in doc["roadmaps"]:
                    _import_roadmap(s, roadmap_doc, self._target(s, roadmap_doc, replace=False), counts, actor)
            else:
                target = self._target(s, doc, replace)
                if replace and target.id is not None:
                    _wipe(s, target.id)
                _import_roadmap(s, doc, target, counts, actor)
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

    def _target(self, s: Session, doc: dict, replace: bool) -> Roadmap:
        """The roadmap row a document loads into (new, unsaved, when none matches)."""
        info = doc.get("roadmap") or {}
        slug = info.get("slug")
        title = str(info.get("title") or "").strip()
        if slug:
            row = s.exec(select(Roadmap).where(Roadmap.slug == slug)).scalars().first()
        elif self.scope.explicit:
            row = s.get(Roadmap, self.scope.id)
        else:
            rows = s.exec(select(Roadmap)).scalars().all()
            if len(rows) > 1:
                raise Invalid(
                    "this file names no roadmap and the store holds several "
                    f"({', '.join(sorted(r.slug for r in rows))}): add `slug:` under `roadmap:` or pass --roadmap"
                )
            row = rows[0] if rows else None
        if row is None:
            return Roadmap(slug=slug or _slugify(title), title=title or "Roadmap")
        if slug and title and row.title != title and not replace:
            raise Invalid(
                f"the store already has a roadmap `{row.slug}` titled “{row.title}”, and this file calls it “{title}”: "
                "import with --replace to replace that roadmap, or give the file another slug"
            )
        return row

    def seed_if_empty(self, doc: dict) -> bool:
        """Load `doc` into an empty store; True if this call loaded it. Safe when two processes race."""
        if not self.is_empty():
            return False
        try:
            self.import_doc(doc)
        except IntegrityError:
            return False  # another process seeded it first
        return True

    def export_store(self) -> dict:
        """Every roadmap, every channel's binding and digest schedule: a backup that restores the store exactly."""
        with self.db.session() as s:
            ids = list(s.exec(select(Roadmap.id).order_by(Roadmap.id)).scalars())
            docs = [export_roadmap(s, rid) for rid in ids]
            schedules = channel_schedules(s)
        doc: dict = {"format": "roadmap/1", "roadmaps": docs}
        if schedules:
            doc["digest_schedules"] = schedules
        return doc

    def export_doc(self) -> dict:
        """This store's roadmap as a roadmap document (round-trips through import_doc). With one roadmap in the
        store it also carries the digest schedules, so that it is a whole backup, as before roadmaps existed."""
        with self.db.session() as s:
            doc = export_roadmap(s, self.scope.require())
            # The only roadmap: the channels' schedules are its own.
            if not self.scope.explicit and (schedules := channel_schedules(s)):
                doc["digest_schedules"] = schedules
        return doc


def _import_roadmap(s: Session, doc: dict, row: Roadmap, counts: dict[str, int], actor: str) -> None:
    """Merge one roadmap document into `row` (added first when new)."""
    info = doc.get("roadmap") or {}
    counts["roadmaps"] += row.id is None
    for key in ("title", "description"):
        if info.get(key):
            setattr(row, key, str(info[key]).strip())
    if info.get("sources"):
        row.sources = "\n".join(str(x) for x in info["sources"])
    s.add(row)
    s.flush()
    rid = row.id
    for channel in info.get("channels") or []:
        s.exec(upsert(s, ChannelRoadmap, dict(channel=str(channel), roadmap_id=rid, bound_by=actor), ["channel"]))
    sides = {x.code: x for x in s.exec(select(Side).where(Side.roadmap_id == rid)).scalars()}
    for pos, d in enumerate(doc["sides"]):
        side = sides.get(d["code"]) or Side(roadmap_id=rid, code=d["code"], name=d["name"])
        counts["sides"] += side.id is None
        side.name, side.position = d["name"], pos
        s.add(side)
        sides[side.code] = side
    clusters = {x.slug: x for x in s.exec(select(Cluster).where(Cluster.roadmap_id == rid)).scalars()}
    steps = {x.key: x for x in s.exec(select(Step).where(Step.roadmap_id == rid)).scalars()}
    existing = set(steps)  # a new step's owners come with its history; an existing one's change is audited
    s.flush()
    for pos, d in enumerate(doc["clusters"]):
        c = clusters.get(d["slug"]) or Cluster(roadmap_id=rid, slug=d["slug"], prefix=d["prefix"], title=d["title"])
        counts["clusters"] += c.id is None
        c.prefix, c.title, c.summary, c.position = d["prefix"], d["title"], d.get("summary") or "", pos
        s.add(c)
        s.flush()
        clusters[c.slug] = c
        for sd in d.get("steps") or []:
            counts["changes"] += _upsert_step(s, steps, c, sides[sd["side"]], sd, actor, counts)
    s.flush()
    step_ids = select(Step.id).where(Step.roadmap_id == rid)
    existing_pairs = {
        (r.step_id, r.counterpart_id)
        for r in s.exec(select(Reciprocity).where(Reciprocity.step_id.in_(step_ids))).scalars()
    }
    for d in doc["clusters"]:
        for sd in d.get("steps") or []:
            for other in sd.get("answers") or []:
                a, b = sorted((steps[sd["id"]].id, steps[other].id))
                if (a, b) not in existing_pairs:
                    s.add(Reciprocity(step_id=a, counterpart_id=b))
                    existing_pairs.add((a, b))
                    counts["pairs"] += 1
    transfer_owners.import_(s, doc, rid, steps, sides, actor, existing)
    graph = load_graph(s)
    for d in doc["clusters"]:
        for sd in d.get("steps") or []:
            step = steps[sd["id"]]
            if sd.get("after"):
                counts["dependencies"] += add_blockers(s, step, [steps[k] for k in sd["after"]], actor, graph)
            for c in sd.get("claims") or []:
                counts["claims"] += _import_claim(s, step, sides[c["side"]], c, actor)
    counts["developments"] += _import_developments(s, rid, doc.get("developments") or [])
    for c in clusters.values():  # whatever shows these clusters is owed a refresh
        enqueue(s, CLUSTER_CHANGED, str(c.id))
    for t in doc.get("threads") or []:
        values = dict(channel=t["channel"], ts=str(t["ts"]), cluster_id=clusters[t["cluster"]].id)
        s.exec(insert_ignore(s, ClusterThread, values, ["channel", "ts"]))
    if doc.get("watch_sources"):
        cluster_ids = {slug: c.id for slug, c in clusters.items()}
        counts["watch sources"] = counts.get("watch sources", 0) + import_sources(
            s, doc["watch_sources"], cluster_ids, rid
        )


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return slug if slug and slug[0].isalpha() else f"roadmap-{slug}".strip("-")[:40]


def _wipe(s: Session, roadmap_id: int | None = None) -> None:
    """Empty one roadmap (its row, bindings and channels' schedules stay), or with no id the whole store."""
    transfer_owners.wipe(s, roadmap_id)
    if roadmap_id is None:
        for model in (  # watched sources refer to clusters and developments: they go first
            WatchItem,
            WatchSource,
            StepDependency,
            StepClaim,
            StepChange,
            Reciprocity,
            Development,
            ClusterThread,
            Step,
            Cluster,
            Side,
            ChannelRoadmap,
        ):
            s.exec(delete(model))
        s.exec(delete(DigestSchedule))
        s.exec(delete(Roadmap))
        return
    step_ids = select(Step.id).where(Step.roadmap_id == roadmap_id)
    cluster_ids = select(Cluster.id).where(Cluster.roadmap_id == roadmap_id)
    sources = select(WatchSource.id).where(WatchSource.roadmap_id == roadmap_id)
    s.exec(delete(WatchItem).where(WatchItem.source_id.in_(sources)))
    s.exec(delete(WatchSource).where(WatchSource.roadmap_id == roadmap_id))
    s.exec(delete(StepDependency).where(StepDependency.step_id.in_(step_ids)))
    s.exec(delete(StepClaim).where(StepClaim.step_id.in_(step_ids)))
    s.exec(delete(StepChange).where(StepChange.step_id.in_(step_ids)))
    s.exec(delete(Reciprocity).where(Reciprocity.step_id.in_(step_ids)))
    s.exec(delete(Development).where(Development.cluster_id.in_(cluster_ids)))
    s.exec(delete(ClusterThread).where(ClusterThread.cluster_id.in_(cluster_ids)))
    s.exec(delete(Step).where(Step.roadmap_id == roadmap_id))
    s.exec(delete(Cluster).where(Cluster.roadmap_id == roadmap_id))
    s.exec(delete(Side).where(Side.roadmap_id == roadmap_id))


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
        step = Step(roadmap_id=cluster.roadmap_id, key=d["id"], **fields)
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


def _import_claim(s: Session, step: Step, side: Side, c: dict, actor: str) -> int:
    """Put a document's claim on a step; a claim that changes one already in the store is audited like a command's.
    Returns 1 when the store's claim changed."""
    old = claim_of(s, step.id, side.id)
    by = str(c.get("by") or actor)
    values = dict(status=c["status"], source=(c.get("source") or "").strip(), url=c.get("url"), claimed_on=c["on"])
    if claim_facts(old) == tuple(values.values()):
        return 0
    put_claim(s, step, side, actor=by, **values)
    if old is not None:
        record_claim_change(s, step, side, old, actor)
    return 1


def _import_developments(s: Session, rid: int, devs: list[dict]) -> int:
    """Add the document's developments through the one recording path; a Slack message or a dated fact already
    in the store is never added twice."""
    slugs = {c.id: c.slug for c in s.exec(select(Cluster).where(Cluster.roadmap_id == rid)).scalars()}
    seen = {
        (slugs[r.cluster_id], r.occurred_on, r.text)
        for r in s.exec(
            select(Development.cluster_id, Development.occurred_on, Development.text).where(
                Development.cluster_id.in_(list(slugs))
            )
        ).all()
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
            rid,
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
