"""Anti-ad and flood control with the shipped rules: disguised contacts, the ladder, exemptions, admin
feedback (/ad, /notad), newcomers, dry run, flood and repeats, the normaliser itself."""

from datetime import timedelta
from pathlib import Path

import pytest

from bot.adscan import NearIndex, compact, fold
from bot.store.moderation import decisions
from tests.conftest import Chat, kinds, reasons, reports

SPLIT_AD = "加 V 💰 x i a o m e i ❤ 8 8 6 6，带你赚钱"


@pytest.fixture
async def chat(chat_with) -> Chat:
    """A group where only anti_ad runs, on its shipped rules."""
    return await chat_with("anti_ad")


def steps(actions) -> list[tuple[str, str]]:
    return [(a.name, a.reason) for a in actions]


async def test_a_disguised_ad_is_deleted_then_the_ladder_mutes_then_removes(chat: Chat):
    first = await chat.say(SPLIT_AD, user="u7")
    assert steps(first) == [("delete", "contact_id"), ("send", "contact_id"), ("report", "contact_id")]
    assert first[0].message == "m1" and first[1].mentions == ("u7",) and "疑似广告" in first[1].text
    # Every punishment is reported to the operators, with the step, the count and what matched.
    assert reports(first)[0].startswith("anti_ad qq:g1: warn for u7 (offence 1, contact_id: ")
    second = await chat.say("薇信：xiaomei8866 日賺300元", user="u7")
    assert kinds(second) == ["delete", "mute", "send", "report"]
    assert second[1].seconds == 30 * 60 and second[1].user == "u7"
    assert reports(second)[0].startswith("anti_ad qq:g1: mute 30m for u7 (offence 2, ")
    third = await chat.say("ｑｑ：１２３４５６７８ 兼职日结", user="u7")
    assert kinds(third) == ["delete", "kick", "send", "report"] and third[1].user == "u7"
    assert reports(third)[0].startswith("anti_ad qq:g1: kick for u7 (offence 3, qq_number: ")
    log = await chat.engine.store.run(decisions, "qq:g1")
    assert [(row["detector"], row["decision"]) for row in log] == [
        ("contact_id", "warn"), ("contact_id", "mute 30m"), ("qq_number", "kick")]
    assert "微信xiaomei8866" in log[0]["matched"]


async def test_an_ad_stops_the_chain(chat_with):
    chat = await chat_with("anti_ad", "checkin")
    assert reasons(await chat.say("签到", user="u6")) == ["checked_in"]
    actions = await chat.say("签到 刷单日结 加V abc12345", user="u7")
    assert kinds(actions) == ["delete", "send", "report"] and "checked_in" not in reasons(actions)


@pytest.mark.parametrize("text", [
    "今天微信又更新了，真难用", "我QQ号被盗了怎么办", "这个多少钱？100块可以吗", "有人在招前端开发吗？月薪两万",
    "推荐一篇文章 https://mp.weixin.qq.com/s/abcdef 写得很好", "加我微信吧，回头聊", "公司报销需要开发票吗",
    "今晚一起上分", "比分1比1", "明天9点开会，会议号 123 456 789", "红包领取了吗",
])
async def test_ordinary_talk_about_wechat_prices_jobs_and_links_is_left_alone(chat: Chat, text):
    assert await chat.say(text, user="u5") == []


async def test_admins_owners_and_exempt_members_are_not_screened(make_engine, only_rules):
    rules_dir = only_rules("anti_ad")
    path = rules_dir / "anti_ad.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("exempt_users = []", 'exempt_users = ["qq:u8"]'), encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    assert await chat.say(SPLIT_AD, user="boss", role="admin") == []
    assert await chat.say(SPLIT_AD, user="own", role="owner") == []
    assert await chat.say(SPLIT_AD, user="u8") == []
    assert steps(await chat.say(SPLIT_AD, user="u9")) == [("delete", "contact_id"), ("send", "contact_id"), ("report", "contact_id")]


