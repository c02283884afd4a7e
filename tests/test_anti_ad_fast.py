"""The anti-ad fast paths give the verdicts of the plain way: every substitution and every pattern tried
on every message (the oracle below), on the sample corpus and on messages made to hit each shortcut."""

from datetime import timedelta
from pathlib import Path

import pytest

from bot.adscan import _PLUS_V, _QQ, _SEPARATORS, _URL, _WECHAT, ListSpec, Scanner, Signal, compact, fold
from benchmarks.anti_ad_bench import shipped_scanner
from tests.conftest import Chat

EXTRA = [
    "", "   ", "哈哈哈哈", "👍👍👍", "收到，谢谢群主", "日赚500，一天300块", "月入3万", "赚三千", "扣扣 12345678",
    "口口声声", "企鹅号：9876543", "球球 88888", "q号 123456", "加v abc123", "+ v：abc123", "v：abc123", "威信 xm1234",
    "wx: hello_world", "看看 http://abc123.top/x 啊", "www.free-gift.xyz 领取", "刷 单", "刷單", "１２３４５６７８９０",
    "一三八一二三四五六七八", "群号 123456789", "qq群 5566778", "Ｗｅｃｈａｔ：ABC12345", "a.b", "1.5元", "日结200",
]


def oracle_compact(folded: str) -> str:
    return _QQ.sub("qq", _WECHAT.sub("微信", _SEPARATORS.sub("", _PLUS_V.sub("加v", folded))))


def oracle_scan(scanner: Scanner, text: str) -> tuple:
    folded = fold(text)
    linked = "." in folded
    compacted = oracle_compact(_URL.sub(" ", folded) if linked else folded)
    signals = scanner.contacts(compacted) + scanner.links(folded)
    if scanner.automaton is not None:
        seen = {}
        for index, _s, _e in scanner.automaton.find_matches_as_indexes(compacted):
            name, weight, word = scanner._word_values[index]
            seen.setdefault(word, Signal(name, word, weight))
        signals += seen.values()
    if scanner.patterns is not None:
        named = set()
        for m in scanner.patterns.finditer(compacted):
            if m.lastgroup not in named:
                named.add(m.lastgroup)
                name, weight = scanner._pattern_lists[m.lastgroup]
                signals.append(Signal(name, m.group(), weight))
    return sum(s.weight for s in signals), signals, compacted, None if linked else compacted


def corpus() -> list[str]:
    data = Path(__file__).parent / "data"
    lines = [line for name in ("anti_ad_ads.txt", "anti_ad_ordinary.txt")
             for line in (data / name).read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return lines + EXTRA


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return shipped_scanner()


@pytest.mark.parametrize("text", corpus())
def test_the_scan_agrees_with_the_plain_way(scanner, text):
    verdict = scanner.scan(text)
    assert (verdict.score, verdict.signals, verdict.text, verdict.whole) == oracle_scan(scanner, text)


def test_compact_skips_the_disguise_substitutions_only_when_they_change_nothing():
    for text in corpus():
        folded = fold(text)
        assert compact(folded) == oracle_compact(folded), text


def test_patterns_that_number_their_groups_are_matched_as_before():
    lists = [ListSpec("a", (), ("abc",), 1), ListSpec("b", (), (r"(\d)\1{4}", r"x(?:y)z"), 2)]
    scanner = Scanner(lists, ())
    assert scanner._any_pattern is scanner.patterns  # the unnamed alternation would renumber the groups
    for text in ["abc", "11111", "xyz", "abc 11111 xyz", "nothing"]:
        verdict = scanner.scan(text)
        assert (verdict.score, verdict.signals) == oracle_scan(scanner, text)[:2]
    plain = Scanner([ListSpec("c", (), (r"x(?:y)z", "[0-9]{3}元"), 2)], ())
    assert plain._any_pattern is not plain.patterns
    assert [s.matched for s in plain.scan("xyz 100元 xyz").signals] == ["xyz", "100元"]


async def test_groups_on_the_same_rules_share_one_plan_and_its_windows(chat: Chat):
    import plugins.anti_ad as anti_ad

    await chat.say("大家好", user="u1")
    await Chat(chat.engine, group="g2").say("大家好", user="u1")
    memory = chat.engine.memory("anti_ad")
    first, second = memory["qq:g1"].plan, memory["qq:g2"].plan
    assert first is second
    rules = first.rules
    assert first.flood.window.total_seconds() == rules.flood.seconds
    assert first.flood.repeat_window.total_seconds() == rules.flood.repeat_seconds
    assert first.newcomer_span.total_seconds() == rules.newcomer_hours * 3600
    assert isinstance(first, anti_ad.Plan)


async def test_ad_finds_no_message_beyond_the_hours_before_the_sweep_drops_it(chat: Chat):
    from plugins.anti_ad import RECENT_HOURS
    from tests.test_anti_ad import _reply

    start = chat.now
    assert await chat.say("本店新到一批进口奶粉，有兴趣的朋友可以来店里看看", user="u3") == []  # m1
    later = start + timedelta(hours=RECENT_HOURS, seconds=-30)
    assert await chat.say("大家好", user="u4", when=later) == []  # m2: m1 is still within the hours
    chat.now = start + timedelta(hours=RECENT_HOURS, seconds=10)  # under a minute on: no sweep, m1 is too old
    late = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m1"))
    assert [(a.name, a.reason) for a in late] == [("send", "usage")]
    mark = await chat.engine.handle(_reply(chat, "/ad", "boss", "admin", reply_to="m2"))
    assert [a.name for a in mark] == ["send", "delete", "send"] and mark[1].message == "m2"
