"""The activity chart reads at a glance: checked on what is drawn (series, axes, legends), not on pixels."""

import math
from datetime import date, timedelta

import pytest

from bot.charts import draw_activity

TODAY = date(2026, 12, 3)


def series(days: int = 30, born_index: int = 0) -> list[dict]:
    rows = []
    for i in range(days):
        counted = i >= born_index
        active = (40 + i % 7) if counted and i % 10 != 3 else 0  # a day in ten nobody speaks
        rows.append({"day": TODAY - timedelta(days=days - 1 - i), "messages": 9 * active + (3 if counted else 0),
                     "active": active, "checkin": active // 2, "joins": (i % 4) if counted else 0,
                     "leaves": (i % 3 == 0) if counted else 0})
    return rows


def panels(fig):
    """{name: axes} by what each axis shows."""
    found = {}
    for axis in fig.axes:
        labels = [t.get_text() for t in (axis.get_legend().get_texts() if axis.get_legend() else [])]
        if "消息数" in labels:
            found["top"] = axis
        elif any(label.startswith("签到率") for label in labels):
            found["rate"] = axis
        elif "入群" in labels:
            found["moves"] = axis
        else:
            found["speakers"] = axis  # the twin axis: its series is in the top panel's legend
    return found


def ydata(axis) -> list[float]:
    [line] = [line for line in axis.get_lines() if len(line.get_xdata()) > 2]
    return list(line.get_ydata())


@pytest.mark.parametrize("born_index", [0, 18])
def test_each_figure_on_its_own_axis_with_whole_numbers_where_it_counts(born_index):
    rows = series(born_index=born_index)
    fig = draw_activity(rows, "近 30 天群活跃度", rows[born_index]["day"] if born_index else None)
    axes = panels(fig)
    assert set(axes) == {"top", "speakers", "rate", "moves"}
    # Counts and a rate never share an axis: the rate's axis holds the rate alone, from 0 to 100%.
    assert len([line for line in axes["rate"].get_lines() if len(line.get_xdata()) > 2]) == 1
    assert axes["rate"].get_ylim() == (0, 105) and axes["rate"].yaxis.get_major_formatter().format_pct(50, 100) == "50%"
    assert [line for line in axes["moves"].get_lines() if len(line.get_xdata()) > 2] == []  # joins and leaves are bars
    fig.canvas.draw()
    for name in ("top", "speakers", "moves"):
        ticks = [t for t in axes[name].get_yticks() if axes[name].get_ylim()[0] <= t <= axes[name].get_ylim()[1]]
        assert ticks and all(t == int(t) for t in ticks), (name, ticks)
        assert all(label.get_text().lstrip("−-").isdigit() for label in axes[name].get_yticklabels() if label.get_text())
    # The two count axes of the top panel share their grid: as many steps each, from zero.
    assert len(axes["top"].get_yticks()) == len(axes["speakers"].get_yticks()) and axes["speakers"].get_ylim()[0] == 0
    assert max(r["messages"] for r in rows) <= axes["top"].get_ylim()[1]


def test_legends_cover_no_plot():
    fig = draw_activity(series(), "近 30 天群活跃度")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [axis.get_legend() for axis in fig.axes if axis.get_legend()]
    assert len(legends) == 3
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for axis in fig.axes:
            plot = axis.get_window_extent(renderer)
            inside = box.intersection(box, plot)
            assert inside is None or inside.width * inside.height < 1, (legend.get_texts()[0].get_text(), box, plot)


def test_days_before_the_bot_joined_are_not_drawn_as_zeros():
    rows = series(born_index=18)
    fig = draw_activity(rows, "近 30 天群活跃度", rows[18]["day"])
    axes = panels(fig)
    bars = [bar.get_height() for bar in axes["top"].containers[0]]
    assert all(math.isnan(h) for h in bars[:18]) and not any(math.isnan(h) for h in bars[18:])
    speakers, rate = ydata(axes["speakers"]), ydata(axes["rate"])
    assert all(math.isnan(v) for v in speakers[:18] + rate[:18])
    assert speakers[18:] == [r["active"] for r in rows[18:]]
    # A day nobody spoke has no check-in rate (0 of 0 is not 0%); the others have theirs.
    for row, value in zip(rows[18:], rate[18:]):
        assert math.isnan(value) if row["active"] == 0 else value == pytest.approx(100 * row["checkin"] / row["active"])
    assert any("机器人入群前" in text.get_text() for text in axes["top"].texts)
    for name in ("moves",):
        assert all(math.isnan(bar.get_height()) for container in axes[name].containers for bar in list(container)[:18])


def test_a_group_with_nothing_to_count_still_gets_readable_axes():
    rows = [{**row, "messages": 0, "active": 0, "checkin": 0, "joins": 0, "leaves": 0} for row in series(days=7)]
    axes = panels(draw_activity(rows, "近 7 天群活跃度"))
    assert axes["top"].get_ylim() == (0, 3) and list(axes["top"].get_yticks()) == [0, 1, 2, 3]
    assert len(axes["moves"].get_xticklabels()) == 7  # a week: every day named
