"""The bus: priority order, Stop, isolation of a failing plugin, inclusion by rule file only."""

from pathlib import Path

from bot.bus import Plugin, Stop
from bot.model import MemberJoined, MessageReceived
from bot.rules import PluginRules
from tests.conftest import Chat, reasons


class EchoRules(PluginRules):
    word: str = "hi"


def make_plugin(name: str, priority: int, log: list, stop: bool = False, fail: bool = False) -> Plugin:
    plugin = Plugin(name, EchoRules, priority=priority)

    @plugin.on(MessageReceived, when=lambda ev, rules: rules.word in ev.text)
    async def echo(ctx):
        log.append(name)
        if fail:
            raise RuntimeError("plugin bug")
        reply = ctx.send("core/fallback_set_card", f"seen_by_{name}", card=ctx.rules.word)
        return [reply, Stop("enough")] if stop else reply

    return plugin


async def engine_with(tmp_path: Path, make_engine, extra_plugin, plugins: list[Plugin], rules: dict[str, str] | None = None):
    rules_dir = tmp_path / "some_rules"
    rules_dir.mkdir()
    for plugin in plugins:
        extra_plugin(plugin.name, plugin)
        (rules_dir / f"{plugin.name}.toml").write_text((rules or {}).get(plugin.name, ""), encoding="utf-8")
    return await make_engine(rules_dir)


async def test_priority_order_and_stop(tmp_path, make_engine, extra_plugin):
    log: list[str] = []
    plugins = [make_plugin("late", 90, log), make_plugin("early", 10, log), make_plugin("stopper", 50, log, stop=True)]
    chat = Chat(await engine_with(tmp_path, make_engine, extra_plugin, plugins))
    actions = await chat.say("hi there")
    assert log == ["early", "stopper"]
    assert reasons(actions) == ["seen_by_early", "seen_by_stopper"]
    assert [a.plugin for a in actions] == ["early", "stopper"]


async def test_a_failing_plugin_does_not_silence_the_others(tmp_path, make_engine, extra_plugin, caplog):
    log: list[str] = []
    plugins = [make_plugin("broken", 10, log, fail=True), make_plugin("fine", 20, log)]
    chat = Chat(await engine_with(tmp_path, make_engine, extra_plugin, plugins))
    assert reasons(await chat.say("hi")) == ["seen_by_fine"]
    assert "plugin broken failed" in caplog.text


async def test_filter_sees_the_groups_rules(tmp_path, make_engine, extra_plugin):
    log: list[str] = []
    rules = {"echo": 'word = "hello"\n[groups."qq:g2"]\nword = "bonjour"\n'}
    engine = await engine_with(tmp_path, make_engine, extra_plugin, [make_plugin("echo", 10, log)], rules)
    assert reasons(await Chat(engine, group="g1").say("hello")) == ["seen_by_echo"]
    assert await Chat(engine, group="g2").say("hello") == []
    assert reasons(await Chat(engine, group="g2").say("bonjour")) == ["seen_by_echo"]


async def test_event_types_are_routed(tmp_path, make_engine, extra_plugin):
    seen: list[str] = []
    plugin = Plugin("greeter", EchoRules)

    @plugin.on(MemberJoined)
    async def greet(ctx):
        seen.append(ctx.event.user)

    chat = Chat(await engine_with(tmp_path, make_engine, extra_plugin, [plugin]))
    await chat.say("hello")
    await chat.join("newbie")
    assert seen == ["newbie"]


async def test_importing_a_plugin_registers_nothing(make_engine, tmp_path):
    import plugins.checkin  # noqa: F401  (imported, but no rules file: must not run)

    empty = tmp_path / "empty_rules"
    empty.mkdir()
    engine = await make_engine(empty)
    assert [p.name for p in engine.bus.plugins] == ["core"]
    assert await Chat(engine).say("签到") == []
