"""The `roadmap` command line (same as `python -m bot`).

`ask` and `console` run the very command code the Slack handlers run, against the local store, and print the
same Block Kit payload readably: a person can see the bot work without a Slack workspace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

from bot.settings import Settings, SettingsError
from store.errors import NotFound, StoreError
from store.roadmap_file import RoadmapFileError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if settings.log_level != "DEBUG":
            logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step is noise here
        return int(args.func(args, settings) or 0)
    except SettingsError as exc:
        print(f"roadmap: {exc}", file=sys.stderr)
        return 2
    except RoadmapFileError as exc:
        print(f"roadmap: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        choices = f" (choose one of: {', '.join(exc.choices)})" if isinstance(exc, NotFound) and exc.choices else ""
        print(f"roadmap: {exc}{choices}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roadmap", description="Roadmap bot: a reciprocal policy roadmap in Slack.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser("ask", help='answer one command as Slack would, e.g. roadmap ask "status security"')
    ask.add_argument("text", nargs="*", help="the text after /roadmap (default: help)")
    ask.add_argument("--json", action="store_true", help="print the Block Kit JSON instead of text")
    ask.add_argument("--user", default="console", help="act as this Slack user id (default: console)")
    ask.add_argument("--roadmap", help="the roadmap to act on (a slug), when the store holds several")
    ask.set_defaults(func=cmd_ask)

    con = sub.add_parser("console", help="interactive console: type commands as after /roadmap")
    con.add_argument("--user", default="console", help="act as this Slack user id (default: console)")
    con.add_argument("--roadmap", help="the roadmap to act on (a slug), when the store holds several")
    con.set_defaults(func=cmd_console)

    dbp = sub.add_parser("db", help="database schema: upgrade (Procfile release step) or show the revision")
    dbp.add_argument("action", choices=["upgrade", "current"])
    dbp.set_defaults(func=cmd_db)

    imp = sub.add_parser("import", help="load a roadmap file (YAML, format roadmap/1) into the store")
    imp.add_argument("file")
    imp.add_argument(
        "--replace",
        action="store_true",
        help="replace the roadmap the file names (a whole-store backup: the whole store) instead of merging",
    )
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser("export", help="write one roadmap, or the whole store, as a file (to stdout, or FILE)")
    exp.add_argument("file", nargs="?")
    exp.add_argument("--roadmap", help="the roadmap to write (a slug); without it, the whole store (a backup)")
    exp.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="serve Slack over HTTP on $PORT with gunicorn (as the Procfile's web:)")
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(func=cmd_serve)

    sock = sub.add_parser("socket", help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    sock.set_defaults(func=cmd_socket)

    _add_digest_commands(sub)
    _add_brief_commands(sub)
    return p


def _store(settings: Settings, seed: bool = True):
    from bot.runtime import open_store

    return open_store(settings, seed=seed)


def _caller(settings: Settings, args):
    from handlers.commands import Caller

    user = args.user
    editor = not settings.editors or user in settings.editors or user == "console"
    today = datetime.now(settings.tz).date()
    return Caller(
        user_id=user,
        editor=editor,
        editors=settings.editors,
        today=today,
        tz=settings.tz,
        roadmap=args.roadmap,
        web_base=settings.roadmap_base_url,
        watch_allow_private=settings.watch_allow_private,
    )


def cmd_ask(args, settings: Settings) -> int:
    from handlers.registry import run_command
    from templates import to_terminal

    store = _store(settings)
    reply = run_command(store, " ".join(args.text), _caller(settings, args))
    if args.json:
        print(json.dumps(reply.message, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(to_terminal(reply.message))
    return 0 if reply.ok else 1


def cmd_console(args, settings: Settings) -> int:
    from handlers.registry import run_command
    from templates import to_terminal

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    store = _store(settings)
    caller = _caller(settings, args)
    print("Roadmap console: type what you would type after /roadmap (`help`, `status`, …); `quit` to leave.")
    while True:
        try:
            line = input("roadmap> ").strip()
        except EOFError:
            print()
            return 0
        if line in ("quit", "exit", "q"):
            return 0
        if line.startswith("/roadmap"):
            line = line[len("/roadmap") :].strip()
        if line:
            sys.stdout.write(to_terminal(run_command(store, line, caller).message))


def cmd_serve(args, settings: Settings) -> int:
    import os
    import shutil

    settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    gunicorn = shutil.which("gunicorn") or "gunicorn"
    argv = [
        gunicorn,
        "bot.web:application()",
        "--bind",
        f"0.0.0.0:{settings.port}",
        "--workers",
        str(args.workers),
        "--threads",
        "8",
        "--timeout",
        "30",
        "--access-logfile",
        "-",
    ]
    os.execv(gunicorn, argv)
    return 0


def cmd_socket(args, settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app

    settings.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    app = create_app(settings, _store(settings))
    SocketModeHandler(app, settings.slack_app_token).start()
    return 0


def cmd_db(args, settings: Settings) -> int:
    from store import db

    engine = db.make_engine(settings.database_url)
    if args.action == "upgrade":
        db.upgrade(engine)
    print(f"schema revision: {db.current_revision(engine) or 'none'}")
    return 0


def cmd_import(args, settings: Settings) -> int:
    from store.roadmap_file import load

    doc = load(args.file)  # validate before touching the store
    store = _store(settings, seed=False)
    try:
        counts = store.transfer.import_doc(doc, replace=args.replace)
    except StoreError as exc:  # e.g. `after` lists that close a cycle with what the store holds
        print(f"roadmap: not imported, nothing was changed: {exc}", file=sys.stderr)
        return 1
    print("imported " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def cmd_export(args, settings: Settings) -> int:
    from store.roadmap_file import dump

    store = _store(settings)
    doc = store.for_roadmap(args.roadmap).transfer.export_doc() if args.roadmap else store.transfer.export_store()
    text = dump(doc)
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"wrote {args.file}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# -- digest and clock ------------------------------------------------------------------------------------------


def _add_digest_commands(sub) -> None:
    dg = sub.add_parser("digest", help="the weekly digest: preview it here, or send it to Slack now")
    dg.add_argument("action", choices=["preview", "send"])
    dg.add_argument("--channel", help="channel id (default: ROADMAP_DIGEST_CHANNEL)")
    dg.add_argument("--json", action="store_true", help="print the Block Kit JSON of each message")
    dg.set_defaults(func=cmd_digest)
    clk = sub.add_parser("clock", help="run the digest scheduler and the source watch (the Procfile's clock:)")
    clk.set_defaults(func=cmd_clock)


def _digest_sender(settings: Settings):
    from bot.slack import make_clients
    from handlers.digest_sender import DigestSender

    clients = make_clients(settings)
    return DigestSender(settings, _store(settings), clients.poster, clients.reader)


def cmd_digest(args, settings: Settings) -> int:
    from templates import to_terminal

    channel = args.channel or settings.digest_channel
    if args.action == "preview":
        parts = _digest_sender(settings).build(channel)
        for number, part in enumerate(parts, start=1):
            if args.json:
                print(json.dumps(part, indent=2, ensure_ascii=False))
            else:
                if len(parts) > 1:
                    print(f"── message {number} of {len(parts)}{' (thread reply)' if number > 1 else ''} ──")
                sys.stdout.write(to_terminal(part))
        return 0
    settings.require("SLACK_BOT_TOKEN")
    if not channel:
        raise SettingsError("ROADMAP_DIGEST_CHANNEL is not set: pass --channel C… or set it")
    outcome = _digest_sender(settings).send_now(channel)
    if outcome.status == "sent":
        print(f"digest posted to {channel} ({outcome.parts} message(s), ts {outcome.message_ts})")
        return 0
    print(f"roadmap: digest not posted to {channel}: {outcome.error}", file=sys.stderr)
    return 1


def cmd_clock(args, settings: Settings) -> int:
    from bot.clock import Clock
    from store.schedule import ScheduleError, trigger

    settings.require("SLACK_BOT_TOKEN")
    try:
        trigger(settings.digest_schedule, settings.timezone)
    except ScheduleError as exc:
        raise SettingsError(f"ROADMAP_DIGEST_SCHEDULE={settings.digest_schedule!r}: {exc}") from exc
    from bot.app import build_services
    from handlers import home  # noqa: F401  (registers the "home" outbox kind and its cluster listener)
    from handlers.digest_sender import DigestSender
    from handlers.fetch import Fetcher
    from handlers.outbox import OutboxWorker
    from handlers.watch_poller import WatchPoller

    services = build_services(settings, _store(settings))
    store, clients = services.store, services.clients
    sender = DigestSender(settings, store, clients.poster, clients.reader)
    poller = WatchPoller(settings, store, clients.poster, Fetcher(allow_private=settings.watch_allow_private))
    from handlers import reminder_actions  # noqa: F401  (its outbox handler: owner notices)
    from handlers.reminder_sender import ReminderSender

    reminders = ReminderSender(settings, store, clients.poster, clients.reader, services.directory)
    Clock(sender, timezone=settings.timezone, outbox=OutboxWorker(services), poller=poller, reminders=reminders).run()
    return 0


# -- brief and chart -------------------------------------------------------------------------------------------


def _add_brief_commands(sub) -> None:
    br = sub.add_parser(
        "brief",
        help="write the briefing note: roadmap brief [cluster] [since DATE] [as of DATE] --format pdf -o FILE",
    )
    br.add_argument("words", nargs="*", help="[cluster] [since YYYY-MM-DD] [as of YYYY-MM-DD], as in Slack")
    br.add_argument("--format", choices=["md", "docx", "pdf"], default=None, help="document format (default: pdf)")
    br.add_argument("-o", "--output", help="file to write (default: a name from the scope and date; - for stdout)")
    br.set_defaults(func=cmd_brief)
    ch = sub.add_parser("chart", help="write the timeline chart (PNG): roadmap chart [cluster] -o FILE.png")
    ch.add_argument("cluster", nargs="?")
    ch.add_argument("-o", "--output", default="roadmap-timeline.png", help="PNG file to write")
    ch.set_defaults(func=cmd_chart)


def _progress_line(label: str):
    """A one-line progress bar on stderr (only where a person watches it)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        filled = int(20 * done / max(total, 1))
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (20 - filled)}] {done}/{total}{end}")
        sys.stderr.flush()

    return show


