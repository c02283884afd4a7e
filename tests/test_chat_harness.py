"""The Chat harness itself: what each call hands the engine, and what advance fires and returns."""

from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.bus import Plugin
from bot.model import JoinRequested, MemberJoined, MemberLeft, MessageReceived, ScheduleFired, TimerFired
from bot.rules import PluginRules
from tests.conftest import Chat, actions, at, kinds, reasons, reports, texts, timers


def recorder(seen: list) -> Plugin:
    """Notes every event it gets; "/remind N" sets a timer N minutes on; a job at 12:00 every day."""
    plugin = Plugin("recorder", PluginRules)

    @plugin.on(MessageReceived, MemberJoined, MemberLeft, JoinRequested)
    async def note(ctx):
        seen.append(ctx.event)

    @plugin.command("remind")
    async def remind(ctx):
        minutes = int(ctx.call.args[0])
        return [ctx.send_text("ok", "noted"), ctx.timer("remind", ctx.now + timedelta(minutes=minutes), key=ctx.event.user)]

    @plugin.timer("remind")
    async def ring(ctx):
        seen.append(ctx.event)
        return [ctx.send_text(f"time, {ctx.event.key}", "reminded"), ctx.report("reminded someone", "reminded")]

    @plugin.schedule(lambda rules, tz: {"noon": CronTrigger(hour=12, timezone=tz)})
    async def noon(ctx):
        seen.append(ctx.event)
        return ctx.send_text("noon", "noon")

    return plugin


async def harness(tmp_path, make_engine, extra_plugin) -> tuple[Chat, list]:
    seen: list = []
    extra_plugin("recorder", recorder(seen))
    rules = tmp_path / "recorder_rules"
    rules.mkdir()
    (rules / "recorder.toml").write_text("", encoding="utf-8")
    return Chat(await make_engine(rules), group="club", start=at("2026-11-23 09:00")), seen


async def test_members_talk_join_ask_and_leave_one_second_apart(tmp_path, make_engine, extra_plugin):
    chat, seen = await harness(tmp_path, make_engine, extra_plugin)
    await chat.say("早", user="u1", name="小王", mentions=("u2",), reply_to="m0")
    await chat.join("u2", name="新人", inviter="u1")
    await chat.request_join("u3", answer="朋友介绍", name="申请人")
    await chat.leave("u2")
    await chat.say("晚安", user="u1", when=at("2026-11-23 22:00"))
    said, joined, asked, left, later = seen
    assert (type(said), said.text, said.user_name, said.id, said.mentions, said.reply_to) == (
        MessageReceived, "早", "小王", "m1", ("u2",), "m0")
    assert (type(joined), joined.user_name, joined.inviter) == (MemberJoined, "新人", "u1")
    assert (type(asked), asked.id, asked.answer, asked.user_name) == (JoinRequested, "r2", "朋友介绍", "申请人")
    assert type(left) is MemberLeft and left.user == "u2"
    assert [e.at - at("2026-11-23 09:00") for e in seen[:4]] == [timedelta(seconds=s) for s in (1, 2, 3, 4)]
    assert later.at == at("2026-11-23 22:00") and later.id == "m3"
    assert {(e.platform, e.group) for e in seen} == {("qq", "club")}
    assert chat.engine.clock.now() == at("2026-11-23 22:00")


async def test_advance_fires_jobs_and_timers_in_time_order_and_returns_their_effects(tmp_path, make_engine, extra_plugin):
    chat, seen = await harness(tmp_path, make_engine, extra_plugin)
    set_ = await chat.say("/remind 240", user="u1")  # due 13:00:01
    assert kinds(set_) == ["send", "timer"] and texts(set_) == ["ok"] and len(timers(set_)) == 1
    assert actions(set_) == set_[:1]  # what reaches the group: the message, not the timer
    seen.clear()
    assert await chat.advance(to=at("2026-11-23 11:59")) == []
    fired = await chat.timeline(by=timedelta(hours=2))
    assert [(when, effect.name, effect.reason) for when, effect in fired] == [
        (at("2026-11-23 12:00"), "send", "noon"),
        (at("2026-11-23 13:00") + timedelta(seconds=1), "send", "reminded"),
        (at("2026-11-23 13:00") + timedelta(seconds=1), "report", "reminded")]
    assert [type(e) for e in seen] == [ScheduleFired, TimerFired] and seen[1].key == "u1"
    assert chat.now == at("2026-11-23 13:59") and chat.engine.clock.now() == chat.now
    fired = await chat.advance(by=timedelta(days=1))
    assert reasons(fired) == ["noon"] and reports(fired) == []  # the timer fired once; the job comes daily
