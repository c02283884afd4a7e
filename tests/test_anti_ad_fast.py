"""The anti-ad fast paths give the verdicts of the plain way: every substitution and every pattern tried
on every message (the oracle below), on the sample corpus, on random texts and on messages made to hit each
shortcut; and /ad finds the recent messages that a sweep at every message would keep."""

import json
import random
import re
import unicodedata
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.adscan import (_DOTTED, _DRESSED_HOST, _GROUP, _IP_HOST, _NEEDS_NFKC, _PLUS_V, _PRIVATE_HOST, _QQ, _SEPARATORS, _SHOP_CODE, _URL,
                        _WECHAT, INVITE_HOSTS, SUSPICIOUS_HOSTS, SUSPICIOUS_TLDS,
                        ListSpec, Scanner, Signal, _domain_in, _fold_table, compact, fold)
from benchmarks.anti_ad_bench import shipped_scanner
from bot.bus import Stop
from bot.safe_regex import PatternError
from bot.model import Action, MessageReceived
from plugins.anti_ad import _RECENT_SPAN, RECENT_PER_GROUP, GroupMemory, remember
from tests.conftest import Chat, kinds

EXTRA = [
    "", "   ", "哈哈哈哈", "👍👍👍", "收到，谢谢群主", "日赚500，一天300块", "月入3万", "赚三千", "扣扣 12345678",
    "口口声声", "企鹅号：9876543", "球球 88888", "q号 123456", "加v abc123", "+ v：abc123", "v：abc123", "威信 xm1234",
    "wx: hello_world", "看看 http://abc123.top/x 啊", "www.free-gift.xyz 领取", "刷 单", "刷單", "１２３４５６７８９０",
    "一三八一二三四五六七八", "群号 123456789", "qq群 5566778", "Ｗｅｃｈａｔ：ABC12345", "a.b", "1.5元", "日结200",
]


def oracle_compact(folded: str) -> str:
    return _GROUP.sub("群", _QQ.sub("qq", _WECHAT.sub("微信", _SEPARATORS.sub("", _PLUS_V.sub("加v", folded)))))


def oracle_fold(text: str) -> str:
    # NFKC is skipped as fold skips it (text it would not change, but for a few CJK punctuation marks that
    # compact drops anyway); the translation is never skipped.
    return (unicodedata.normalize("NFKC", text) if _NEEDS_NFKC.search(text) else text).lower().translate(_fold_table())


def oracle_domain_in(host: str, domains) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def oracle_links(scanner: Scanner, folded: str) -> list[Signal]:
    out, w = [], scanner.weights
    out += [Signal("link", m.group(1), w.suspicious_link) for m in _DOTTED.finditer(folded)][:1]
    if "." not in folded:  # as links has it ("https://host" without a dot is not looked at)
        return out
    for m in _URL.finditer(folded):
        url = m.group(0).rstrip(".,;)」』】")
        bare = re.sub(r"^(?:https?://)?", "", url)
        host = bare.split("/", 1)[0].split(":", 1)[0]
        if any(bare.startswith(h) for h in INVITE_HOSTS):
            out.append(Signal("invite", url, w.invite))
        elif oracle_domain_in(host, scanner.allow_domains) or _PRIVATE_HOST.match(host):
            continue
        elif (_IP_HOST.match(host) or oracle_domain_in(host, SUSPICIOUS_HOSTS) or host.rsplit(".", 1)[-1] in SUSPICIOUS_TLDS
              or _DRESSED_HOST.search(host)):
            out.append(Signal("link", url, w.suspicious_link))
        else:
            out.append(Signal("link", url, w.other_link))
    return out


def oracle_scan(scanner: Scanner, text: str) -> tuple:
    folded = oracle_fold(text)
    linked = "." in folded
    compacted = oracle_compact(_URL.sub(" ", folded) if linked else folded)
    signals = scanner.contacts(compacted) + oracle_links(scanner, folded)
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
    code = _SHOP_CODE.search(folded)
    if code:
        signals.append(Signal("shop_code", code.group(0), scanner.weights.shop_code))
    return sum(s.weight for s in signals), signals, compacted, None if linked else compacted


