"""Anti-ad judgement (issue 19): the detectors of disguised contacts and phone numbers, the learned scorer
and what admins teach it, words that say only what the group allows, floods on a ladder of their own,
/notad in Chinese."""

from __future__ import annotations

import pytest

from benchmarks.anti_ad_bench import shipped_scanner
from bot import adlearn
from bot.store.moderation import decisions
from tests.conftest import Chat, kinds, reasons, reports
from tests.test_anti_ad import SPLIT_AD, _reply


@pytest.fixture(scope="module")
def scanner():
    return shipped_scanner()


@pytest.fixture
async def chat(chat_with) -> Chat:
    return await chat_with("anti_ad")


def detectors(scanner, text: str) -> list[str]:
    return [s.detector for s in scanner.scan(text).signals]


@pytest.mark.parametrize("text", [
    "薇❤: l u c k y _ 6 0 0 5 6", "V❤ xiao6648", "加绿泡泡 tt20261123", "威芯：ab_8453825", "ⓥ amy_811686",
    "wei信~hx1234567", "＋Ｖ：ｌｉｌｙ５２０１", "卫星 zq99887766",
])
def test_wechat_handles_behind_look_alikes_homophones_and_symbols_are_contacts(scanner, text):
    assert "contact_id" in detectors(scanner, text)


@pytest.mark.parametrize("text", ["扣：2861506450", "Q（3|2|0|9|8|4|9|1|2|5", "企鹅→③⑥⑥⑦⑦⑤③①0⑧"])
def test_qq_numbers_behind_a_lone_cue_and_disguised_digits_are_contacts(scanner, text):
    assert "qq_number" in detectors(scanner, text)


@pytest.mark.parametrize("text", ["加裙 123456789", "君羊：88886666", "进峮 5566778", "qun 7788990"])
def test_group_numbers_spelt_by_sound_are_invitations(scanner, text):
    assert "invite" in detectors(scanner, text)


@pytest.mark.parametrize("text, detector", [
    ("电话 138 1234 5678", "phone"), ("电话138-1234-5678", "phone"), ("+86 138 1234 5678", "phone"),
    ("１３８１２３４５６７８", "phone"), ("一三八一二三四五六七八", "phone"), ("热线021-62345678", "landline"),
    ("0755-2654 3210", "landline"), ("(010)88886666", "landline"), ("400-820-8820", "hotline"), ("800 810 8888", "hotline"),
])
def test_phone_numbers_of_every_shape(scanner, text, detector):
    assert detectors(scanner, text) == [detector]


@pytest.mark.parametrize("text", ["会议号 123 456 789", "订单号 20261123123456", "2026-11-23 开会", "版本 v1.2.3", "房间号 8021"])
def test_numbers_that_are_no_phone(scanner, text):
    assert detectors(scanner, text) == []


@pytest.mark.parametrize("text", ["请点击 vip306点live 领取", "入口 okqq . top", "点这里 is.gd/DVNY", "速领 http://jd977.com/reg",
                                  "https://hb-qq.net/get"])
def test_links_that_hide_or_dress_as_a_brand_are_suspicious(scanner, text):
    assert [(s.detector, s.weight) for s in scanner.scan(text).signals if s.detector == "link"] == [("link", 2)]


def test_addresses_of_ones_own_network_are_no_link(scanner):
    assert detectors(scanner, "curl http://127.0.0.1:8080/api 返回500，ssh root@192.168.1.10 也连不上") == []


def test_a_shopping_password_is_a_hint(scanner):
    assert detectors(scanner, "复制这段话￥AbC12xyz9Q￥打开") == ["red_packet_hints", "shop_code"]


# ----------------------------------------------------------------------------- the learned scorer


def test_the_scorer_learns_from_examples_and_a_group_from_its_admins():
    examples = [(adlearn.grams(adlearn.prepared(t)), ad) for t, ad in
                [("日入过千私聊我", True), ("带你赚钱私聊", True), ("今天天气不错", False), ("私聊一下会议时间", False)] * 3]
    model = adlearn.train(examples)
    lure = adlearn.grams(adlearn.prepared("私聊我带你日入过千"))
    assert model.log_odds(lure) > 0 > model.log_odds(adlearn.grams(adlearn.prepared("今天天气")))
    group = adlearn.GroupModel(model, sample_weight=20)
    group.teach(lure, is_ad=False)
    assert group.log_odds(lure) < model.log_odds(lure)
    assert adlearn.prepared("微信abc12345加我") == "微信0加我"  # ids and numbers are one placeholder


async def test_the_scorer_decides_a_lure_with_no_contact_and_the_verdict_names_it(chat: Chat):
    said = await chat.say("姐妹们，一部手机就能做的副业，感兴趣的私聊我", user="u3")
    assert kinds(said) == ["delete", "send", "report"] and said[0].reason == "learned"
    assert "learned=" in reports(said)[0]


