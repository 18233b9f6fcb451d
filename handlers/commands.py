"""The `/roadmap` command grammar and its answers, in one place, shared by Slack and the `roadmap` console.

A command returns a Reply (a rendered message); it never talks to Slack itself, so what the console
prints is exactly what Slack would show.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo

from handlers.asof import split_as_of, status_as_of
from handlers.directory import Directory
from handlers.web_urls import cluster_url, overview_url, roadmap_base, step_url
from store.api import RoadmapStore
from store.errors import Ambiguous, Invalid, NotFound, RoadmapNotChosen, StoreError, StoreUnavailable
from store.models import STATUSES
from store.names import normalize_status, normalize_step_key, strip_control_chars
from store.when import Conditional, parse_due
from templates import render

# The one wording of each failure a user can meet (slash commands, threads, the digest and the shortcut).
UNAVAILABLE = "The roadmap store is unavailable, try again in a moment. Nothing was changed."
CRASHED = "Something went wrong on our side; nothing was changed. Please try again."


@dataclass(frozen=True)
class Caller:
    """Who is asking, as the bot layer established it (Slack ids, editor rights, local date)."""

    user_id: str = "console"
    channel_id: str | None = None
    # A bool, or a check run only when a command needs it: resolving user groups may ask Slack, and reads
    # (most commands) should not wait for that.
    editor: bool | Callable[[], bool] = True
    editors: tuple[str, ...] = ()
    today: date = field(default_factory=date.today)
    shareable: bool = False  # offer a "Share in channel" button (Slack only)
    roadmap: str | None = None  # the console's --roadmap: the roadmap a command acts on unless it names one
    web_base: str | None = None  # ROADMAP_BASE_URL: status answers link to their web page when it is set
    # ROADMAP_WATCH_ALLOW_PRIVATE: `watch add` may name internal addresses (the fetcher checks again, by DNS).
    watch_allow_private: bool = False
    tz: tzinfo = UTC  # the roadmap's time zone: where a day (as of, due, today) begins and ends
    directory: Directory | None = None  # who exists in Slack, their groups (Slack only; the console has none)
    stale_days: int = 30  # ROADMAP_STALE_DAYS

    @property
    def is_editor(self) -> bool:
        return self.editor() if callable(self.editor) else self.editor


@dataclass
class Reply:
    message: dict
    ok: bool = True

    def slack_payload(self, in_channel: bool = False) -> dict:
        """The reply as an ack()/respond() payload: visible only to the caller unless `in_channel`."""
        return {
            "text": self.message["text"],
            "blocks": self.message["blocks"],
            "response_type": "in_channel" if in_channel else "ephemeral",
        }


@dataclass
class Command:
    """One subcommand of `/roadmap`. `run` answers it from the store (Slack and the console alike); a Slack-only
    command (it posts in the channel) also has `on_slack`, a Bolt listener that handlers.slash routes it to, and
    its `run` explains to the console how to use it in Slack."""

    name: str
    usage: str
    summary: str
    example: str
    run: Callable[[RoadmapStore, str, Caller], Reply]
    editors_only: bool = False
    slack_only: bool = False
    on_slack: Callable[..., None] | None = None
    # False for commands about the store itself (help, roadmaps, use): they get the whole store, unscoped.
    needs_roadmap: bool = True
    # True for answers that write nothing: choosing the roadmap and answering share one data_version read.
    reads_only: bool = False


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    usage: str,
    summary: str,
    example: str = "",
    editors_only: bool = False,
    slack_only: bool = False,
    needs_roadmap: bool = True,
    reads_only: bool = False,
):
    def register(fn: Callable[[RoadmapStore, str, Caller], Reply]):
        COMMANDS[name] = Command(
            name,
            usage,
            summary,
            example,
            fn,
            editors_only,
            slack_only,
            needs_roadmap=needs_roadmap,
            reads_only=reads_only,
        )
        return fn

    return register


def slack_command(name: str):
    """Register the Slack listener of a Slack-only command declared with `@command(..., slack_only=True)`."""

    def register(fn: Callable[..., None]):
        assert COMMANDS[name].slack_only, f"{name} is not declared Slack-only"
        COMMANDS[name].on_slack = fn
        return fn

    return register


def split_roadmap(text: str) -> tuple[str | None, str]:
    """`moldova: status security` → ("moldova", "status security"). A leading word ending in a colon names the
    roadmap: no command, cluster or step id ends in one, so it cannot be mistaken for them."""
    first, _, rest = (text or "").strip().partition(" ")
    if len(first) > 1 and first.endswith(":"):
        return first[:-1].lower(), rest.strip()
    return None, (text or "").strip()


def find_command(text: str) -> Command | None:
    _, text = split_roadmap(text)
    return COMMANDS.get(text.partition(" ")[0].lower() or "help")


def roadmap_of(store: RoadmapStore, named: str | None, caller: Caller) -> RoadmapStore:
    """The store a command acts on: the roadmap the command names, else the console's --roadmap, else the
    channel's binding, else the only roadmap. Raises NotFound or RoadmapNotChosen (answered by store_error)."""
    named = named or caller.roadmap
    return store.for_roadmap(named) if named else store.for_channel(caller.channel_id)


