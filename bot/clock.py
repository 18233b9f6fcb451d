"""The digest clock: schedules (standard cron, time zones, DST), due slots, and the `roadmap clock` process.

Schedules are typed as standard 5-field cron (0 and 7 = Sunday, 1 = Monday) or as "mon 09:00". APScheduler 3.x
counts weekdays from Monday = 0 (PITFALLS §3), so day-of-week numbers are translated to names before a trigger
is built, and every reply shows the next runs in words so a wrong day is visible.

The clock process never trusts its own memory to send once: each tick computes, per channel, the slot (the most
recent scheduled time ≤ now, within the grace period) and hands it to bot.digest, which claims it in the
database. Two clock processes, a restart, or APScheduler's DST double fire all end at the same claim row.
"""

from __future__ import annotations

import itertools
import logging
import re
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # standard cron order: 0 = Sunday
DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FULL_DAYS = {w.lower(): w[:3].lower() for w in DAY_WORDS}
_DAY_SETS = {
    "daily": list(range(7)),
    "everyday": list(range(7)),
    "weekdays": [1, 2, 3, 4, 5],
    "weekends": [0, 6],
}
MIN_INTERVAL = timedelta(hours=1)
RELOAD_SECONDS = 60


class ScheduleError(ValueError):
    """A schedule we cannot use; the message says why and what to type instead (safe to show a user)."""


# -- parsing ---------------------------------------------------------------------------------------------------


def parse_schedule(text: str) -> str:
    """A standard 5-field cron expression or `[days] HH:MM` ("mon 09:00", "mon,thu 8:30", "weekdays 17:00",
    "09:00" = daily) → a normalised standard cron expression (what is stored and shown)."""
    text = " ".join((text or "").strip().strip('"“”').lower().split())
    if not text:
        raise ScheduleError('say when: a cron expression like `0 9 * * 1` or a day and time like "mon 09:00"')
    m = re.fullmatch(r"(?:(?P<days>[a-z0-9,\-]+)\s+)?(?:at\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})", text)
    if m:
        hour, minute = int(m.group("h")), int(m.group("m"))
        if hour > 23 or minute > 59:
            raise ScheduleError(f"{m.group('h')}:{m.group('m')} is not a time of day (use 00:00–23:59)")
        days = m.group("days")
        dow = "*" if days in (None, "daily", "everyday") else _days_field(days)
        cron = f"{minute} {hour} * * {dow}"
    else:
        fields = text.split()
        if len(fields) != 5:
            raise ScheduleError(
                f"“{text}” is neither a 5-field cron expression (minute hour day month weekday, e.g. `0 9 * * 1`) "
                'nor a day and time like "mon 09:00"'
            )
        cron = " ".join(fields)
    trigger(cron, UTC)  # validates every field
    return cron


def _days_field(days: str) -> str:
    """ "mon", "mon,thu", "mon-fri", "monday", "weekdays" → a standard cron weekday field (numbers)."""
    numbers = _DAY_SETS[days] if days in _DAY_SETS else sorted(_expand_dow(days))
    return ",".join(str(n) for n in numbers)


def _dow_number(token: str) -> int:
    t = token.strip().lower()
    t = _FULL_DAYS.get(t, t)
    if t in DAY_NAMES:
        return DAY_NAMES.index(t)
    if t.isdigit() and 0 <= int(t) <= 7:
        return int(t)
    raise ScheduleError(f"“{token}” is not a weekday: use 0–7 (0 and 7 = Sunday, 1 = Monday) or sun, mon, …, sat")


def _expand_dow(field: str) -> set[int]:
    """The days (0 = Sunday … 6 = Saturday) a standard cron weekday field selects."""
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"“{item}”: a step after / must be a whole number of at least 1")
            step = int(step_text)
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, _, b = base.partition("-")
            lo, hi = _dow_number(a), _dow_number(b)
            if lo > hi:
                raise ScheduleError(f"“{item}”: a weekday range runs forwards (e.g. 1-5 for Monday to Friday)")
        else:
            lo = _dow_number(base)
            hi = 7 if step_text else lo
        days.update(n % 7 for n in range(lo, hi + 1, step))
    return days


