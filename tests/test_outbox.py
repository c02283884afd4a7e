"""The outbox: fallbacks per platform, order per group, pacing, flood retries, nothing dropped silently."""

import asyncio

import pytest

import bot.outbox
from bot.adapters.base import CAPABILITIES, FloodError, PlatformError
from bot.config import OutboxLimits, QunbotConfig
from bot.model import DecideJoin, DeleteMessage, KickMember, MuteAll, MuteMember, SendMessage, SetCard
from bot.outbox import plan
from bot.templates import Templates


def send(text: str, group: str = "g1", platform: str = "test") -> SendMessage:
    return SendMessage(platform=platform, group=group, text=text, plugin="t", reason="r")


def test_fallbacks_follow_the_capability_table():
    t = Templates()
    wechat = CAPABILITIES["wechat"]
    mute = MuteMember(platform="wechat", group="g", user="u7", seconds=600, plugin="anti_ad", reason="second_offence")
    [warning] = plan(mute, wechat, t)
    assert warning.name == "send" and warning.mentions == ("u7",) and "10 分钟" in warning.text
    assert (warning.plugin, warning.reason) == ("anti_ad", "second_offence")
    assert plan(MuteMember(platform="wechat", group="g", user="u7", seconds=0), wechat, t) == []
    assert plan(DeleteMessage(platform="wechat", group="g", message="m1"), wechat, t) == []
    assert "安静时间" in plan(MuteAll(platform="wechat", group="g", on=True), wechat, t)[0].text
    assert plan(KickMember(platform="wechat", group="g", user="u7"), wechat, t)[0].name == "send"
    assert plan(DecideJoin(platform="wechat", group="g", request="r", user="u", approve=True), wechat, t) == []
    card = SetCard(platform="telegram", group="g", user="u3", card="上海-电商-小王")
    assert "上海-电商-小王" in plan(card, CAPABILITIES["telegram"], t)[0].text
    assert plan(card, CAPABILITIES["qq"], t) == [card]


class RecordingAdapter:
    """A platform stand-in for outbox tests: records calls, can refuse some with scripted errors."""

    platform = "test"

    def __init__(self, errors=None):
        self.delivered: list[tuple[float, str]] = []
        self.errors = list(errors or [])

    def capabilities(self, group):
        return CAPABILITIES["qq"]

    async def perform(self, action):
        await asyncio.sleep(0)
        if self.errors:
            error = self.errors.pop(0)
            if error is not None:
                raise error
        self.delivered.append((asyncio.get_running_loop().time(), action.text))


@pytest.fixture
async def outbox_engine(make_engine):
    async def make(adapter, **limits):
        engine = await make_engine(config=QunbotConfig(outbox={"test": OutboxLimits(**limits)}))
        engine.adapters["test"] = adapter
        return engine
    return make


async def test_order_is_kept_per_group_and_groups_do_not_wait_for_each_other(outbox_engine):
    adapter = RecordingAdapter()
    engine = await outbox_engine(adapter, per_second=1000)
    engine.outbox.submit([send(f"a{i}", "ga") for i in range(20)] + [send(f"b{i}", "gb") for i in range(20)])
    await engine.outbox.drain()
    texts = [t for _, t in adapter.delivered]
    assert [t for t in texts if t[0] == "a"] == [f"a{i}" for i in range(20)]
    assert [t for t in texts if t[0] == "b"] == [f"b{i}" for i in range(20)]
    assert texts.index("b0") < texts.index("a19")  # interleaved, not one group after the other


async def test_per_group_limit_queues_instead_of_dropping(outbox_engine, monkeypatch):
    monkeypatch.setattr(bot.outbox, "GROUP_WINDOW_SECONDS", 0.3)
    adapter = RecordingAdapter()
    engine = await outbox_engine(adapter, per_group_per_minute=5, per_second=1000)
    engine.outbox.submit([send(f"m{i}") for i in range(12)])
    await engine.outbox.drain()
    times = [t for t, _ in adapter.delivered]
    assert [t for _, t in adapter.delivered] == [f"m{i}" for i in range(12)]
    for i in range(5, 12):  # never more than 5 in any window
        assert times[i] - times[i - 5] >= 0.29


async def test_platform_interval_paces_all_groups(outbox_engine):
    adapter = RecordingAdapter()
    engine = await outbox_engine(adapter, per_second=50)
    engine.outbox.submit([send("x", f"g{i}") for i in range(10)])
    await engine.outbox.drain()
    times = sorted(t for t, _ in adapter.delivered)
    assert times[-1] - times[0] >= 9 / 50 - 0.01


async def test_flood_error_waits_and_delivers_exactly_once(outbox_engine):
    adapter = RecordingAdapter(errors=[None, FloodError(0.2)])
    engine = await outbox_engine(adapter, per_second=1000)
    engine.outbox.submit([send("first"), send("second"), send("third")])
    await engine.outbox.drain()
    assert [t for _, t in adapter.delivered] == ["first", "second", "third"]
    assert adapter.delivered[1][0] - adapter.delivered[0][0] >= 0.19


async def test_undeliverable_is_reported_not_swallowed(outbox_engine, caplog):
    adapter = RecordingAdapter(errors=[PlatformError("bot is not an admin")] + [PlatformError("timeout", retryable=True)] * 3)
    engine = await outbox_engine(adapter, per_second=1000, max_retries=2, backoff_seconds=0.01)
    engine.outbox.submit([send("needs admin"), send("flaky")])
    await engine.outbox.drain()
    assert adapter.delivered == []
    assert "could not deliver send in test:g1 ('needs admin')" in caplog.text and "bot is not an admin" in caplog.text
    assert "gave up after 3 attempts: send in test:g1 ('flaky')" in caplog.text


