"""Say only what happened: every moderation and admission message, on every platform's capability set.

Each scenario runs on an engine whose platform has a fake adapter with the capabilities of one row of the
table (so ``ctx.can`` is live, as with a real adapter), and reads what the group receives after the
outbox's plan (``Chat.delivered``). No text may claim a deletion, a mute, a mute-all or a removal (done,
or promised) that the capability set cannot do; where the bot can, the same scenario does say it.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.adapters.base import CAPABILITIES
from bot.adapters.qq_official.adapter import ADDRESSED_ONLY, ADMIN_ACTIONS, MEMBER_ACTIONS
from tests.conftest import Chat

# The capability sets the bot meets: (platform, what it can do in the group).
CAPABILITY_SETS = {
    "qq_admin": ("qq", CAPABILITIES["qq"]),
    "qq_member": ("qq", frozenset({"send"})),  # a plain member: delete, mute and kick all fail
    "telegram_admin": ("telegram", CAPABILITIES["telegram"]),
    "wechat": ("wechat", frozenset({"send"})),
    "wechat_owner": ("wechat", frozenset({"send", "kick"})),  # the bot owns the room: it may remove
    "wecom": ("wecom", CAPABILITIES["wecom"]),
    "qq_official_admin": ("qq_official", ADMIN_ACTIONS),
    "qq_official_member": ("qq_official", MEMBER_ACTIONS),
    "qq_official_member_at_only": ("qq_official", MEMBER_ACTIONS | ADDRESSED_ONLY),
}

# Affirmative wording of each action, done or promised ("已移出", "会被撤回", "期间全员禁言"); a request
# ("请先不要发言") or a fallback ("本群无法自动禁言", "按群规应移出本群，但机器人…没有…权限") is none.
CLAIMS = {
    "kick": re.compile(r"(已|已被|会被|将被|并)(按群规)?移出|按群规移出"),
    "delete": re.compile(r"(已|会被|将被)(删除|撤回)"),
    "mute": re.compile(r"(已|会被|将被|先)(暂时)?禁言|不能发言"),
    "mute_all": re.compile(r"(期间|保持|已设为)全员禁言|手动禁言"),
}


def claimed(text: str) -> set[str]:
    return {action for action, pattern in CLAIMS.items() if pattern.search(text)}


def test_the_claim_patterns_catch_the_old_untrue_sentences():
    """The wording this issue found on WeChat and on QQ where the bot is a plain member."""
    assert claimed("直接在群里发送答案即可；通过之前其他消息会被撤回。") == {"delete"}
    assert claimed("⏰ 小王 没有在规定时间内回答入群问题，按群规移出本群。") == {"kick"}
    assert claimed("小王 多次未通过本群的入群验证，已被移出。") == {"kick"}
    assert claimed("👋 小王，欢迎！本群需要管理员审核，审核通过之前请先稍等，暂时不能发言。") == {"mute"}
    assert claimed("🔇 小王 没有在期限内做自我介绍，先禁言 60 分钟；之后请补上") == {"mute"}
    assert claimed("已记下：本群保持全员禁言，直到 /quiet off。") == {"mute_all"}
    assert claimed("⚠️ 按群规应移出本群，但机器人在这里没有移除成员的权限，请群主处理。") == set()
    assert claimed("🔕 安静时段开始。本群无法自动全员禁言，请大家自觉暂停发言，谢谢配合。") == set()


class FakeAdapter:
    """A platform whose capabilities the test sets; in ``engine.adapters`` it makes ``ctx.can`` live."""

    def __init__(self, platform: str, capabilities: frozenset[str]):
        self.platform, self.able = platform, capabilities

    def capabilities(self, group: str) -> frozenset[str]:
        return self.able

    async def perform(self, action) -> None:
        """Scheduled effects reach the outbox (the scenarios read what ``delivered`` plans): taken."""


@pytest.fixture(params=sorted(CAPABILITY_SETS))
def capability_set(request):
    return request.param


@pytest.fixture
def group_on(chat_with, capability_set):
    """``await group_on("join_threshold", join_threshold="…")``: a Chat on the row's platform and capabilities."""
    platform, able = CAPABILITY_SETS[capability_set]

    async def make(*plugins: str, **written: str) -> Chat:
        chat = await chat_with(*plugins, platform=platform, **written)
        chat.engine.adapters[platform] = FakeAdapter(platform, able)
        return chat

    return make