def corpus() -> list[str]:
    data = Path(__file__).parent / "data"
    lines = [line for name in ("anti_ad_ads.txt", "anti_ad_ordinary.txt")
             for line in (data / name).read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    labelled = [json.loads(line)["text"] for line in (data / "ads_corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    return lines + labelled + EXTRA


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return shipped_scanner()


@pytest.mark.parametrize("text", corpus())
def test_the_scan_agrees_with_the_plain_way(scanner, text):
    verdict = scanner.scan(text)
    assert (verdict.score, verdict.signals, verdict.text, verdict.whole) == oracle_scan(scanner, text)


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Chat-like strings mixing what each shortcut looks at: plain and folded CJK (BMP and beyond),
    full-width and look-alike characters, emoji, separators, digits, cues and links."""
    rng = random.Random(seed)
    folded_away = sorted(_fold_table())
    pieces = ["大家好", "收到", "微信", "薇信", "加v", "扣扣", "刷单", "日赚500", "http://", "https://", "www.", ".com", ".top",
              "点top", "。cc", "君羊", "裙", "绿泡泡", "v❤", "￥", "¥ab12cd34ef¥", "jd977.cc", "192.168.1.1", "0755-", "400",
              "t.cn/", "qm.qq.com/", "zhihu.com", "a.zhihu.com", "45.12.8.9", "/", ":", ".", " ", "，", "👍", "①", "Ａ",
              "ｗｘ", "\u200b", "abc123", "13800138000", "𠀀"]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(1, 8)):
            roll = rng.random()
            if roll < 0.5:
                parts.append(rng.choice(pieces))
            elif roll < 0.7:
                parts.append(chr(rng.choice(folded_away)))  # a character the fold table changes
            else:
                parts.append(chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0x4E00, 0xA000),
                                             rng.randrange(0xA0, 0x3000), rng.randrange(0x1F300, 0x1F700)])))
        texts.append("".join(parts))
    return texts


def test_fold_agrees_with_plain_nfkc_lower_translate():
    texts = random_texts(5000) + corpus()
    assert any(fold(t) != t.lower() for t in texts)  # the table changed some: the test sees both ways
    for text in texts:
        assert fold(text) == oracle_fold(text), text


def test_the_scan_agrees_with_the_plain_way_on_random_texts(scanner):
    for text in random_texts(3000, seed=1):
        verdict = scanner.scan(text)
        assert (verdict.score, verdict.signals, verdict.text, verdict.whole) == oracle_scan(scanner, text), text


def test_domain_look_up_agrees_with_a_test_per_domain():
    rng = random.Random(2)
    labels = ["a", "b", "qq", "com", "zhihu", "", "t", "me", "cn"]
    domains = ["qq.com", "zhihu.com", "t.me", "com", "a.b", ".com", "", "b.qq.com"]
    for _ in range(5000):
        host = ".".join(rng.choice(labels) for _ in range(rng.randrange(1, 5)))
        chosen = frozenset(rng.sample(domains, rng.randrange(0, 4)))
        assert _domain_in(host, chosen) == oracle_domain_in(host, chosen), (host, chosen)


def test_compact_skips_the_disguise_substitutions_only_when_they_change_nothing():
    for text in corpus():
        folded = fold(text)
        assert compact(folded) == oracle_compact(folded), text


def test_patterns_run_on_re2_and_a_backreference_is_refused():
    # Operator patterns run on RE2 (bot/safe_regex.py), which has no backreferences: the rules' validator
    # refuses one, and so would the scanner.
    with pytest.raises(PatternError, match="backreferences"):
        Scanner([ListSpec("b", (), (r"(\d)\1{4}",), 2)], ())
    plain = Scanner([ListSpec("c", (), (r"x(?:y)z", "[0-9]{3}元"), 2), ListSpec("a", (), ("abc",), 1)], ())
    assert plain._any_pattern is not plain.patterns
    for text in ["abc", "xyz", "abc 100元 xyz", "nothing"]:
        verdict = plain.scan(text)
        assert (verdict.score, verdict.signals) == oracle_scan(plain, text)[:2]
    assert [s.matched for s in plain.scan("xyz 100元 xyz").signals] == ["xyz", "100元"]


@pytest.fixture
async def chat(chat_with) -> Chat:
    """A group where only anti_ad runs, on its shipped rules."""
    return await chat_with("anti_ad")


async def test_groups_on_the_same_rules_share_one_plan_and_its_windows(chat: Chat):
    import plugins.anti_ad as anti_ad

    await chat.say("大家好", user="u1")
    await Chat(chat.engine, group="g2").say("大家好", user="u1")
    state = chat.engine.state_of(anti_ad.plugin)
    assert isinstance(state, anti_ad.AntiAdState)
    first, second = state.groups["qq:g1"].plan, state.groups["qq:g2"].plan
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
    assert kinds(mark) == ["send", "delete", "send", "report"] and mark[1].message == "m2"


def test_recent_messages_agree_with_a_sweep_at_every_message():
    # The plain way: every message first drops all messages beyond the hours, then the bound applies.
    rng = random.Random(4)
    kept, plain = GroupMemory(plan=None), OrderedDict()
    at, swept, bounded = datetime(2026, 11, 23, tzinfo=timezone.utc), 0, False
    for i in range(3000):
        # A burst that passes the bound, then gaps that leave some messages beyond the hours, some within.
        at += timedelta(seconds=1 if i < 1000 else rng.choice([1, 5, 30, 60, 600, 3600, 4 * 3600]))
        ev = MessageReceived(platform="qq", group="g1", user=f"u{i % 7}", id=f"m{i}", text="hi", at=at)
        before = kept.sweep_at
        remember(kept, ev)
        for key in [key for key, message in plain.items() if message[4] < at - _RECENT_SPAN]:
            del plain[key]
        plain[ev.id] = kept.recent[ev.id]
        while len(plain) > RECENT_PER_GROUP:
            plain.popitem(last=False)
        findable = {key for key, message in kept.recent.items() if message[4] >= at - _RECENT_SPAN}
        assert findable == set(plain), i
        if kept.sweep_at != before:  # a sweep leaves nothing beyond the hours
            swept += 1
            assert all(message[4] >= at - _RECENT_SPAN for message in kept.recent.values()), i
        bounded = bounded or len(kept.recent) == RECENT_PER_GROUP
    assert swept > 100 and bounded


async def test_the_ladders_actions_name_the_plugin_as_the_bus_would_and_pass_uncopied(chat: Chat, monkeypatch):
    """punish (and /notad's lifted mute) name anti_ad on each action, so the bus hands them on as they are
    instead of copying each to name it: the same actions as the plain way (the bus's copy), no copy made."""
    import bot.bus
    from tests.test_anti_ad import SPLIT_AD, _reply

    plain_collect, seen = bot.bus._collect, []

    def spy(result, actions, plugin):
        items = [result] if isinstance(result, (Action, Stop)) else list(result)
        before = len(actions)
        stop = plain_collect(items, actions, plugin)
        if plugin == "anti_ad":
            seen.extend(zip([i for i in items if not isinstance(i, Stop)], actions[before:]))
        return stop

    monkeypatch.setattr(bot.bus, "_collect", spy)
    for text in (SPLIT_AD, "薇信：xiaomei8866 日賺300元"):  # warn, then mute
        await chat.say(text, user="u7")
    await chat.engine.handle(_reply(chat, "/notad", "boss", "admin", reply_to=f"m{chat._ids}"))  # lifts the mute
    for text in (SPLIT_AD, "加V abc12345 刷单日结", "ｑｑ：１２３４５６７８ 兼职日结"):  # … up to the kick
        await chat.say(text, user="u9")
    assert {given.name for given, _ in seen} >= {"delete", "mute", "kick", "send", "report"}
    for given, passed in seen:
        assert passed is given, f"{given.name} was copied: it did not name its plugin"
        assert given == given.model_copy(update={"plugin": "anti_ad"})
