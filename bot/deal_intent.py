"""Whether a chat message announces the sender's own deal (签单/成交/开单/回款 …): the red-packet prompt
congratulates only that, never a question, process talk, a negation, a hope, a complaint, a metric or
someone else's deal.

Rules over the sentence, clause by clause (a message may say "没成交，但是开单了"): a clause holding a deal
word announces a deal when it is not a question, the word is used as a verb (not "成交量", "签单流程"),
nothing negates or defers it, its subject is the sender (said or implied) or their client, and it reads
as done (了/啦/成功, a count, 刚/终于/今天, an exclamation, or the bare word as a cheer). The benchmark
(benchmarks/red_packet_accuracy.py) measures it on the labelled corpus in tests/data/.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Deal words that tell of the client's act rather than the seller's: they count only with the client as
# subject ("客户下单了" is a deal, "我下单了一个键盘" is shopping).
CLIENT_VERBS = frozenset({"下单", "打款", "付款", "订货", "签字"})

_SEPARATORS = ",。!?;~…\n"
# A clause and the punctuation that closes it; a dot between digits ("4.6万") stays inside the clause.
_CLAUSE = re.compile(r"((?:[^,。!?;~…\n.]|(?<=\d)\.(?=\d))+)([,。!?;~…\n.]*)")
_SPACE = re.compile(r"\s+")

_QUESTION = re.compile(
    r"吗|么$|呢$|怎么|怎样|如何|什么|啥|(?<![好十])几(?=[单个套家台件笔张份辆点天号])|多少|哪|谁|为什么|为啥|是不是"
    r"|有没有|能不能|会不会|可不可以|要不要|是否|咋|难道|(?:没|没有|不|否)[啊呀呢哇]*$")
# Right before the word: 没成交, 还没有签单, 未能出单, 不会开单, 别急着成交, 难以成交.
_NEGATED_BEFORE = re.compile(r"(?:没|未|不|别|无|非|难以?|一单都没|零)(?:有|能|会|曾|再|太|法|要|用|急着|想|肯|愿意?)?$")
# Right after the word: 签单失败, 成交不了, 签约仪式 is handled as a noun below.
_NEGATED_AFTER = re.compile(r"^(?:失败|不了|不成|不下来|没成|没用|不算|也没用|了也没用|被|[::]?0(?![\d.]))")
_UNDONE = re.compile(r"黄了|飞了|泡汤|退单|被退|反悔|变卦|跑了|跑路|抢了|抢走|签走|不签|没签|没戏|丢单|取消")
# Moods and times that make the deal not (yet) a fact: hopes, plans, conditions, rules, wishes, dreams.
_NOT_YET = re.compile(
    r"如果|要是|假如|万一|一旦|等到?|争取|希望|祈祷|祝|预祝|想|要|准备|打算|计划|目标|快要|马上|即将|应该|估计|可能|也许"
    r"|能|只要|必须|记得|一定|请|千万|为了|梦|羡慕|明天|明儿|下周|下个月|月底前|到时候|以后|将来|看看|是否|每|差一?点|(?:都|也|就|肯定|一定)?会$")
_CONDITION_AFTER = re.compile(r"^(?:了?才|了?就有|了?就能|了?就要|了?再说|的话|就好了|了?我?就请|了?就算|了?要|了?记得|了?必须)")
# The word used as a noun or in talk about the job: 成交量, 签单率, 签单流程, 签单的时候, 签单后, 签单太难.
_NOUN_AFTER = re.compile(
    r"^(?:量|率|额|价|数|总|周期|流程|技巧|方法|话术|经验|秘诀|案例|奖|提成|政策|王|之星|冠军|排|榜|表|系统|软件|小程序"
    r"|记录|照片|截图|模板|合同模板|确认书|仪式|笔|客户|资料|文件|环节|节点|问题|情况|数据|目标|任务|指标|金额|比例|名单"
    r"|人数|的(?=.)|后|前|时|以|通知|发(?:双倍|积分|奖|红包)|以后|之后|以前|之前|这件事|这事|需要|靠|是|不是|和|与|送|有礼|享受|太|好难|真难|很难|难|越来越"
    r"|得|急不得|看|只是|签到|手软|到底|这种|是一种|才)")
_METRIC = re.compile(r"%|同比|环比|占比|合计|汇总|统计|累计|排名|排行")
_PAST = re.compile(r"以前|当年|曾经|上次|好久|那时候|这时候|入行|去年|前年|过(?:一|个|这)")
_HEARSAY = re.compile(r"听说|据说|梦见|梦到|做梦|梦里")
# The sender says the deal is not theirs: "我们组爆单了，可惜没我的", "客户签了，但是是别人的客户".
_NOT_MINE = re.compile(r"没我的|不是我|就我没|我还没|我一单没|别人的|算他的|只有我还|我打下手|就我一个没")
_DONE = re.compile(
    r"了|啦|咯|喽|成功|完成|到账|到手|搞定|下来|\+\d|刚|终于|已|又|今天|今日|今儿|今晚|首单|破零|第.{1,3}单"
    r"|[\d一二两三四五六七八九十百千万几]+(?:单|套|台|份|件|个|家|张|笔|辆|万|w|k|组|位|箱|柜)|的$|当场|现场|直接"
    r"|早上|上午|中午|下午|晚上|凌晨|周[一二三四五六日]")
# A request about the paperwork, not news: "回款到账通知发一下".
_REQUEST = re.compile(r"发一下|发我|发到|发群")
# Deals told by a count rather than a deal word: "又出一单", "刚开了一单", "今天接了一单装修".
_COUNTED = re.compile(r"(?:出|开|签|接|做|成交)了?(?:[\d一两二三四五六七八九十]+|第一)单")
_BARE = re.compile(r"^[啦了呀哈嘿耶咯喽]*$")

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_PEOPLE = "师傅|师父|徒弟|领导|老公|老婆|表哥|表姐|表弟|表妹|同事|同学|朋友|闺蜜|哥哥|姐姐|弟弟|妹妹|老大|主管|经理|组长"
# Who does the deal: the sender (first person), their client (the client signs, pays, orders), or someone
# else. The last one named before the word is the subject; "我师傅", "我们领导" are someone else.
_AGENTS = re.compile(
    rf"(?P<third>(?:我们|我|咱们|咱)(?:{_PEOPLE})|他们|她们|他|她|人家|别人|隔壁|对面|新人|新来的|大家|全组|全公司|全员|全国"
    rf"|竞争对手|同行|你们|你|您|谁|(?<!我们)(?<!咱们)(?:团队|公司|部门|平台|行业|市场)|(?:{_PEOPLE})"
    rf"|[小老阿][{_SURNAMES}](?![总序])|[{_SURNAMES}](?:哥|姐|经理|主管|老师))(?!家?的|圈)"
    rf"|(?P<client>客户|顾客|买家|甲方|[{_SURNAMES}]总|老板)"
    r"|(?P<first>我们|我|咱们|咱|俺|本人|本宝宝|本姑娘|老子|哥们儿?|小弟|自己)")
_CHEERED_OTHER = re.compile(r"(?:恭喜|祝贺|庆祝)(?!自己|我|一下)")


@dataclass(frozen=True)
class Verdict:
    deal: bool
    why: str  # the rule that decided, for the benchmark's error listing


def normalize(text: str) -> str:
    """Full-width forms folded (！？， → !?,), case folded, whitespace dropped."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).lower())