def translate_dow(field: str) -> str:
    """Standard cron weekdays → APScheduler day names: `1` → `mon`, `0,7` → `sun`, `1-5` → `mon,…,fri`."""
    if field == "*":
        return "*"
    days = _expand_dow(field.lower())
    # APScheduler lists its names Monday first; the order only matters for reading.
    return ",".join(DAY_NAMES[n] for n in sorted(days, key=lambda n: (n + 6) % 7))


def trigger(cron: str, tz: ZoneInfo | str) -> CronTrigger:
    """An APScheduler trigger for a standard cron expression, in an explicit time zone."""
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleError(f"`{cron}` needs 5 fields: minute hour day month weekday")
    minute, hour, day, month, dow = fields
    if day != "*" and dow != "*":
        # Standard cron fires when EITHER matches; APScheduler only when both do. Refuse rather than guess.
        raise ScheduleError("restrict either the day of the month or the weekday, not both")
    tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=translate_dow(dow), timezone=tzinfo
        )
    except ValueError as exc:
        raise ScheduleError(f"`{cron}` is not a valid cron expression: {exc}") from exc


# -- when ------------------------------------------------------------------------------------------------------


def fire_times(cron: str, tz: ZoneInfo | str, start: datetime, end: datetime) -> list[datetime]:
    """Scheduled times in [start, end], in UTC, each wall-clock time once.

    On the autumn DST change a time in the repeated hour (01:30 in New York) is fired twice by APScheduler
    (PITFALLS §3); the second, `fold=1` occurrence is dropped here, so it never becomes a second slot.
    """
    tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
    trig = trigger(cron, tzinfo)
    out: list[datetime] = []
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while True:
        fire = trig.get_next_fire_time(None, cursor)
        if fire is None:
            break
        fire_utc = fire.astimezone(UTC)
        if fire_utc > end:
            break
        if not _repeated_wall_time(fire_utc, tzinfo):
            out.append(fire_utc)
        cursor = fire_utc + timedelta(minutes=1)  # 5-field cron: nothing between minutes
    return out


def _repeated_wall_time(moment: datetime, tz: ZoneInfo) -> bool:
    local = moment.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def due_slot(
    cron: str, tz: ZoneInfo | str, now: datetime, grace: timedelta, not_before: datetime | None = None
) -> datetime | None:
    """The slot to send now: the most recent scheduled time ≤ now, if it is no older than `grace` (and not
    before `not_before`, e.g. when the schedule was set). After a long downtime this is one slot, not one per
    missed week."""
    start = now - grace
    if not_before is not None and not_before > start:
        start = not_before
    if start > now:
        return None
    times = fire_times(cron, tz, start, now)
    return times[-1] if times else None


def next_runs(cron: str, tz: ZoneInfo | str, now: datetime, count: int = 3) -> list[datetime]:
    """The next `count` scheduled times after `now` (UTC), each wall-clock time once."""
    tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
    trig = trigger(cron, tzinfo)
    out: list[datetime] = []
    cursor = now.astimezone(UTC) + timedelta(seconds=1)
    for _ in range(count * 3):
        fire = trig.get_next_fire_time(None, cursor)
        if fire is None or len(out) == count:
            break
        fire_utc = fire.astimezone(UTC)
        if not _repeated_wall_time(fire_utc, tzinfo):
            out.append(fire_utc)
        cursor = fire_utc + timedelta(minutes=1)
    return out


def check_interval(cron: str, tz: ZoneInfo | str, now: datetime) -> None:
    """Refuse schedules that would post more often than hourly (a digest is not a ticker)."""
    runs = next_runs(cron, tz, now, count=4)
    if any(b - a < MIN_INTERVAL for a, b in itertools.pairwise(runs)):
        raise ScheduleError(f"`{cron}` would post more often than once an hour; a digest runs at most hourly")


