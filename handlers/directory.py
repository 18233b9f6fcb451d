"""Who people are, as Slack knows them: whether a user or user group exists (before anyone is made an owner),
which groups a user is in (for `mine` and reminders), the members of an owning group, and a user's time zone
(users.info `tz`, cached in the database for a day so the reminder loop asks Slack rarely)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from store.api import RoadmapStore

log = logging.getLogger(__name__)

TZ_TTL = timedelta(days=1)
GROUPS_TTL_SECONDS = 300.0


class Directory:
    def __init__(
        self,
        store: RoadmapStore,
        client: WebClient | None,
        default_tz: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.client = client
        self.default_tz = default_tz
        self._clock = clock
        self._groups: tuple[float, dict[str, frozenset[str]]] | None = None
        self._lock = threading.Lock()

    def unknown(self, ids: Iterable[str]) -> list[str]:
        """The ids Slack says do not exist (users: user_not_found; groups: not in usergroups.list). When Slack
        cannot be asked (console, outage), ids are taken as typed: they came from Slack's own mention markup."""
        if self.client is None:
            return []
        missing = []
        for i in ids:
            if i.startswith("S"):
                groups = self._all_groups()
                if groups is not None and i not in groups:
                    missing.append(i)
                continue
            try:
                self.client.users_info(user=i)
            except SlackApiError as exc:
                if exc.response.get("error") in ("user_not_found", "users_not_found"):
                    missing.append(i)
            except (SlackClientError, OSError) as exc:
                log.warning("could not check user %s: %s", i, exc)
        return missing

    def groups_of(self, user: str) -> tuple[str, ...]:
        groups = self._all_groups() or {}
        return tuple(sorted(g for g, members in groups.items() if user in members))

    def members(self, group: str) -> frozenset[str]:
        return (self._all_groups() or {}).get(group, frozenset())

    def _all_groups(self) -> dict[str, frozenset[str]] | None:
        now = self._clock()
        with self._lock:
            cached = self._groups
        if cached and now < cached[0]:
            return cached[1]
        if self.client is None:
            return None
        try:
            answer = self.client.usergroups_list(include_users=True)
            groups = {
                str(g.get("id")): frozenset(u for u in g.get("users") or [] if isinstance(u, str))
                for g in answer.get("usergroups") or []
                if isinstance(g, dict)
            }
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not list user groups: %s", exc)
            return cached[1] if cached else None
        with self._lock:
            self._groups = (now + GROUPS_TTL_SECONDS, groups)
        return groups

    def tz(self, user: str) -> str:
        """The user's IANA time zone: the cache, else users.info (remembered), else the workspace's."""
        cached = self.store.reminders.cached_tz(user, TZ_TTL)
        if cached:
            return cached
        if self.client is None:
            return self.default_tz
        try:
            tz = (self.client.users_info(user=user).get("user") or {}).get("tz")
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not read the time zone of %s: %s", user, exc)
            return self.default_tz
        if not isinstance(tz, str) or not tz:
            tz = self.default_tz
        self.store.reminders.remember_tz(user, tz)
        return tz
