"""What a date is in China: workday or holiday (with 调休 make-up workdays), lunar date, solar term, festivals.

Workdays come from the maintained ``chinese-calendar`` package, which only knows the years the State
Council has announced; for a later year ``workday`` is None ("not known yet") and callers decide, never
this module guessing. Operators can name extra holidays and workdays in rules. Lunar dates, solar terms
and festivals come from ``lunar-python``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

import chinese_calendar
from lunar_python import Solar

from bot.rules import Weekday

WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

# chinese-calendar names its holidays in English.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "National Day": "国庆节", "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}

# Festivals greeted by the bot, as lunar-python names them (lunar ones first), with the name we show.
FESTIVALS = {
    "春节": "春节", "元宵节": "元宵", "端午节": "端午", "七夕节": "七夕", "中秋节": "中秋", "重阳节": "重阳",
    "除夕": "除夕", "元旦节": "元旦", "国庆节": "国庆", "劳动节": "劳动节", "清明": "清明",
}


def _known_festivals(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(FESTIVALS.values()))
    if unknown:
        raise PydanticCustomError("festival_unknown", "unknown festival {unknown} (known: {known})",
                                  {"unknown": ", ".join(unknown), "known": ", ".join(FESTIVALS.values())})
    return value


# A list of greeted festivals by the names the bot shows (春节, 中秋 …), for rule models.
Festivals = Annotated[list[str], AfterValidator(_known_festivals)]


@dataclass(frozen=True)
class Day:
    day: date
    weekday: str  # 星期一 …
    workday: bool | None  # None: the official calendar for this year is not published yet
    holiday: str | None  # the public holiday this day belongs to (off, or its 调休 make-up workday)
    makeup_workday: bool  # a weekend day that is a workday (调休)
    lunar: str  # 十月十五
    lunar_year: str  # 丙午马年
    solar_term: str | None  # 小雪, on the day it begins
    festivals: tuple[str, ...]  # greeted festivals falling on this day, as shown (春节, 中秋 …)


def workday_known(day: date) -> bool:
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=2048)
def describe(day: date, extra_holidays: frozenset[date] = frozenset(), extra_workdays: frozenset[date] = frozenset()) -> Day:
    """Everything the bot says about ``day``; extra holidays/workdays from rules win over the package."""
    solar = Solar.fromYmd(day.year, day.month, day.day)
    lunar = solar.getLunar()
    holiday, workday, makeup = None, None, False
    if workday_known(day):
        workday = chinese_calendar.is_workday(day)
        _, name = chinese_calendar.get_holiday_detail(day)
        holiday = HOLIDAY_NAMES.get(name, name) if name else None
        makeup = workday and day.weekday() >= 5
    if day in extra_holidays:
        workday, makeup = False, False
    elif day in extra_workdays:
        workday, makeup = True, day.weekday() >= 5
    names = [*lunar.getFestivals(), *solar.getFestivals(), lunar.getJieQi()]
    festivals = tuple(dict.fromkeys(FESTIVALS[n] for n in names if n in FESTIVALS))
    return Day(
        day=day, weekday=WEEKDAYS[day.weekday()], workday=workday, holiday=holiday, makeup_workday=makeup,
        lunar=f"{lunar.getMonthInChinese()}月{lunar.getDayInChinese()}",
        lunar_year=f"{lunar.getYearInGanZhi()}{lunar.getYearShengXiao()}年",
        solar_term=lunar.getJieQi() or None, festivals=festivals,
    )


WEEKDAY_NAMES: tuple[Weekday, ...] = get_args(Weekday)
# Which days a rule runs on (posts, windows): every day; official workdays (调休 included); non-workdays;
# or the listed weekdays.
Days = Literal["every", "workdays", "weekends"] | list[Weekday]


def on_days(days: Days, info: Day) -> bool:
    """Whether ``info``'s day is one of ``days``. A weekday list names the ordinary week: a 调休 make-up
    workday is not the weekend day it falls on. Where the year's calendar is not published yet
    (``info.workday`` is None), workdays are Monday to Friday: the caller says so to the operators."""
    if isinstance(days, list):
        return WEEKDAY_NAMES[info.day.weekday()] in days and not info.makeup_workday
    if days == "every":
        return True
    workday = info.workday if info.workday is not None else info.day.weekday() < 5
    return workday if days == "workdays" else not workday


@lru_cache(maxsize=512)
def next_festival(day: date, within: int = 400) -> tuple[str, int] | None:
    """The next greeted festival after ``day`` and how many days away it is."""
    for ahead in range(1, within):
        festivals = describe(day + timedelta(days=ahead)).festivals
        if festivals:
            return festivals[0], ahead
    return None
