"""Honest messages in the live outbox: an announcement (``after_done``) goes out only after the actions it
announces were carried out; where one failed or was impossible, the group hears nothing false and the admin
log gets one report saying why."""

import asyncio
import json
from datetime import datetime

import pytest

from bot.adapters.base import PlatformError
from bot.config import OutboxLimits, QunbotConfig
from bot.model import Action, DeleteMessage, KickMember, MuteAll, MuteMember, SendMessage, action_record
from bot.outbox import plan
from bot.templates import Templates

FULL = frozenset({"send", "delete", "mute", "mute_all", "kick"})


class ScriptedAdapter:
    """A platform with the capabilities a test gives it, that refuses the actions named in ``refuses``."""

    platform = "test"

    def __init__(self, capabilities=FULL, refuses=()):
        self.able, self.refuses = frozenset(capabilities), set(refuses)
        self.done: list[Action] = []

    def capabilities(self, group):
        return self.able

    async def perform(self, action):
        await asyncio.sleep(0)
        if action.name in self.refuses and action.group != "ops":
            raise PlatformError(f"{action.name}: permission denied")
        self.done.append(action)

    def said(self, group="g1") -> list[str]:
        return [a.text for a in self.done if a.name == "send" and a.group == group]

    def taken(self, group="g1") -> list[str]:
        return [a.name for a in self.done if a.group == group]


def told(text: str, group: str = "g1") -> SendMessage:
    return SendMessage(platform="test", group=group, text=text, plugin="t", reason="r", after_done=True)


def kick(user: str = "u7", group: str = "g1") -> KickMember:
    return KickMember(platform="test", group=group, user=user, plugin="t", reason="r")


@pytest.fixture
async def live(make_engine):
    async def make(adapter):
        engine = await make_engine(config=QunbotConfig(admin_log="test:ops", outbox={"test": OutboxLimits(per_second=1000)}))
        engine.adapters["test"] = adapter
        return engine
    return make


async def deliver(engine, actions) -> bool:
    ok = await engine.outbox.submit(actions)
    await asyncio.wait_for(engine.outbox.drain(), 5)
    return ok


async def test_an_announcement_follows_the_actions_it_announces_when_they_were_done(live):
    adapter = ScriptedAdapter()
    engine = await live(adapter)
    assert await deliver(engine, [DeleteMessage(platform="test", group="g1", message="m1"), kick(), told("已移出 u7")])
    assert adapter.taken() == ["delete", "kick", "send"] and adapter.said() == ["已移出 u7"]
    assert adapter.said("ops") == []


async def test_a_failed_action_drops_its_announcement_and_the_admin_log_gets_one_report(live):
    adapter = ScriptedAdapter(refuses={"kick"})
    engine = await live(adapter)
    assert not await deliver(engine, [kick(), told("已移出 u7")])
    assert adapter.said() == []
    [report] = adapter.said("ops")
    # One line: what failed, why, and what the group was not told.
    assert "kick in test:g1 (user u7)" in report and "permission denied" in report and "已移出 u7" in report


async def test_an_impossible_action_gets_its_fallback_only(live):
    adapter = ScriptedAdapter(capabilities={"send"})
    engine = await live(adapter)
    await deliver(engine, [kick(), told("已移出 u7")])
    [fallback] = adapter.said()
    assert fallback == Templates().render("core/fallback_kick") and "已移出" not in fallback
    [report] = adapter.said("ops")
    assert "not possible on test" in report and "已移出 u7" in report


async def test_an_announcement_needs_every_earlier_action_of_its_group_and_no_later_one(live):
    adapter = ScriptedAdapter(refuses={"delete"})
    engine = await live(adapter)
    mute = MuteMember(platform="test", group="g1", user="u7", seconds=600)
    await deliver(engine, [
        told("在别的群：已移出", "g2"),  # another group's announcement has nothing before it there
        DeleteMessage(platform="test", group="g1", message="m1"), mute, told("已删除并禁言"),
        SendMessage(platform="test", group="g1", text="请注意群规"),  # not an announcement: sent anyway
        kick("u8", "g2"), told("已移出 u8", "g2")])
    assert adapter.said() == ["请注意群规"] and adapter.taken() == ["mute", "send"]
    assert adapter.said("g2") == ["在别的群：已移出", "已移出 u8"]
    [report] = adapter.said("ops")
    assert "delete in test:g1 (message m1)" in report and "已删除并禁言" in report


async def test_a_failure_without_an_announcement_is_reported_as_before(live):
    adapter = ScriptedAdapter(refuses={"kick"})
    engine = await live(adapter)
    await deliver(engine, [told("先说一句", "g1"), kick()])  # the announcement came before: it announces nothing
    assert adapter.said() == ["先说一句"]
    [report] = adapter.said("ops")
    assert report.startswith("could not deliver kick in test:g1")


async def test_a_mute_all_is_announced_only_once_it_is_done(live):
    mute = MuteAll(platform="test", group="g1", on=True, plugin="mute_window", reason="window_start",
                   announce="🔕 期间全员禁言", fallback="请大家自觉暂停发言")
    refused = ScriptedAdapter(refuses={"mute_all"})
    engine = await live(refused)
    await deliver(engine, [mute])
    assert refused.said() == [] and len(refused.said("ops")) == 1 and "期间全员禁言" in refused.said("ops")[0]
    for adapter, heard in ((ScriptedAdapter(), ["🔕 期间全员禁言"]), (ScriptedAdapter(capabilities={"send"}), ["请大家自觉暂停发言"])):
        engine.adapters["test"] = adapter
        await deliver(engine, [mute])
        assert adapter.said() == heard and adapter.said("ops") == []


def test_replay_prints_the_announcement_without_the_flag():
    mute = MuteAll(platform="qq", group="g", on=True, announce="安静", fallback="请安静")
    done, announcement = plan(mute, FULL, Templates())
    assert announcement.after_done
    record = action_record(announcement, datetime(2026, 11, 23))
    assert "after_done" not in record and json.loads(json.dumps(record))["text"] == "安静"
