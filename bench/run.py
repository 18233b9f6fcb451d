"""`python -m bench [--quick] [--database-url postgresql://…]`: the whole benchmark in one run.

It reports; it never fails a build (exit 0 whatever the numbers, non-zero only if it could not run).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import build, mixed, probes, profiling
from bench.server import DEVELOPMENT_WRITE, STATUS_WRITE, SlackClient, WebProcess
from store.api import RoadmapStore
from tests.fakes import FakeSlack
from tests.slack_requests import SIGNING_SECRET

OUT = Path(__file__).resolve().parent / "out"
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 100_000)
COMMANDS = ("status", "status security", "status SEC-1", "commitments", "commitments Belarus", "find Kellogg")
# The development each answer is timed right after: one it shows (a cluster's, a step's, a search hit).
DEVELOPMENT_WRITES = {
    "status SEC-1": "log SEC-1 bench write {i}",
    "find Kellogg": "log security Kellogg bench write {i}",
}
# Issue 12's goals: ratios to the bare-Bolt floor at the largest size.
TARGETS = {"unchanged": 1.5, "after_write": 3.0, "find": 3.0, "growth": 1.2, "digest_ms": 100, "rss_mb": 100}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"sizes {', '.join(map(_k, QUICK_SIZES))} only, fewer runs")
    p.add_argument("--database-url", help="PostgreSQL URL (a dedicated schema is created and dropped); SQLite if unset")
    p.add_argument("--sizes", help="comma-separated development counts, e.g. 1000,100000 (overrides --quick)")
    p.add_argument("--steps", type=int, default=10_000, help="extra steps beyond the seeded roadmap (10000)")
    p.add_argument("--runs", type=int, help="timed requests per command (200; 100 with --quick)")
    p.add_argument("--warmup", type=int, default=30, help="untimed requests first (30)")
    p.add_argument("--ingest", type=int, default=1000, help="thread replies sent sequentially (1000)")
    p.add_argument("--digest-entry", help="module:function(store) timed as the digest (default: found in bot.digest)")
    p.add_argument("--mixed", type=int, default=60, help="seconds of the mixed load at the largest size (0: none)")
    p.add_argument("--profile", action="store_true", help="pyinstrument + query plans at 100k and more, into out/")
    p.add_argument("--out", type=Path, default=OUT, help="where results go (bench/out)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else QUICK_SIZES if args.quick else FULL_SIZES
    runs = args.runs or (100 if args.quick else 200)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {_cpus()} cores, Python {platform.python_version()}",
        "runs": runs,
        "warmup": args.warmup,
        "commands": list(COMMANDS),
        "sizes": {},
    }
    with FakeSlack() as fake:
        env = {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_API_URL": fake.api_url,
        }
        build.log("building the store")
        target = build.open_target(args.database_url, args.out)
        results["backend"] = target.backend
        try:
            shape = build.add_steps(target.engine, args.steps)
            results["steps_total"] = sum(len(v) for v in shape.steps_by_cluster.values())
            results["open_steps"] = build.count_open_steps(target.engine)
            floor_env = dict(env, DATABASE_URL="sqlite://")
            with (
                WebProcess("floor", floor_env, args.out, "'bench.floor_app:application()'") as floor,
                WebProcess("floor-default", dict(floor_env, BENCH_FLOOR_MODE="default"), args.out,
                           "'bench.floor_app:application()'") as floor_default,
            ):  # fmt: skip
                results["command_line"] = floor.command_line.replace("bench.floor_app", "bot.web")
                for i, size in enumerate(sizes):
                    build.log(f"store with {size:,} developments")
                    seconds = build.grow_developments(target.engine, shape, size)
                    row = results["sizes"][str(size)] = {"developments": size, "build_seconds": round(seconds, 1)}
                    with WebProcess(f"web-{_k(size)}", dict(env, DATABASE_URL=target.url), args.out) as web:
                        row["floor"] = _timed(floor.port, "status", runs, args.warmup)
                        row["floor_default"] = _timed(floor_default.port, "status", runs, args.warmup)
                        row["commands"] = {c: _timed(web.port, c, runs, args.warmup) for c in COMMANDS}
                        row["after_write"] = {
                            c: _timed(web.port, c, runs, args.warmup, DEVELOPMENT_WRITES.get(c, DEVELOPMENT_WRITE))
                            for c in COMMANDS
                        }
                        row["after_status"] = {
                            c: _timed(web.port, c, runs, args.warmup, STATUS_WRITE) for c in COMMANDS
                        }
                        row["floor_after"] = _timed(floor.port, "status", runs, args.warmup)
                        row["rss"] = web.rss()
                        _say(size, row)
                        if i == len(sizes) - 1:
                            build.log("thread-reply ingest")
                            ingest = probes.Ingest(web.port, target.engine)
                            results["ingest"] = ingest.run(args.ingest, 2 * args.ingest, senders=8)
                            results["ingest"]["floor"] = ingest.floor_rate(floor.port, args.ingest)
                            row["rss_after_ingest"] = web.rss()
                            results["rss"] = row["rss_after_ingest"]
                            if args.mixed:
                                build.log(f"mixed load, {args.mixed} s")
                                results["mixed"] = mixed.run(web.port, floor.port, target.engine, args.mixed)
                                results["rss"] = row["rss_after_mixed"] = web.rss()
                    if args.profile and size >= 100_000:
                        _profile(target, size, args.out, row)
            build.log("digest")
            results["digest"] = probes.digest(RoadmapStore(target.engine), args.digest_entry)
        finally:
            target.close()
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate(results)
    table = markdown(results)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for name in (f"results-{results['backend']}-{stamp}", f"latest-{results['backend']}"):
        (args.out / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
        (args.out / f"{name}.md").write_text(table)
    print(table)
    print(f"written to {args.out}/latest-{results['backend']}.md and .json", file=sys.stderr)
    return 0


def _timed(port: int, command: str, runs: int, warmup: int, write: str | None = None) -> dict:
    client = SlackClient(port)
    try:
        if write:
            return client.measure_after_write(command, runs, warmup // 3, write).__dict__
        return client.measure_command(command, runs, warmup).__dict__
    finally:
        client.close()


def _profile(target: build.Target, size: int, out: Path, row: dict) -> None:
    build.log(f"  profiling at {size:,}")
    store = RoadmapStore(target.engine)
    row["in_process_ms"] = {c: profiling.in_process_ms(store, c) for c in COMMANDS}
    for c in COMMANDS:
        profiling.profile(store, c, out / f"profile-{target.backend}-{_k(size)}-{c.replace(' ', '_')}.txt")
    profiling.query_plans(target.engine, store, list(COMMANDS), out / f"plans-{target.backend}-{_k(size)}.txt")


def _say(size: int, row: dict) -> None:
    floor = row["floor"]["p50_ms"]
    parts = [f"floor {floor} ms", f"default-mode floor {row['floor_default']['p50_ms']} ms"]
    parts += [f"{c}: {t['p50_ms']} ms ({t['p50_ms'] / floor:.2f}×)" for c, t in row["commands"].items()]
    build.log(f"  {_k(size)}: " + "; ".join(parts) + f"; RSS {row['rss']['workers_mb']} MB")


# -- verdicts and the table -------------------------------------------------------------------------------------


def evaluate(r: dict) -> list[dict]:
    out = []
    sizes = sorted(int(s) for s in r["sizes"])
    top = r["sizes"][str(sizes[-1])]
    floor = (top["floor"]["p50_ms"] + top["floor_after"]["p50_ms"]) / 2  # sampled before and after the figures
    at = f"at {_k(sizes[-1])}"
    for c in COMMANDS:
        if c.startswith("find"):
            ratio = top["after_write"][c]["p50_ms"] / floor
            out.append(_verdict(f"`{c}` p50 ≤ 3× floor {at}", f"{ratio:.2f}×", ratio <= TARGETS["find"]))
            continue
        ratio = top["commands"][c]["p50_ms"] / floor
        out.append(_verdict(f"`{c}` unchanged ≤ 1.5× floor {at}", f"{ratio:.2f}×", ratio <= TARGETS["unchanged"]))
        ratio = top["after_write"][c]["p50_ms"] / floor
        what = f"`{c}` right after a development ≤ 3× floor {at}"
        out.append(_verdict(what, f"{ratio:.2f}×", ratio <= TARGETS["after_write"]))
        ratio = top["after_status"][c]["p50_ms"] / floor
        what = f"`{c}` right after a status change ≤ 3× floor {at}"
        out.append(_verdict(what, f"{ratio:.2f}×", ratio <= TARGETS["after_write"]))
    if len(sizes) > 1:
        lo = r["sizes"][str(sizes[0])]
        for c in COMMANDS:
            growth = top["after_write"][c]["p50_ms"] / lo["after_write"][c]["p50_ms"]
            what = f"`{c}` after a development, growth {_k(sizes[0])}→{_k(sizes[-1])} ≤ 1.2×"
            out.append(_verdict(what, f"{growth:.2f}×", growth <= TARGETS["growth"]))
    d = r.get("digest", {})
    if d.get("available"):
        what = f"digest ≤ 100 ms ({r['open_steps']:,} open steps)"
        out.append(_verdict(what, f"{d['p50_ms']} ms", d["p50_ms"] <= TARGETS["digest_ms"]))
    else:
        out.append(_verdict("digest ≤ 100 ms", d.get("reason", "not measured"), None))
    ing = r.get("ingest", {})
    if ing.get("available"):
        seq, conc = ing["sequential"], ing["concurrent_8"]
        floor_rate = ing["floor"]["per_second"]
        ok = seq["per_second"] >= 0.5 * floor_rate and seq["recorded"] == seq["sent"]
        what = "ingest sequential ≥ 0.5× the floor's sequential ack rate"
        out.append(_verdict(what, f"{seq['per_second']:,.0f}/s vs floor {floor_rate:,.0f}/s", ok))
        ok = conc["per_second"] >= floor_rate and conc["recorded"] == conc["sent"] and not conc["errors"]
        what = f"ingest, 8 concurrent senders ({r['backend']}) ≥ 1× the floor's sequential rate"
        out.append(_verdict(what, f"{conc['per_second']:,.0f}/s, {conc['recorded']:,}/{conc['sent']:,} stored", ok))
    else:
        out.append(_verdict("ingest ≥ 0.5× floor", ing.get("reason", "not measured"), None))
    if r.get("rss"):
        worst = max(r["rss"]["workers_mb"])
        out.append(_verdict("web RSS ≤ 100 MB per worker", f"{worst} MB (largest worker)", worst <= TARGETS["rss_mb"]))
    return out


def _verdict(what: str, measured: str, ok: bool | None) -> dict:
    return {"target": what, "measured": measured, "met": ok}


def markdown(r: dict) -> str:
    sizes = sorted(r["sizes"], key=int)
    head = "| p50 / p95 ms (p50 × floor) | " + " | ".join(f"{_k(int(s))} dev." for s in sizes) + " |"
    lines = [
        f"Backend **{r['backend']}**, {r['machine']}; seeded roadmap + {r['steps_total']:,} steps "
        f"({r['open_steps']:,} open); {r['runs']} timed requests per figure after {r['warmup']} warm-up, "
        f"one keep-alive connection, signed as Slack signs; web process: `{r.get('command_line', '')}`.",
        "",
        head,
        "|" + "---|" * (len(sizes) + 1),
    ]

    def cells(get) -> str:
        out = []
        for s in sizes:
            row = r["sizes"][s]
            t = get(row)
            ratio = t["p50_ms"] / row["floor"]["p50_ms"]
            out.append(f"{t['p50_ms']:.2f} / {t['p95_ms']:.2f} ({ratio:.2f}×)")
        return " | ".join(out)

    lines.append("| floor: bare Bolt, process_before_response | " + cells(lambda row: row["floor"]) + " |")
    lines.append("| floor: bare Bolt, default mode (ack polling) | " + cells(lambda row: row["floor_default"]) + " |")
    for c in COMMANDS:
        lines.append(f"| `/roadmap {c}` | " + cells(lambda row, c=c: row["commands"][c]) + " |")
    for c in COMMANDS:
        cell = cells(lambda row, c=c: row["after_write"][c])
        lines.append(f"| `/roadmap {c}` right after a development | {cell} |")
    for c in COMMANDS:
        cell = cells(lambda row, c=c: row["after_status"][c])
        lines.append(f"| `/roadmap {c}` right after a status change | {cell} |")
    lines.append("| floor again, after the figures | " + cells(lambda row: row["floor_after"]) + " |")
    rss = [str(r["sizes"][s]["rss"]["workers_mb"]) for s in sizes]
    lines.append("| web RSS per worker, MB | " + " | ".join(rss) + " |")
    lines.append("| store build time, s | " + " | ".join(str(r["sizes"][s]["build_seconds"]) for s in sizes) + " |")
    if any("in_process_ms" in r["sizes"][s] for s in sizes):
        for c in COMMANDS:
            vals = [str(r["sizes"][s].get("in_process_ms", {}).get(c, "—")) for s in sizes]
            lines.append(f"| in-process `{c}`, ms | " + " | ".join(vals) + " |")
    lines += ["", _ingest_line(r.get("ingest", {})), "", _digest_line(r.get("digest", {})), ""]
    if r.get("mixed"):
        lines += [mixed.markdown(r["mixed"]), ""]
    if r.get("rss"):
        rss = r["rss"]
        lines.append(
            f"Web process memory after the run: master {rss['master_mb']} MB, workers {rss['workers_mb']} MB "
            f"(total {rss['total_mb']} MB)."
        )
        lines.append("")
    lines += ["| target | measured | met |", "|---|---|---|"]
    for t in r["targets"]:
        mark = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {mark} |")
    lines += ["", f"Total run time {r['total_seconds']:.0f} s, started {r['started_at']}.", ""]
    return "\n".join(lines)


def _ingest_line(ing: dict) -> str:
    if not ing.get("available"):
        return f"Thread-reply ingest: {ing.get('reason', 'not measured')}."
    parts = []
    for name, v in ing.items():
        if isinstance(v, dict):
            parts.append(
                f"{name.replace('_', ' ')}: {v['per_second']:,.0f} replies/s "
                f"({v['recorded']:,}/{v['sent']:,} recorded, {v['errors']} errors)"
            )
    return "Thread-reply ingest over signed HTTP — " + "; ".join(parts) + "."


def _digest_line(d: dict) -> str:
    if not d.get("available"):
        return f"Digest build + render: {d.get('reason', 'not measured')}."
    return f"Digest build + render (`{d['entry']}`): p50 {d['p50_ms']} ms, max {d['max_ms']} ms over {d['runs']} runs."


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n >= 1000 else str(n)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
