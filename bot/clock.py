"""The `roadmap clock` process: APScheduler runs the digest schedules (store.schedule has the pure schedule logic)
and, every minute, polls the watched sources that are due (handlers/watch_poller.py).

The clock process never trusts its own memory to send once: each tick computes, per channel, the slot (the most
recent scheduled time ≤ now, within the grace period) and hands it to the digest sender, which claims it in the
database. Two clock processes, a restart, or APScheduler's DST double fire all end at the same claim row.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from store.schedule import Target, describe, trigger

log = logging.getLogger(__name__)

RELOAD_SECONDS = 60
OUTBOX_SECONDS = 5
WATCH_SECONDS = 60  # a new source is polled within a minute; each source then on its own interval
REMINDER_SECONDS = 180  # each owner's 09:00 is met within 3 minutes


class Clock:
    """Runs the digest schedules in one process (Procfile `clock: roadmap clock`).

    A reload job every minute reads the schedules from the database (so a change made in Slack applies within
    a minute, no restart), keeps one cron job per channel for punctual sends, and itself sends any slot that is
    due and unsent — which covers catch-up after downtime and retries of failed sends.
    """

    def __init__(
        self,
        sender,
        scheduler: BaseScheduler | None = None,
        timezone: str = "UTC",
        outbox=None,
        poller=None,
        reminders=None,
    ):
        self.sender = sender
        self.reminders = reminders  # a ReminderSender: owners' 09:00 DMs, claimed per (user, local date)
        self.outbox = outbox  # an OutboxWorker: the clock also works off what is owed to Slack
        self.poller = poller  # handlers.watch_poller.WatchPoller, or None: no source watch in this process
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

    def poll_sources(self, now: datetime | None = None) -> list:
        """One source-watch tick: every due source polled (the store's claims make it once across clocks)."""
        if self.poller is None:
            return []
        return self.poller.poll_due(now)

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

    def add_jobs(self) -> None:
        """The clock's own jobs: reload (digests) every minute, the outbox every few seconds when it has one, and the
        source watch every minute when it has a poller. Reload and watch run at once on start, to catch up on what
        was due while the process was down."""
        self.scheduler.add_job(
            self.reload,
            IntervalTrigger(seconds=RELOAD_SECONDS),
            id="reload",
            name="reload schedules and send due digests",
            next_run_time=datetime.now(UTC),  # at start: catch up on a slot missed while down
        )
        if self.outbox is not None:
            self.scheduler.add_job(
                self.outbox.run_once, IntervalTrigger(seconds=OUTBOX_SECONDS), id="outbox", name="work owed to Slack"
            )
        if self.poller is not None:
            self.scheduler.add_job(
                self.poll_sources,
                IntervalTrigger(seconds=WATCH_SECONDS),
                id="watch",
                name="poll due watched sources",
                next_run_time=datetime.now(UTC),
            )

    def run(self) -> None:
        """Start and block; SIGTERM/SIGINT stop it after running jobs finish (a send is never cut in half)."""
        self.add_jobs()

        if self.reminders is not None:
            self.scheduler.add_job(
                self.reminders.run_due,
                IntervalTrigger(seconds=REMINDER_SECONDS),
                id="reminders",
                name="owners' reminder DMs",
                next_run_time=datetime.now(UTC),
            )

        def stop(signum, _frame) -> None:
            log.info("signal %s: finishing running jobs, then stopping", signum)
            if self.scheduler.state != STATE_STOPPED:
                self.scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info(
            "clock started (digest schedules reloaded every %s s%s)",
            RELOAD_SECONDS,
            f", watched sources polled every {WATCH_SECONDS} s" if self.poller else "",
        )
        self.scheduler.start()
        log.info("digest clock stopped")


def _job_id(channel: str) -> str:
    return f"digest:{channel}"
