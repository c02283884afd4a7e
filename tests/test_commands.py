"""Slash commands: parsing, Chinese aliases, roles, /help, /config, /set with its audit log."""

import tomllib

import pytest

from bot.commands import parse_command, permits
from bot.config import QunbotConfig
from bot.store.repos import audit_entries
from tests.conftest import Chat, reasons, texts


@pytest.fixture
async def chat(chat_with) -> Chat:
    """The core commands, with check-ins as the plugin they set and show."""
    return await chat_with("checkin")


def test_parse_variants():
    assert parse_command("/checkin").name == "checkin"
    assert parse_command("／签到").name == "签到"
    call = parse_command("/Top@QunBot 月")
    assert (call.name, call.target, call.args) == ("top", "QunBot", ("月",))
    assert parse_command("/set　checkin  base_points 5").args == ("checkin", "base_points", "5")
    for not_a_command in ("签到", "", "/", "/ ", "http://x", "/@bot"):
        assert parse_command(not_a_command) is None


def test_roles_rank():
    assert permits("owner", "admin") and permits("admin", "admin") and not permits("member", "admin")


async def test_command_addressed_to_another_bot_is_ignored(make_engine, only_rules):
    chat = Chat(await make_engine(only_rules("checkin"), config=QunbotConfig(bot_usernames={"telegram": "QunBot"})), platform="telegram")
    assert await chat.say("/checkin@OtherBot") == []
    assert reasons(await chat.say("/checkin@qunbot")) == ["checked_in"]


async def test_member_set_is_refused_and_changes_nothing(chat: Chat):
    refused = await chat.say("/set checkin base_points 99", user="u1", role="member")
    assert reasons(refused) == ["not_permitted"] and "管理员" in refused[0].text
    assert chat.engine.rulebook.effective("checkin", "qq:g1").base_points == 10
    assert await chat.engine.store.run(audit_entries, "qq:g1") == []
    assert "获得 10 积分" in texts(await chat.say("签到"))[0]


async def test_admin_set_changes_effective_rules_and_is_audited(chat: Chat):
    done = await chat.say("/设置 checkin base_points 25", user="boss", role="admin")
    assert reasons(done) == ["setting_changed"]
    assert chat.engine.rulebook.effective("checkin", "qq:g1").base_points == 25
    assert "获得 25 积分" in texts(await chat.say("签到"))[0]
    config = texts(await chat.say("/config checkin", user="boss", role="admin"))[0]
    assert "base_points = 25（群设置 /set）" in config and "leaderboard_size = 10（规则文件）" in config
    [entry] = await chat.engine.store.run(audit_entries, "qq:g1")
    assert (entry["user_id"], entry["role"], entry["plugin"], entry["key"], entry["new_value"]) == ("boss", "admin", "checkin", "base_points", "25")
    assert entry["old_value"] is None
    await chat.say("/unset checkin base_points", user="boss", role="owner")
    assert chat.engine.rulebook.effective("checkin", "qq:g1").base_points == 10
    assert len(await chat.engine.store.run(audit_entries, "qq:g1")) == 2


async def test_owner_setting_survives_a_restart(tmp_path, make_engine, only_rules):
    url = f"sqlite:///{tmp_path / 'keep.sqlite'}"
    rules = only_rules("checkin")
    await Chat(await make_engine(rules, db_url=url)).say("/set checkin base_points 3", role="owner")
    again = await make_engine(rules, db_url=url)
    assert again.rulebook.effective("checkin", "qq:g1").base_points == 3
    assert again.rulebook.effective("checkin", "qq:other").base_points == 10


