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


async def test_a_malformed_result_is_isolated_like_a_failing_plugin(tmp_path, make_engine, extra_plugin, caplog):
    log: list[str] = []
    odd = Plugin("odd", EchoRules, priority=10)

    @odd.on(MessageReceived)
    async def half_right(ctx):
        # A good message, then something that is no action: none of it goes out, the others still run.
        return [ctx.send_text("half", "half"), ("not", "an action")]

    chat = Chat(await engine_with(tmp_path, make_engine, extra_plugin, [odd, make_plugin("fine", 20, log)]))
    assert reasons(await chat.say("hi")) == ["seen_by_fine"]
    assert "plugin odd returned a malformed result" in caplog.text


async def test_filter_sees_the_groups_rules(tmp_path, make_engine, extra_plugin):
    log: list[str] = []
    rules = {"echo": 'word = "hello"\n[groups."qq:g2"]\nword = "bonjour"\n'}
    engine = await engine_with(tmp_path, make_engine, extra_plugin, [make_plugin("echo", 10, log)], rules)
    assert reasons(await Chat(engine, group="g1").say("hello")) == ["seen_by_echo"]
    assert await Chat(engine, group="g2").say("hello") == []
    assert reasons(await Chat(engine, group="g2").say("bonjour")) == ["seen_by_echo"]


class Watched:
    """The watcher plugin's typed state: who joined, per group."""

    def __init__(self) -> None:
        self.joined: dict[str, set[str]] = {}


async def test_a_filter_may_see_the_plugins_state_and_the_group(tmp_path, make_engine, extra_plugin):
    """``when(event, rules, state, group)``: the filter decides from the plugin's typed state, per group."""
    seen: list[str] = []
    plugin = Plugin("watcher", EchoRules, state=Watched)

    @plugin.on(MessageReceived, when=lambda ev, _rules, state, group: ev.user in state.joined.get(group, ()))
    async def note(ctx):
        seen.append(f"{ctx.group}/{ctx.event.user}")

    @plugin.on(MemberJoined)
    async def watch(ctx):
        assert isinstance(ctx.state, Watched)
        ctx.state.joined.setdefault(ctx.group, set()).add(ctx.event.user)

    engine = await engine_with(tmp_path, make_engine, extra_plugin, [plugin])
    g1, g2 = Chat(engine, group="g1"), Chat(engine, group="g2")
    await g1.say("before", user="u1")
    await g1.join("u1")
    await g1.say("after", user="u1")
    await g1.say("other", user="u2")
    await g2.say("elsewhere", user="u1")
    assert seen == ["qq:g1/u1"]
    assert engine.state_of(plugin) is engine.state_of(plugin) and engine.state_of(plugin).joined == {"qq:g1": {"u1"}}


async def test_plugins_of_equal_priority_run_in_name_order_not_interleaved(tmp_path, make_engine, extra_plugin):
    # Two plugins of priority 50, their handlers registered alternately (beta's first); a third one's too.
    log: list[str] = []
    alpha, beta = Plugin("alpha", EchoRules, priority=50), Plugin("beta", EchoRules, priority=50)

    def handler(label: str):
        async def fn(ctx):
            log.append(label)
        return fn

    beta.command("go")(handler("beta.go"))
    alpha.on(MessageReceived)(handler("alpha.message"))
    beta.on(MessageReceived)(handler("beta.message"))
    alpha.command("go")(handler("alpha.go"))
    plugins = [beta, alpha, make_plugin("zeta", 50, log)]
    chat = Chat(await engine_with(tmp_path, make_engine, extra_plugin, plugins))
    await chat.say("/go hi")
    assert log == ["alpha.message", "alpha.go", "beta.go", "beta.message", "zeta"]
    log.clear()
    await chat.say("hi")
    assert log == ["alpha.message", "beta.message", "zeta"]


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


async def test_the_bus_follows_rule_file_and_owner_changes(tmp_path, make_engine, extra_plugin):
    # The bus keeps each group's handlers and rules between events: every kind of rules change must reach it.
    log: list[str] = []
    engine = await engine_with(tmp_path, make_engine, extra_plugin, [make_plugin("echo", 10, log)], {"echo": 'word = "hello"\n'})
    g1, g2 = Chat(engine, group="g1"), Chat(engine, group="g2")
    assert reasons(await g1.say("hello")) == ["seen_by_echo"]
    assert reasons(await g2.say("hello")) == ["seen_by_echo"]
    (tmp_path / "some_rules" / "echo.toml").write_text('word = "bonjour"\n[groups."qq:g2"]\nenabled = false\n', encoding="utf-8")
    assert engine.load_rules() == []
    assert await g1.say("hello") == [] and reasons(await g1.say("bonjour")) == ["seen_by_echo"]
    assert await g2.say("bonjour") == []
    engine.rulebook.set_owner_layer("echo", "qq:g1", {"enabled": False})
    assert await g1.say("bonjour") == []
    engine.rulebook.replace_owner_layers({("echo", "qq:g1"): {"word": "salut"}})
    assert reasons(await g1.say("salut")) == ["seen_by_echo"]
    (tmp_path / "some_rules" / "echo.toml").unlink()
    engine.load_rules()
    assert await g1.say("salut") == []


async def test_groups_on_the_same_rules_share_one_plan(tmp_path, make_engine, extra_plugin):
    log: list[str] = []
    rules = {"echo": '[groups."qq:g3"]\nword = "yo"\n'}
    engine = await engine_with(tmp_path, make_engine, extra_plugin, [make_plugin("echo", 10, log)], rules)
    for group in ("g1", "g2", "g3"):
        await Chat(engine, group=group).say("hi")
    plans = engine.bus._plans[MessageReceived]
    assert plans["qq:g1"] is plans["qq:g2"] and plans["qq:g3"] is not plans["qq:g1"]
    assert log == ["echo", "echo"]  # g3's word is "yo"


async def test_a_plan_holds_exactly_the_enabled_handlers_with_their_rules(only_rules, make_engine):
    # Shipped plugins, one of them switched off in one group and configured differently in another.
    rules_dir = only_rules("anti_ad", "checkin", "idiom_chain", "insights", "red_packet")
    with (rules_dir / "red_packet.toml").open("a", encoding="utf-8") as rules:
        rules.write('\n[groups."qq:off"]\nenabled = false\n')
    engine = await make_engine(rules_dir)
    engine.rulebook.set_owner_layer("anti_ad", "qq:owned", {"dry_run": True})
    for group in ("qq:plain", "qq:off", "qq:owned"):
        for kind in (MessageReceived, MemberJoined):
            expected = [(h, engine.rules_for(h.plugin, group)) for h in engine.bus._by_type[kind]]
            expected = [(h, id(rules)) for h, rules in expected if rules is not None]
            plan = engine.bus._plan(kind(at=Chat(engine).now, group=group[3:], user="u1"), group)
            assert [(h, id(rules)) for h, rules, _state in plan] == expected
            assert all(state is engine.state_of(h.plugin) for h, _rules, state in plan)
    off = engine.bus._plan(MessageReceived(at=Chat(engine).now, group="off", user="u1"), "qq:off")
    plain = engine.bus._plan(MessageReceived(at=Chat(engine).now, group="plain", user="u1"), "qq:plain")
    assert "red_packet" in {h.plugin.name for h, _r, _s in plain} and "red_packet" not in {h.plugin.name for h, _r, _s in off}
    owned = engine.bus._plan(MessageReceived(at=Chat(engine).now, group="owned", user="u1"), "qq:owned")
    assert [rules.dry_run for h, rules, _s in owned if h.plugin.name == "anti_ad"] == [True]
