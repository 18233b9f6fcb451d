"""The reminder DM's bookkeeping: one claim per (user, local date), made in the database before anything is sent
(as the digest's claims), snoozes per (user, step), opt-outs, the users' cached time zones, and the holidays of
a roadmap. Claims, opt-outs and time zones are about a person, not a roadmap; snoozes reach theirs via the step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select

from store.base import Database, claim_run, finish_run, insert_ignore, upsert
from store.models import ReminderOptOut, ReminderRun, ReminderSnooze, RoadmapHoliday, Step, UserTimezone, utcnow
from store.owner_views import ReminderRunView
from store.queries import find_step
from store.roadmaps import Scope


def _view(r: ReminderRun) -> ReminderRunView:
    return ReminderRunView(r.id, r.user_id, r.local_date, r.status, r.attempts, r.error, r.channel, r.message_ts)


class Reminders:
    def __init__(self, db: Database, scope: Scope):
        self.db = db
        self.scope = scope

    # -- claims ------------------------------------------------------------------------------------------------
    def claim(
        self,
        user: str,
        local_date: date,
        worker: str,
        *,
        now: datetime,
        stale_after: timedelta,
        retry_after: Callable[[int], timedelta],
    ) -> ReminderRunView | None:
        """Claim (user, local date); None if it is not this worker's to send (sent, being sent, backing off).
        INSERT … ON CONFLICT DO NOTHING, then a compare-and-set takeover of a failed or crashed attempt."""
        with self.db.session(write=True) as s:
            key = dict(user_id=user, local_date=local_date)
            new_id = claim_run(
                s,
                ReminderRun,
                key,
                worker,
                now=now,
                stale_after=stale_after,
                retry_after=retry_after,
                finished=("sent", "empty"),
            )
            return None if new_id is None else _view(s.get(ReminderRun, new_id))

    def finish(
        self,
        run: ReminderRunView,
        *,
        status: str,
        channel: str | None = None,
        message_ts: str | None = None,
        error: str | None = None,
    ) -> bool:
        """sent (with the DM's channel and ts), empty (nothing to remind of) or failed (with the reason)."""
        with self.db.session(write=True) as s:
            return finish_run(
                s,
                ReminderRun,
                run.id,
                run.attempts,
                status=status,
                now=utcnow(),
                error=error,
                channel=channel,
                message_ts=message_ts,
            )

    def runs(self, user: str | None = None) -> list[ReminderRunView]:
        with self.db.session() as s:
            q = select(ReminderRun).order_by(ReminderRun.id)
            if user:
                q = q.where(ReminderRun.user_id == user)
            return [_view(r) for r in s.exec(q).scalars()]

    # -- snoozes, opt-outs -------------------------------------------------------------------------------------
    def snooze(self, user: str, key: str, until: date) -> str:
        """Leave the step out of `user`'s reminders until `until` (an upsert: a retried click changes nothing)."""
        with self.db.session(write=True) as s:
            step = find_step(s, key, self.scope.id)
            s.exec(upsert(s, ReminderSnooze, dict(user_id=user, step_id=step.id, until=until), ["user_id", "step_id"]))
            return step.key

    def snoozed(self, user: str, today: date) -> set[str]:
        """Keys of this roadmap's steps `user` snoozed beyond `today`."""
        with self.db.session() as s:
            q = (
                select(Step.key)
                .join(ReminderSnooze, ReminderSnooze.step_id == Step.id)
                .where(ReminderSnooze.user_id == user, ReminderSnooze.until > today, Step.roadmap_id == self.scope.id)
            )
            return set(s.exec(q).scalars())

    def set_opt_out(self, user: str, off: bool) -> None:
        with self.db.session(write=True) as s:
            if off:
                s.exec(insert_ignore(s, ReminderOptOut, dict(user_id=user, at=utcnow()), ["user_id"]))
            else:
                s.exec(delete(ReminderOptOut).where(ReminderOptOut.user_id == user))

    def opted_out(self, user: str) -> bool:
        with self.db.session() as s:
            return s.get(ReminderOptOut, user) is not None

    # -- time zones --------------------------------------------------------------------------------------------
    def cached_tz(self, user: str, max_age: timedelta, now: datetime | None = None) -> str | None:
        now = now or utcnow()
        with self.db.session() as s:
            row = s.get(UserTimezone, user)
            return row.tz if row is not None and row.fetched_at > now - max_age else None

    def remember_tz(self, user: str, tz: str, now: datetime | None = None) -> None:
        with self.db.session(write=True) as s:
            s.exec(upsert(s, UserTimezone, dict(user_id=user, tz=tz, fetched_at=now or utcnow()), ["user_id"]))

    # -- holidays ----------------------------------------------------------------------------------------------
    def holidays(self) -> set[date]:
        with self.db.session() as s:
            q = select(RoadmapHoliday.day).where(RoadmapHoliday.roadmap_id == self.scope.id)
            return set(s.exec(q).scalars())

    def set_holidays(self, days: Iterable[date]) -> None:
        with self.db.session(write=True) as s:
            s.exec(delete(RoadmapHoliday).where(RoadmapHoliday.roadmap_id == self.scope.id))
            for day in sorted(set(days)):
                s.add(RoadmapHoliday(roadmap_id=self.scope.id, day=day))
