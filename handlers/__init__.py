"""Slack-facing handlers: parse the request, call the store API, render a template, answer."""