class Heard:
    """What the group received over a scenario, checked against the capabilities."""

    def __init__(self, chat: Chat):
        self.chat, self.texts = chat, []

    def __call__(self, effects) -> list[str]:
        said = [a.text for a in self.chat.delivered(effects) if a.name == "send"]
        self.texts += said
        return said

    def check(self, able: frozenset[str], expected_where_able: set[str]) -> None:
        for text in self.texts:
            untrue = claimed(text) - able
            assert not untrue, f"claims {untrue} with only {sorted(able)}: {text}"
        # Not silent where the bot can: the same scenario says what it did (or will do).
        said = set().union(*map(claimed, self.texts)) if self.texts else set()
        assert expected_where_able & able <= said, f"never said {expected_where_able & able - said}: {self.texts}"


async def test_quiz_wrong_answers_and_removal(group_on, capability_set):
    chat = await group_on("join_threshold")
    heard = Heard(chat)
    heard(await chat.join("u7", inviter="u1"))
    wrong = heard(await chat.say("不知道", user="u7"))
    assert not wrong or "答案不对" in wrong[0]
    heard(await chat.say("还是不知道", user="u7"))
    heard(await chat.say("真的不知道", user="u7"))
    heard.check(CAPABILITY_SETS[capability_set][1], {"kick", "delete"})


async def test_quiz_timeout_then_blocked_on_the_next_join(group_on, capability_set):
    chat = await group_on("join_threshold", join_threshold="block_after = 1\nquiz_minutes = 5\n")
    heard = Heard(chat)
    heard(await chat.join("u7", inviter="u1"))
    heard(await chat.advance(by=timedelta(minutes=6)))
    heard(await chat.leave("u7"))
    blocked = heard(await chat.join("u7", inviter="u1"))
    able = CAPABILITY_SETS[capability_set][1]
    assert "addressed_only" in able or any("多次未通过" in t for t in blocked)
    heard.check(able, {"kick"})


async def test_review_mute_and_an_admin_s_decline(group_on, capability_set):
    chat = await group_on("join_threshold", join_threshold='mode = "review"\n')
    heard = Heard(chat)
    heard(await chat.join("u6", inviter="u1"))
    heard(await chat.say("hello", user="u6"))
    heard(await chat.say("/拒绝 u6", user="boss", role="admin"))
    heard.check(CAPABILITY_SETS[capability_set][1], {"mute", "kick"})


@pytest.mark.parametrize("consequence", ["remove", "restrict"])
async def test_an_introduction_overdue(group_on, capability_set, consequence):
    chat = await group_on("self_intro", self_intro=f'on_deadline = "{consequence}"\ndeadline_hours = 1\nprompt_on_join = true\n')
    heard = Heard(chat)
    heard(await chat.join("u5", name="潜水员"))
    overdue = heard(await chat.advance(by=timedelta(hours=2)))
    assert any("潜水员" in t for t in overdue), overdue
    heard.check(CAPABILITY_SETS[capability_set][1], {"kick"} if consequence == "remove" else {"mute"})


async def test_mute_window_and_quiet_commands(group_on, capability_set):
    chat = await group_on("mute_window", mute_window='[windows.night]\ntime = "22:00-23:00"\n')
    heard = Heard(chat)
    heard(await chat.advance(to=chat.now.replace(hour=22, minute=1)))
    heard(await chat.say("还有人吗", user="u2"))
    heard(await chat.say("/quiet on", user="boss", role="admin"))
    heard(await chat.say("/安静时段", user="boss", role="admin"))
    heard(await chat.advance(by=timedelta(hours=2)))
    heard(await chat.say("/quiet off", user="boss", role="admin"))
    heard.check(CAPABILITY_SETS[capability_set][1], {"mute_all"})
