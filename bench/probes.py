"""Parts measured only when the feature is there: the digest (handlers.digest_sender) and thread-reply ingest.

Both features are built in parallel with the benchmark, so each probe first checks that the feature exists
and says "not available" (with the reason) instead of failing.
"""

from __future__ import annotations

import importlib
import inspect
import json
import threading
import time
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from bench.build import count_developments, register_thread
from bench.server import SlackClient
from store.api import RoadmapStore

# Tried in order in handlers.digest_sender; the first one callable with the arguments below is timed (build + render).
DIGEST_ENTRY_POINTS = ("bench_digest", "build_and_render", "render_digest", "digest_message", "compose", "build_digest")


def digest(store: RoadmapStore, entry: str | None, runs: int = 10) -> dict:
    """Time one digest build + render on `store`; {"available": False, "reason": …} when there is none."""
    try:
        fn, name = _digest_callable(entry)
    except LookupError as exc:
        return {"available": False, "reason": str(exc)}
    try:
        kwargs = _bind(fn, store)
    except TypeError as exc:
        return {"available": False, "reason": f"{name}: {exc}; pass --digest-entry module:function(store)"}
    samples = []
    result = None
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        result = fn(**kwargs)
        samples.append(time.perf_counter() - t0)
    samples = sorted(samples[1:])  # the first call compiles templates and warms caches
    size = len(json.dumps(result, default=str)) if result is not None else 0
    return {
        "available": True,
        "entry": name,
        "runs": runs,
        "p50_ms": round(samples[len(samples) // 2] * 1000, 1),
        "max_ms": round(samples[-1] * 1000, 1),
        "output_chars": size,
    }


def _digest_callable(entry: str | None):
    if entry:
        module_name, _, attr = entry.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr), entry
    try:
        module = importlib.import_module("handlers.digest_sender")
    except ImportError as exc:
        raise LookupError(f"not available: handlers.digest_sender cannot be imported ({exc})") from exc
    for attr in DIGEST_ENTRY_POINTS:
        fn = getattr(module, attr, None)
        if callable(fn):
            return fn, f"bot.digest:{attr}"
    sender = getattr(module, "DigestSender", None)
    if sender is not None and hasattr(sender, "build"):
        from bot.settings import Settings

        def build(store: RoadmapStore) -> list[dict]:
            # build() reads the store and renders; the Web API clients are used only to post.
            return sender(Settings(digest_channel="CDIGEST"), store, None, None).build("CDIGEST")

        return build, "handlers.digest_sender:DigestSender.build"
    raise LookupError(
        f"not available: handlers.digest_sender has none of {', '.join(DIGEST_ENTRY_POINTS)}; "
        "pass --digest-entry module:function"
    )


def _bind(fn, store: RoadmapStore) -> dict:
    """Arguments by name for the usual suspects; anything else must have a default."""
    from bot.settings import Settings

    known = {
        "store": store,
        "settings": Settings(digest_channel="CDIGEST"),
        "today": date.today(),
        "now": datetime.now(UTC),
        "channel": "CDIGEST",
        "since": None,
    }
    kwargs = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in known:
            kwargs[name] = known[name]
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"cannot supply its argument {name!r}")
    return kwargs


# -- thread-reply ingest ------------------------------------------------------------------------------------


class Ingest:
    """Signed `message` events replying in a registered cluster thread, as Slack delivers them."""

    def __init__(self, port: int, engine: Engine, channel: str = "CBENCHTHREAD", thread_ts: str = "1700000000.000100"):
        self.port, self.engine, self.channel, self.thread_ts = port, engine, channel, thread_ts
        self._seq = 0
        self._lock = threading.Lock()
        register_thread(engine, channel, thread_ts)

    def _next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def body(self) -> str:
        i = self._next()
        ts = f"1700001000.{i:06d}"
        event = {
            "type": "message",
            "channel": self.channel,
            "channel_type": "channel",
            "user": f"U{100000 + i % 50}",
            "text": f"Bench reply {i}: the delegation met in Minsk and agreed the next round of talks.",
            "ts": ts,
            "event_ts": ts,
            "thread_ts": self.thread_ts,
            "team": "T1",
        }
        envelope = {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"EvBENCH{i:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
        }
        return json.dumps(envelope)

    def recorded(self) -> int:
        return count_developments(self.engine, self.channel)

    def _wait_recorded(self, expected: int, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        n = self.recorded()
        while n < expected and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.recorded()
        return n

    def run(self, sequential: int, concurrent: int, senders: int = 4) -> dict:
        client = SlackClient(self.port)
        status, payload, _ = client.post(self.body(), "application/json")
        if status == 404 or status >= 400:
            client.close()
            return {"available": False, "reason": f"not available: a thread reply got HTTP {status} {payload[:80]!r}"}
        if self._wait_recorded(1, timeout=3) < 1:
            client.close()
            return {"available": False, "reason": "not available: a thread reply was answered but not recorded"}
        base = 1
        out = {"available": True}
        # Sequential: one keep-alive connection, one reply after another.
        t0 = time.perf_counter()
        errors = 0
        for _ in range(sequential):
            errors += client.post(self.body(), "application/json")[0] != 200
        elapsed = time.perf_counter() - t0
        client.close()
        got = self._wait_recorded(base + sequential) - base
        out["sequential"] = _rate(sequential, elapsed, got, errors)
        base += sequential
        # Concurrent: `senders` connections at once.
        per = concurrent // senders
        errs = [0] * senders

        def send(k: int) -> None:
            c = SlackClient(self.port)
            for _ in range(per):
                errs[k] += c.post(self.body(), "application/json")[0] != 200
            c.close()

        threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        got = self._wait_recorded(base + per * senders) - base
        out[f"concurrent_{senders}"] = _rate(per * senders, elapsed, got, sum(errs))
        return out

    def floor_rate(self, floor_port: int, n: int) -> dict:
        """The same signed events, one after another, acked by the bare Bolt app (which stores nothing)."""
        client = SlackClient(floor_port)
        try:
            for _ in range(20):
                client.post(self.body(), "application/json")
            t0 = time.perf_counter()
            acked = sum(client.post(self.body(), "application/json")[0] == 200 for _ in range(n))
            elapsed = time.perf_counter() - t0
        finally:
            client.close()
        return _rate(n, elapsed, acked, n - acked)


def _rate(sent: int, seconds: float, recorded: int, errors: int) -> dict:
    return {
        "sent": sent,
        "recorded": recorded,
        "errors": errors,
        "seconds": round(seconds, 2),
        "per_second": round(sent / seconds, 1),
    }