@lru_cache(maxsize=64)
def _first_chars(words: tuple[str, ...]) -> tuple[re.Pattern, bool]:
    """A search for any first character of ``words``, and whether it may run on the text before
    ``normalize``: NFKC leaves unified ideographs as they are (only compatibility ideographs, looked for
    apart, become them), so where every first character is one, raw text without them has none after."""
    # Every counted deal ("又出一单") holds 单.
    firsts = {"单"} | {w[0] for w in words}
    pattern = re.compile("[" + "".join(re.escape(c) for c in sorted(firsts)) + "]")
    return pattern, all("\u4e00" <= c <= "\u9fff" for c in firsts)


_COMPATIBILITY_IDEOGRAPHS = re.compile("[\uf900-\ufaff\U0002f800-\U0002fa1f]")


@lru_cache(maxsize=64)
def _normalized(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in (normalize(w) for w in words) if w)


def announces_deal(text: str, words: tuple[str, ...] | list[str]) -> bool:
    """Whether ``text`` announces the sender's own deal, told by one of ``words``."""
    words = _normalized(tuple(words))
    first, raw_safe = _first_chars(words)
    # Most chat holds no deal word's first character: one search answers it, on the raw text where it can.
    if raw_safe and not first.search(text) and not _COMPATIBILITY_IDEOGRAPHS.search(text):
        return False
    text = normalize(text)
    if not first.search(text):
        return False
    return _classify(text, words).deal


