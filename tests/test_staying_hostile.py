"""Staying power against hostile members and operators: huge and strange messages through every shipped
plugin, templates that reach for Python internals, hostile `/set` values, and members trying to become
admins by what they type."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError, UndefinedError

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import MessageReceived
from bot.scheduler import VirtualClock
from bot.store.repos import load_settings
from bot.templates import Templates
from tests.conftest import Chat, at, reasons

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
ODD = ["\u202e签到", "签\u200b到", "签到" + "\u0301" * 500, "\ud7ff" * 10, "𠀀𪚥" * 1000, "\x00\x01\x7f", "👨‍👩‍👧‍👦" * 200,
       "加" + ZERO_WIDTH * 50 + "微信 abc12345", "\u3000" * 1000, "/" + "a" * 10_000, "／set" + ZERO_WIDTH, "@" * 5000]


@pytest.fixture
def no_plugin_failures(caplog):
    """The bus catches a failing handler and logs it: a crash shows up here, not as an exception."""
    caplog.set_level(logging.ERROR, logger="bot.bus")
    yield
    failures = [r.getMessage() for r in caplog.records if r.name == "bot.bus"]
    assert not failures, failures


@pytest.mark.parametrize("size", [100 * 1024, 1024 * 1024 // 4])
async def test_oversized_messages_pass_every_shipped_plugin(chat: Chat, no_plugin_failures, size):
    for text in ("签到" * (size // 6), "a" * size, "加微信 " + "x" * size, ZERO_WIDTH * (size // 3)):
        await chat.say(text, user="big")
    assert reasons(await chat.say("签到", user="after")) == ["checked_in"]  # and the bot still works


async def test_odd_unicode_passes_every_shipped_plugin(chat: Chat, no_plugin_failures):
    for i, text in enumerate(ODD):
        await chat.say(text, user=f"odd{i}", name=text[:50])
    assert reasons(await chat.say("签到", user="after")) == ["checked_in"]


def test_random_text_never_breaks_a_plugin(tmp_path, no_plugin_failures):
    loop = asyncio.new_event_loop()
    engine = loop.run_until_complete(Engine.create(QunbotConfig(), SHIPPED_RULES, db_url=f"sqlite:///{tmp_path / 'h.db'}",
                                                   clock=VirtualClock(at("2026-11-23 09:00"))))
    chat = Chat(engine)
    words = st.sampled_from(["签到", "/set", "/config", "/top", "/me", "成语接龙", "加微信", "http://x.cn", "@bot", ZERO_WIDTH, "/", "／"])
    texts = st.lists(words | st.text(max_size=30), max_size=6).map(" ".join)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts, st.sampled_from(["member", "admin"]), st.text(max_size=20))
    def one(text, role, name):
        loop.run_until_complete(chat.say(text, user="fuzzer", name=name or "x", role=role))

    try:
        one()
    finally:
        loop.run_until_complete(engine.close())
        loop.close()


# ----------------------------------------------------------------------------- templates

REACHING = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ name.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ result.__dict__ }}{% set x = [].append(1) %}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("source", REACHING)
def test_a_template_reaching_for_python_internals_is_refused(tmp_path, source):
    (tmp_path / "checkin").mkdir()
    (tmp_path / "checkin" / "checked_in.j2").write_text(source, encoding="utf-8")
    # Refused outright: the sandbox's SecurityError, or (StrictUndefined) an unsafe attribute is undefined.
    with pytest.raises((SecurityError, UndefinedError)):
        Templates(tmp_path).render("checkin/checked_in", name="小王", result={"rank": 1})


async def test_a_hostile_operator_template_leaks_nothing_into_the_chat(make_engine, tmp_path, caplog):
    (tmp_path / "tpl" / "checkin").mkdir(parents=True)
    (tmp_path / "tpl" / "checkin" / "checked_in.j2").write_text(REACHING[2], encoding="utf-8")
    chat = Chat(await make_engine(config=QunbotConfig(templates_dir=str(tmp_path / "tpl"))))
    actions = await chat.say("签到")
    assert not any("uid=" in getattr(a, "text", "") for a in actions)
    assert any("SecurityError" in r.getMessage() or (r.exc_info and "SecurityError" in repr(r.exc_info[1])) for r in caplog.records)


# ----------------------------------------------------------------------------- /set

HOSTILE_SETS = [
    "checkin base_points 1e999", "checkin base_points nan", "checkin base_points -inf", "checkin base_points 99999999999999999999",
    "checkin base_points -5", "checkin base_points \"5\\u0000\"", "checkin base_points {a = 1}", "checkin base_points [1, 2]",
    "checkin enabled maybe", "checkin __class__ 1", "checkin base_points.__dict__ 1", "checkin groups.x 1",
    "daily_posts posts.morning.time 25:99", "daily_posts posts.morning.time 08:00:00", "daily_posts posts.morning.template ../../etc/passwd",
    "daily_posts posts.morning.template {{7*7}}", "daily_posts extra_holidays [2026-02-30]", "daily_posts extra_holidays 1979-05-27T07:32:00Z",
    "anti_ad ladder [\"kick\", \"mute 99999d\"]", "join_threshold questions.0.patterns [\"(a+)+$\"]", "welcome rules_text " + "长" * 5000,
]


@pytest.mark.parametrize("command", HOSTILE_SETS)
async def test_hostile_set_values_are_rejected_by_the_model(chat: Chat, no_plugin_failures, command):
    actions = await chat.say(f"/set {command}", role="owner")
    assert reasons(actions) in (["invalid_value"], ["usage"]), [getattr(a, "text", "") for a in actions]
    assert await chat.engine.store.run(load_settings) == {}


async def test_set_of_dates_is_stored_as_iso_and_survives_a_restart(chat: Chat, no_plugin_failures):
    actions = await chat.say("/set daily_posts extra_holidays [2026-12-24, 2026-12-25]", role="owner")
    assert reasons(actions) == ["setting_changed"]
    stored = await chat.engine.store.run(load_settings)
    assert stored == {("daily_posts", "qq:g1"): {"extra_holidays": ["2026-12-24", "2026-12-25"]}}
    assert json.dumps(stored[("daily_posts", "qq:g1")])  # plain JSON, nothing Python-specific
    again = await Engine.create(chat.engine.config, SHIPPED_RULES, db_url=chat.engine.store.url, clock=VirtualClock())
    try:
        assert [d.isoformat() for d in again.rulebook.effective("daily_posts", "qq:g1").extra_holidays] == ["2026-12-24", "2026-12-25"]
    finally:
        await again.close()


# ----------------------------------------------------------------------------- rights

ADMIN_COMMANDS = ["/set checkin base_points 50", "/unset checkin base_points", "/config checkin", "/ad", "/notad", "/post morning",
                  "/preview morning", "/approve u9", "/通过 u9", "/pending", "/quiet 10", "/全员禁言 10", "/stats", "/who 上海", "/tags"]
FORGERIES = ["[owner] ", "role=owner ", "{\"role\":\"owner\"} ", "管理员 ", "/as 老板 owner\n", ":as 老板 owner\n", "@all "]


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_a_member_cannot_use_admin_commands_however_they_dress_them(chat: Chat, no_plugin_failures, command):
    for forged in FORGERIES:
        for text in (forged + command, command + " " + forged, command.replace("/", "／")):
            actions = await chat.say(text, user="sneaky", name="群主 [owner]")
            assert not set(reasons(actions)) - {"not_permitted", "ignored"}, (text, reasons(actions))
    assert await chat.engine.store.run(load_settings) == {}


async def test_a_bot_admin_of_one_platform_is_nobody_on_another(make_engine, no_plugin_failures):
    engine = await make_engine(config=QunbotConfig(bot_admins=["telegram:42"]))
    on_qq = MessageReceived(at=at("2026-11-23 09:01"), platform="qq", group="g1", user="42", name="42", id="m1",
                            text="/set checkin base_points 50")
    assert reasons(await engine.handle(on_qq)) == ["not_permitted"]
    colon = on_qq.model_copy(update={"user": "telegram:42", "id": "m2"})  # an id that spells the other platform's key
    assert reasons(await engine.handle(colon)) == ["not_permitted"]
    on_telegram = on_qq.model_copy(update={"platform": "telegram", "id": "m3"})
    assert reasons(await engine.handle(on_telegram)) == ["setting_changed"]


async def test_per_member_memory_stays_bounded_however_many_members_come(chat: Chat, monkeypatch, no_plugin_failures):
    import plugins.admission.nickname
    import plugins.anti_ad

    monkeypatch.setattr(plugins.anti_ad, "MEMBERS_KEPT", 5)
    monkeypatch.setattr(plugins.admission.nickname, "MEMBERS_KEPT", 5)
    for i in range(40):
        await chat.join(f"n{i}")
        await chat.say("大家好", user=f"n{i}")
    state = chat.engine.state_of(plugins.anti_ad.plugin)
    memories = [state.joined["qq:g1"], chat.engine.state_of(plugins.admission.nickname.plugin).recent["qq:g1"]]
    assert all(len(m) == 5 for m in memories)
    assert "n39" in memories[0] and "n0" not in memories[0]  # the most recent are the ones kept
    # Flood counters are bounded by time instead: a member's track goes once their windows have passed.
    assert len(state.flood) == 40
    await chat.say("还有人吗", user="late", when=chat.now + timedelta(minutes=10))
    assert list(state.flood) == [("qq:g1", "late")]
