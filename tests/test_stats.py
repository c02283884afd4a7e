"""Statistics counting: the cached day bounds agree with a timezone conversion; messages are summed per group."""

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import QunbotConfig
from bot.model import MessageReceived
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
    stats = Stats(None, _Zones(zones).tz_for)
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


class _Writer(_Zones):
    """An engine with a store whose writes fail when told, and which keeps what it was given."""

    def __init__(self, zones: dict[str, str]):
        super().__init__(zones)
        self.store, self.fail, self.groups, self.members = self, False, Counter(), Counter()
        self.names: dict = {}
        self.meanwhile = lambda: None  # what happens while a write is under way (more messages come in)

    async def run(self, fn, groups, members):
        self.meanwhile()
        if self.fail:
            raise ConnectionError("database away")
        for row in groups:
            self.groups[(row["group_key"], row["day"], row["counter"])] += row["n"]
        for row in members:
            self.members[(row["group_key"], row["day"], row["user_id"])] += row["messages"]
            self.names[(row["group_key"], row["day"], row["user_id"])] = row["name"]


async def test_flushed_counts_match_plain_counting_through_a_failed_flush():
    zones = {"qq:a": "Asia/Shanghai", "qq:b": "America/New_York"}
    engine = _Writer(zones)
    stats = Stats(engine.store, engine.tz_for)
    rng = random.Random(11)
    messages, members, names = Counter(), Counter(), {}
    moment = datetime(2026, 11, 23, 10, tzinfo=timezone.utc)

    def message(i: int) -> None:
        nonlocal moment
        moment += timedelta(minutes=rng.choice([1, 3, 30, -45]))
        group, user = rng.choice(list(zones)), f"u{rng.randrange(20)}"
        event = MessageReceived(at=moment, group=group[3:], user=user, name=f"name{i % 7}",
                                kind=rng.choice(["text", "text", "red_packet"]))
        stats.observe(event)
        day = moment.astimezone(ZoneInfo(zones[group])).date()
        messages[(group, day, "messages")] += 1
        messages[(group, day, "red_packets")] += event.kind == "red_packet"
        members[(group, day, user)] += 1
        names[(group, day, user)] = event.user_name

    for i in range(3_000):
        message(i)
        if i % 1_000 == 500:  # a flush that fails, while more messages come in, keeps everything for the next
            engine.fail, engine.meanwhile = True, lambda: [message(i) for _ in range(50)]
            with pytest.raises(ConnectionError):
                await stats.flush()
            engine.fail, engine.meanwhile = False, lambda: None
        elif i % 1_000 == 999:
            await stats.flush()
    await stats.flush()
    assert stats.pending == 0
    assert engine.groups == +messages and engine.members == members and engine.names == names
