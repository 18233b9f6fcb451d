"""Who may change the roadmap: ROADMAP_EDITORS lists user ids (U…/W…) and user-group ids (S…).

Groups are resolved with usergroups.users.list and cached for a short time, so a change in Slack takes effect
within minutes without a restart. When ROADMAP_EDITORS is unset, everyone is an editor.

The lookup runs inside a slash command's 3-second window, so it uses a client with a short timeout and no
retry of slow failures; when Slack cannot answer, the last known members stand (or, with none, nobody in that
group counts as an editor for a short while — refusing is the safe side).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 300
FAILURE_TTL_SECONDS = 30  # after a failed lookup with nothing cached, ask Slack again at most this often


class Editors:
    def __init__(
        self,
        ids: tuple[str, ...],
        client: WebClient | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ids = ids
        self.users = frozenset(i for i in ids if not i.startswith("S"))
        self.groups = tuple(i for i in ids if i.startswith("S"))
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        # group id → (expires at, members)
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def everyone(self) -> bool:
        return not self.ids

    def is_editor(self, user_id: str) -> bool:
        if self.everyone or user_id in self.users:
            return True
        return any(user_id in self._members(group) for group in self.groups)

    def groups_of(self, user_id: str) -> tuple[str, ...]:
        """The configured user groups `user_id` belongs to (as far as they are resolved)."""
        return tuple(g for g in self.groups if user_id in self._members(g))

    def _members(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached and now < cached[0]:
            return cached[1]
        if self._client is None:
            return frozenset()
        try:
            users = self._client.usergroups_users_list(usergroup=group).get("users") or []
            members = frozenset(u for u in users if isinstance(u, str))
        except (SlackApiError, SlackClientError, OSError) as exc:
            # Keep the last known members rather than locking every editor out during a Slack hiccup.
            log.warning("could not resolve editor group %s: %s", group, exc)
            members = cached[1] if cached else frozenset()
            with self._lock:
                self._cache[group] = (now + min(self._ttl, FAILURE_TTL_SECONDS), members)
            return members
        with self._lock:
            self._cache[group] = (now + self._ttl, members)
        return members