def editor_refusal(caller: Caller, action: str, hint: str | None = None) -> Reply | None:
    """The one editor check: None if the caller may `action`, else the refusal to answer with."""
    if caller.is_editor:
        return None
    return refusal(action, caller.editors, **({"hint": hint} if hint else {}))


def run_command(store: RoadmapStore, text: str, caller: Caller) -> Reply:
    """Answer one command line (the text after `/roadmap`). Never raises for bad input: errors are replies."""
    named, text = split_roadmap(strip_control_chars(text or ""))
    name, _, rest = text.partition(" ")
    name = name.lower()
    if not name:
        name = "help"
    cmd = COMMANDS.get(name)
    if cmd is None:
        names = sorted(COMMANDS)
        hit = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return error(
            f"“{name}” is not a roadmap command.",
            choices=names,
            choices_label="Commands",
            suggestion=hit[0] if hit else None,
        )
    refused = editor_refusal(caller, f"use `{cmd.name}`") if cmd.editors_only else None
    if refused:
        return refused
    try:
        # One version read for the channel's binding and the roadmap ids, and for the answer when it writes
        # nothing (a write inside the snapshot would not be seen by the cached reads after it).
        with store.snapshot():
            scoped = roadmap_of(store, named, caller) if cmd.needs_roadmap else store
            if cmd.reads_only:
                return cmd.run(scoped, rest.strip(), caller)
        return cmd.run(scoped, rest.strip(), caller)
    except StoreError as exc:
        return store_error(exc)


def store_error(exc: StoreError) -> Reply:
    """What a user is told when the store refuses: the valid names, the ambiguity, or the reason."""
    if isinstance(exc, StoreUnavailable):
        return error(UNAVAILABLE)
    if isinstance(exc, RoadmapNotChosen):
        return error(
            "This channel follows no roadmap yet, and several are kept here.",
            choices=exc.slugs,
            choices_label="Roadmaps",
            hint="An editor binds this channel with `/roadmap use <roadmap>`; "
            "or name one in the command: `/roadmap <roadmap>: status`.",
        )
    if isinstance(exc, NotFound):
        return _not_found(exc)
    if isinstance(exc, Ambiguous):
        return error(f"“{exc.term}” matches more than one {exc.kind}.", choices=exc.matches, choices_label="Matches")
    return error(sentence(str(exc)))


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def error(
    message: str,
    *,
    choices: list[str] | None = None,
    choices_label: str = "Valid choices",
    suggestion: str | None = None,
    hint: str = "`/roadmap help` lists every command with an example.",
    who: tuple[str, ...] = (),
) -> Reply:
    data = dict(message=message, choices=choices or [], choices_label=choices_label, suggestion=suggestion, hint=hint)
    data["who"] = list(who)  # Slack ids to mention as whom to ask (rendered by the `user` filter)
    return Reply(render("error.json.j2", data), ok=False)


def refusal(action: str, editors: tuple[str, ...], hint: str = "Reading and logging is open to everyone.") -> Reply:
    """The answer to a non-editor: who can do it instead. Editors are shown as real mentions (the template's
    `user` filter), never as escaped typed text."""
    return error(
        f"Only editors can {action}." + ("" if editors else " Ask one of the roadmap editors."), who=editors, hint=hint
    )


def _not_found(exc: NotFound) -> Reply:
    labels = {"cluster": "Clusters", "step": "Step ids", "status": "Statuses", "side": "Sides", "roadmap": "Roadmaps"}
    choices = exc.choices
    if exc.kind == "step" and len(choices) > 40:
        # Too many to list: the steps of the cluster the term points at, else one entry per cluster prefix.
        prefix = (normalize_step_key(exc.term) or exc.term.upper()).rsplit("-", 1)[0]
        same = [c for c in choices if c.rsplit("-", 1)[0] == prefix]
        choices = same[:40] if same else [f"{p}-…" for p in sorted({c.rsplit("-", 1)[0] for c in choices})]
    return error(
        f"There is no {exc.kind} “{exc.term}”.",
        choices=choices,
        choices_label=labels.get(exc.kind, "Valid choices"),
        suggestion=exc.suggestion,
    )


