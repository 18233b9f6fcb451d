"""step_activity (migration 0013) is kept by triggers: after any mix of writes through every door it equals a
recount of the developments and status changes themselves, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import delete, func, select, text

from store.counters import StepActivity
from store.developments import SlackMessage
from store.models import Development, StepChange


def recount(store) -> dict[int, tuple[int, date | None, int, datetime | None]]:
    out: dict[int, list] = {}
    with store.db.session() as s:
        for step_id, n, last in s.exec(
            select(Development.step_id, func.count(), func.max(Development.occurred_on))
            .where(Development.step_id.is_not(None), Development.retracted_at.is_(None))
            .group_by(Development.step_id)
        ).all():
            out.setdefault(step_id, [0, None, 0, None])[0:2] = [n, last]
        for step_id, n, last in s.exec(
            select(StepChange.step_id, func.count(), func.max(StepChange.changed_at))
            .where(StepChange.field == "status")
            .group_by(StepChange.step_id)
        ).all():
            out.setdefault(step_id, [0, None, 0, None])[2:4] = [n, last]
    return {k: tuple(v) for k, v in out.items()}


def kept(store) -> dict[int, tuple[int, date | None, int, datetime | None]]:
    with store.db.session() as s:
        rows = s.exec(select(StepActivity)).scalars().all()
    return {
        r.step_id: (r.developments, r.last_development_on, r.status_changes, r.last_status_at)
        for r in rows
        if r.developments or r.status_changes
    }


def test_activity_matches_a_recount_after_every_kind_of_write(store):
    rnd = random.Random(3)
    keys = ["SEC-1", "SEC-2", "ECO-1", "ECO-2", "HUM-1"]
    slack_ids: list[tuple[str, str]] = []
    for i in range(60):
        key = rnd.choice(keys)
        slack = SlackMessage("CACT", f"1700000000.{i:06d}", None) if rnd.random() < 0.5 else None
        store.developments.record(
            step=key,
            text=f"move {i}",
            author="U1",
            occurred_on=date(2025, 1, 1) + timedelta(days=rnd.randrange(300)),
            today=date(2026, 12, 1),
            slack=slack,
        )
        if slack:
            slack_ids.append((slack.channel, slack.ts))
        if i % 7 == 0:
            store.steps.set_status(key, rnd.choice(["in_progress", "stalled", "agreed"]), actor="U2")
    assert kept(store) == recount(store)

    # Edits that move a development to another step or to none, and retractions, recount both steps.
    for channel, ts in slack_ids[:10]:
        store.developments.edit(channel, ts, text="edited", edited_at=datetime.now(UTC), cluster="security")
    for channel, ts in slack_ids[10:14]:
        store.developments.edit(
            channel, ts, text="now about ECO-3", edited_at=datetime.now(UTC), cluster="economic", step="ECO-3"
        )
    for channel, ts in slack_ids[14:20]:
        store.developments.retract(channel, ts)
    assert kept(store) == recount(store)

    # Writes that bypass the store's code (a bulk fix, another tool) are counted too: the triggers see them all.
    with store.db.session(write=True) as s:
        s.exec(text("UPDATE development SET occurred_on = :d WHERE text = 'move 30'").bindparams(d=date(2026, 1, 2)))
        s.exec(delete(Development).where(Development.text == "move 31"))
    assert kept(store) == recount(store)


def test_a_retracted_last_development_moves_the_latest_date_back(store):
    for on, ts in ((date(2025, 3, 1), "1700000009.000001"), (date(2025, 9, 1), "1700000009.000002")):
        store.developments.record(
            step="SEC-3", text="move", author="U1", occurred_on=on, today=date(2026, 12, 1),
            slack=SlackMessage("CACT", ts),
        )  # fmt: skip
    with store.db.session() as s:
        step_id = s.exec(text("SELECT id FROM step WHERE key = 'SEC-3'")).scalar_one()
    before = kept(store)[step_id]
    assert before[1] == date(2025, 9, 1)
    store.developments.retract("CACT", "1700000009.000002")
    after = kept(store)[step_id]
    assert (after[0], after[1]) == (before[0] - 1, date(2025, 3, 1)), "the earlier development is the latest again"
    assert kept(store) == recount(store)
