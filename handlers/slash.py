"""The `/roadmap` slash command and the "Share in channel" button: thin Slack glue around handlers.commands."""

from __future__ import annotations

import html
import logging

from handlers.commands import CRASHED, editor_refusal, error, roadmap_of, split_roadmap, store_error
from handlers.context import Services
from handlers.registry import find_command, run_command
from handlers.slack_api import post_to_response_url
from store.errors import StoreError

log = logging.getLogger(__name__)


def on_roadmap_command(ack, command: dict, respond, context) -> None:
    """Answer in the HTTP response itself (process_before_response): the store is fast, Slack's limit is 3 s."""
    services = Services.of(context)
    text = str(command.get("text") or "")
    try:
        caller = services.caller(str(command.get("user_id") or ""), command.get("channel_id"))
        cmd = find_command(text)
        if cmd is not None and cmd.on_slack is not None:
            refused = editor_refusal(caller, f"use `{cmd.name}`") if cmd.editors_only else None
            if refused is None:
                try:
                    store = roadmap_of(services.store, split_roadmap(text)[0], caller)
                except StoreError as exc:
                    return ack(**store_error(exc).slack_payload())
                return cmd.on_slack(ack, command, respond, services, caller, store)
            reply = refused
        else:
            reply = run_command(services.store, text, caller)
    except Exception:
        log.exception("command failed: %r", text)
        reply = error(CRASHED)
    ack(**reply.slack_payload())


def on_share_in_channel(ack, body: dict, context) -> None:
    """Re-run the shared command and post its answer visibly in the channel (after the ack).

    The payload is read defensively (the guard only checks the fields Bolt itself reads), and posting to the
    response_url is retried only when nothing can have been posted (429), then logged, never raised."""
    ack()
    services = Services.of(context)
    user = _id(body.get("user"))
    channel = _id(body.get("channel"))
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    text = html.unescape(str(action.get("value") or ""))
    response_url = body.get("response_url") if isinstance(body.get("response_url"), str) else None
    if not response_url:
        log.warning("share in channel: the payload has no response_url; nothing to answer")
        return

    def share() -> None:
        reply = run_command(services.store, text, services.caller(user, channel, shareable=False))
        payload = dict(reply.slack_payload(in_channel=reply.ok), delete_original=False)
        post_to_response_url(response_url, payload, what="share in channel")

    services.after_response(share, "share in channel")


def _id(value) -> str:
    """A Slack id from a field that is an id string or an object with an `id` (as Bolt reads it)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""
