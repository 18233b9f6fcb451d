"""`/roadmap digest …` in Slack: thin glue around bot.digest (build, send) and bot.clock (schedules).

/roadmap digest                      this channel's schedule, next runs and last digest
/roadmap digest preview              the digest, visible only to the caller
/roadmap digest now                  post it (to this channel if it has its own schedule, else the digest
                                     channel, else here); answered at once, posted after the answer
/roadmap digest schedule <when>      editors: cron (`0 9 * * 1`) or "mon 09:00", for this channel
/roadmap digest off                  editors: no scheduled digest in this channel
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.clock import ScheduleError, check_interval, describe, in_words, next_runs, parse_schedule
from bot.digest import DigestSender
from handlers.commands import Reply, error, refusal
from store.api import StoreUnavailable
from templates import render

log = logging.getLogger(__name__)

SUBCOMMANDS = ("preview", "now", "schedule", "off")
MAX_PREVIEW_REPLIES = 4  # response_url takes 5 messages; the ack is the first part


def on_digest_command(ack, command: dict, respond, context) -> None:
    services = context["services"]
    user, channel = command.get("user_id", ""), command.get("channel_id")
    _, _, rest = (command.get("text") or "").strip().partition(" ")
    sub, _, arg = rest.strip().partition(" ")
    sub = sub.lower()
    sender = DigestSender(services.settings, services.store, services.clients.poster, services.clients.reader)
    try:
        if sub == "preview":
            return _preview(ack, respond, services, sender, channel)
        if sub == "now":
            return _now(ack, respond, services, sender, channel)
        if sub in ("schedule", "off"):
            caller = services.caller(user, channel)
            if sub == "off" or arg.strip():
                if not caller.is_editor:
                    reply = refusal("change the digest schedule", caller.editors, hint=_USAGE)
                else:
                    reply = _set_schedule(services, channel, user, arg if sub == "schedule" else None)
                return ack(**reply.slack_payload())
        if sub in ("", "schedule", "status"):
            return ack(**_status(services, sender, channel).slack_payload())
        reply = error(f"“{sub}” is not a digest command.", choices=list(SUBCOMMANDS), choices_label="Use", hint=_USAGE)
        return ack(**reply.slack_payload())
    except StoreUnavailable:
        reply = error("The roadmap store is unavailable right now; nothing was changed. Try again in a moment.")
    except Exception:
        log.exception("digest command failed: %r", command.get("text"))
        reply = error("Something went wrong on our side; nothing was changed. Please try again.")
    ack(**reply.slack_payload())


_USAGE = '`/roadmap digest preview` · `now` · `schedule <cron like 0 9 * * 1 | "mon 09:00">` · `off`'


def _preview(ack, respond, services, sender: DigestSender, channel: str | None) -> None:
    """The digest only the caller sees: the first part in the answer, further parts as ephemeral follow-ups."""
    parts = sender.build(sender.channel_for(channel))
    ack(text=parts[0]["text"], blocks=parts[0]["blocks"], response_type="ephemeral")
    if len(parts) == 1:
        return

    def more() -> None:
        shown = parts[1 : 1 + MAX_PREVIEW_REPLIES]
        for part in shown:
            respond(text=part["text"], blocks=part["blocks"], response_type="ephemeral", replace_original=False)
        if len(parts) > 1 + len(shown):
            left = len(parts) - 1 - len(shown)
            note = render("digest_notice.json.j2", dict(kind="preview_cut", left=left))
            respond(**note, response_type="ephemeral", replace_original=False)

    services.after_response(more, "digest preview")


def _now(ack, respond, services, sender: DigestSender, channel: str | None) -> None:
    target = sender.channel_for(channel)
    if not target:
        return ack(**error("There is no channel to post the digest to.", hint=_USAGE).slack_payload())
    ack(**render("digest_notice.json.j2", dict(kind="posting", channel=target)), response_type="ephemeral")

    def post() -> None:
        outcome = sender.send_now(target)
        data = dict(kind=outcome.status, channel=target, parts=outcome.parts, error=outcome.error)
        respond(**render("digest_notice.json.j2", data), response_type="ephemeral", replace_original=False)

    services.after_response(post, "digest now")


def _set_schedule(services, channel: str | None, user: str, text: str | None) -> Reply:
    if not channel:
        return error("Run this in the channel that should get the digest.", hint=_USAGE)
    settings, store = services.settings, services.store
    if text is None:
        row = store.digest_schedule(channel)
        store.set_digest_schedule(
            channel,
            cron=row.cron if row else settings.digest_schedule,
            timezone=row.timezone if row else settings.timezone,
            enabled=False,
            updated_by=user,
        )
        return Reply(render("digest_status.json.j2", _status_data(services, channel, changed="off")))
    try:
        cron = parse_schedule(text)
        check_interval(cron, settings.timezone, datetime.now(UTC))
    except ScheduleError as exc:
        return error(
            f"That schedule won't work: {exc}.",
            choices=["0 9 * * 1 (Mondays 09:00)", '"mon 09:00"', '"mon,thu 08:30"', '"weekdays 17:00"'],
            choices_label="Examples",
            hint=f"Times are in {settings.timezone}; weekdays count 0 or 7 = Sunday, 1 = Monday. Nothing was changed.",
        )
    store.set_digest_schedule(channel, cron=cron, timezone=settings.timezone, enabled=True, updated_by=user)
    return Reply(render("digest_status.json.j2", _status_data(services, channel, changed="set")))


def _status(services, sender: DigestSender, channel: str | None) -> Reply:
    return Reply(render("digest_status.json.j2", _status_data(services, channel)))


def _status_data(services, channel: str | None, changed: str | None = None) -> dict:
    settings, store = services.settings, services.store
    row = store.digest_schedule(channel) if channel else None
    if row:
        cron, tz, enabled, source = row.cron, row.timezone, row.enabled, "slack"
    elif channel and channel == settings.digest_channel:
        cron, tz, enabled, source = settings.digest_schedule, settings.timezone, True, "env"
    else:
        cron, tz, enabled, source = None, settings.timezone, False, "none"
    now = datetime.now(UTC)
    runs = [in_words(t, tz) for t in next_runs(cron, tz, now)] if cron and enabled else []
    last = store.last_sent_digest(channel) if channel else None
    return dict(
        channel=channel,
        changed=changed,
        source=source,
        enabled=enabled,
        cron=cron,
        timezone=tz,
        words=describe(cron, tz) if cron else None,
        runs=runs,
        last=in_words(last.claimed_at, tz) if last else None,
        default_channel=settings.digest_channel,
        updated_by=row.updated_by if row else None,
    )
