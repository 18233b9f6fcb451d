"""Roadmap bot: settings, the Bolt app, serving, the scheduler and the `roadmap` command line."""
