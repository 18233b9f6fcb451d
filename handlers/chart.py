"""The timeline chart: developments per cluster per week (one row per cluster, bars stacked by the side of the
step they name) with status changes marked, rendered server-side with matplotlib's Agg canvas (no display, no
pyplot state shared between threads). Sides differ by hatching and marker shape as well as by colour, so the chart
reads in greyscale and for colour-blind readers; the alt text says the same in words."""

from __future__ import annotations

import io
from datetime import timedelta

from store.views import Timeline

# Per side, in roadmap order: (colour, hatch, marker). Developments of the cluster itself (no step) are plain grey.
STYLES = (("#1d3557", "///", "^"), ("#e76f51", "...", "o"), ("#2a9d8f", "xx", "s"), ("#8d6a9f", "\\\\", "D"))
CLUSTER_STYLE = ("#bbbbbb", "", "")


def side_styles(timeline: Timeline) -> dict[str, tuple[str, str, str]]:
    styles = {s.code: STYLES[i % len(STYLES)] for i, s in enumerate(timeline.sides)}
    styles[""] = CLUSTER_STYLE
    return styles


def alt_text(timeline: Timeline) -> str:
    end = timeline.start + timedelta(weeks=timeline.weeks) - timedelta(days=1)
    parts = []
    for c in timeline.clusters:
        n = sum(x.count for x in timeline.counts if x.cluster == c.slug)
        changes = sum(1 for x in timeline.changes if x.cluster == c.slug)
        parts.append(
            f"{c.title}: {n} development{'s' if n != 1 else ''}, {changes} status change{'s' if changes != 1 else ''}"
        )
    head = f"Developments per week by cluster, {timeline.start.isoformat()} to {end.isoformat()}"
    return (head + ". " + "; ".join(parts) + ".")[:1000]


def timeline_png(timeline: Timeline) -> tuple[bytes, str]:
    """The chart as PNG bytes and its alt text."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    styles = side_styles(timeline)
    names = {s.code: s.name for s in timeline.sides}
    rows = max(len(timeline.clusters), 1)
    fig = Figure(figsize=(10, 1.1 + 1.25 * rows), dpi=100)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    weeks = list(range(timeline.weeks))
    used: set[str] = set()
    for ax, c in zip(axes, timeline.clusters, strict=False):
        bottom = [0] * timeline.weeks
        for code in [*(s.code for s in timeline.sides), ""]:
            heights = [0] * timeline.weeks
            for x in timeline.counts:
                if x.cluster == c.slug and x.side == code:
                    heights[(x.week - timeline.start).days // 7] += x.count
            if any(heights):
                colour, hatch, _ = styles[code]
                ax.bar(weeks, heights, bottom=bottom, color=colour, hatch=hatch, edgecolor="white", linewidth=0.5)
                bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
                used.add(code)
        top = max([*bottom, 1])
        for ch in (x for x in timeline.changes if x.cluster == c.slug):
            colour, _, marker = styles.get(ch.side, CLUSTER_STYLE)
            pos = (ch.on - timeline.start).days / 7 - 0.5
            ax.scatter([pos], [top * 1.15], marker=marker or "o", s=45, color=colour, edgecolors="black", zorder=3)
            used.add(f"change:{ch.side}")
        ax.set_ylim(0, top * 1.35)
        ax.set_ylabel(c.slug, rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))  # counts are whole numbers
        ax.spines[["top", "right"]].set_visible(False)
    labels = [(timeline.start + timedelta(weeks=w)).strftime("%d %b") for w in weeks]
    axes[-1].set_xticks(weeks, labels, fontsize=8)
    handles = [
        Patch(facecolor=styles[code][0], hatch=styles[code][1], edgecolor="white", label=names.get(code, "cluster"))
        for code in [*(s.code for s in timeline.sides), ""]
        if code in used
    ]
    handles += [
        Line2D(
            [],
            [],
            linestyle="",
            marker=styles[s.code][2],
            color=styles[s.code][0],
            markeredgecolor="black",
            label=f"status change: {s.name}",
        )
        for s in timeline.sides
        if f"change:{s.code}" in used
    ]
    fig.suptitle("Developments per week (bars, by side) and status changes (markers)", fontsize=11)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 0.95))
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue(), alt_text(timeline)
