"""Charts for operators (PNG), drawn with matplotlib's object API (no pyplot state, so charts may be drawn
off the event loop's thread) and the Noto Sans CJK font that mplfonts ships, so Chinese labels render
without any system font. matplotlib is imported on the first chart only.

The activity chart is read at a glance in a chat window, so: one kind of figure per axis (counts never
share an axis with a percentage), whole-number ticks on counts, legends above the plots where they cover
nothing, and the days before the bot joined the group left blank (nothing was counted; that is not zero).
"""

from __future__ import annotations

import math
from datetime import date
from functools import lru_cache
from pathlib import Path

MESSAGES, ACTIVE, RATE, JOINS, LEAVES = "#8ecae6", "#fb8500", "#219ebc", "#2a9d8f", "#e76f51"
BEFORE = "#f2f2f2"  # the days before the bot joined


@lru_cache(maxsize=1)
def _matplotlib():
    import matplotlib
    from importlib.resources import files

    from matplotlib import font_manager, ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font = files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"
    font_manager.fontManager.addfont(str(font))
    matplotlib.rcParams["font.family"] = font_manager.FontProperties(fname=str(font)).get_name()
    matplotlib.rcParams["axes.unicode_minus"] = False
    return Figure, FigureCanvasAgg, ticker


def activity_chart(series: list[dict], title: str, path: Path, born: date | None = None) -> Path:
    """Draw ``series`` (one row a day: messages, active, checkin, joins, leaves) into ``path``; days before
    ``born`` (the day the bot first saw the group) stay blank."""
    fig = draw_activity(series, title, born)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def draw_activity(series: list[dict], title: str, born: date | None = None):
    """The activity chart as a matplotlib Figure: messages (bars) and members who spoke (line, its own axis)
    on top, the check-in rate in percent in the middle, members joining and leaving below."""
    Figure, FigureCanvasAgg, ticker = _matplotlib()
    days = list(range(len(series)))
    counted = [born is None or row["day"] >= born for row in series]

    def values(key: str, sign: int = 1) -> list[float]:
        return [sign * row[key] if seen else math.nan for row, seen in zip(series, counted)]

    fig = Figure(figsize=(9, 7))
    FigureCanvasAgg(fig)
    # Fixed margins (tight_layout cost more than the drawing); the gaps between panels hold their legends.
    top, middle, bottom = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.5, 1.5]})
    fig.subplots_adjust(left=0.08, right=0.92, top=0.89, bottom=0.07, hspace=0.32)
    fig.suptitle(title, fontsize=13)

    top.bar(days, values("messages"), color=MESSAGES, label="消息数")
    top.set_ylabel("消息数")
    speakers = top.twinx()
    speakers.plot(days, values("active"), color=ACTIVE, marker="o", markersize=3, label="发言人数")
    speakers.set_ylabel("发言人数", color=ACTIVE)
    speakers.tick_params(axis="y", colors=ACTIVE)
    _legend_above(top, top, speakers)

    rate = [100 * row["checkin"] / row["active"] if seen and row["active"] else math.nan
            for row, seen in zip(series, counted)]  # no one spoke: no rate (not 0%)
    middle.plot(days, rate, color=RATE, marker=".", label="签到率（签到人数 ÷ 发言人数）")
    middle.set_ylim(0, 105)
    middle.set_yticks([0, 50, 100])
    middle.yaxis.set_major_formatter(ticker.PercentFormatter(100, decimals=0))
    _legend_above(middle, middle)

    bottom.bar(days, values("joins"), color=JOINS, label="入群")
    bottom.bar(days, values("leaves", -1), color=LEAVES, label="退群")
    bottom.axhline(0, color="#999999", linewidth=0.8)
    bottom.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{abs(v):.0f}"))  # leaves drawn down, read as counts
    _legend_above(bottom, bottom)

    _shared_count_ticks(top, values("messages"), speakers, values("active"))
    bottom.yaxis.set_major_locator(ticker.MaxNLocator(nbins=4, integer=True, symmetric=True))
    _symmetric_counts(bottom, values("joins"), values("leaves"))
    for axis in (top, middle, bottom):
        axis.grid(axis="y", color="#e6e6e6", linewidth=0.6)
        axis.set_axisbelow(True)
        axis.set_xlim(-0.6, len(series) - 0.4)
    _shade_before(counted, (top, middle, bottom))
    # About six dates, evenly spaced back from the last day (thirty category ticks cost most of the drawing time).
    marks = list(range(len(series) - 1, -1, -max(1, round(len(series) / 6))))[::-1]
    bottom.set_xticks(marks, [series[i]["day"].strftime("%m-%d") for i in marks])
    return fig


def _legend_above(axis, *sources) -> None:
    """One legend for ``sources``, in a row just above ``axis``: outside the plot, so it hides no bar or point."""
    handles = [h for source in sources for h in source.get_legend_handles_labels()[0]]
    labels = [label for source in sources for label in source.get_legend_handles_labels()[1]]
    axis.legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(handles), frameon=False,
                borderaxespad=0.1, fontsize=9, handlelength=1.5)


def _nice_step(at_least: float) -> int:
    """The smallest whole step of 1, 2, 2.5 or 5 times a power of ten (2.5 from 25 up) that is ``at_least``."""
    power = 1
    while True:
        for factor in (1, 2, 2.5, 5):
            step = factor * power
            if step == int(step) and step >= at_least:
                return int(step)
        power *= 10


def _shared_count_ticks(left, left_values: list[float], right, right_values: list[float]) -> None:
    """Both count axes from zero, in whole numbers, with the same number of steps: the right axis' ticks fall
    on the left axis' grid lines, and a group with nothing to count still gets a readable 0–1 axis."""
    peaks = [max([v for v in values if not math.isnan(v)], default=0) * 1.05 for values in (left_values, right_values)]
    # As few wasted heights as possible on the left (the bars), about four steps.
    steps = min(range(3, 7), key=lambda n: (n * _nice_step(peaks[0] / n), abs(n - 4)))
    for axis, peak in zip((left, right), peaks):
        step = _nice_step(peak / steps)
        axis.set_ylim(0, steps * step)
        axis.set_yticks([k * step for k in range(steps + 1)])


def _symmetric_counts(axis, joins: list[float], leaves: list[float]) -> None:
    seen = [v for v in joins + leaves if not math.isnan(v)]
    reach = max(1.0, max(seen, default=0) * 1.15)
    axis.set_ylim(-reach, reach)


def _shade_before(counted: list[bool], axes) -> None:
    """Grey out the days before the bot joined, and say so where there is room."""
    first = counted.index(True) if True in counted else len(counted)
    if not first:
        return
    for axis in axes:
        axis.axvspan(-0.6, first - 0.5, color=BEFORE, zorder=0, linewidth=0)
    if first >= 4:
        axes[0].text((first - 1.1) / 2, 0.5, "机器人入群前\n没有数据", transform=axes[0].get_xaxis_transform(),
                     ha="center", va="center", color="#888888", fontsize=10)
