"""Keyword answers: exact, contained and pattern entries, one answer per message, cooldowns per entry and
group, templates and pictures from the rules folder, per-group overrides, and /词条 from the chat."""

from __future__ import annotations

from datetime import timedelta

import pydantic
import pytest

from plugins.auto_reply import AutoReplyRules
from tests.conftest import reasons, texts

BOOK = """
cooldown_seconds = 60
[entries.signup]
contains = ["怎么报名", "如何报名"]
answer = "{{ name }}，报名链接在群公告。"
[entries.files]
exact = ["资料"]
patterns = ['资料.{0,4}(在哪|链接)']
answer = "资料在群文件「学习资料」里。"
cooldown_seconds = 0
[entries.short]
contains = ["报名"]
answer = "报名相关请看公告。"
[groups."qq:g2".entries.signup]
answer = "二群请私聊群主报名。"
"""


async def test_each_kind_of_entry_answers_once_per_message(chat_with):
    chat = await chat_with(auto_reply=BOOK)
    asked = await chat.say("请问怎么报名呀", name="小王")
    assert texts(asked) == ["小王，报名链接在群公告。"]  # the longer contained word wins over 报名
    assert asked[0].reply_to and asked[0].mentions == ("u1",)
    assert texts(await chat.say("资料")) == ["资料在群文件「学习资料」里。"]
    assert texts(await chat.say("资料太多了不知道放哪")) == []  # neither the word alone nor the pattern
    assert texts(await chat.say("资料在哪？")) == ["资料在群文件「学习资料」里。"]
    assert texts(await chat.say("ＺＬ 资料链接")) == ["资料在群文件「学习资料」里。"]  # cooldown 0: every time
    assert texts(await chat.say("今天天气不错")) == []


async def test_cooldown_per_entry_and_group(chat_with):
    chat = await chat_with(auto_reply=BOOK)
    assert reasons(await chat.say("怎么报名")) == ["keyword_answer"]
    assert texts(await chat.say("如何報名", user="u2")) == []  # same entry (traditional folded), cooling down
    assert texts(await chat.say("报名")) == ["报名相关请看公告。"]  # another entry has its own cooldown
    await chat.advance(by=timedelta(seconds=61))
    assert texts(await chat.say("如何報名", user="u2")) == ["u2，报名链接在群公告。"]
    other = type(chat)(chat.engine, group="g2", start=chat.now)
    assert texts(await other.say("怎么报名")) == ["二群请私聊群主报名。"]  # the group's override, its own cooldown


async def test_commands_and_keywords_are_never_answered(chat_with):
    chat = await chat_with("checkin", auto_reply=BOOK + '\n[entries.checkin]\nexact = ["签到"]\nanswer = "x"\n')
    assert texts(await chat.say("/资料")) == []
    said = await chat.say("签到")
    assert reasons(said) == ["checked_in"]


async def test_ignored_users_are_other_bots(chat_with):
    chat = await chat_with(auto_reply=BOOK.replace("cooldown_seconds = 60", 'cooldown_seconds = 60\nignore_users = ["qq:bot2"]'))
    assert texts(await chat.say("资料", user="bot2")) == []
    assert texts(await chat.say("资料", user="u1")) != []


async def test_a_picture_from_the_rules_folder(chat_with, only_rules):
    chat = await chat_with(auto_reply='[entries.qr]\nexact = ["二维码"]\nimage = "auto_reply/qr.png"\n')
    rules_dir = chat.engine.services.rules_dir
    (rules_dir / "auto_reply").mkdir()
    (rules_dir / "auto_reply" / "qr.png").write_bytes(b"\x89PNG")
    [sent] = await chat.say("二维码")
    assert sent.image == str((rules_dir / "auto_reply" / "qr.png").resolve()) and sent.text == ""


async def test_a_missing_picture_is_reported_and_nothing_claimed(chat_with):
    chat = await chat_with(auto_reply='[entries.qr]\nexact = ["二维码"]\nimage = "nope.png"\nanswer = "扫码进群"\n')
    said = await chat.say("二维码")
    assert texts(said) == ["扫码进群"] and any("no picture" in r.text for r in said if r.name == "report")


async def test_admins_add_list_and_delete_chat_entries(chat_with):
    chat = await chat_with(auto_reply=BOOK)
    refused = await chat.say("/词条 添加 群主 我们的群主是老王")
    assert "只有管理员" in texts(refused)[0]
    assert "已添加" in texts(await chat.say("/词条 添加 群主 我们的群主是老王\n有事找他", role="admin"))[0]
    assert "已添加" in texts(await chat.say("/词条 添加 包含 开会 每周三晚八点开会", role="admin"))[0]
    assert texts(await chat.say("群主")) == ["我们的群主是老王\n有事找他"]
    assert texts(await chat.say("明天开会吗")) == ["每周三晚八点开会"]
    listed = texts(await chat.say("/词条 列表"))[0]
    assert "【规则文件】signup" in listed and "【群内添加】正好是「群主」" in listed and "【群内添加】含有「开会」" in listed
    kept = texts(await chat.say("/词条 删除 怎么报名", role="admin"))[0]
    assert "规则文件里的词条" in kept and "signup" in kept
    assert "已删除" in texts(await chat.say("/词条 删除 群主", role="admin"))[0]
    await chat.advance(by=timedelta(seconds=61))
    assert texts(await chat.say("群主")) == []
    assert "没有找到" in texts(await chat.say("/词条 删除 群主", role="admin"))[0]


def test_a_bad_entry_is_refused():
    for bad in ({"entries": {"x": {"answer": "a"}}}, {"entries": {"x": {"exact": ["a"]}}},
                {"entries": {"x": {"exact": ["a"], "answer": "{{ name"}}},
                {"entries": {"x": {"patterns": ["(?<=a)b"], "answer": "a"}}}):
        with pytest.raises(pydantic.ValidationError):
            AutoReplyRules.model_validate(bad)
