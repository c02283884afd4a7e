"""Plugins' timers (``ctx.timer``): returned as effects, stored, fired once as ``TimerFired`` at their due
time, replaced by key, cancelled, kept across a restart, and fired once by processes sharing a database."""

import asyncio
from datetime import timedelta

import pytest

from bot.bus import Plugin
from bot.model import CancelTimer, SetTimer, TimerFired
from bot.rules import PluginRules
from bot.store.timers import stored_timers
from tests.conftest import PG_URL, Chat, at, kinds, needs_pg, texts, timers, wipe_pg


def alarm_plugin(rang: list) -> Plugin:
    """``/alarm SECONDS [KEY]`` sets the timer "ring" for KEY; ``/disarm [KEY]`` cancels it; when it rings
    the handler notes the event in ``rang`` and says so."""
    plugin = Plugin("alarm", PluginRules)

    @plugin.command("alarm")
    async def set_alarm(ctx):
        seconds, key = int(ctx.call.args[0]), "".join(ctx.call.args[1:2])
        return [ctx.send_text("set", "alarm_set"), ctx.timer("ring", ctx.now + timedelta(seconds=seconds), key=key, by=ctx.event.user)]

    @plugin.command("disarm")
    async def disarm(ctx):
        return ctx.cancel_timer("ring", key="".join(ctx.call.args[:1]))

    @plugin.timer("ring")
    async def ring(ctx):
        rang.append(ctx.event)
        return ctx.send_text(f"ring {ctx.event.key}", "rang")

    return plugin


@pytest.fixture
def alarm(tmp_path, extra_plugin):
    """(rules folder running only the alarm plugin, the TimerFired events it got)."""
    rang: list[TimerFired] = []
    extra_plugin("alarm", alarm_plugin(rang))
    folder = tmp_path / "alarm_rules"
    folder.mkdir()
    (folder / "alarm.toml").write_text("", encoding="utf-8")
    return folder, rang


async def stored(engine) -> list[tuple[str, str, str, str]]:
    return [(t.group, t.plugin, t.name, t.key) for t in await engine.store.run(stored_timers)]


async def test_a_timer_is_returned_stored_and_fires_once_at_its_due_time(alarm, make_engine):
    rules, rang = alarm
    chat = Chat(await make_engine(rules))
    effects = await chat.say("/alarm 60 tea", user="u7")
    assert kinds(effects) == ["send", "timer"]
    [timer] = timers(effects)
    assert (timer.timer, timer.key, timer.due, timer.payload, timer.plugin) == ("ring", "tea", chat.now + timedelta(seconds=60), {"by": "u7"}, "alarm")
    assert await stored(chat.engine) == [("qq:g1", "alarm", "ring", "tea")]
    due = timer.due
    assert await chat.advance(to=due - timedelta(seconds=1)) == []
    assert texts(await chat.advance(by=timedelta(seconds=1))) == ["ring tea"]
    [event] = rang
    assert (event.at, event.due, event.plugin, event.timer, event.key, event.payload) == (due, due, "alarm", "ring", "tea", {"by": "u7"})
    assert (event.platform, event.group) == ("qq", "g1")
    assert await chat.advance(by=timedelta(days=1)) == [] and len(rang) == 1
    assert await stored(chat.engine) == []


async def test_setting_a_timer_again_replaces_it_and_other_keys_are_apart(alarm, make_engine):
    rules, rang = alarm
    chat = Chat(await make_engine(rules))
    start = chat.now
    await chat.say("/alarm 60 tea")
    await chat.say("/alarm 300 tea")  # moved: only the later one rings
    await chat.say("/alarm 120 cake")
    assert sorted(await stored(chat.engine)) == [("qq:g1", "alarm", "ring", "cake"), ("qq:g1", "alarm", "ring", "tea")]
    fired = await chat.advance(to=start + timedelta(minutes=10))
    assert texts(fired) == ["ring cake", "ring tea"]
    assert [e.at - start for e in rang] == [timedelta(seconds=123), timedelta(seconds=302)]


