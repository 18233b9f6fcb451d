"""In-process looks at the status paths: pyinstrument profiles and the query plans of every statement.

`python -m bench --profile` writes, for each store size of 100k developments and more,
bench/out/profile-<backend>-<size>-<command>.txt and bench/out/plans-<backend>-<size>.txt.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, event

from handlers.registry import Caller, run_command
from store.api import RoadmapStore


def in_process_ms(store: RoadmapStore, command: str, runs: int = 20) -> float:
    caller = Caller(user_id="U100", channel_id="C100", shareable=True)
    run_command(store, command, caller)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run_command(store, command, caller)
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return round(samples[len(samples) // 2] * 1000, 2)


def profile(store: RoadmapStore, command: str, path: Path, runs: int = 30) -> None:
    from pyinstrument import Profiler

    caller = Caller(user_id="U100", channel_id="C100", shareable=True)
    run_command(store, command, caller)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(runs):
        run_command(store, command, caller)
    profiler.stop()
    path.write_text(f"# {runs} × `/roadmap {command}` in-process\n" + profiler.output_text(unicode=True, color=False))


def query_plans(engine: Engine, store: RoadmapStore, commands: list[str], path: Path) -> None:
    """Run each command once, capture its SQL, and write each statement's plan (EXPLAIN QUERY PLAN on
    SQLite, EXPLAIN ANALYZE on PostgreSQL) with the parameters it ran with."""
    caller = Caller(user_id="U100", channel_id="C100")
    out: list[str] = []
    for command in commands:
        captured: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany, captured=captured):
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", capture)
        try:
            t0 = time.perf_counter()
            run_command(store, command, caller)
            took = (time.perf_counter() - t0) * 1000
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        out.append(f"## /roadmap {command}  ({len(captured)} statements, {took:.1f} ms in-process)\n")
        for statement, params in captured:
            out.append("```sql\n" + statement.strip() + f"\n-- params: {params!r}\n```")
            out.append("```\n" + _plan(engine, statement, params) + "\n```\n")
    path.write_text("\n".join(out))


def _plan(engine: Engine, statement: str, params) -> str:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            return "\n".join(f"{r[0]:>3} {r[1]:>3}  {r[3]}" for r in cur.fetchall())
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        return "\n".join(r[0] for r in cur.fetchall())
    except Exception as exc:  # a plan we cannot get is reported, not fatal
        return f"(no plan: {exc})"
    finally:
        raw.rollback()
        raw.close()