async def test_retryable_error_then_success(outbox_engine):
    adapter = RecordingAdapter(errors=[PlatformError("502", retryable=True)])
    engine = await outbox_engine(adapter, per_second=1000, backoff_seconds=0.01)
    engine.outbox.submit([send("eventually")])
    await engine.outbox.drain()
    assert [t for _, t in adapter.delivered] == ["eventually"]


async def test_admin_log_receives_reports(make_engine):
    adapter = RecordingAdapter()
    engine = await make_engine(config=QunbotConfig(admin_log="test:ops", outbox={"test": OutboxLimits(per_second=1000)}))
    engine.adapters["test"] = adapter
    engine.report("rules refused: checkin.toml: x: unknown key")
    await engine.outbox.drain()
    assert adapter.delivered[0][1] == "rules refused: checkin.toml: x: unknown key"


async def test_a_failing_admin_log_does_not_report_about_itself_forever(make_engine, caplog):
    class RefusesOps(RecordingAdapter):
        async def perform(self, action):
            if action.group == "ops":
                raise PlatformError("bot was removed from ops")
            await super().perform(action)

    adapter = RefusesOps()
    engine = await make_engine(config=QunbotConfig(admin_log="test:ops", outbox={"test": OutboxLimits(per_second=1000)}))
    engine.adapters["test"] = adapter
    engine.report("something to tell")
    await asyncio.wait_for(engine.outbox.drain(), timeout=5)
    assert caplog.text.count("bot was removed from ops") == 1


async def test_flood_waits_are_not_failures_and_pause_the_whole_platform(outbox_engine):
    class FloodsGroupA(RecordingAdapter):
        floods = 3

        async def perform(self, action):
            if action.group == "ga" and self.floods:
                self.floods -= 1
                raise FloodError(0.3)
            await super().perform(action)

    adapter = FloodsGroupA()
    engine = await outbox_engine(adapter, per_second=1000, max_retries=1)
    start = asyncio.get_running_loop().time()
    engine.outbox.submit([send("patient", "ga")])
    await asyncio.sleep(0.05)
    engine.outbox.submit([send("other group", "gb")])
    await engine.outbox.drain()
    delivered = {text: when - start for when, text in adapter.delivered}
    assert set(delivered) == {"patient", "other group"}  # three flood waits, more than max_retries: still sent
    assert delivered["patient"] >= 0.89
    assert delivered["other group"] >= 0.29  # gb waited out the platform's pause instead of hitting it


def test_a_mute_all_brings_its_announcement_where_done_and_its_fallback_words_where_not():
    t = Templates()
    mute = MuteAll(platform="qq", group="g", on=True, plugin="mute_window", reason="window_start",
                   announce="安静时段开始", fallback="本群无法自动全员禁言，请自觉安静")
    done, told = plan(mute, CAPABILITIES["qq"], t)
    # The adapter gets the mute without the texts, then the announcement as a message of the same plugin.
    assert done == MuteAll(platform="qq", group="g", on=True, plugin="mute_window", reason="window_start")
    assert (told.name, told.text, told.plugin, told.reason) == ("send", "安静时段开始", "mute_window", "window_start")
    [instead] = plan(mute, CAPABILITIES["wechat"], t)
    assert (instead.name, instead.text, instead.reason) == ("send", "本群无法自动全员禁言，请自觉安静", "window_start")
    quiet = mute.model_copy(update={"announce": None})  # announce = false: the mute alone, the fallback words kept
    assert plan(quiet, CAPABILITIES["qq"], t) == [done]
    assert plan(quiet, CAPABILITIES["wechat"], t)[0].text == "本群无法自动全员禁言，请自觉安静"
    plain = MuteAll(platform="wechat", group="g", on=False)  # no words of its own: the outbox's
    assert plan(plain, CAPABILITIES["wechat"], t)[0].text == t.render("core/fallback_mute_all", on=False)


async def test_live_delivery_sends_actions_and_reports_but_never_timers(make_engine, extra_plugin, tmp_path):
    from datetime import timedelta

    from bot.bus import Plugin
    from bot.model import MessageReceived
    from bot.rules import PluginRules
    from tests.conftest import at, kinds

    effects = Plugin("effects", PluginRules)

    @effects.on(MessageReceived)
    async def everything(ctx):
        return [ctx.send_text("hello", "hi"), ctx.timer("later", ctx.now + timedelta(minutes=5)),
                ctx.report("for the operators", "noted")]

    extra_plugin("effects", effects)
    rules = tmp_path / "effects_rules"
    rules.mkdir()
    (rules / "effects.toml").write_text("", encoding="utf-8")
    adapter = RecordingAdapter()
    engine = await make_engine(rules, config=QunbotConfig(admin_log="test:ops", outbox={"test": OutboxLimits(per_second=1000)}))
    engine.adapters["test"] = adapter
    event = MessageReceived(at=at("2026-11-23 09:00"), platform="test", group="g1", user="u1", text="x")
    delivered = await engine.handle_and_send(event)
    assert await asyncio.wait_for(delivered, timeout=5) is True
    # The group gets the message, the admin log chat the report; the timer stays with the engine.
    assert [t for _, t in adapter.delivered] == ["hello", "for the operators"]
    assert kinds(await engine.handle(event)) == ["send", "timer", "report"]
