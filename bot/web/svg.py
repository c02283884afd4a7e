"""The activity chart of /stats, drawn in the page: the same matplotlib figure (bot.charts), as SVG, with a
column per day that shows that day's figures when the pointer rests on it (an SVG ``<title>``)."""

from __future__ import annotations

import io
import math
import re
from datetime import date
from xml.sax.saxutils import escape

from bot.charts import draw_activity


def day_label(row: dict, counted: bool) -> str:
    """What hovering a day shows: its date and figures (nothing counted before the bot joined)."""
    head = row["day"].strftime("%m月%d日")
    if not counted:
        return f"{head}：机器人入群前，没有数据"
    rate = f"{round(100 * row['checkin'] / row['active'])}%" if row["active"] else "—"
    return (f"{head}：消息 {row['messages']} 条，发言 {row['active']} 人，签到 {row['checkin']} 人（签到率 {rate}），"
            f"入群 {row['joins']}，退群 {row['leaves']}")


def activity_svg(series: list[dict], title: str, born: date | None = None) -> str:
    """The chart as an SVG document (text drawn as paths: no font needed in the browser)."""
    fig = draw_activity(series, title, born)
    titles: dict[str, str] = {}
    for n, axis in enumerate(fig.axes[:1] + fig.axes[2:]):  # the three panels (the second is the top's twin)
        for i, row in enumerate(series):
            counted = born is None or row["day"] >= born
            gid = f"day{n}-{i}"
            span = axis.axvspan(i - 0.5, i + 0.5, color="#000000", alpha=0.0, zorder=10, linewidth=0)
            span.set_gid(gid)
            titles[gid] = day_label(row, counted)
    out = io.StringIO()
    fig.savefig(out, format="svg", dpi=80)
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]  # the XML prologue and doctype do not belong inside an HTML page

    def with_title(match: re.Match) -> str:
        gid = match.group(1)
        return f'<g id="{gid}" class="day"><title>{escape(titles[gid])}</title>'

    return re.sub(r'<g id="(day\d+-\d+)">', with_title, svg)


def nan_free(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value
