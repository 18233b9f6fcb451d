"""`/roadmap roadmaps` and `/roadmap use <roadmap>`: which roadmaps the store keeps, and which one a channel follows."""

from __future__ import annotations

from handlers.commands import Caller, Reply, command, error
from store.api import RoadmapStore
from store.errors import RoadmapNotChosen
from templates import render


@command(
    "roadmaps",
    "/roadmap roadmaps",
    "the roadmaps kept here, the channels following each, and this channel's",
    needs_roadmap=False,
)
def _roadmaps(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    try:
        current = store.for_channel(caller.channel_id).scope.id
    except RoadmapNotChosen:
        current = None
    data = dict(roadmaps=store.roadmaps.all(), current=current, channel=caller.channel_id)
    return Reply(render("roadmaps.json.j2", data))


@command(
    "use",
    "/roadmap use <roadmap>",
    "make this channel follow a roadmap: every command, thread and digest here then acts on it (editors)",
    "/roadmap use us-belarus",
    editors_only=True,
    needs_roadmap=False,
)
def _use(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    if not rest:
        slugs = [r.slug for r in store.roadmaps.all()]
        return error("Say which roadmap this channel should follow.", choices=slugs, choices_label="Roadmaps")
    if not caller.channel_id:
        return error(
            "`use` binds a Slack channel: run `/roadmap use <roadmap>` in the channel.",
            hint="In the console, pass `--roadmap <roadmap>` instead.",
        )
    roadmap = store.roadmaps.bind(caller.channel_id, rest.split()[0], caller.user_id)
    return Reply(render("roadmap_bound.json.j2", dict(roadmap=roadmap, channel=caller.channel_id)))