async def test_a_cancelled_timer_is_dropped_and_never_fires(alarm, make_engine):
    rules, rang = alarm
    chat = Chat(await make_engine(rules))
    await chat.say("/alarm 60 tea")
    await chat.say("/alarm 60 cake")
    cancelled = await chat.say("/disarm tea")
    assert [type(e) for e in cancelled] == [CancelTimer] and cancelled[0].key == "tea"
    assert await stored(chat.engine) == [("qq:g1", "alarm", "ring", "cake")]
    assert texts(await chat.advance(by=timedelta(hours=1))) == ["ring cake"]
    assert [e.key for e in rang] == ["cake"]


async def test_a_timer_survives_a_restart_and_fires_once_after_it(alarm, make_engine, tmp_path):
    rules, rang = alarm
    url = f"sqlite:///{tmp_path / 'alarm.sqlite'}"
    first = Chat(await make_engine(rules, db_url=url))
    [timer] = timers(await first.say("/alarm 600 tea"))
    await first.engine.close()  # the process stops before the timer is due

    again = Chat(await make_engine(rules, db_url=url, start=first.now), start=first.now)
    assert await again.advance(to=timer.due - timedelta(seconds=1)) == []
    assert texts(await again.advance(to=timer.due + timedelta(minutes=5))) == ["ring tea"]
    assert [e.due for e in rang] == [timer.due]
    await again.engine.close()

    third = Chat(await make_engine(rules, db_url=url, start=again.now), start=again.now)
    assert await third.advance(by=timedelta(days=1)) == []  # fired already: gone from the database
    assert len(rang) == 1


async def test_a_timer_missed_while_the_bot_was_down_fires_at_start(alarm, make_engine, tmp_path):
    rules, rang = alarm
    url = f"sqlite:///{tmp_path / 'alarm.sqlite'}"
    first = Chat(await make_engine(rules, db_url=url))
    [timer] = timers(await first.say("/alarm 60 tea"))
    late = first.now + timedelta(hours=2)
    again = Chat(await make_engine(rules, db_url=url, start=late), start=late)
    assert texts(await again.advance(to=late)) == ["ring tea"]
    assert [(e.at, e.due) for e in rang] == [(timer.due, timer.due)]  # the event says when it was due


async def test_a_timer_another_process_stored_is_armed_by_the_poll(alarm, make_engine, tmp_path):
    # Live processes look for timers others stored (TIMER_POLL_SECONDS): one that stopped before its
    # timer was due leaves it to the others.
    rules, rang = alarm
    url = f"sqlite:///{tmp_path / 'alarm.sqlite'}"
    other = Chat(await make_engine(rules, db_url=url, start=at("2026-11-23 08:00")))
    setter = Chat(await make_engine(rules, db_url=url))
    [timer] = timers(await setter.say("/alarm 60 tea"))
    await setter.engine.close()
    assert await other.engine.scheduler.run_due(timer.due) == []  # not known to this process yet
    await other.engine.scheduler.arm_stored(timer.due)
    assert texts(await other.engine.scheduler.run_due(timer.due)) == ["ring tea"]
    assert len(rang) == 1


@needs_pg
async def test_two_engines_on_postgres_fire_a_shared_timer_once(alarm, make_engine):
    rules, rang = alarm
    await wipe_pg()
    one = Chat(await make_engine(rules, db_url=PG_URL))
    [timer] = timers(await one.say("/alarm 60 tea"))
    assert isinstance(timer, SetTimer)
    two = await make_engine(rules, db_url=PG_URL, start=one.now)  # arms the stored timer at start
    fired = await asyncio.gather(one.engine.scheduler.run_due(timer.due), two.scheduler.run_due(timer.due))
    assert sorted(len(f) for f in fired) == [0, 1] and len(rang) == 1
    assert await stored(two) == []