async def test_invalid_set_values_are_refused_with_the_reason_in_chinese(chat_with):
    chat = await chat_with("checkin", "idiom_chain", "daily_posts", "mute_window", "insights", "anti_ad")
    said = {
        "/set checkin base_points abc": '应为整数（收到的是 "abc"）',
        "/set checkin base_points -1": "不能小于 0（收到的是 -1）",
        "/set checkin nope 1": "没有这个键（可用的键：enabled、owner_delegates、base_points、",
        "/set checkin leaderboard_size 1000": "不能大于 50（收到的是 1000）",
        "/set checkin streak_bonuses [{ days = 0, points = 1 }]": "· streak_bonuses[0].days：不能小于 1（收到的是 0）",
        '/set checkin streak_bonuses [{ points = 1 }]': "· streak_bonuses[0].days：缺少这一项，必须填写",
        "/set checkin enabled maybe": '应为 true 或 false（收到的是 "maybe"）',
        '/set idiom_chain match "pinyin"': '只能是 "char"、"sound" 之一（收到的是 "pinyin"）',
        "/set daily_posts posts.morning.time 25:99": '应为 24 小时制的时刻，例如 "08:00"（收到的是 "25:99"）',
        "/set mute_window windows.night.time 1-2": '"23:00-07:00"（收到的是 "1-2"）',
        "/set insights evaluate_time 7": "应为文字，用英文双引号括起",
        "/set daily_posts extra_holidays [2026-02-30]": "没能读出来（Invalid date or datetime，第 2 个字符处）",
        "/set checkin base_points.deeper 1": "· base_points：应为整数",
    }
    for command, words in said.items():
        actions = await chat.say(command, role="owner")
        assert reasons(actions) == ["invalid_value"], command
        assert words in actions[0].text and "Input should" not in actions[0].text, (command, actions[0].text)
    # The plugins' own checks, in Chinese too.
    owner = await chat_with("self_intro", "join_threshold", "points", "nickname", "red_packet")
    said = {
        '/set nickname pattern "城市"': '格式里至少要有一个 {字段}',
        "/set nickname pattern {ctiy}-{nickname}": "{ctiy} 不是已命名的部分（labels 里有：city、industry、nickname）",
        "/set self_intro remind_before_minutes [0, 60]": "每一项都必须大于 0",
        '/set self_intro fields [{ key = "City", label = "城市" }]': "fields[0].key：应为小写英文名",
        '/set join_threshold questions [{ ask = "你好？" }]': "questions[0]：每个问题都要有关键词",
        '/set join_threshold mode "invite_code"': "邀请码模式（invite_code）需要先设置邀请码",
        '/set points levels [{ points = 5, title = "新人" }]': "第一个等级必须从 0 分开始",
        '/set red_packet festivals ["圣诞"]': "不认识的节日：圣诞（可用：春节、元宵、",
    }
    for command, words in said.items():
        actions = await owner.say(command, role="owner")
        assert reasons(actions) == ["invalid_value"], command
        assert words in actions[0].text and "不符合要求" not in actions[0].text, (command, actions[0].text)
    # A plugin's own check without Chinese words here keeps its English reason, after a Chinese lead.
    refused = await chat.say('/set anti_ad ladder ["kick", "mute 99999d"]', role="owner")
    assert "不符合要求：step 'mute 99999d': a mute lasts from 1 minute to 30 days" in refused[0].text
    assert chat.engine.rulebook.effective("checkin", "qq:g1").base_points == 10
    usage = await chat.say("/set nosuchplugin x 1", role="admin")
    assert reasons(usage) == ["usage"] and "checkin" in usage[0].text


async def test_help_lists_what_the_caller_may_use(chat: Chat):
    member = texts(await chat.say("/help"))[0]
    admin = texts(await chat.say("/帮助", role="admin"))[0]
    assert "/checkin" in member and "/top" in member and "/set" not in member
    assert "/set" in admin and "/config" in admin and "/签到" in admin


async def test_bot_admin_from_config_counts_as_owner(make_engine, only_rules):
    chat = Chat(await make_engine(only_rules("checkin"), config=QunbotConfig(bot_admins=["qq:root"])))
    assert reasons(await chat.say("/set checkin base_points 4", user="root", role="member")) == ["setting_changed"]
    assert reasons(await chat.say("/set checkin base_points 5", user="nobody", role="member")) == ["not_permitted"]


async def test_text_cannot_forge_a_role(chat: Chat):
    for text in ("/as admin", ":as boss admin", "role=admin", "@admin"):
        await chat.say(text, role="member")
    assert reasons(await chat.say("/set checkin base_points 5", role="member")) == ["not_permitted"]
    assert chat.engine.rulebook.effective("checkin", "qq:g1").base_points == 10


async def test_addressed_command_is_ignored_while_our_name_is_unknown(chat: Chat):
    assert await chat.say("/checkin@SomeBot") == []
    chat.engine.learn_bot_username("qq", "SomeBot")  # as an adapter does once it learns its name
    assert reasons(await chat.say("/checkin@somebot")) == ["checked_in"]


async def test_unset_of_a_value_never_set_changes_nothing(chat: Chat):
    assert reasons(await chat.say("/unset checkin base_points", role="admin")) == ["nothing_to_unset"]
    assert reasons(await chat.say("/set checkin base_points 7", role="admin")) == ["setting_changed"]
    assert reasons(await chat.say("/unset checkin base_points.deeper", role="admin")) == ["nothing_to_unset"]
    assert len(await chat.engine.store.run(audit_entries, "qq:g1")) == 1
    assert chat.engine.rulebook.effective("checkin", "qq:g1").base_points == 7


def _plain(value):
    """A value as TOML can hold it: tuples as lists, keys as text (dates in ISO), unset (None) keys left out."""
    if isinstance(value, dict):
        return {getattr(k, "isoformat", k.__str__)(): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


async def test_config_shows_every_value_as_toml_that_reads_back(chat: Chat):
    for plugin in sorted(chat.engine.plugins):
        shown = texts(await chat.say(f"/config {plugin}", role="admin"))[0]
        rules = chat.engine.rulebook.effective(plugin, "qq:g1").model_dump(mode="python")
        lines = [line[2:].rsplit("（", 1)[0] for line in shown.splitlines() if line.startswith("· ")]
        assert len(lines) == len(rules), plugin
        assert tomllib.loads("\n".join(lines)) == _plain(rules), plugin


async def test_set_answers_with_the_value_in_force_as_toml(chat_with):
    chat = await chat_with("daily_posts")
    done = await chat.say("/set daily_posts extra_holidays [2026-12-24]", role="admin")
    assert "设为 [2026-12-24]。" in done[0].text
    done = await chat.say('/set daily_posts rotations.news { items = ["早"] }', role="admin")
    assert 'rotations.news 设为 { order = "sequential", items = ["早"], folder = "", dated = {} }。' in done[0].text
    config = texts(await chat.say("/config daily_posts", role="admin"))[0]
    assert "extra_holidays = [2026-12-24]（群设置 /set）" in config
