"""Plain data of owners, conditional due dates and reminders (store/owners.py, store/reminders.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from store.views import StepView


@dataclass(frozen=True)
class OwnersView:
    """A step's owners: its own, or (when it names none) its side's default owner."""

    step: StepView
    own: tuple[str, ...]
    default: str | None
    rule: DueRuleView | None = None

    @property
    def effective(self) -> tuple[str, ...]:
        return self.own or ((self.default,) if self.default else ())


@dataclass(frozen=True)
class OwnersChange:
    step: StepView
    old: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class DueRuleView:
    step: str
    after: str
    days: int


@dataclass(frozen=True)
class OwnedStep:
    """A step someone owns, as `mine` and the reminder show it; `roadmap` is the roadmap's slug."""

    step: StepView
    roadmap: str
    overdue: bool
    your_move: bool
    stale: bool
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReminderRunView:
    """A claim on one (user, local date) reminder DM."""

    id: int
    user_id: str
    local_date: date
    status: str
    attempts: int
    error: str | None
    channel: str | None
    message_ts: str | None


@dataclass(frozen=True)
class OwnerNotice:
    """What an owner is told when a step they own falls due because another was done."""

    step: StepView
    done: StepView
    roadmap_id: int


@dataclass(frozen=True)
class UnblockedNotice:
    """What an owner is told when the last step theirs waited on is done (store/unblocking.py)."""

    step: StepView
    done: StepView
    done_by: str | None  # who marked the blocker done (its history), if recorded
    done_at: datetime | None
    cluster_title: str
    roadmap_id: int
    owners: tuple[str, ...] = ()  # the step's owners now (users and groups), so a person is told once

    @property
    def value(self) -> str:
        """What the notice's buttons carry, as the reminder's do: the roadmap and the step."""
        return f"{self.roadmap_id}:{self.step.key}"


@dataclass(frozen=True)
class RecentlyUnblocked:
    """A step of a cluster's card whose last blocker was done lately."""

    step: StepView
    last_blocker: StepView
    done_at: datetime
