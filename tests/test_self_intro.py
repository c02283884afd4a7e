"""Self-introduction and nickname rules: recognition by label and position, tags and /who, reminders and the
deadline's consequence, the QQ card from the introduction, reminders without nagging."""

import re
from datetime import timedelta

import pytest

from bot.model import MemberJoined
from plugins.admission.self_intro import SelfIntroRules, by_label, by_position, plausible
from bot.store.admission import member_tags
from tests.conftest import PG_URL, Chat, needs_pg, reasons, texts
from tests.test_admission import platform


def open_rules(rules_dir, **intro):
    (rules_dir / "join_threshold.toml").write_text('mode = "open"\n', encoding="utf-8")
    text = (rules_dir / "self_intro.toml").read_text(encoding="utf-8")
    for key, value in intro.items():
        text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
    (rules_dir / "self_intro.toml").write_text(text, encoding="utf-8")
    return rules_dir


async def newcomer(chat: Chat, user: str, name: str):
    chat.now += timedelta(seconds=1)
    chat.engine.clock.set(chat.now)
    return await chat.engine.handle(MemberJoined(at=chat.now, platform=chat.platform, group=chat.group, user=user, name=name))


def test_fields_by_label_and_by_position():
    rules = SelfIntroRules()
    assert by_label(rules, "大家好！城市：上海\n行业: 电商，称呼 小王") == {"city": "上海", "industry": "电商", "nickname": "小王"}
    assert by_label(rules, "坐标ＢＪ 职业 IT") == {"city": "BJ", "industry": "IT"}  # two labels, width folded
    assert by_label(rules, "今天工作很忙") == {}  # one label without a colon is chat, not an introduction
    assert by_position(rules, "上海 电商 小王") == {"city": "上海", "industry": "电商", "nickname": "小王"}
    assert by_position(rules, "上海-电商-小王-朋友介绍")["source"] == "朋友介绍"
    assert by_position(rules, "大家好") == {}


async def test_an_intro_is_confirmed_lands_in_tags_and_sets_the_qq_card(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir)))
    await newcomer(chat, "u3", "小王")
    assert reasons(await chat.say("大家好", user="u3", name="小王")) == []  # chat is not an introduction
    partial = await chat.say("城市：上海", user="u3", name="小王")
    assert reasons(partial) == ["intro_incomplete"] and "行业、称呼" in partial[0].text
    done = await chat.say("行业：电商 称呼：小王", user="u3", name="小王")
    assert [(a.plugin, a.name, a.reason) for a in done] == [("self_intro", "send", "intro_confirmed"),
                                                           ("nickname", "set_card", "card_from_intro"),
                                                           ("self_intro", "cancel_timer", "intro_due")]
    assert done[1].card == "上海-电商-小王" and "城市：上海" in done[0].text
    assert await chat.engine.store.run(member_tags, "qq:g1", "u3") == {"city": "上海", "industry": "电商", "nickname": "小王"}
    # Once the card is set, the member's messages fit and nothing more is said.
    assert reasons(await chat.say("谢谢", user="u3", name="上海-电商-小王")) == []
    found = texts(await chat.say("/who 上海", user="boss", role="admin"))[0]
    assert "小王（u3）" in found and "行业：电商" in found
    assert texts(await chat.say("/tags", user="boss", role="admin"))[0].splitlines() == [
        "🏷️ 本群成员标签：", "城市：上海（1）", "行业：电商（1）", "称呼：小王（1）"]  # a field a line
    fired = await chat.engine.scheduler.run_due(chat.now + timedelta(days=2))
    assert [a for a in fired if a.plugin == "self_intro"] == []  # no reminder for someone who introduced themselves


async def test_a_member_who_never_introduces_is_reminded_then_removed(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir, on_deadline='"remove"')))
    joined_at = chat.now + timedelta(seconds=1)
    await newcomer(chat, "u5", "潜水员")
    assert "u5" in texts(await chat.say("/pending", user="boss", role="admin"))[0]
    fired = []
    mine = lambda: [a for a in platform(fired) if a.plugin == "self_intro"]  # noqa: E731 (the welcome and daily posts come too)
    fired += await chat.engine.scheduler.run_due(joined_at + timedelta(hours=18, minutes=1))
    assert reasons(mine()) == ["intro_reminder"] and mine()[0].mentions == ("u5",)
    assert [(a.name, a.key, a.due) for a in fired if a.name == "timer"] == [("timer", "u5", joined_at + timedelta(hours=23))]
    fired += await chat.engine.scheduler.run_due(joined_at + timedelta(hours=23, minutes=1))
    assert reasons(mine()) == ["intro_reminder"] * 2
    fired += await chat.engine.scheduler.run_due(joined_at + timedelta(hours=25))
    # Removed, then told so: the announcement goes only once the removal is done.
    assert [(a.name, a.reason) for a in mine()[2:]] == [("kick", "intro_overdue_remove"), ("send", "intro_overdue_remove")]
    assert "潜水员" in mine()[3].text and mine()[3].after_done