async def test_the_scorer_spares_a_delivery_number_and_an_honest_side_job(chat: Chat):
    assert await chat.say("快递放门卫了，快递员电话 13812345678，你直接打给他", user="u4") == []
    assert await chat.say("我在做兼职，白天上班晚上做点副业", user="u5") == []
    assert await chat.say("又有人发“加V带你日赚五百”这种广告，大家别信，已举报", user="u6") == []


async def test_what_an_admin_teaches_moves_the_groups_scorer(chat: Chat):
    ad = "本店新到一批进口奶粉，质量保证，有兴趣的朋友可以来店里看看，地址在人民路88号"
    assert await chat.say(ad, user="u3") == []  # nothing in the rules, and the shared scorer is not asked
    mark = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m1"))
    assert "delete" in kinds(mark)
    again = "进口奶粉到货了，保证正品，有兴趣来店里看看"  # not near enough to be a near-copy
    other = Chat(chat.engine, group="g2")  # another group: the shared model only, not this group's lesson
    assert await other.say(again, user="u9") == []
    caught = await chat.say(again, user="u8")
    assert reasons(caught)[0] == "learned_group" and "learned_group=" in reports(caught)[0]


# ----------------------------------------------------------------------------- honest words


async def test_where_nothing_can_be_deleted_or_muted_the_words_ask_and_the_admins_are_told(chat_with):
    chat = await chat_with("anti_ad", platform="wechat")
    first = await chat.say(SPLIT_AD, user="u7")
    assert kinds(first) == ["send", "report"]  # no deletion asked of a platform that cannot
    assert "请尽快撤回" in first[0].text and "已删除" not in first[0].text and not first[0].after_done
    assert "再犯将通知管理员处理" in first[0].text  # no punishment is promised where none can follow
    assert "not possible in this group, for an admin to do: delete message m1" in reports(first)[0]
    second = await chat.say("薇信：xiaomei8866 日賺300元", user="u7")
    assert kinds(second) == ["send", "report"]
    assert "无法自动禁言" in second[0].text and "已禁言" not in second[0].text
    assert "mute u7 for 30 minutes" in reports(second)[0]
    third = await chat.say("ｑｑ：１２３４５６７８ 兼职日结", user="u7")
    assert kinds(third) == ["send", "report"] and "已通知管理员" in third[0].text and "已移出" not in third[0].text
    assert chat.delivered(third) == [third[0]]  # the outbox adds no second sentence


async def test_where_the_bot_can_act_the_words_follow_the_actions(chat: Chat):
    for text, action in ((SPLIT_AD, "delete"), ("薇信：xiaomei8866 日賺300元", "mute"), ("ｑｑ：１２３４５６７８ 兼职日结", "kick")):
        said = await chat.say(text, user="u7")
        announcement = [a for a in said if a.name == "send"][0]
        assert action in kinds(said) and announcement.after_done
    assert "已删除" in (await chat.say("加我 v：abc12345 日结", user="u8"))[1].text


async def test_notad_says_in_chinese_what_it_undid(chat: Chat):
    await chat.say(SPLIT_AD, user="u7")
    await chat.say("薇信：xiaomei8866 日賺300元", user="u7")
    undo = await chat.engine.handle(_reply(chat, "/notad", "boss", "admin", reply_to=f"m{chat._ids}"))
    said = [a for a in undo if a.name == "send"][0].text
    assert "原处理：禁言 30 分钟，现已解除" in said and "mute" not in said


# ----------------------------------------------------------------------------- floods


async def test_five_laughs_are_a_flood_not_an_ad_and_never_climb_the_ad_ladder(chat: Chat):
    ad = await chat.say(SPLIT_AD, user="u7")
    assert reports(ad)[0].startswith("anti_ad qq:g1: warn for u7 (offence 1, ")
    laughs = []
    for _ in range(10):
        laughs += await chat.say("哈哈哈", user="u7")
    texts = [a.text for a in laughs if a.name == "send"]
    assert texts and all("请不要刷屏" in t or "刷屏" in t for t in texts)
    assert not any("广告" in t or "移出" in t for t in texts) and "kick" not in kinds(laughs)
    again = await chat.say("加我 v：abc12345 日结", user="u7")
    assert reports(again)[0].startswith("anti_ad qq:g1: mute 30m for u7 (offence 2, ")  # the floods did not count
    log = await chat.engine.store.run(decisions, "qq:g1")
    assert [(r["detector"], r["decision"]) for r in log][1:3] == [("repeat", "warn"), ("repeat", "mute 10m")]
