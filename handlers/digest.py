"""`/roadmap digest …` in Slack: thin glue around the digest sender (build, send) and store.schedule (schedules).

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

from handlers.commands import CRASHED, UNAVAILABLE, Caller, Reply, editor_refusal, error, slack_command, split_roadmap
from handlers.context import Services, digest_defaults
from handlers.digest_sender import DigestSender
from store.api import RoadmapStore
from store.errors import StoreUnavailable
from store.schedule import ScheduleError, check_interval, describe, in_words, next_runs, parse_schedule
from templates import render

log = logging.getLogger(__name__)

SUBCOMMANDS = ("preview", "now", "schedule", "off")
MAX_PREVIEW_REPLIES = 4  # response_url takes 5 messages; the ack is the first part


@slack_command("digest")
def on_digest_command(ack, command: dict, respond, services: Services, caller: Caller, store: RoadmapStore) -> None:
    channel = command.get("channel_id")
    _, _, rest = split_roadmap(command.get("text") or "")[1].partition(" ")
    sub, _, arg = rest.strip().partition(" ")
    sub = sub.lower()
    sender = DigestSender(services.settings, services.store, services.clients.poster, services.clients.reader)
    try:
        if sub == "preview":
            return _preview(ack, respond, services, sender, channel, store)
        if sub == "now":
            return _now(ack, respond, services, sender, channel)
        if sub in ("schedule", "off") and (sub == "off" or arg.strip()):
            reply = editor_refusal(caller, "change the digest schedule", hint=_USAGE) or _set_schedule(
                services, channel, caller.user_id, arg if sub == "schedule" else None
            )
            return ack(**reply.slack_payload())
        if sub in ("", "schedule", "status"):
            return ack(**Reply(render("digest_status.json.j2", _status_data(services, channel))).slack_payload())
        reply = error(f"“{sub}” is not a digest command.", choices=list(SUBCOMMANDS), choices_label="Use", hint=_USAGE)
        return ack(**reply.slack_payload())
    except StoreUnavailable:
        reply = error(UNAVAILABLE)
    except Exception:
        log.exception("digest command failed: %r", command.get("text"))
        reply = error(CRASHED)
    ack(**reply.slack_payload())


_USAGE = '`/roadmap digest preview` · `now` · `schedule <cron like 0 9 * * 1 | "mon 09:00">` · `off`'


def _preview(ack, respond, services: Services, sender: DigestSender, channel: str | None, store: RoadmapStore) -> None:
    """The digest only the caller sees (of the roadmap the command acts on): the first part in the answer, further
    parts as ephemeral follow-ups."""
    parts = sender.build(sender.channel_for(channel), store=store)
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


def _now(ack, respond, services: Services, sender: DigestSender, channel: str | None) -> None:
    target = sender.channel_for(channel)
    if not target:
        return ack(**error("There is no channel to post the digest to.", hint=_USAGE).slack_payload())
    ack(**render("digest_notice.json.j2", dict(kind="posting", channel=target)), response_type="ephemeral")

    def tell(outcome) -> None:  # as soon as the text is out, before the chart
        data = dict(kind=outcome.status, channel=target, parts=outcome.parts, error=outcome.error)
        respond(**render("digest_notice.json.j2", data), response_type="ephemeral", replace_original=False)

    def post() -> None:
        sender.send_now(target, on_done=tell)

    services.after_response(post, "digest now")


def _set_schedule(services: Services, channel: str | None, user: str, text: str | None) -> Reply:
    if not channel:
        return error("Run this in the channel that should get the digest.", hint=_USAGE)
    settings, digests = services.settings, services.store.digests
    if text is None:
        current = digests.schedule_for(channel, digest_defaults(settings))
        digests.set_schedule(
            channel,
            cron=current.cron or settings.digest_schedule,
            timezone=current.timezone,
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
    digests.set_schedule(channel, cron=cron, timezone=settings.timezone, enabled=True, updated_by=user)
    return Reply(render("digest_status.json.j2", _status_data(services, channel, changed="set")))


def _status_data(services: Services, channel: str | None, changed: str | None = None) -> dict:
    digests = services.store.digests
    current = digests.schedule_for(channel, digest_defaults(services.settings))
    tz = current.timezone
    runs = [in_words(t, tz) for t in next_runs(current.cron, tz, datetime.now(UTC))] if current.target() else []
    last = digests.last_sent(channel) if channel else None
    return dict(
        channel=channel,
        changed=changed,
        source=current.source,
        enabled=current.enabled,
        cron=current.cron,
        timezone=tz,
        words=describe(current.cron, tz) if current.cron else None,
        runs=runs,
        last=in_words(last.claimed_at, tz) if last else None,
        default_channel=services.settings.digest_channel,
        updated_by=current.updated_by,
    )
