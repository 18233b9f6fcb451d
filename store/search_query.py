"""The `find` query grammar, parsed without touching the database (pure, so it is tested on its own).

    find <words> ["a phrase"] [in:<cluster>] [side:<code>] [after:<YYYY[-MM[-DD]]>] [before:<YYYY[-MM[-DD]]>]

A word is reduced to its letters and digits (what the full-text tokenizers keep); a word with punctuation inside
(`no-aggression`, `SEC-1`) becomes the phrase of its parts. Nothing a user types is ever search syntax: `AND`,
`NEAR`, `*`, `^`, `:` and parentheses are words or separators, and the store quotes every term it sends to the
database. `after:2025-06` means from 1 June 2025 on; `before:2025-06` means before 1 June 2025.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from store.errors import Invalid

MAX_QUERY_CHARS = 300
MAX_TERMS = 8
_FILTERS = ("in", "side", "after", "before")
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits: FTS5 unicode61 and PostgreSQL keep the same runs
_PIECE = re.compile(r'"([^"]*)"|(\S+)')
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
EXAMPLE = '`find Kellogg`, `find "prisoner release" in:diplomatic side:us after:2025-06`'


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain: a word, or a phrase (its words in order)."""

    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...] = ()
    cluster: str | None = None  # as typed; the store resolves it
    side: str | None = None
    after: date | None = None  # inclusive
    before: date | None = None  # exclusive
    words: tuple[str, ...] = field(default=(), compare=False)  # every word, for "N more" hints

    @property
    def text(self) -> str:
        parts = [f'"{t.text}"' if len(t.words) > 1 else t.text for t in self.terms]
        for name, value in (("in", self.cluster), ("side", self.side)):
            if value:
                parts.append(f"{name}:{value}")
        if self.after:
            parts.append(f"after:{self.after.isoformat()}")
        if self.before:
            parts.append(f"before:{self.before.isoformat()}")
        return " ".join(parts)


def parse(text: str) -> Query:
    """Parse what the user typed after `find`; Invalid with a clear message (and an example) when it cannot."""
    text = (text or "").strip()
    if not text:
        raise Invalid(f"say what to search for, e.g. {EXAMPLE}")
    if len(text) > MAX_QUERY_CHARS:
        raise Invalid(
            f"that search is {len(text):,} characters; the limit is {MAX_QUERY_CHARS}. Search for a few "
            f"distinctive words, e.g. {EXAMPLE}"
        )
    if text.count('"') % 2:
        raise Invalid(f'a quote is not closed: put a phrase between two `"`, e.g. {EXAMPLE}')
    terms: list[Term] = []
    filters: dict[str, str] = {}
    for m in _PIECE.finditer(text):
        phrase, word = m.group(1), m.group(2)
        if word is not None and ":" in word:
            name, _, value = word.partition(":")
            if name.lower() in _FILTERS and value:
                if name.lower() in filters:
                    raise Invalid(f"`{name.lower()}:` is given twice; give it once")
                filters[name.lower()] = value
                continue
        tokens = tuple(t.lower() for t in _TOKEN.findall(phrase if phrase is not None else word))
        if tokens and Term(tokens) not in terms:
            terms.append(Term(tokens))
    if not terms:
        raise Invalid(f"there is no word to search for in that (only punctuation or filters); e.g. {EXAMPLE}")
    if len(terms) > MAX_TERMS:
        raise Invalid(f"that search has {len(terms)} words and phrases; the limit is {MAX_TERMS}")
    after = _date(filters["after"], "after") if "after" in filters else None
    before = _date(filters["before"], "before") if "before" in filters else None
    if after and before and after >= before:
        raise Invalid(f"nothing can be after {after.isoformat()} and before {before.isoformat()}")
    return Query(
        terms=tuple(terms),
        cluster=filters.get("in"),
        side=filters.get("side"),
        after=after,
        before=before,
        words=tuple(w for t in terms for w in t.words),
    )


def _date(value: str, name: str) -> date:
    """The first day of a year, month or day."""
    m = _DATE.match(value)
    try:
        if not m:
            raise ValueError(value)
        year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
        start = date(year, month, day)
    except ValueError:
        raise Invalid(
            f"`{name}:{value}` is not a date: use YYYY, YYYY-MM or YYYY-MM-DD, e.g. `{name}:2025-06`"
        ) from None
    return start


def fts5(query: Query) -> str:
    """The FTS5 MATCH expression: every term a double-quoted string (a phrase), so none is syntax."""
    return " AND ".join('"' + " ".join(t.words) + '"' for t in query.terms)