def _refused(exc) -> int:
    from handlers.commands import sentence

    print(f"roadmap: {sentence(str(exc))}", file=sys.stderr)
    if getattr(exc, "choices", None):
        print(f"valid choices: {', '.join(exc.choices)}", file=sys.stderr)
    return 1


def cmd_brief(args, settings: Settings) -> int:
    from handlers.brief import brief_document, brief_for, parse_brief_args
    from handlers.brief_render import filename
    from store.errors import StoreError

    store = _store(settings)
    try:
        parsed = parse_brief_args(" ".join(args.words), args.format)
        today = datetime.now(settings.tz).date()
        brief = brief_for(store, parsed, today=today, tz=settings.tz, progress=_progress_line("clusters"))
    except StoreError as exc:
        return _refused(exc)
    out = args.output or filename(brief, parsed.fmt)
    chart_name = "" if out == "-" else Path(out).with_suffix(".png").name
    content = brief_document(store, brief, parsed.fmt, tz=settings.tz, chart_name=chart_name)
    if out == "-":
        sys.stdout.buffer.write(content)
        return 0
    Path(out).write_bytes(content)
    if parsed.fmt == "md":  # Markdown links the chart as a file beside it
        from handlers.brief import chart_for

        Path(out).with_suffix(".png").write_bytes(chart_for(store, brief, tz=settings.tz)[0])
    counts = brief.counts()
    print(
        f"wrote {out}: {brief.scope}, as of {brief.as_of.isoformat()}, {counts['pairs']} open pairs, "
        f"{counts['overdue']} overdue, {counts['events']} events, {len(brief.footnotes)} sources",
        file=sys.stderr,
    )
    return 0


def cmd_chart(args, settings: Settings) -> int:
    from handlers.brief import CHART_WEEKS
    from handlers.chart import timeline_png
    from store.errors import StoreError

    store = _store(settings)
    try:
        slug = store.roadmap.resolve_cluster(args.cluster).slug if args.cluster else None
    except StoreError as exc:
        return _refused(exc)
    today = datetime.now(settings.tz).date()
    png, alt = timeline_png(store.timeline.weekly(today=today, tz=settings.tz, weeks=CHART_WEEKS, cluster=slug))
    Path(args.output).write_bytes(png)
    print(f"wrote {args.output}: {alt}", file=sys.stderr)
    return 0
