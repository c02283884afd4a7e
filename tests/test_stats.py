"""Statistics counting: the cached day bounds agree with a timezone conversion; messages are summed per group."""

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.config import QunbotConfig
from bot.stats import Stats
from tests.conftest import Chat, at


class _Zones:
    def __init__(self, zones: dict[str, str]):
        self.zones = {g: ZoneInfo(z) for g, z in zones.items()}

    def tz_for(self, group: str) -> ZoneInfo:
        return self.zones[group]


def test_the_cached_day_agrees_with_a_timezone_conversion():
    # Zones with daylight saving (one changing at midnight), a half-hour offset, and UTC.
    zones = {"qq:ny": "America/New_York", "qq:santiago": "America/Santiago", "qq:india": "Asia/Kolkata",
             "qq:sh": "Asia/Shanghai", "qq:utc": "UTC"}
    stats = Stats(_Zones(zones))
    rng = random.Random(5)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    offsets = [timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5)), ZoneInfo("Europe/Berlin")]
    moment = start
    for _ in range(20_000):
        # Mostly forward in small steps (as chat goes), sometimes a jump back or far ahead.
        moment += timedelta(minutes=rng.choice([1, 7, 59, 600, -300, 60 * 24 * 9]))
        group = rng.choice(list(zones))
        when = moment.astimezone(rng.choice(offsets))
        assert stats._day(group, when) == when.astimezone(ZoneInfo(zones[group])).date(), (group, when)


async def test_messages_red_packets_and_joins_are_counted_per_group_and_day(make_engine):
    engine = await make_engine(config=QunbotConfig(timezone="Asia/Shanghai"))
    chat = Chat(engine)
    await chat.say("hello", user="u1")
    await chat.say("hello again", user="u1")
    await chat.say("hi", user="u2", when=at("2026-11-23 23:59"))
    await chat.say("next day", user="u2", when=at("2026-11-24 00:01"))
    await chat.join("u3")
    figures = await engine.stats.figures("qq:g1", at("2026-11-23 12:00").date())
    assert (figures["messages"], figures["active_members"], figures["joins"]) == (3, 2, 0)
    assert figures["top"][0] == {"user": "u1", "name": "u1", "messages": 2}
    after = await engine.stats.figures("qq:g1", at("2026-11-24 12:00").date())
    assert (after["messages"], after["active_members"], after["joins"]) == (1, 1, 1)
