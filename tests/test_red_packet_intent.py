"""Red-packet prompts by intent: only a member announcing their own deal is congratulated — the issue's
messages in the group, each kind of look-alike, and the corpus figures against the targets."""

import pytest

from benchmarks.red_packet_accuracy import load, score
from bot.deal_intent import Verdict, announces_deal, classify
from plugins.red_packet import RedPacketRules
from tests.conftest import Chat, reasons

WORDS = tuple(RedPacketRules().deal_keywords)


@pytest.fixture
async def chat(chat_with) -> Chat:
    return await chat_with("red_packet")


async def test_the_issues_messages_get_no_prompt_and_an_announcement_does(chat: Chat):
    for n, text in enumerate(("你今天签单了吗？", "签单流程是怎样的", "成交量太低了", "还没签单", "小王签单了")):
        assert await chat.say(text, user=f"u{n}", name="小李") == [], text
    prompted = await chat.say("我今天签单啦！", user="u1", name="小李")
    assert reasons(prompted) == ["deal_prompt"] and prompted[0].mentions == ("u1",) and "小李" in prompted[0].text


@pytest.mark.parametrize("text, why", [
    ("你今天签单了吗？", "question"), ("签单了没有啊", "question"), ("今天成交了几单", "question"),
    ("新人怎么开单啊", "question"), ("签单流程是怎样的", "question"),
    ("签单后一定要上传系统", "noun"), ("签单技巧有哪些？", "question"), ("签单奖励政策出来了", "noun"),
    ("成交量太低了", "noun"), ("本月签单率只有12%", "metric"), ("成交额同比增长15%", "metric"),
    ("本月团队成交120单", "someone_else"), ("今日全组签单合计8单", "metric"),
    ("还没签单", "undone"), ("不成交就算了", "negated"), ("单子签了又黄了", "undone"), ("签单失败，被竞品抢了", "negated"),
    ("今日签单：0", "negated"), ("开单好难啊", "noun"),
    ("小王签单了", "someone_else"), ("恭喜小刘签单！", "someone_else"), ("我师傅今天开单了", "someone_else"),
    ("隔壁组今天爆单了", "someone_else"), ("听说小赵签了个大单", "hearsay"),
    ("我们组今天爆单了，可惜没我的", "not_mine"),
    ("如果明天能签单就好了", "not_yet"), ("明天争取签单", "not_yet"), ("马上要签单了，紧张", "not_yet"),
    ("只要签单就有提成", "not_yet"), ("祝大家天天签单", "not_yet"), ("差一点就签单了，可惜", "not_yet"),
    ("去年签了一个千万的单", "past"), ("上次签单还是上个月", "past"), ("我下单了一个键盘", "not_a_sale"),
])
def test_look_alikes_are_not_announcements(text, why):
    assert classify(text, WORDS) == Verdict(False, why)
    assert not announces_deal(text, WORDS)


@pytest.mark.parametrize("text", [
    "今天签单了！", "我开单了，首单！", "终于成交了😭", "爆单了兄弟们！", "又成交一单", "刚刚签了一单，3万8",
    "回款到账了，50万！", "客户签了！！！", "客户下单了，30台设备", "王总今天终于签了，三年的合作",
    "我们团队今天开了5单", "没成交，但是开单了", "签单了，要不要发个红包？", "签单+1", "开单！",
    "李姐介绍的客户今天成交了", "和小王一起跑的客户，今天我签下来了", "在客户家签的单，哈哈哈", "老客户复购，又出一单",
    "ＯＫ，今天签单了！", "签　单　了",
])
def test_own_deals_are_announcements(text):
    assert announces_deal(text, WORDS), classify(text, WORDS)


def test_the_operators_words_decide_what_is_a_deal_word():
    assert not announces_deal("今天放款了！", WORDS)
    assert announces_deal("今天放款了！", WORDS + ("放款",))
    assert not announces_deal("今天放款了吗？", WORDS + ("放款",))
    assert not announces_deal("今天签单了！", ())


def test_the_corpus_is_large_labelled_and_split_for_good():
    rows = load()
    deals = [r for r in rows if r[0]]
    others = [r for r in rows if not r[0]]
    assert len(deals) >= 300 and len(others) >= 300
    assert len({text for _d, _s, text in rows}) == len(rows)  # no message twice
    held_out = [r for r in rows if r[1] == "held_out"]
    assert sum(r[0] for r in held_out) >= 100 and sum(not r[0] for r in held_out) >= 100


@pytest.mark.parametrize("split", ["dev", "held_out"])
def test_the_corpus_figures_meet_the_targets(split):
    """The issue's targets (precision >= 95 %, recall >= 90 %), on the split the rules were not written on
    and on the one they were."""
    figures = score([r for r in load() if r[1] == split], WORDS)
    assert figures["precision"] >= 0.95 and figures["recall"] >= 0.90, figures


def test_a_malformed_corpus_line_is_named(tmp_path):
    bad = tmp_path / "corpus.tsv"
    bad.write_text("# comment\ndeal\tdev\t今天签单了\nyes\tdev\t开单了\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"corpus.tsv:3: label must be deal\|other"):
        load(bad)
