"""`/roadmap brief …` and `/roadmap chart …`: the briefing note as a document and the timeline chart as a picture,
uploaded to the channel. Both answer at once ("Preparing…") and do the slow part (building, rendering, uploading)
after the answer; an upload that fails is explained to the caller in one sentence.

/roadmap brief [cluster] [since YYYY-MM-DD] [as of YYYY-MM-DD] [pdf | docx | md]
/roadmap chart [cluster]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, tzinfo

from handlers.asof import parse_day
from handlers.brief_build import Brief, build_brief
from handlers.brief_render import filename, render_brief
from handlers.chart import alt_text, timeline_png
from handlers.commands import CRASHED, Caller, Reply, command, error, slack_command, split_roadmap, store_error
from handlers.context import Services
from handlers.uploads import UploadFailed, upload
from store.api import RoadmapStore
from store.errors import StoreError
from templates import render

log = logging.getLogger(__name__)

DEFAULT_FORMAT = "pdf"
CHART_WEEKS = 12
_FORMAT_WORDS = {"md": "md", "markdown": "md", "docx": "docx", "word": "docx", "pdf": "pdf"}
_DATED = re.compile(r"\b(?P<kind>since|as\s+of)\s+(?P<day>\S+)", re.I)


@dataclass(frozen=True)
class BriefArgs:
    cluster: str | None = None
    since: date | None = None
    as_of: date | None = None
    fmt: str = DEFAULT_FORMAT


def parse_brief_args(text: str, fmt: str | None = None) -> BriefArgs:
    """`security since 2025-06-01 as of 2025-07-01 docx` → its parts (in any order); the rest names the cluster."""
    found: dict[str, date] = {}

    def take(m: re.Match) -> str:
        kind = "since" if m.group("kind").lower() == "since" else "as_of"
        found[kind] = parse_day(m.group("day"), "date after “" + " ".join(m.group("kind").split()) + "”")
        return " "

    rest = _DATED.sub(take, text or "")
    words = []
    for word in rest.split():
        if word.lower().lstrip("-") in _FORMAT_WORDS and fmt is None:
            fmt = _FORMAT_WORDS[word.lower().lstrip("-")]
        else:
            words.append(word)
    return BriefArgs(" ".join(words) or None, found.get("since"), found.get("as_of"), fmt or DEFAULT_FORMAT)


def brief_for(
    store: RoadmapStore, args: BriefArgs, *, today: date, tz: tzinfo, progress: Callable[[int, int], None] | None = None
) -> Brief:
    return build_brief(
        store, today=today, tz=tz, cluster=args.cluster, since=args.since, as_of=args.as_of, progress=progress
    )


def chart_for(store: RoadmapStore, brief: Brief, *, tz: tzinfo) -> tuple[bytes, str]:
    """The timeline chart of the brief's scope, the 12 weeks up to its as-of day."""
    slug = brief.clusters[0].cluster.slug if brief.scope != "All clusters" else None
    return timeline_png(store.timeline.weekly(today=brief.as_of, tz=tz, weeks=CHART_WEEKS, cluster=slug))


def brief_document(store: RoadmapStore, brief: Brief, fmt: str, *, tz: tzinfo, chart_name: str = "") -> bytes:
    """The brief's bytes in `fmt`, with the timeline chart (Markdown: linked as `chart_name`, if given)."""
    if fmt == "md" and not chart_name:
        return render_brief(brief, fmt)
    return render_brief(brief, fmt, chart_for(store, brief, tz=tz), chart_name)


def comment(brief: Brief, fmt: str) -> str:
    """The short message the document is posted with."""
    return render("brief_notice.json.j2", dict(kind="comment", brief=brief, counts=brief.counts(), fmt=fmt))["text"]


# -- commands --------------------------------------------------------------------------------------------------


