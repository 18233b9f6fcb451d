"""The roadmap canvas of a channel: `/roadmap canvas` (editors) creates the channel's canvas holding the whole
roadmap — every cluster with its progress, open pairs and whose move, overdue steps, latest developments with
links — and it is kept current like the cards: a cluster change owes ("canvas_section", "<channel>:<cluster id>")
(handlers/cards.py), and its handler replaces that cluster's section only (canvases.edit, operation `replace`),
never the whole document. A workspace whose plan or settings refuse canvases gets an answer saying why.

The canvas is claimed in the store before Slack is asked to create it, so two runs never create two."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.cards import cluster_state
from handlers.commands import UNAVAILABLE, Caller, Reply, command, error, slack_command
from handlers.context import Services
from handlers.outbox import handles
from store.api import RoadmapStore
from store.cards import CANVAS_SECTION, parse_key, work_key
from store.errors import StoreError
from store.outbox import Work
from templates import render, render_markdown
from templates.markdown import Md

log = logging.getLogger(__name__)

CANVAS_DEVELOPMENTS = 3
# Why Slack refused to create a canvas, in words (conversations.canvases.create error codes).
REFUSALS = {
    "canvas_disabled_user_team": "canvases are turned off in this workspace's settings",
    "team_tier_cannot_create_channel_canvases": "this workspace's Slack plan does not allow channel canvases",
    "free_teams_cannot_create_non_tabbed_canvases": "this workspace's Slack plan does not allow this kind of canvas",
    "channel_canvas_already_exists": "this channel already has a canvas (Slack allows one per channel); "
    "remove it from the channel's tabs to let me create the roadmap canvas",
    "not_in_channel": "I am not in this channel: `/invite @roadmap`, then run `/roadmap canvas` again",
    "channel_not_found": "I cannot see this channel: `/invite @roadmap`, then run `/roadmap canvas` again",
    "missing_scope": "the app lacks the `canvases:write` scope: reinstall it from slack-manifest.yaml",
    "restricted_action": "this workspace's settings do not let apps create canvases here",
}
# After these, a canvas section can never be edited: the owed work is dropped (a new `/roadmap canvas` starts over).
CANVAS_GONE = {"canvas_not_found", "canvas_deleted", "not_in_channel", "channel_not_found", "access_denied"}


def section_markdown(store: RoadmapStore, slug: str, today) -> Md:
    data = cluster_state(store, slug, today, developments=CANVAS_DEVELOPMENTS)
    return Md(render_markdown("canvas_section.md.j2", data))


def canvas_markdown(store: RoadmapStore, today) -> str:
    sections = [section_markdown(store, c.slug, today) for c in store.roadmap.clusters()]
    return render_markdown("canvas.md.j2", dict(title=store.roadmap.title() or "Roadmap", sections=sections))


def find_section(client: WebClient, canvas_id: str, slug: str) -> str | None:
    """The id of the section whose heading ends with `(slug)`: how a cluster's section is found again."""
    found = client.canvases_sections_lookup(
        canvas_id=canvas_id, criteria={"section_types": ["h2"], "contains_text": f"({slug})"}
    )
    sections = found.get("sections") or []
    return sections[0].get("id") if sections else None


# -- /roadmap canvas ---------------------------------------------------------------------------------------------