async def test_restrict_at_the_deadline_and_a_late_intro_still_counts(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir, on_deadline='"restrict"', deadline_hours=1)), platform="telegram")
    await newcomer(chat, "u5", "小李")
    fired = await chat.engine.scheduler.run_due(chat.now + timedelta(hours=2))
    fired = [a for a in platform(fired) if a.plugin == "self_intro"]
    # The 6-hour reminder cannot come before a 1-hour deadline; the 1-hour one would be at the join itself.
    assert [(a.name, a.reason) for a in fired] == [("mute", "intro_overdue_restrict"), ("send", "intro_overdue_restrict")]
    # After the deadline, bare words are chat again (they would set the card); labelled fields still count.
    later = chat.now + timedelta(days=1, hours=2)
    bare = await chat.say("北京 教育 小李", user="u5", name="小李", when=later)
    assert [a for a in bare if a.plugin == "self_intro"] == [] and reasons(bare) == ["nickname_reminder"]
    late = await chat.say("城市：北京 行业：教育 称呼：小李", user="u5", name="小李", when=later + timedelta(minutes=1))
    assert reasons(late)[0] == "intro_confirmed"
    assert await chat.engine.store.run(member_tags, "telegram:g1", "u5") == {"city": "北京", "industry": "教育", "nickname": "小李"}


async def test_a_photo_intro(make_engine, rules_dir):
    (rules_dir / "self_intro.toml").write_text("photo = true\nfields = []\n", encoding="utf-8")
    chat = Chat(await make_engine(open_rules(rules_dir)))
    await newcomer(chat, "u6", "阿花")
    chat.now += timedelta(seconds=1)
    from bot.model import MessageReceived
    photo = MessageReceived(at=chat.now, platform="qq", group="g1", user="u6", name="阿花", id="p1", kind="image")
    assert reasons(platform(await chat.engine.handle(photo))) == ["intro_confirmed"]


async def test_nickname_reminders_wait_for_the_grace_period_and_do_not_nag(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir)), platform="telegram")
    await newcomer(chat, "u9", "Alice")
    assert "nickname_reminder" not in reasons(await chat.say("hi", user="u9", name="Alice"))  # grace
    later = chat.now + timedelta(minutes=61)
    first = await chat.say("hi again", user="u9", name="Alice", when=later)
    assert reasons(first) == ["nickname_reminder"] and "城市-行业-称呼" in first[0].text
    for minutes in (1, 60, 600):
        assert reasons(await chat.say("…", user="u9", name="Alice", when=later + timedelta(minutes=minutes))) == []
    assert reasons(await chat.say("…", user="u9", name="Alice", when=later + timedelta(minutes=721))) == ["nickname_reminder"]
    assert reasons(await chat.say("ok", user="u9", name="上海－电商－Alice")) == []  # full-width separators fit
    assert reasons(await chat.say("hi", user="boss", name="Boss", role="admin")) == []  # admins are exempt
    assert reasons(await chat.say("hi", user="old", name="OldTimer")) == []  # not seen joining: left alone


