"""Every `/roadmap` command, registered. A module that declares commands (`@command`, `@slack_command`) is imported
here, once; the Slack listener and the console both answer through this module, so they know the same commands."""

from __future__ import annotations

from handlers import digest, owners, reminders, roadmaps, threads  # noqa: F401  (each registers its commands)
from handlers.commands import COMMANDS, Caller, Command, find_command, run_command

__all__ = ["COMMANDS", "Caller", "Command", "find_command", "run_command"]
