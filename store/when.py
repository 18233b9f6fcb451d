"""Due dates as people say them, relative to the caller's local today: a small pure parser.

2026-03-31, none          exactly as before (`none`, `clear`, `-` clear the date)
today, tomorrow           …
friday, next friday       the first such weekday after today (never today itself)
in 10 days, in 2 weeks, in 3 months
end of month, end of next month
14d after SEC-1, 2 weeks after SEC-1    a conditional date (a `Conditional`), set when SEC-1 is done
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from store.errors import Invalid

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CLEAR = ("none", "clear", "-")
FORMS = "YYYY-MM-DD, `tomorrow`, `next friday`, `in 2 weeks`, `end of month`, `14d after SEC-1`, or `none`"

_UNIT = r"(d|days?|w|weeks?|months?)"
_AFTER = re.compile(rf"^(?:in\s+)?(\d{{1,4}})\s*{_UNIT}\s+after\s+(\S+)(?:\s+(.*))?$", re.I | re.S)
_IN = re.compile(rf"^in\s+(\d{{1,4}})\s*{_UNIT}(?:\s+(.*))?$", re.I | re.S)
_WEEKDAY = re.compile(
    rf"^(?:next\s+)?({'|'.join(WEEKDAYS)}|{'|'.join(d[:3] for d in WEEKDAYS)})\b\s*(.*)$", re.I | re.S
)
_END = re.compile(r"^end\s+of\s+(next\s+)?month\b\s*(.*)$", re.I | re.S)
_WORD = re.compile(r"^(today|tomorrow)\b\s*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class Conditional:
    """Due `days` after the step `after` is marked done."""

    days: int
    after: str


def _days(n: int, unit: str, today: date) -> date:
    unit = unit.lower()
    if unit.startswith("month"):
        return add_months(today, n)
    return today + timedelta(days=n * (7 if unit.startswith("w") else 1))


def add_months(d: date, n: int) -> date:
    month = d.month - 1 + n
    year, month = d.year + month // 12, month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def parse_due(text: str, today: date) -> tuple[date | Conditional | None, str]:
    """(the due date, a Conditional, or None to clear it; the rest of the text, the note). Invalid otherwise."""
    text = (text or "").strip()
    if not text:
        raise Invalid(f"say which date: {FORMS}")
    first, _, rest = text.partition(" ")
    if first.lower() in CLEAR:
        return None, rest.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}$", first):
        try:
            return date.fromisoformat(first), rest.strip()
        except ValueError as exc:
            raise Invalid(f"“{first}” is not a real date: use {FORMS}") from exc
    if m := _AFTER.match(text):
        n = int(m.group(1))
        days = (add_months(today, n) - today).days if m.group(2).lower().startswith("month") else n
        days = days * 7 if m.group(2).lower().startswith("w") else days
        return Conditional(days, m.group(3)), (m.group(4) or "").strip()
    if m := _IN.match(text):
        return _days(int(m.group(1)), m.group(2), today), (m.group(3) or "").strip()
    if m := _WORD.match(text):
        return today + timedelta(days=0 if m.group(1).lower() == "today" else 1), m.group(2).strip()
    if m := _WEEKDAY.match(text):
        wanted = next(i for i, d in enumerate(WEEKDAYS) if d.startswith(m.group(1).lower()[:3]))
        ahead = (wanted - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), m.group(2).strip()
    if m := _END.match(text):
        base = add_months(today.replace(day=1), 1 if m.group(1) else 0)
        return base.replace(day=calendar.monthrange(base.year, base.month)[1]), m.group(2).strip()
    raise Invalid(f"“{first}” is not a date: use {FORMS}")
