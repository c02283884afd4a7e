"""The scheduler: APScheduler triggers per group, ScheduleFired through the bus, virtual and live clocks."""

import asyncio
from datetime import datetime, timedelta, timezone

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.bus import Plugin
from bot.model import ScheduleFired
from bot.rules import PluginRules
from bot.scheduler import SystemClock
from tests.conftest import Chat, at, texts


class TickRules(PluginRules):
    hour: int = 8


def tick_plugin() -> Plugin:
    plugin = Plugin("tick", TickRules)

    @plugin.schedule(lambda rules, tz: {"morning": CronTrigger(hour=rules.hour, minute=0, timezone=tz)})
    async def post_morning(ctx):
        assert isinstance(ctx.event, ScheduleFired)
        return ctx.send_text(ctx.event.slot.isoformat(), "morning")

    return plugin


def install_tick(tmp_path, extra_plugin, rules: str = ""):
    """Make the tick plugin importable and return a rules folder that includes it."""
    extra_plugin("tick", tick_plugin())
    rules_dir = tmp_path / "tick_rules"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "tick.toml").write_text(rules, encoding="utf-8")
    return rules_dir


async def test_jobs_fire_per_group_at_their_local_time(tmp_path, make_engine, extra_plugin):
    engine = await make_engine(install_tick(tmp_path, extra_plugin, '[groups."qq:late"]\nhour = 10\n'))
    early, late = Chat(engine, group="early"), Chat(engine, group="late")
    await early.say("hello", when=at("2026-11-23 06:00"))
    await late.say("hello", when=at("2026-11-23 06:00"))
    fired = await early.advance(to=at("2026-11-25 00:00"))
    # The tick plugin writes its slot into the message: each fired at its own group's hour.
    got = [(a.group, a.text) for a in fired]
    assert got == [
        ("early", "2026-11-23T08:00:00+08:00"), ("late", "2026-11-23T10:00:00+08:00"),
        ("early", "2026-11-24T08:00:00+08:00"), ("late", "2026-11-24T10:00:00+08:00"),
    ]
    assert all(a.reason == "morning" and a.plugin == "tick" for a in fired)


async def test_set_moves_the_groups_job(tmp_path, make_engine, extra_plugin):
    chat = Chat(await make_engine(install_tick(tmp_path, extra_plugin)))
    await chat.say("/set tick hour 9", role="admin", when=at("2026-11-23 06:00"))
    assert texts(await chat.advance(to=at("2026-11-23 23:00"))) == ["2026-11-23T09:00:00+08:00"]


async def test_known_groups_are_planned_again_after_a_restart(tmp_path, make_engine, extra_plugin):
    url = f"sqlite:///{tmp_path / 'keep.sqlite'}"
    rules_dir = install_tick(tmp_path, extra_plugin)
    first = await make_engine(rules_dir, db_url=url)
    await Chat(first, group="g9").say("hello", when=at("2026-11-23 06:00"))
    second = await make_engine(rules_dir, db_url=url, start=at("2026-11-23 06:30"))
    fired = await second.scheduler.run_due(at("2026-11-23 08:00"))
    assert [a.group for a in fired] == ["g9"] and "qq:g9" in second.known_groups


async def test_live_loop_fires_on_the_system_clock(tmp_path, make_engine, extra_plugin):
    plugin = Plugin("soon", PluginRules)
    due = datetime.now(timezone.utc) + timedelta(milliseconds=300)

    @plugin.schedule(lambda rules, tz: {"once": DateTrigger(run_date=due)})
    async def fire(ctx):
        return ctx.send("core/fallback_mute_all", "fired", on=True)

    extra_plugin("soon", plugin)
    rules_dir = tmp_path / "soon_rules"
    rules_dir.mkdir()
    (rules_dir / "soon.toml").write_text("", encoding="utf-8")
    engine = await make_engine(rules_dir)
    engine.clock = SystemClock()
    got = asyncio.Event()
    # The live loop returns nothing: what it fires reaches ``engine.deliver`` (the outbox, live).
    engine.deliver = lambda actions, when: got.set() if actions else None
    engine.scheduler.plan_group("qq:live")
    task = asyncio.create_task(engine.scheduler.run_forever())
    try:
        await asyncio.wait_for(got.wait(), timeout=5)
    finally:
        task.cancel()
    assert datetime.now(timezone.utc) >= due


async def test_a_slot_fires_once_across_processes_and_reruns(tmp_path, make_engine, extra_plugin):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    rules_dir = install_tick(tmp_path, extra_plugin)
    fired = []
    engines = [await make_engine(rules_dir, db_url=url, start=at("2026-11-23 06:00")) for _ in range(2)]
    for engine in engines:
        engine.scheduler.plan_group("qq:g1")
    for engine in engines:
        fired += await engine.scheduler.run_due(at("2026-11-24 09:00"))
    assert [a.reason for a in fired] == ["morning", "morning"]  # the 23rd and the 24th, once each


async def test_a_process_schedules_only_the_platforms_it_serves(tmp_path, make_engine, extra_plugin):
    from bot.config import QunbotConfig
    from bot.engine import Engine
    from bot.scheduler import VirtualClock

    rules_dir = install_tick(tmp_path, extra_plugin)
    engine = await Engine.create(QunbotConfig(), rules_dir, db_url=f"sqlite:///{tmp_path / 'p.sqlite'}",
                                 clock=VirtualClock(at("2026-11-23 06:00")), platforms={"telegram"})
    try:
        engine.scheduler.plan_group("qq:g1")
        engine.scheduler.plan_group("telegram:t1")
        fired = await engine.scheduler.run_due(at("2026-11-23 09:00"))
        assert [a.platform for a in fired] == ["telegram"]
    finally:
        await engine.close()
