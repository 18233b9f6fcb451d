"""Who may change the roadmap: ROADMAP_EDITORS lists user ids (U…/W…) and user-group ids (S…).

Groups are resolved with usergroups.users.list and cached for a short time, so a change in Slack takes effect
within minutes without a restart. When ROADMAP_EDITORS is unset, everyone is an editor.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class Editors:
    def __init__(self, ids: tuple[str, ...], client: WebClient | None = None, ttl_seconds: float = 300):
        self.ids = ids
        self.users = frozenset(i for i in ids if not i.startswith("S"))
        self.groups = tuple(i for i in ids if i.startswith("S"))
        self._client = client
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def everyone(self) -> bool:
        return not self.ids

    def is_editor(self, user_id: str) -> bool:
        if self.everyone or user_id in self.users:
            return True
        return any(user_id in self._members(group) for group in self.groups)

    def display(self) -> tuple[str, ...]:
        """Mentions a refusal can show: users as <@U…>, groups as <!subteam^S…>."""
        return tuple(f"<!subteam^{i}>" if i.startswith("S") else f"<@{i}>" for i in self.ids)

    def _members(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(group)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        if self._client is None:
            return frozenset()
        try:
            users = frozenset(self._client.usergroups_users_list(usergroup=group).get("users") or [])
        except (SlackApiError, SlackClientError) as exc:
            # Keep the last known members rather than locking every editor out during a Slack hiccup.
            log.warning("could not resolve editor group %s: %s", group, exc)
            return cached[1] if cached else frozenset()
        with self._lock:
            self._cache[group] = (now, users)
        return users
