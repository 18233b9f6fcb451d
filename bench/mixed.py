"""The mixed load of issue 12: 8 concurrent clients, 90 % reads (status, a cluster, a step, find) and 10 % writes
(`/roadmap log`, thread replies, `/roadmap set`) for a minute, against the same web process at the largest size.

Each client has its own keep-alive connection and sends signed requests back to back. Every kind's p50 and p99 are
set against the floor (the bare Bolt app) under the same 8 clients, sampled right after. Writes are then counted in
the database: every log and every reply Slack was told was stored must be there once (nothing lost, nothing
doubled).
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid

from sqlalchemy import Engine, func, select

from bench.probes import Ingest
from bench.server import SlackClient
from store.models import Development

# (kind, command or None for a thread reply, weight in %)
MIX = (
    ("status", "status", 30),
    ("cluster", "status security", 25),
    ("step", "status SEC-1", 20),
    ("find", "find Kellogg", 15),
    ("log", "log security {marker} mixed-load development {n}", 4),
    ("reply", None, 4),
    ("set", "set SEC-{step} {status}", 2),
)
WRITE_KINDS = ("log", "reply", "set")


def run(port: int, floor_port: int, engine: Engine, seconds: int, clients: int = 8) -> dict:
    marker = f"mix{uuid.uuid4().hex[:8]}"
    ingest = Ingest(port, engine, channel=f"C{marker.upper()}", thread_ts="1700000000.000900")
    samples: dict[str, list[float]] = {kind: [] for kind, _, _ in MIX}
    errors: dict[str, int] = dict.fromkeys(samples, 0)
    stored_ok = {"log": 0, "reply": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        rnd = random.Random(k)
        c = SlackClient(port)
        kinds = [m for m in MIX]
        weights = [m[2] for m in MIX]
        n = 0
        try:
            while time.monotonic() < deadline:
                kind, command, _ = rnd.choices(kinds, weights)[0]
                n += 1
                if command is None:
                    status, _payload, elapsed = c.post(ingest.body(), "application/json")
                    ok = status == 200
                else:
                    text = command.format(
                        marker=marker,
                        n=f"{k}-{n}",
                        step=100 + 6 * rnd.randrange(50),
                        status=rnd.choice(("agreed", "stalled")),
                    )
                    status, data, elapsed = c.command(text)
                    ok = status == 200 and "⚠️" not in json.dumps(data, ensure_ascii=False)
                with lock:
                    samples[kind].append(elapsed)
                    errors[kind] += not ok
                    if ok and kind in stored_ok:
                        stored_ok[kind] += 1
        finally:
            c.close()

    _run_clients(client, clients)
    time.sleep(0.5)  # the last replies' transactions commit before the answer; this only lets the counts settle
    with engine.connect() as conn:
        logs = conn.execute(select(func.count()).where(Development.text.like(f"{marker} %"))).scalar_one()
    replies = ingest.recorded()
    floor = _floor(floor_port, min(seconds, 20), clients)
    kinds = {}
    for kind, values in samples.items():
        if values:
            t = _stats(values)
            t.update(errors=errors[kind], p50_x=round(t["p50_ms"] / floor["p50_ms"], 2))
            t["p99_x"] = round(t["p99_ms"] / floor["p99_ms"], 2)
            kinds[kind] = t
    return {
        "seconds": seconds,
        "clients": clients,
        "requests": sum(len(v) for v in samples.values()),
        "floor": floor,
        "kinds": kinds,
        "writes": {
            "log": {"acknowledged": stored_ok["log"], "stored": logs},
            "reply": {"acknowledged": stored_ok["reply"], "stored": replies},
        },
        "errors": sum(errors.values()),
    }


def _floor(port: int, seconds: int, clients: int) -> dict:
    """The bare Bolt app under the same number of clients, each sending `/roadmap status` back to back."""
    values: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        c = SlackClient(port)
        try:
            while time.monotonic() < deadline:
                _status, _data, elapsed = c.command("status")
                with lock:
                    values.append(elapsed)
        finally:
            c.close()

    _run_clients(client, clients)
    return _stats(values)


def _run_clients(target, clients: int) -> None:
    threads = [threading.Thread(target=target, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _stats(values: list[float]) -> dict:
    ms = sorted(v * 1000 for v in values)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"n": len(ms), "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2)}


def markdown(m: dict) -> str:
    lines = [
        f"Mixed load: {m['clients']} concurrent clients for {m['seconds']} s, {m['requests']:,} requests "
        f"(90 % reads, 10 % writes), {m['errors']} errors. Floor under the same {m['clients']} clients: "
        f"p50 {m['floor']['p50_ms']} ms, p99 {m['floor']['p99_ms']} ms.",
        "",
        "| kind | requests | p50 ms (× floor) | p99 ms (× floor) | errors |",
        "|---|---|---|---|---|",
    ]
    for kind, t in m["kinds"].items():
        lines.append(
            f"| {kind} | {t['n']:,} | {t['p50_ms']} ({t['p50_x']}×) | {t['p99_ms']} ({t['p99_x']}×) | {t['errors']} |"
        )
    w = m["writes"]
    lines += [
        "",
        f"Writes counted in the database: logs {w['log']['stored']:,} stored of {w['log']['acknowledged']:,} "
        f"acknowledged; thread replies {w['reply']['stored']:,} stored of {w['reply']['acknowledged']:,} acknowledged.",
    ]
    return "\n".join(lines)