async def test_an_admins_ad_mark_catches_a_near_copy_from_another_member(chat: Chat):
    ad = "本店新到一批进口奶粉，质量保证，有兴趣的朋友可以来店里看看，地址在人民路88号"
    assert await chat.say(ad, user="u3") == []  # a new kind of ad: nothing in the lists
    chat.now += timedelta(seconds=5)
    mark = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m1"))
    assert kinds(mark) == ["send", "delete", "send", "report"] and mark[1].message == "m1"
    assert reports(mark)[0].startswith("anti_ad qq:g1: warn for u3 (offence 1, admin_marked: ")
    copy = "本店新到一批进口奶粉，质量有保证，有兴趣的可以来店里看看，地址：人民路99号"
    caught = await chat.say(copy, user="u4")
    assert steps(caught)[0] == ("delete", "near_copy") and "near_copy" in reports(caught)[0]
    assert await chat.say("我家孩子喝的进口奶粉挺好的", user="u5") == []


async def test_ad_reaches_messages_of_the_last_hours_only(chat: Chat):
    from plugins.anti_ad import RECENT_HOURS

    ad = "本店新到一批进口奶粉，质量保证，有兴趣的朋友可以来店里看看，地址在人民路88号"
    assert await chat.say(ad, user="u3") == []  # m1
    chat.now += timedelta(hours=RECENT_HOURS, minutes=1)
    assert await chat.say("大家好", user="u4") == []  # m2: m1 is now too old to be kept
    late = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m1"))
    assert steps(late) == [("send", "usage")]
    mark = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m2"))
    assert kinds(mark) == ["send", "delete", "send", "report"] and mark[1].message == "m2"


async def test_notad_undoes_a_mute_and_remembers_the_exception(chat: Chat):
    await chat.say(SPLIT_AD, user="u7")
    text = "有需要的加我 微信 abc123456，价格好说"
    muted = await chat.say(text, user="u7")
    assert kinds(muted) == ["delete", "mute", "send", "report"]
    undo = await chat.engine.handle(_reply(chat, "/notad", "boss", "admin", reply_to=f"m{chat._ids}"))
    assert [(a.name, getattr(a, "seconds", None)) for a in undo] == [("report", None), ("mute", 0), ("send", None)]
    assert reports(undo) == ["anti_ad qq:g1: mute 30m for u7 undone by boss"]
    assert await chat.say("有需要的加我 微信 abc123456，价格好说！", user="u2") == []  # the exception holds
    log = await chat.engine.store.run(decisions, "qq:g1")
    assert log[1]["decision"] == "undone mute 30m"


async def test_a_newcomers_weak_signal_is_deleted_with_a_friendly_word_and_a_clear_ad_gets_their_ladder(chat: Chat):
    await chat.join("new")
    actions = await chat.say("大家好，我是做代购的", user="new")  # one hint word, the scorer undecided
    assert kinds(actions) == ["delete", "send", "report"]  # one weak signal: no mute
    assert "欢迎新朋友" in actions[1].text and "已先删除" in actions[1].text and actions[1].after_done
    assert reports(actions)[0].startswith("anti_ad qq:g1: warn for new (offence 1, ")
    assert await chat.say("大家好，我是做代购的", user="old") == []
    assert await chat.say("新人报到，我在做兼职，白天上班晚上做点副业", user="new") == []  # the scorer: no ad
    await chat.join("new2")
    clear = await chat.say(SPLIT_AD, user="new2")
    assert kinds(clear) == ["delete", "mute", "send", "report"] and clear[1].seconds == 3600
    assert reports(clear)[0].startswith("anti_ad qq:g1: mute 1h for new2 (offence 1, ")


async def test_dry_run_only_reports(make_engine, only_rules):
    rules_dir = only_rules("anti_ad")
    path = rules_dir / "anti_ad.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("dry_run = false", "dry_run = true"), encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    said = await chat.say(SPLIT_AD, user="u7")
    assert kinds(said) == ["report"] and reports(said)[0].startswith("anti_ad qq:g1: [dry run] warn for u7 (offence 1, ")
    assert chat.delivered(said) == []  # nothing reaches the group
    log = await chat.engine.store.run(decisions, "qq:g1")
    assert [(r["detector"], r["decision"], r["dry_run"]) for r in log] == [("contact_id", "warn", True)]


