"""What the store refuses, as exceptions whose message is safe to show a user."""

from __future__ import annotations


class StoreError(Exception):
    """A request the store refuses; the message is safe to show a user."""


class NotFound(StoreError):
    def __init__(self, kind: str, term: str, choices: list[str], suggestion: str | None = None):
        self.kind, self.term, self.choices, self.suggestion = kind, term, choices, suggestion
        super().__init__(f"unknown {kind} {term!r}")


class Ambiguous(StoreError):
    def __init__(self, kind: str, term: str, matches: list[str]):
        self.kind, self.term, self.matches = kind, term, matches
        super().__init__(f"{kind} {term!r} is ambiguous: {', '.join(matches)}")


class Invalid(StoreError):
    """Input the store will not take; `field` names the part that is wrong (a form shows the error there)."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class StoreUnavailable(StoreError):
    """The database cannot be reached; nothing was written."""


class RoadmapNotChosen(StoreError):
    """The store holds several roadmaps and nothing says which one is meant."""

    def __init__(self, slugs: list[str]):
        self.slugs = slugs
        super().__init__("this channel follows no roadmap yet; several are kept here: " + ", ".join(slugs))