def status_then_text(word: str, rest: str) -> tuple[str, str]:
    """A status typed as one word or as the two words `in progress`, and the text that follows it."""
    if word.lower() == "in" and rest.lower().split(" ", 1)[0] == "progress":
        return "in_progress", rest[len("progress") :].strip()
    return word, rest


def share_command(caller: Caller, text: str) -> str | None:
    """The command a "Share in channel" button runs again, when the caller can share (Slack only)."""
    return text if caller.shareable else None


# -- commands -----------------------------------------------------------------------------------------------


@command("help", "/roadmap help", "this list", needs_roadmap=False)
def _help(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    try:  # help works in a channel that follows no roadmap yet: it says how to choose one
        store = roadmap_of(store, None, caller)
    except RoadmapNotChosen:
        store = None
    info = store.roadmap.info() if store else {}
    commands = [c for c in COMMANDS.values()]
    data = dict(
        title=info.get("title", "Roadmap bot"),
        commands=commands,
        clusters=[c.slug for c in store.roadmap.clusters()] if store else [],
        statuses=[s.replace("_", " ") for s in STATUSES],
        editor=caller.is_editor,
    )
    return Reply(render("help.json.j2", data))


@command(
    "status",
    "/roadmap status [cluster | STEP-ID] [as of YYYY-MM-DD]",
    "progress of every cluster, one cluster's steps and pairs, or one step with its history",
    "/roadmap status security",
    reads_only=True,
)
def _status(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    with store.snapshot():  # read-only: one data_version read for the whole answer
        return _status_reply(store, rest, caller)


def _web_base(store: RoadmapStore, caller: Caller) -> str | None:
    """Where this roadmap's web pages are: ROADMAP_BASE_URL, under /r/<slug> when the store holds several."""
    if not caller.web_base:
        return None
    several = len(store.roadmaps.all()) > 1
    return roadmap_base(caller.web_base, store.roadmap.info().get("slug") if several else None)


def _status_reply(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    share = share_command(caller, f"status {rest}".strip())
    rest, as_of = split_as_of(rest)
    if as_of is not None:
        name, data = status_as_of(store, rest, as_of, tz=caller.tz, today=caller.today)
        return Reply(render(name, dict(data, share=share)))
    base = _web_base(store, caller)
    if not rest:
        data = dict(title=store.roadmap.title(), clusters=store.roadmap.cluster_overview(), share=share)
        data["web"] = overview_url(base) if base else None
        return Reply(render("status_overview.json.j2", data, memo=True))
    key = normalize_step_key(rest)
    if key:  # step ids carry a number; cluster names never do
        d = store.roadmap.step_detail(key)
        data = dict(step=d.step, pairs=d.pairs, history=d.history, developments=d.developments)
        data["web"] = step_url(base, d.step.key) if base else None
        data["account"] = store.ledger.step_account(key, caller.today)
        data["owners"] = store.owners.of_step(key)
        # The buttons open the step's forms: Slack only (the console has nothing to click).
        data.update(today=caller.today, share=share, roadmap_id=store.scope.id if caller.shareable else None)
        return Reply(render("status_step.json.j2", data, memo=True))
    cluster = store.roadmap.resolve_cluster(rest)
    d = store.roadmap.cluster_detail(cluster.slug)
    data = dict(
        d.shown(),
        web=cluster_url(base, d.cluster.slug) if base else None,
        blocked=store.sequencing.blocked(cluster.slug),
    )
    return Reply(render("status_cluster.json.j2", dict(data, today=caller.today, share=share), memo=True))


@command(
    "log",
    "/roadmap log <cluster | STEP-ID> [YYYY-MM-DD] <text>",
    "record a development (anyone); the date defaults to today",
    "/roadmap log SEC-1 Minsk restates its no-aggression pledge",
)
def _log(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    target, _, text = rest.partition(" ")
    if not target or not text.strip():
        raise Invalid("say where and what: `/roadmap log <cluster | STEP-ID> <text>`")
    occurred_on, text = _leading_date(text.strip())
    key = normalize_step_key(target)
    # Step ids carry a number; cluster names never do (an unknown id gets the step choices).
    where = dict(step=key) if key else dict(cluster=store.roadmap.resolve_cluster(target).slug)
    recorded = store.developments.record(
        text=text, author=caller.user_id, occurred_on=occurred_on, today=caller.today, **where
    )
    title = store.roadmap.cluster_title(recorded.development.cluster)
    data = dict(development=recorded.development, created=recorded.created, cluster_title=title)
    return Reply(render("recorded.json.j2", data))


@command(
    "set",
    "/roadmap set <STEP-ID> <status> [note]",
    "change a step's status (editors); recorded in its history",
    "/roadmap set ECO-2 agreed signed in Minsk",
    editors_only=True,
)
def _set(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    parts = rest.split(maxsplit=2)
    if len(parts) < 2:
        raise Invalid(f"say which step and which status: `/roadmap set <STEP-ID> <{' | '.join(STATUSES)}> [note]`")
    key, status_word = parts[0], parts[1]
    note = parts[2] if len(parts) > 2 else ""
    status_word, note = status_then_text(status_word, note)
    status = normalize_status(status_word)
    change = store.steps.set_status(key, status, actor=caller.user_id, note=note.strip())
    return Reply(status_set_message(store, change, note.strip(), caller.user_id))


def status_set_message(store: RoadmapStore, change, note: str, actor: str) -> dict:
    """The answer to a status change, whichever door it came through (command, App Home form)."""
    data = dict(
        unblocked=store.sequencing.unblocked_by(change.step.key) if change.changed else [],
        step=change.step,
        old_status=change.old_status,
        changed=change.changed,
        note=note,
        actor=actor,
    )
    return render("status_set.json.j2", data)


@command(
    "due",
    "/roadmap due <STEP-ID> <YYYY-MM-DD | next friday | in 2 weeks | end of month | 14d after STEP-ID | none> [note]",
    "set or clear a step's due date (editors), or make it fall due some days after another step is done",
    "/roadmap due ECO-1 2026-03-31 agreed at the working group",
    editors_only=True,
)
def _due(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    key, _, when = rest.partition(" ")
    if not key or not when.strip():
        raise Invalid("say which step and which date: `/roadmap due <STEP-ID> <YYYY-MM-DD | none> [note]`")
    due_on, note = parse_due(when, caller.today)
    if isinstance(due_on, Conditional):
        rule = store.owners.set_due_rule(key, due_on.days, due_on.after, actor=caller.user_id)
        view = store.owners.of_step(rule.step)
        return Reply(render("due_rule.json.j2", dict(rule=rule, step=view.step, owners=view.effective)))
    store.owners.clear_due_rule(key, actor=caller.user_id)  # a date given outright replaces one waiting
    change = store.steps.set_due(key, due_on, actor=caller.user_id, note=note)
    data = dict(
        step=change.step,
        old_due=change.old_due,
        changed=change.changed,
        note=note.strip(),
        actor=caller.user_id,
        today=caller.today,
    )
    return Reply(render("status_due.json.j2", data))


@command(
    "commitments",
    "/roadmap commitments [side]",
    "open reciprocal commitments and who owes the next move",
    "/roadmap commitments Belarus",
    reads_only=True,
)
def _commitments(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    side = store.roadmap.resolve_side(rest) if rest else None
    groups = store.roadmap.open_commitments(side.code if side else None)
    data = dict(
        groups=groups,
        side=side,
        sides=", ".join(s.code for s in store.roadmap.sides()),  # plain text, so the render memo can match
        share=share_command(caller, f"commitments {rest}".strip()),
    )
    return Reply(render("commitments.json.j2", data, memo=True))


@command("find", "/roadmap find <words>", "search steps and developments", "/roadmap find prisoners", reads_only=True)
def _find(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    result = store.search(rest)
    data = dict(result=result, today=caller.today, share=share_command(caller, f"find {rest}"))
    return Reply(render("find.json.j2", data, memo=True))


_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+(.*)$", re.S)


def _leading_date(text: str) -> tuple[date | None, str]:
    """An optional YYYY-MM-DD before the text (whether it is in the future is the store's rule)."""
    m = _DATE.match(text)
    if not m:
        return None, text
    try:
        when = date.fromisoformat(m.group(1))
    except ValueError as exc:
        raise Invalid(f"{m.group(1)} is not a real date (YYYY-MM-DD)") from exc
    return when, m.group(2).strip()


@command(
    "digest",
    '/roadmap digest [preview | now | schedule <cron | "mon 09:00"> | off]',
    "the weekly digest of open commitments: preview it, post it now, or schedule it for this channel (editors)",
    "/roadmap digest schedule mon 09:00",
    slack_only=True,
)
def _digest(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    return error(
        "The digest is posted by the bot in Slack (`/roadmap digest preview`).",
        hint="In a terminal: `roadmap digest preview` shows it, `roadmap digest send` posts it.",
    )


@command(
    "threads",
    "/roadmap threads",
    "post one thread per cluster in this channel; replies there become developments (Slack only, editors)",
    editors_only=True,
    slack_only=True,
)
def _threads(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    return error(
        "`threads` only works in Slack: run `/roadmap threads` in a channel to post one thread per cluster there; "
        "replies in those threads are recorded as developments.",
        hint="In the console, record a development with `log <cluster | STEP-ID> <text>`.",
    )
