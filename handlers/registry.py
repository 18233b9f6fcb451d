"""Every `/roadmap` command, registered. A module that declares commands (`@command`, `@slack_command`) is imported
here, once; the Slack listener and the console both answer through this module, so they know the same commands."""

from __future__ import annotations

# digest and threads register the Slack side of Slack-only commands; the others declare their own commands.
from handlers import brief, canvas, digest, ledger, owners, reactions, reminders, roadmaps, threads, watch  # noqa: F401
from handlers.commands import COMMANDS, Caller, Command, find_command, run_command

__all__ = ["COMMANDS", "Caller", "Command", "find_command", "run_command"]
