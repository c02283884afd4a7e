"""Charts for operators (PNG), drawn with matplotlib's object API (no pyplot state, so charts may be drawn
off the event loop's thread) and the Noto Sans CJK font that mplfonts ships, so Chinese labels render
without any system font. matplotlib is imported on the first chart only."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _matplotlib():
    import matplotlib
    from importlib.resources import files

    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font = files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"
    font_manager.fontManager.addfont(str(font))
    matplotlib.rcParams["font.family"] = font_manager.FontProperties(fname=str(font)).get_name()
    matplotlib.rcParams["axes.unicode_minus"] = False
    return Figure, FigureCanvasAgg


def activity_chart(series: list[dict], title: str, path: Path) -> Path:
    """Messages (bars) and active members (line) per day above, check-in rate and net joins below."""
    Figure, FigureCanvasAgg = _matplotlib()
    days = range(len(series))
    # Label a day in five (and the last): thirty category ticks per axis cost most of the drawing time.
    marks = sorted({*range(0, len(series), 5), len(series) - 1})
    fig = Figure(figsize=(9, 6))
    FigureCanvasAgg(fig)
    # Fixed margins: tight_layout cost more than drawing the chart itself.
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    fig.subplots_adjust(left=0.08, right=0.92, top=0.93, bottom=0.12, hspace=0.08)
    top.bar(days, [row["messages"] for row in series], color="#8ecae6", label="消息数")
    top.set_ylabel("消息数")
    twin = top.twinx()
    twin.plot(days, [row["active"] for row in series], color="#fb8500", marker="o", markersize=3, label="发言人数")
    twin.set_ylabel("发言人数")
    top.set_title(title)
    top.legend(loc="upper left")
    twin.legend(loc="upper right")
    rate = [100 * row["checkin"] / row["active"] if row["active"] else 0 for row in series]
    bottom.plot(days, rate, color="#219ebc", marker=".", label="签到率 %")
    bottom.plot(days, [row["joins"] - row["leaves"] for row in series], color="#2a9d8f", label="成员净增")
    bottom.axhline(0, color="#cccccc", linewidth=0.8)
    bottom.legend(loc="upper left")
    bottom.set_xticks(marks, [series[i]["day"].strftime("%m-%d") for i in marks])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path
