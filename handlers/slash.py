"""The `/roadmap` slash command and the "Share in channel" button: thin Slack glue around handlers.commands."""

from __future__ import annotations

import html
import logging

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
    caller = services.caller(command.get("user_id", ""), command.get("channel_id"))
    try:
        reply = run_command(services.store, command.get("text") or "", caller)
    except Exception:
        log.exception("command failed: %r", command.get("text"))
        reply = error("Something went wrong on our side; nothing was changed. Please try again.")
    ack(**reply.slack_payload())


def on_share_in_channel(ack, body: dict, respond, context) -> None:
    """Re-run the shared command and post its answer visibly in the channel (after the ack)."""
    ack()
    services = context["services"]
    user = (body.get("user") or {}).get("id", "")
    channel = (body.get("channel") or {}).get("id")
    actions = body.get("actions") or [{}]
    text = html.unescape(str((actions[0] or {}).get("value") or ""))

    def share() -> None:
        reply = run_command(services.store, text, services.caller(user, channel, shareable=False))
        respond(**reply.slack_payload(in_channel=reply.ok), delete_original=False)

    services.after_response(share, "share in channel")