def classify(text: str, words: tuple[str, ...] | list[str]) -> Verdict:
    """The verdict on ``text`` and the rule that decided it."""
    return _classify(normalize(text), _normalized(tuple(words)))


def _classify(text: str, words: tuple[str, ...]) -> Verdict:
    if not any(w in text for w in words) and not _COUNTED.search(text):
        return Verdict(False, "no_deal_word")
    if _HEARSAY.search(text):
        return Verdict(False, "hearsay")
    if _NOT_MINE.search(text):
        return Verdict(False, "not_mine")
    why = "not_done"
    for match in _CLAUSE.finditer(text):
        verdict = _clause(match.group(1), match.group(2), words)
        if verdict.deal:
            return verdict
        if verdict.why != "no_deal_word":
            why = verdict.why
    return Verdict(False, why)


def _clause(body: str, end: str, words: tuple[str, ...]) -> Verdict:
    found = [(body.find(w), w) for w in words if w in body] + [(m.start(), m.group()) for m in _COUNTED.finditer(body)]
    if not found:
        return Verdict(False, "no_deal_word")
    if "?" in end or _QUESTION.search(body):
        return Verdict(False, "question")
    if _METRIC.search(body):
        return Verdict(False, "metric")
    if _PAST.search(body):
        return Verdict(False, "past")
    if _UNDONE.search(body):
        return Verdict(False, "undone")
    if _REQUEST.search(body):
        return Verdict(False, "request")
    why = "not_done"
    for start, word in sorted(found):
        verdict = _occurrence(body, end, start, word)
        if verdict.deal:
            return verdict
        why = verdict.why
    return Verdict(False, why)


def _occurrence(body: str, end: str, start: int, word: str) -> Verdict:
    before, after = body[:start], body[start + len(word):]
    if _NOUN_AFTER.match(after):
        return Verdict(False, "noun")
    if _NEGATED_BEFORE.search(before[-5:]) or _NEGATED_AFTER.match(after):
        return Verdict(False, "negated")
    if _NOT_YET.search(before) or _CONDITION_AFTER.match(after):
        return Verdict(False, "not_yet")
    if _CHEERED_OTHER.search(before):
        return Verdict(False, "someone_else")
    subject = _subject(before)
    if subject == "third":
        return Verdict(False, "someone_else")
    if word in CLIENT_VERBS and subject != "client":
        return Verdict(False, "not_a_sale")
    if any(_DONE.search(part) for part in (before, word, after)) or "!" in end or _BARE.match(after) and not before:
        return Verdict(True, f"{subject or 'implied'}_deal")
    return Verdict(False, "not_done")


def _subject(before: str) -> str | None:
    last = None
    for match in _AGENTS.finditer(before):
        last = match.lastgroup
    return last