@command(
    "brief",
    "/roadmap brief [cluster] [since YYYY-MM-DD] [as of YYYY-MM-DD] [pdf | docx | md]",
    "a briefing note (PDF, DOCX or Markdown) with every statement footnoted to its source, uploaded here",
    "/roadmap brief security since 2025-06-01 docx",
    slack_only=True,
)
def _brief(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    args = parse_brief_args(rest)
    brief = brief_for(store, args, today=caller.today, tz=caller.tz)
    data = dict(kind="summary", brief=brief, counts=brief.counts(), fmt=args.fmt, file=filename(brief, args.fmt))
    return Reply(render("brief_notice.json.j2", data))


@command(
    "chart",
    "/roadmap chart [cluster]",
    f"a timeline chart: developments per cluster per week over the last {CHART_WEEKS} weeks, status changes marked",
    "/roadmap chart security",
    slack_only=True,
)
def _chart(store: RoadmapStore, rest: str, caller: Caller) -> Reply:
    slug = store.roadmap.resolve_cluster(rest).slug if rest else None
    timeline = store.timeline.weekly(today=caller.today, tz=caller.tz, weeks=CHART_WEEKS, cluster=slug)
    return Reply(render("brief_notice.json.j2", dict(kind="chart_summary", alt=alt_text(timeline))))


@slack_command("brief")
def on_brief_command(ack, command: dict, respond, services: Services, caller: Caller, store: RoadmapStore) -> None:
    channel = command.get("channel_id")
    _, _, rest = split_roadmap(command.get("text") or "")[1].partition(" ")
    try:
        args = parse_brief_args(rest)
        if args.cluster:
            store.roadmap.resolve_cluster(args.cluster)  # a bad name is answered now, not after "Preparing…"
        if args.as_of:
            store.asof.check(args.as_of, today=caller.today, tz=caller.tz)
    except StoreError as exc:
        return ack(**store_error(exc).slack_payload())
    if not channel:
        return ack(**error("Run `/roadmap brief` in the channel the document should go to.").slack_payload())
    ack(**render("brief_notice.json.j2", dict(kind="preparing", what="brief")), response_type="ephemeral")

    def work() -> None:
        try:
            brief = brief_for(store, args, today=caller.today, tz=caller.tz)
            content = brief_document(store, brief, args.fmt, tz=caller.tz)
            upload(
                services.clients.poster,
                channel=channel,
                content=content,
                filename=filename(brief, args.fmt),
                title=f"{brief.title} — briefing note ({brief.scope}, as of {brief.as_of.isoformat()})",
                comment=comment(brief, args.fmt),
            )
        except Exception as exc:
            _tell_failure(respond, "brief", exc)

    services.after_response(work, "brief")


@slack_command("chart")
def on_chart_command(ack, command: dict, respond, services: Services, caller: Caller, store: RoadmapStore) -> None:
    channel = command.get("channel_id")
    _, _, rest = split_roadmap(command.get("text") or "")[1].partition(" ")
    try:
        slug = store.roadmap.resolve_cluster(rest.strip()).slug if rest.strip() else None
    except StoreError as exc:
        return ack(**store_error(exc).slack_payload())
    if not channel:
        return ack(**error("Run `/roadmap chart` in the channel the chart should go to.").slack_payload())
    ack(**render("brief_notice.json.j2", dict(kind="preparing", what="chart")), response_type="ephemeral")

    def work() -> None:
        try:
            timeline = store.timeline.weekly(today=caller.today, tz=caller.tz, weeks=CHART_WEEKS, cluster=slug)
            png, alt = timeline_png(timeline)
            upload(
                services.clients.poster,
                channel=channel,
                content=png,
                filename=f"roadmap-timeline-{slug or 'all'}-{caller.today.isoformat()}.png",
                title=f"Roadmap timeline, last {CHART_WEEKS} weeks" + (f" ({slug})" if slug else ""),
                comment=render("brief_notice.json.j2", dict(kind="chart_comment", slug=slug))["text"],
                alt_text=alt,
            )
        except Exception as exc:
            _tell_failure(respond, "chart", exc)

    services.after_response(work, "chart")


def _tell_failure(respond, what: str, exc: Exception) -> None:
    """Say plainly why nothing was uploaded (a bug is logged in full and gets the general sentence)."""
    if isinstance(exc, UploadFailed):
        reason = str(exc)
    elif isinstance(exc, StoreError):
        reason = store_error(exc).message["text"]
    else:
        log.exception("%s failed", what)
        reason = CRASHED
    data = dict(kind="failed", what=what, reason=reason)
    respond(**render("brief_notice.json.j2", data), response_type="ephemeral", replace_original=False)
