"""The timeline chart's data (developments per cluster per week by side, status changes; on both databases) and the
picture: a PNG whose sides differ by hatching and marker shape as well as colour, with alt text in words."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import time_machine
from PIL import Image

from handlers.chart import alt_text, side_styles, timeline_png
from store.timeline import monday

NY = ZoneInfo("America/New_York")
TODAY = date(2026, 3, 18)  # a Wednesday


def test_developments_are_counted_per_cluster_week_and_side(store):
    record = store.developments.record
    record(text="a", author="U1", step="SEC-1", occurred_on=date(2026, 3, 16), today=TODAY)  # Belarus, this week
    record(text="b", author="U1", step="SEC-5", occurred_on=date(2026, 3, 17), today=TODAY)  # Belarus, this week
    record(text="c", author="U1", step="SEC-2", occurred_on=date(2026, 3, 15), today=TODAY)  # US, last week (Sunday)
    record(text="d", author="U1", cluster="security", occurred_on=date(2026, 1, 1), today=TODAY)  # 11 weeks back
    record(text="e", author="U1", cluster="security", occurred_on=date(2025, 12, 21), today=TODAY)  # too old
    with time_machine.travel(datetime(2026, 3, 10, 15, tzinfo=UTC), tick=False):
        store.steps.set_status("SEC-2", "agreed", actor="U1")
    t = store.timeline.weekly(today=TODAY, tz=NY, weeks=12, cluster="security")
    assert t.start == date(2025, 12, 29) and [c.slug for c in t.clusters] == ["security"]
    counts = {(x.week, x.side): x.count for x in t.counts}
    this_week = monday(TODAY)
    assert counts.pop((this_week, "BY")) == 2
    assert counts.pop((date(2026, 3, 9), "US")) == 1
    assert counts.pop((date(2025, 12, 29), "")) == 1
    assert counts == {}
    (change,) = t.changes
    assert (change.step, change.side, change.status, change.on) == ("SEC-2", "US", "agreed", date(2026, 3, 10))


def test_sides_differ_without_colour():
    from store.views import SideView, Timeline

    t = Timeline(date(2026, 1, 5), 12, [], [SideView("US", "United States"), SideView("BY", "Belarus"),
                                           SideView("NATO", "NATO")], [], [])  # fmt: skip
    styles = side_styles(t)
    sides = [styles[c] for c in ("US", "BY", "NATO")]
    assert len({hatch for _, hatch, _ in sides}) == 3 and len({marker for _, _, marker in sides}) == 3
    assert all(hatch for _, hatch, _ in sides)


def test_the_chart_is_a_png_with_alt_text_in_words(store):
    store.developments.record(text="a", author="U1", step="SEC-1", occurred_on=date(2026, 3, 16), today=TODAY)
    t = store.timeline.weekly(today=TODAY, tz=NY)
    png, alt = timeline_png(t)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] >= 800
    assert alt == alt_text(t)
    assert alt.startswith("Developments per week by cluster, 2025-12-29 to 2026-03-22.")
    assert "Security cooperation: 1 development, 0 status changes" in alt
    assert "Economic ties and sanctions relief: 0 developments" in alt