async def test_members_awaiting_review_are_not_chased_and_their_window_starts_when_let_in(make_engine, rules_dir):
    text = (rules_dir / "join_threshold.toml").read_text(encoding="utf-8").replace('mode = "answer"', 'mode = "review"')
    (rules_dir / "join_threshold.toml").write_text(text, encoding="utf-8")
    intro = (rules_dir / "self_intro.toml").read_text(encoding="utf-8").replace('on_deadline = "remind"', 'on_deadline = "remove"')
    (rules_dir / "self_intro.toml").write_text(intro, encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    await newcomer(chat, "u5", "待审")
    fired = []
    mine = lambda: [(a.name, a.reason) for a in platform(fired) if a.plugin == "self_intro"]  # noqa: E731
    fired += await chat.engine.scheduler.run_due(chat.now + timedelta(hours=30))
    assert mine() == []  # muted and waiting for an admin: no reminders, no removal
    let_in_at = chat.now + timedelta(hours=30)
    await chat.say("/通过 u5", user="boss", role="admin", when=let_in_at)
    fired += await chat.engine.scheduler.run_due(let_in_at + timedelta(hours=18, minutes=1))
    assert mine() == [("send", "intro_reminder")]  # the 24 hours run from the approval
    fired += await chat.engine.scheduler.run_due(let_in_at + timedelta(hours=25))
    assert mine()[-2:] == [("kick", "intro_overdue_remove"), ("send", "intro_overdue_remove")]


def test_bare_values_must_read_like_an_introduction():
    rules = SelfIntroRules()
    ok = lambda text: plausible(rules, text, by_position(rules, text))  # noqa: E731
    assert ok("上海 电商 小王") and ok("深圳/跨境电商/Tom") and ok("北京，教育，小李，朋友介绍")
    assert not ok("哈哈 好的 谢谢") and not ok("好的，收到，谢谢")  # chat words
    assert not ok("今天 去哪 吃饭吗") and not ok("你们 都在 干嘛呢")  # questions
    assert not ok("上海 电商 小王！") and not ok("看这个 https://t.cn/x 链接")  # sentence marks, links
    assert not ok("好 好 好") and not ok("上海 " + "很长" * 20 + " 小王")  # repeats, an essay for a value


async def test_chat_from_a_newcomer_does_not_become_an_intro_or_a_card(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir)))
    await newcomer(chat, "u3", "小王")
    for line in ("哈哈 好的 谢谢", "大家 早上好 呀", "有人 在吗 ？"):
        assert reasons(await chat.say(line, user="u3", name="小王")) == []
    assert await chat.engine.store.run(member_tags, "qq:g1", "u3") == {}
    done = await chat.say("上海 电商 小王", user="u3", name="小王")
    assert reasons(done) == ["intro_confirmed", "card_from_intro", "intro_due"] and done[1].card == "上海-电商-小王"
    # A member who owes nothing is never read positionally; the explicit command is.
    assert reasons(await chat.say("北京 教育 老李", user="u4", name="老李")) == []
    assert reasons(await chat.say("/自我介绍 北京 教育 老李", user="u4", name="老李")) == ["intro_confirmed"]


async def test_positional_intros_can_be_switched_off(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir, positional="false")))
    await newcomer(chat, "u3", "小王")
    assert reasons(await chat.say("上海 电商 小王", user="u3", name="小王")) == []
    assert reasons(await chat.say("城市 上海 行业 电商 称呼 小王", user="u3", name="小王"))[0] == "intro_confirmed"


async def _who_finds_wildcards_literally(engine):
    from bot.store.admission import find_members, save_tags
    from tests.conftest import at
    for user, city in (("u1", "上海"), ("u2", "100%杭州"), ("u3", "a_b"), ("u4", "axb"), ("u5", "c\\d")):
        await engine.store.run(save_tags, "qq:like", user, user, {"city": city}, at("2026-11-23 09:00"))
    users = [[r["user"] for r in await engine.store.run(find_members, "qq:like", q, 30)] for q in ("%", "_", "a_b", "\\", "海")]
    assert users == [["u2"], ["u3"], ["u3"], ["u5"], ["u1"]]


async def test_who_takes_like_wildcards_literally(make_engine):
    await _who_finds_wildcards_literally(await make_engine())


@needs_pg
async def test_who_takes_like_wildcards_literally_on_postgres(make_engine):
    await _who_finds_wildcards_literally(await make_engine(db_url=PG_URL))


async def test_who_lists_one_member_per_line(make_engine, rules_dir):
    chat = Chat(await make_engine(open_rules(rules_dir)))
    for user, name in (("u3", "小王"), ("u4", "小李")):
        await chat.say(f"/自我介绍 城市：上海 行业：电商 称呼：{name}", user=user, name=name)
    lines = texts(await chat.say("/who 上海", user="boss", role="admin"))[0].splitlines()
    assert [line.split("（")[0] for line in lines[1:]] == ["1. 小王", "2. 小李"]


@pytest.mark.parametrize("while_pending", ["answer_only", "free"])
async def test_a_newcomer_let_in_after_the_quiz_owes_an_introduction_at_once(make_engine, rules_dir, while_pending):
    """join_threshold opens the window when it lets them in (cases.let_in); self_intro, which saw them join
    while being verified, reads it from the database on their next message."""
    text = (rules_dir / "join_threshold.toml").read_text(encoding="utf-8").replace('"answer_only"', f'"{while_pending}"')
    (rules_dir / "join_threshold.toml").write_text(text, encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    await newcomer(chat, "u7", "小新")
    assert reasons(platform(await chat.say("上海 电商 小新", user="u7", name="小新")))[-1] == "wrong_answer"  # not yet
    assert reasons(platform(await chat.say("朋友介绍的", user="u7", name="小新"))) == ["quiz_passed"]
    done = await chat.say("上海 电商 小新", user="u7", name="小新")
    assert reasons(platform(done)) == ["intro_confirmed", "card_from_intro"] and done[1].card == "上海-电商-小新"