async def test_a_dry_run_ad_mark_confirms_and_only_reports(chat_with):
    chat = await chat_with("anti_ad", "red_packet", anti_ad="dry_run = true\n")
    ad = "本店新到一批进口奶粉，质量保证，有兴趣的朋友可以来店里看看，地址在人民路88号"
    assert await chat.say(ad, user="u3") == []
    mark = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m1"))
    assert steps(mark) == [("send", "marked_ad"), ("report", "admin_marked")]
    assert reports(mark)[0].startswith("anti_ad qq:g1: [dry run] warn for u3 (offence 1, admin_marked: ")
    # A dry run stops nothing: a later plugin still answers a near copy that also tells of a deal.
    caught = await chat.say("本店新到一批进口奶粉，质量有保证，有兴趣的可以来店里看看，今天又成交了", user="u4")
    assert kinds(caught) == ["report", "send"] and reasons(caught)[1] == "deal_prompt"
    assert "near_copy" in reports(caught)[0]


async def test_ten_identical_messages_in_ten_seconds_trigger_flood_control(chat: Chat):
    out = []
    for _ in range(10):
        out += await chat.say("顶顶顶", user="u6")
    # Flood control's own ladder and words: a reminder first, then a short mute; nothing said of ads.
    assert steps(out) == [("send", "repeat"), ("report", "repeat"),
                          ("mute", "offence_2"), ("send", "offence_2"), ("report", "repeat")]
    assert "请不要刷屏" in out[0].text and "广告" not in out[0].text
    assert out[2].seconds == 600 and "刷屏第 2 次" in out[3].text and out[3].after_done


async def test_many_different_messages_in_a_burst_are_a_flood(chat: Chat):
    out = []
    for i in range(9):
        out += await chat.say(f"第{i}句话", user="u6")
    assert steps(out) == [("send", "flood"), ("report", "flood")] and "请不要刷屏" in out[0].text
    slow = Chat(chat.engine, group="g2")
    for i in range(9):
        assert await slow.say(f"第{i}句话", user="u6", when=slow.now + timedelta(seconds=5)) == []


def test_the_normaliser_undoes_common_disguises():
    assert compact(fold("加 Ｖ ❤ ① ２ ③")) == "微信123"
    assert compact(fold("薇 信 / 威信 / vx / 扣 扣 / 企鹅")) == "微信qqqq"  # repeated WeChat cues are one cue
    assert compact(fold("刷單賺錢")) == "刷单赚钱"


def test_near_index_matches_similar_texts_only():
    index = NearIndex(0.6)
    assert index.add(1, compact(fold("本店新到一批进口奶粉质量保证欢迎来看")))
    assert index.match(compact(fold("本店新到一批进口奶粉，质量保证，欢迎来看看"))) is not None
    assert index.match(compact(fold("今天天气真不错我们去公园玩吧"))) is None
    assert not index.add(2, "短")


def _reply(chat: Chat, text: str, user: str, role: str, reply_to: str):
    from bot.model import MessageReceived

    chat.now += timedelta(seconds=1)
    chat._ids += 1
    chat.engine.clock.set(chat.now)
    return MessageReceived(at=chat.now, platform=chat.platform, group=chat.group, user=user, name=user, role=role,
                           id=f"m{chat._ids}", text=text, reply_to=reply_to)


def lines(name: str) -> list[str]:
    text = (Path(__file__).parent / "data" / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


async def test_the_shipped_rules_catch_the_sample_ads_and_leave_ordinary_chat_alone(chat: Chat):
    """The issue's aim, on our own samples (each from a different member, so the ladder plays no part):
    at least 95% of ads deleted, at most 2% of ordinary messages touched."""
    ads, ordinary = lines("anti_ad_ads.txt"), lines("anti_ad_ordinary.txt")
    missed = [text for n, text in enumerate(ads) if "delete" not in [a.name for a in await chat.say(text, user=f"ad{n}")]]
    touched = [text for n, text in enumerate(ordinary)
               if any(a.plugin == "anti_ad" for a in await chat.say(text, user=f"member{n}"))]
    assert len(missed) <= 0.05 * len(ads), missed
    assert len(touched) <= 0.02 * len(ordinary), touched


@pytest.mark.parametrize("text", ["➕Ｖ：ｗｘ８８６６８８ 低价代购名牌包", "加微信：huangjin_ls 稳定收益", "会员账号超低价 v：vipzh88"])
async def test_contacts_behind_plus_signs_colons_and_underscores_are_found(chat: Chat, text):
    assert reasons(await chat.say(text, user="u7"))[0] == "contact_id"
