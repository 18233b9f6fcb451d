"""The `/roadmap` slash command and the "Share in channel" button: thin Slack glue around handlers.commands."""

from __future__ import annotations

import html
import logging

from bot.slack import post_to_response_url
from handlers import digest, threads
from handlers.commands import error, run_command

log = logging.getLogger(__name__)

# Subcommands that act in the Slack channel itself (they post messages, so they cannot live in the shared command
# core): name → fn(ack, command, respond, context). The console answers the same names from the command core.
SLACK_ONLY = {
    "digest": digest.on_digest_command,
    "threads": threads.on_threads_command,
}


def on_roadmap_command(ack, command: dict, respond, context) -> None:
    """Answer in the HTTP response itself (process_before_response): the store is fast, Slack's limit is 3 s."""
    slack_only = SLACK_ONLY.get((command.get("text") or "").strip().partition(" ")[0].lower())
    if slack_only is not None:
        return slack_only(ack, command, respond, context)
    services = context["services"]
    try:
        caller = services.caller(str(command.get("user_id") or ""), command.get("channel_id"))
        reply = run_command(services.store, str(command.get("text") or ""), caller)
    except Exception:
        log.exception("command failed: %r", command.get("text"))
        reply = error("Something went wrong on our side; nothing was changed. Please try again.")
    ack(**reply.slack_payload())


def on_share_in_channel(ack, body: dict, context) -> None:
    """Re-run the shared command and post its answer visibly in the channel (after the ack).

    The payload is read defensively (the guard only checks the fields Bolt itself reads), and posting to the
    response_url is retried only when nothing can have been posted (429), then logged, never raised."""
    ack()
    services = context["services"]
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
