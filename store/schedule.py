"""Digest schedules, pure: standard cron and "mon 09:00" parsed, next runs, due slots and their claim keys, and
which schedule applies to a channel. No database and no Slack: the clock process and the digest commands both
import it.

Schedules are typed as standard 5-field cron (0 and 7 = Sunday, 1 = Monday) or as "mon 09:00". APScheduler 3.x
counts weekdays from Monday = 0 (docs/stack-traps.md, APScheduler), so day-of-week numbers are translated to
names before a trigger is built, and every reply shows the next runs in words so a wrong day is visible.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

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
    (docs/stack-traps.md, APScheduler); the second, `fold=1` occurrence is dropped here, so it never becomes a
    second slot.
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


# -- which schedule applies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One channel's effective schedule."""

    channel: str
    cron: str
    timezone: str
    not_before: datetime | None = None  # a schedule set from Slack does not fire for slots before it was set
    source: str = "slack"


@dataclass(frozen=True)
class Defaults:
    """The environment's digest settings: ROADMAP_DIGEST_CHANNEL, ROADMAP_DIGEST_SCHEDULE, ROADMAP_TIMEZONE."""

    channel: str | None
    cron: str
    timezone: str


@dataclass(frozen=True)
class ChannelSchedule:
    """The digest schedule in force for one channel, and where it comes from: `slack` (set with /roadmap digest
    schedule or off), `env` (the digest channel's default) or `none`."""

    channel: str | None
    cron: str | None
    timezone: str
    enabled: bool
    source: str
    updated_by: str | None = None
    updated_at: datetime | None = None

    def target(self) -> Target | None:
        if not (self.enabled and self.cron and self.channel):
            return None
        return Target(self.channel, self.cron, self.timezone, self.updated_at, self.source)


def schedule_for(channel: str | None, row, defaults: Defaults) -> ChannelSchedule:
    """The one rule: a channel's own row (set from Slack, `off` included) wins; else the digest channel follows
    the environment's schedule; any other channel has none. `row` is the channel's stored schedule or None."""
    if row is not None:
        return ChannelSchedule(channel, row.cron, row.timezone, row.enabled, "slack", row.updated_by, row.updated_at)
    if channel and channel == defaults.channel:
        return ChannelSchedule(channel, defaults.cron, defaults.timezone, True, "env")
    return ChannelSchedule(channel, None, defaults.timezone, False, "none")


def targets(rows, defaults: Defaults) -> list[Target]:
    """Every enabled schedule: the stored rows, plus the environment's default for the digest channel unless that
    channel has a row of its own (`/roadmap digest off` is such a row)."""
    channels = [r.channel for r in rows]
    schedules = [schedule_for(r.channel, r, defaults) for r in rows]
    if defaults.channel and defaults.channel not in channels:
        schedules.append(schedule_for(defaults.channel, None, defaults))
    return [t for t in (x.target() for x in schedules) if t is not None]


def digest_channel(current: str | None, row, defaults: Defaults) -> str | None:
    """Where an unscheduled digest goes: the current channel when it has its own enabled schedule, else the
    digest channel, else the current channel."""
    if current and row is not None and row.enabled:
        return current
    return defaults.channel or current