def describe(cron: str, tz: ZoneInfo | str) -> str:
    """The schedule in words where it is simple ("Mondays at 09:00"), else the cron expression itself."""
    minute, hour, day, month, dow = cron.split()
    if not (minute.isdigit() and hour.isdigit() and day == "*" and month == "*"):
        return f"cron `{cron}`"
    at = f"{int(hour):02d}:{int(minute):02d}"
    days = sorted(_expand_dow(dow), key=lambda n: (n + 6) % 7) if dow != "*" else list(range(7))
    if len(days) == 7:
        when = "every day"
    elif days == [1, 2, 3, 4, 5]:
        when = "weekdays (Monday to Friday)"
    elif len(days) == 1:
        when = f"{DAY_WORDS[days[0]]}s"
    else:
        names = [DAY_WORDS[n] + "s" for n in days]
        when = ", ".join(names[:-1]) + " and " + names[-1]
    return f"{when} at {at}"


def in_words(moment: datetime, tz: ZoneInfo | str) -> str:
    """`Monday 10 November 2025, 09:00 EST` in the schedule's time zone."""
    local = moment.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B %Y, %H:%M %Z')}"


def period_of(slot: datetime) -> str:
    """The claim key of a slot: its UTC time in ISO form (`2025-11-03T14:00:00Z`)."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the clock process -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One channel's effective schedule."""

    channel: str
    cron: str
    timezone: str
    not_before: datetime | None = None  # a schedule set from Slack does not fire for slots before it was set
    source: str = "slack"


class Clock:
    """Runs the digest schedules in one process (Procfile `clock: roadmap clock`).

    A reload job every minute reads the schedules from the database (so a change made in Slack applies within
    a minute, no restart), keeps one cron job per channel for punctual sends, and itself sends any slot that is
    due and unsent — which covers catch-up after downtime and retries of failed sends.
    """

    def __init__(self, sender, scheduler: BaseScheduler | None = None, timezone: str = "UTC"):
        self.sender = sender
        self.scheduler = scheduler or BlockingScheduler(
            timezone=ZoneInfo(timezone),
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self._jobs: dict[str, tuple[str, str]] = {}

    def reload(self, now: datetime | None = None) -> list:
        """Sync the cron jobs with the stored schedules, then send whatever is due."""
        targets = self.sender.targets()
        self._sync(targets)
        return self.sender.run_due(targets, now)

    def fire(self, channel: str) -> None:
        for target in self.sender.targets():
            if target.channel == channel:
                self.sender.run_slot(target)

    def _sync(self, targets: Iterable[Target]) -> None:
        wanted = {t.channel: t for t in targets}
        for channel in list(self._jobs):
            if channel not in wanted:
                self.scheduler.remove_job(_job_id(channel))
                del self._jobs[channel]
                log.info("digest for %s: schedule removed", channel)
        for channel, t in wanted.items():
            if self._jobs.get(channel) == (t.cron, t.timezone):
                continue
            self.scheduler.add_job(
                self.fire,
                trigger(t.cron, t.timezone),
                args=[channel],
                id=_job_id(channel),
                name=f"digest {channel}",
                replace_existing=True,
            )
            self._jobs[channel] = (t.cron, t.timezone)
            log.info("digest for %s: %s (%s)", channel, describe(t.cron, t.timezone), t.timezone)

    def run(self) -> None:
        """Start and block; SIGTERM/SIGINT stop it after running jobs finish (a send is never cut in half)."""
        self.scheduler.add_job(
            self.reload,
            IntervalTrigger(seconds=RELOAD_SECONDS),
            id="reload",
            name="reload schedules and send due digests",
            next_run_time=datetime.now(UTC),  # at start: catch up on a slot missed while down
        )

        def stop(signum, _frame) -> None:
            log.info("signal %s: finishing running jobs, then stopping", signum)
            if self.scheduler.state != STATE_STOPPED:
                self.scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("digest clock started (reloading schedules every %s s)", RELOAD_SECONDS)
        self.scheduler.start()
        log.info("digest clock stopped")


def _job_id(channel: str) -> str:
    return f"digest:{channel}"
