"""What the bot offers depends on what it can do in the group: where it sees only messages addressed to it
(WeCom), plugins that watch every message are off; /help lines promise only what it can do there."""

from __future__ import annotations

from tests.conftest import Chat, texts


async def test_anti_ad_is_off_where_the_bot_sees_only_addressed_messages(make_engine):
    engine = await make_engine()
    ad = "加我微信 abc12345 低价出售会员，私聊"
    on_qq = await Chat(engine, platform="qq", group="g1").say(ad, user="u7")
    on_wecom = await Chat(engine, platform="wecom", group="g1").say(ad, user="u7")
    assert any(a.name == "delete" for a in on_qq)  # the same text is an ad where the bot watches
    assert on_wecom == []


async def test_help_does_not_offer_what_cannot_work_there(make_engine):
    engine = await make_engine()
    admin = dict(user="boss", role="owner")
    [qq_help] = texts(await Chat(engine, platform="qq", group="g1").say("/help", **admin))
    [wecom_help] = texts(await Chat(engine, platform="wecom", group="g1").say("/help", **admin))
    assert "/notad" in qq_help and "/notad" not in wecom_help
    assert "/top" in wecom_help  # what works there is still offered


async def test_help_lines_promise_only_what_the_bot_can_do_in_the_group(make_engine):
    engine = await make_engine()

    class MemberOnly:  # the bot is a plain member: it can only speak
        platform = "qq"

        def capabilities(self, group):
            return frozenset({"send"})

    owner = dict(user="boss", role="owner")
    [admin_help] = texts(await Chat(engine, platform="telegram", group="g1").say("/help", **owner))
    engine.adapters["qq"] = MemberOnly()
    [member_help] = texts(await Chat(engine, platform="qq", group="g1").say("/help", **owner))
    mark_ad = [line for line in member_help.splitlines() if "标记为广告" in line]
    assert "（并移出）" in admin_help and "（删除、处罚并学习）" in admin_help
    assert "（并移出）" not in member_help and mark_ad and "删除" not in mark_ad[0]
