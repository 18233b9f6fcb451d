"""The `/roadmap` slash command and the "Share in channel" button: thin Slack glue around handlers.commands."""

from __future__ import annotations

import html
import logging

from handlers import digest
from handlers.commands import Reply, error, run_command

log = logging.getLogger(__name__)


def on_roadmap_command(ack, command: dict, respond, context) -> None:
    """Answer in the HTTP response itself (process_before_response): the store is fast, Slack's limit is 3 s."""
    if digest.is_digest(command.get("text")):  # posts to Slack, so it lives outside the shared command core
        return digest.on_digest_command(ack, command, respond, context)
    services = context["services"]
    caller = services.caller(command.get("user_id", ""), command.get("channel_id"))
    try:
        reply = run_command(services.store, command.get("text") or "", caller)
    except Exception:
        log.exception("command failed: %r", command.get("text"))
        reply = error("Something went wrong on our side; nothing was changed. Please try again.")
    ack(**ack_payload(reply))


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
        respond(**ack_payload(reply, in_channel=reply.ok), delete_original=False)

    services.after_response(share, "share in channel")


def ack_payload(reply: Reply, in_channel: bool | None = None) -> dict:
    visible = reply.in_channel if in_channel is None else in_channel
    return {
        "text": reply.message["text"],
        "blocks": reply.message["blocks"],
        "response_type": "in_channel" if visible else "ephemeral",
    }