@command(
    "canvas",
    "/roadmap canvas",
    "create this channel's canvas holding the whole roadmap, kept current (Slack only, editors)",
    editors_only=True,
    slack_only=True,
)
def _canvas(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    return error(
        "`canvas` only works in Slack: run `/roadmap canvas` in a channel to give it a roadmap canvas.",
        hint="In the console, `status` shows the whole roadmap.",
    )


@slack_command("canvas")
def on_canvas_command(ack, command: dict, respond, services: Services, caller: Caller, store: RoadmapStore) -> None:
    channel = command.get("channel_id") or ""
    ack(**Reply(render("canvas_result.json.j2", dict(started=True))).slack_payload())
    services.after_response(lambda: create_canvas(services, channel, caller.user_id, store, respond), "canvas")


def create_canvas(services: Services, channel: str, user: str, store: RoadmapStore, respond=None) -> str:
    """Create the channel's canvas (or refresh the one it has); returns the outcome's wording, also sent to
    `respond`."""
    try:
        outcome = _create(services, channel, user, store)
    except StoreError:
        log.exception("canvas: store unavailable")
        outcome = dict(problem=UNAVAILABLE)
    if respond is not None:
        try:
            respond(**Reply(render("canvas_result.json.j2", dict(started=False, **outcome))).slack_payload())
        except Exception:
            log.exception("canvas: could not send the answer")
    return outcome.get("problem") or outcome.get("done", "")


def _create(services: Services, channel: str, user: str, store: RoadmapStore) -> dict:
    existing = services.store.cards.canvas(channel)
    if existing and existing.canvas_id:
        for cluster_id, _slug in existing.clusters:
            services.store.outbox.enqueue(CANVAS_SECTION, work_key(channel, cluster_id))
        return dict(done="refreshed", canvas_id=existing.canvas_id)
    rid = store.scope.require()
    if not services.store.cards.claim_canvas(channel, rid, user):
        return dict(problem="Another `/roadmap canvas` is creating this channel's canvas right now.")
    today = datetime.now(services.settings.tz).date()
    markdown = canvas_markdown(store, today)
    try:
        created = services.clients.poster.conversations_canvases_create(
            channel_id=channel, document_content={"type": "markdown", "markdown": markdown}
        )
    except Exception as exc:
        # Not created (or, after a dropped connection, unknown): the claim is given back; a second run that finds
        # a canvas Slack did create is told channel_canvas_already_exists.
        services.store.cards.release_canvas(channel)
        code = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        log.warning("canvas: creating one in %s failed: %s", channel, code or exc)
        reason = REFUSALS.get(code or "", f"Slack answered `{code}`" if code else "Slack could not be reached")
        return dict(problem=f"No canvas was created: {reason}. Nothing else changed.")
    canvas_id = created["canvas_id"]
    services.store.cards.confirm_canvas(channel, canvas_id)
    view = services.store.cards.canvas(channel)
    for cluster_id, slug in view.clusters if view else []:
        try:
            section = find_section(services.clients.reader, canvas_id, slug)
        except Exception as exc:  # found later, by the section's own update
            log.warning("canvas: section of %s not found yet: %s", slug, exc)
            continue
        if section:
            services.store.cards.set_section(channel, cluster_id, section)
    return dict(done="created", canvas_id=canvas_id)


# -- keeping it current ------------------------------------------------------------------------------------------


@handles(CANVAS_SECTION)
def refresh_section(services: Services, work: Work) -> None:
    channel, cluster_id = parse_key(work.key)
    canvas = services.store.cards.canvas(channel)
    slug = dict(canvas.clusters).get(cluster_id) if canvas else None
    if canvas is None or not canvas.canvas_id or slug is None:
        return  # no canvas (any more), or a cluster of another roadmap
    client = services.clients.updater
    today = datetime.now(services.settings.tz).date()
    markdown = section_markdown(services.store.scoped(canvas.roadmap_id), slug, today)
    try:
        section = canvas.sections.get(cluster_id) or find_section(client, canvas.canvas_id, slug)
        # No section (someone deleted it in Slack): put it back at the end.
        change = {"operation": "replace", "section_id": section} if section else {"operation": "insert_at_end"}
        change["document_content"] = {"type": "markdown", "markdown": str(markdown)}
        client.canvases_edit(canvas_id=canvas.canvas_id, changes=[change])
    except SlackApiError as exc:
        code = exc.response.get("error")
        if code in CANVAS_GONE:
            log.warning("canvas of %s cannot be edited (%s): dropped", channel, code)
            return
        services.store.cards.set_section(channel, cluster_id, None)  # look it up afresh next time
        raise
    # A replaced section gets new ids: remember the new heading's, so the next replace targets it.
    try:
        services.store.cards.set_section(channel, cluster_id, find_section(client, canvas.canvas_id, slug))
    except SlackApiError as exc:
        log.warning("canvas: section of %s not found after the edit: %s", slug, exc.response.get("error"))
        services.store.cards.set_section(channel, cluster_id, None)
