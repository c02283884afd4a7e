"""Ad detection for group messages: normalise the disguises, then score contact details, links, keyword
and pattern lists and near-copies of ads an admin has marked.

Everything here is pure and per-scanner (no module-level mutable state): ``Scanner`` is built once per
rule set and reused for every message. Keywords go through one Aho-Corasick automaton (ahocorasick-rs,
leftmost-longest), patterns (the operators', so on RE2: bot/safe_regex.py) through one compiled alternation, so the cost
per message does not grow with the list's length.
Traditional characters are folded with the single-character table of the maintained ``zhconv`` package.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import ahocorasick_rs

from bot import safe_regex

# Look-alikes NFKC leaves alone: Cyrillic and Greek letters that pass for Latin ones, odd digit forms.
_LOOKALIKES = {
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ν": "v", "ο": "o", "α": "a", "ϲ": "c", "〇": "0", "零": "0", "➕": "+", "✚": "+",
}
# Chinese numerals spelled out to hide a number ("一三八…"); folded only in the contact view.
_CN_DIGITS = str.maketrans("一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两", "12345678912345678912")
# Disguises of WeChat and QQ, after folding and removing separators: look-alike and same-sound characters
# (薇信, 威芯, 魏信, v信, wei信), abbreviations (vx, wx), slang (绿泡泡, 卫星 for 微信).
# Repeated cues collapse into one: "+v：wx886688" is 加v then wx, one WeChat id after one cue.
_WECHAT = re.compile(r"(?:加[微薇威][信芯心]?|(?:[薇威徽维微围魏]|wei|v)(?:信|芯|心|x)|(?:加|\+|＋)v|vx|wx|weixin|wechat|绿泡泡|卫星)+")
# "+v", a lone "v:" introducing an id ("v：abc123"), and a lone v before an id behind a symbol or a space
# ("V❤ xiao6648"), are WeChat cues.
_PLUS_V = re.compile(r"[+＋]\s*v|(?<![a-z0-9])v\s*[:：]|(?<![a-z0-9])v(?=[^\w\u4e00-\u9fff]{1,3}[a-z0-9][a-z0-9_-]{4})")
_QQ = re.compile(r"扣扣|抠抠|口口|企鹅号?|qq|q号|球球|扣号")
# 群 spelt by sound or split in two (裙, 峮, 君羊, qun): only the group-number detector reads it.
_GROUP = re.compile(r"君羊|[裙峮]|qun")
# A character every _WECHAT disguise contains: without one the (slower) substitution is skipped.
_WECHAT_CUE = re.compile(r"[薇威徽维微围魏加vw绿卫]")
# … and the first characters of every _QQ and _GROUP disguise besides.
_DISGUISE_CUE = re.compile(r"[薇威徽维微围魏加vw绿卫扣抠口企q球君裙峮]")
# Kept in the compact view: letters, digits, CJK ideographs. Everything else (spaces, emoji,
# punctuation, zero-width characters) is a possible separator inside a disguised id.
_SEPARATORS = re.compile(r"[^0-9a-z\u4e00-\u9fff]+")
_FILLER = r"[信号码是为账户加搜私聊找我们的id]{0,4}"
# A WeChat id: 6-20 letters, digits (and _ or -, gone in the compact view), starting with a letter; or a
# number. After 微信, or after a lone 薇/威/微 (the rest of the cue hidden behind a heart: "薇❤xiao6648").
_WECHAT_ID = re.compile(rf"(?:微信|[薇威微](?=[:：]?[a-z0-9])){_FILLER}([a-z][a-z0-9]{{5,19}}|1[3-9]\d{{9}}|\d{{6,12}})(?![a-z0-9])")
_QQ_ID = re.compile(rf"(?:qq|(?<![a-z])q|扣(?=\d)){_FILLER}(\d{{5,11}})(?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:86)?(1[3-9]\d{9})(?!\d)")
# Landlines with their area code (010, 02x, 0xxx; local numbers start with 2-8), and 400/800 numbers.
_LANDLINE = re.compile(r"(?<!\d)(0(?:10|2\d|[3-9]\d\d)[2-8]\d{6,7})(?!\d)")
_HOTLINE = re.compile(r"(?<!\d)([48]00\d{7})(?!\d)")
_GROUP_NO = re.compile(r"群号?[号码是为:]{0,3}(\d{5,11})(?!\d)")
_TLD = r"(?:com|cn|net|org|top|xyz|vip|cc|me|io|info|site|club|shop|link|ly|tk|app|pro|biz|co|tv|icu|fun|online|live|ren|wang|work|buzz|pw|ink)"
# Short-link services whose top-level domain is in no list above (is.gd, suo.im): links without a scheme too.
_SHORT = r"(?:is\.gd|suo\.im|bit\.ly|t\.cn|url\.cn|dwz\.cn)/[a-z0-9]+"
_URL = re.compile(rf"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？]+|(?<![\w@.])(?:[a-z0-9-]+\.)+{_TLD}(?:/[^\s\u4e00-\u9fff，。！？]*)?(?![a-z0-9])"
                  rf"|(?<![\w@.]){_SHORT}")
# A domain whose dot is spelt out or full stopped to escape link filters: "vip306点live", "abc。top".
_DOTTED = re.compile(rf"(?<![a-z0-9.])([a-z0-9-]{{2,30}}\s*(?:点|。|\s\.\s)\s*{_TLD})(?![a-z0-9])")
# A shopping app's password (口令): ￥AbC123xyz9￥, what 助力 and coupon messages carry instead of a link.
_SHOP_CODE = re.compile(r"([¥￥€₤$¢])[a-z0-9]{8,12}\1")
_SHOP_MARK = re.compile(r"[¥￥€₤$¢]")
# Characters NFKC leaves alone: ASCII, CJK ideographs, common CJK and general punctuation.
_NEEDS_NFKC = re.compile(r"[^\x00-\x7f\u4e00-\u9fff\u3001-\u3011\u2010-\u2027\uff01\uff08\uff09\uff0c\uff1a\uff1b\uff1f]")
# A run that could be a contact (digits or Chinese numerals, or a WeChat id); without one, no contact detector can fire.
_NUMBER_RUN = re.compile(r"[0-9一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两]{5,}|[a-z0-9]{6,}")
# One character class covering both of _NUMBER_RUN's: no run of five of these, no contact (0.9 µs, not 2.2).
_NUMBER_RUN_HINT = re.compile(r"[0-9a-z一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两]{5,}")
_IP_HOST = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# Addresses of one's own network (code and configuration talk): never an ad.
_PRIVATE_HOST = re.compile(r"^(?:127\.|10\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.)|^localhost$")
_ID_RUNS = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Full-width, look-alike and traditional characters → their plain simplified form (one table)."""
    # zhconv's own data file, read without importing zhconv: its module imports pkg_resources, which
    # cost 0.2 s of the bot's start-up (the first message builds this table) and warns on import.
    spec = importlib.util.find_spec("zhconv")
    folder = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "zhcdict.json").is_file():
        raise RuntimeError("zhconv's zhcdict.json is missing: reinstall the zhconv package")
    zh2hans = json.loads((folder / "zhcdict.json").read_bytes())["zh2Hans"]
    # Identity entries (about 3,800 of zhconv's 8,500, 这 -> 这) change nothing, but would send nearly every
    # message through str.translate (~6 µs for 100 characters) instead of skipping it.
    table = {ord(k): v for k, v in zh2hans.items() if len(k) == 1 and len(v) == 1 and k != v}
    table.update((ord(k), v) for k, v in _LOOKALIKES.items())
    return table


@lru_cache(maxsize=1)
def _may_fold() -> re.Pattern:
    """Finds a character the fold table may change; most messages have none, and skip the translation.
    One character class of the table's BMP characters plus every character beyond the BMP: sre tests a
    class of BMP characters with a bitmap (0.2 µs for a 30-character line, against 1.5 µs for a frozenset's
    ``isdisjoint``), but one that also lists the table's ~400 CJK Extension B characters one range at a
    time (15 µs). Beyond the BMP it says "maybe" (emoji do), and the translation, which costs about
    what ``isdisjoint`` did, settles it. Compiled once, on the first message (~5 ms, after the table's ~10)."""
    bmp = "".join(re.escape(chr(code)) for code in sorted(_fold_table()) if code <= 0xFFFF)
    return re.compile(f"[{bmp}\U00010000-\U0010ffff]")


def fold(text: str) -> str:
    """NFKC (full-width → half-width, circled ① → 1, math letters), lower case, simplified characters.
    Plain ASCII-and-CJK text skips NFKC, which costs about 0.3 µs a character for CJK in CPython."""
    if _NEEDS_NFKC.search(text):
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    return text.translate(_fold_table()) if _may_fold().search(text) else text


def compact(folded: str) -> str:
    """The folded text without separators, WeChat/QQ/group disguises spelled the one way (微信, qq, 群)."""
    text = _PLUS_V.sub("加v", folded) if "v" in folded else folded  # both of its forms have a v
    text = _SEPARATORS.sub("", text)
    if _DISGUISE_CUE.search(text):  # most messages have none, and skip both (slower) substitutions
        if _WECHAT_CUE.search(text):
            text = _WECHAT.sub("微信", text)
        text = _GROUP.sub("群", _QQ.sub("qq", text))
    return text


def shingles(compacted: str) -> frozenset[str]:
    """Character 3-grams with every id or number run collapsed, so a near-copy with another contact matches."""
    text = _ID_RUNS.sub("#", compacted)
    return frozenset(text[i:i + 3] for i in range(len(text) - 2))


@dataclass(frozen=True)
class Signal:
    detector: str  # contact_id, phone, qq, link, invite, keyword list name, near_copy, …
    matched: str
    weight: int


@dataclass(slots=True)
class Verdict:
    score: int
    signals: list[Signal] = field(default_factory=list)
    text: str = ""  # the compact text that was scanned
    whole: str | None = None  # compact(fold(message)) when that is ``text`` (no link was taken out), else None

    @property
    def top(self) -> Signal | None:
        return max(self.signals, key=lambda s: s.weight) if self.signals else None


@dataclass(frozen=True)
class ListSpec:
    """One keyword/pattern list of the rules: its name is the detector's name in the admin log."""

    name: str
    words: tuple[str, ...]
    patterns: tuple[str, ...]
    weight: int


@dataclass(frozen=True)
class Weights:
    contact: int = 2
    phone: int = 2
    invite: int = 2
    suspicious_link: int = 2
    other_link: int = 1
    shop_code: int = 1


SUSPICIOUS_HOSTS = ("t.cn", "url.cn", "dwz.cn", "bit.ly", "tinyurl.com", "suo.im", "is.gd", "w.url.cn", "s.click.taobao.com")
INVITE_HOSTS = ("qm.qq.com", "jq.qq.com", "t.me/joinchat", "t.me/+", "weixin.qq.com/g/", "chat.whatsapp.com")
SUSPICIOUS_TLDS = ("top", "xyz", "vip", "tk", "icu", "fun", "site", "club", "shop", "link", "live", "online", "cc", "ren",
                   "wang", "work", "buzz", "pw", "ink")
# A host that names a brand, a bank or a government service it does not belong to (jd977.com, hb-qq.net,
# etc-gov.cn), or the bait itself (fuli888, free-gift): a phishing or lure domain, wherever it is registered.
_DRESSED_HOST = re.compile(r"(?:^|[.-])(?:qq|jd|tb|taobao|tmall|wx|weixin|wechat|alipay|zfb|icbc|ccb|boc|etc|yibao|12306"
                           r"|10086|apple|icloud|pdd|meituan|douyin|kuaidi|ems|gov|hb|hongbao|fuli|gift|free|bonus|lucky"
                           r"|prize|bet)(?:\d*|[-.][^.]*)\.[a-z]+$")


def _bare(url: str) -> str:
    """The URL without its scheme (what ``re.sub(r"^(?:https?://)?", "", url)`` gives, without the regex)."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme):]
    return url


def _domain_in(host: str, domains: frozenset[str]) -> bool:
    """Whether ``host`` is one of ``domains`` or a subdomain of one: a set look-up for the host and for
    each part after a dot, rather than a test per domain (the shipped allow-list has 43)."""
    if host in domains:
        return True
    dot = host.find(".")
    while dot >= 0:
        if host[dot + 1:] in domains:
            return True
        dot = host.find(".", dot + 1)
    return False


_SUSPICIOUS_HOSTS = frozenset(SUSPICIOUS_HOSTS)
_SUSPICIOUS_TLDS = frozenset(SUSPICIOUS_TLDS)


# The shapes of a phone number, the first that matches naming the detector: mobile, landline, 400/800.
_PHONES = (("phone", _PHONE), ("landline", _LANDLINE), ("hotline", _HOTLINE))


class Scanner:
    """A compiled rule set: call ``scan(text)`` for each message."""

    def __init__(self, lists: list[ListSpec], allow_domains: tuple[str, ...], weights: Weights = Weights()):
        self.weights = weights
        self.allow_domains = tuple(d.lower() for d in allow_domains)
        self._allowed = frozenset(self.allow_domains)
        found: dict[str, tuple[str, int, str]] = {}  # normalised key -> (list, weight, word); a later list wins
        for spec in lists:
            for word in spec.words:
                key = compact(fold(word))
                if key:
                    found[key] = (spec.name, spec.weight, word)
        self.has_words = bool(found)
        self._word_values = list(found.values())
        # ahocorasick-rs rather than pyahocorasick: its automaton is a DFA, where pyahocorasick searches a
        # node's children one by one (10,000 keywords: 3.6 µs instead of 11 µs per 100 characters).
        self.automaton = ahocorasick_rs.AhoCorasick(list(found), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest) \
            if found else None
        parts, plain, self._pattern_lists = [], [], {}
        for spec in lists:
            for pattern in spec.patterns:
                group = f"p{len(parts)}"
                parts.append(f"(?P<{group}>{pattern})")
                plain.append(f"(?:{pattern})")
                self._pattern_lists[group] = (spec.name, spec.weight)
        # The lists' patterns are the operators': RE2 (bot/safe_regex.py), linear in the text whatever
        # they say; each was validated alone, and together they get the budget of all of them.
        budget = safe_regex.MAX_MEM * max(1, len(parts))
        self.patterns = safe_regex.compile("|".join(parts), max_mem=budget) if parts else None
        # The same alternation without the names, only to learn whether any pattern matches (most messages
        # match none). RE2 has no backreferences, so no pattern can refer to another one's group by number.
        self._any_pattern = safe_regex.compile("|".join(plain), max_mem=budget) if plain else None

    def keywords(self, compacted: str) -> list[Signal]:
        """Each distinct keyword found, in one pass of the automaton. Matches are leftmost-longest and
        do not overlap, so a word inside a longer one ("发票" in "开发票") does not count again."""
        matches = self.automaton.find_matches_as_indexes(compacted) if self.has_words else None
        if not matches:
            return []
        found: dict[str, Signal] = {}
        values = self._word_values
        for index, _start, _end in matches:
            name, weight, word = values[index]
            if word not in found:
                found[word] = Signal(name, word, weight)
        return list(found.values())

    def pattern_hits(self, compacted: str) -> list[Signal]:
        """The first match of each pattern that matches."""
        if self._any_pattern is None or not self._any_pattern.matches(compacted):
            return []
        seen, out = set(), []
        for m in self.patterns.finditer(compacted):
            if m.lastgroup not in seen:
                seen.add(m.lastgroup)
                name, weight = self._pattern_lists[m.lastgroup]
                out.append(Signal(name, m.group(), weight))
        return out

    def scan(self, text: str) -> Verdict:
        folded = fold(text)
        # Links are judged by the link detector alone: inside a URL, "weixin" or a path of letters and
        # digits is no contact (mp.weixin.qq.com/s/… is an article).
        linked = "." in folded  # every form of link has a dot
        compacted = compact(_URL.sub(" ", folded) if linked else folded)
        # Contacts and links first: on equal weight they name the decision (the concrete evidence). Each
        # detector starts with a quick test that says "nothing here" for most messages.
        signals = self.contacts(compacted) + self.links(folded) + self.keywords(compacted)
        signals += self.pattern_hits(compacted)
        if _SHOP_MARK.search(folded):
            code = _SHOP_CODE.search(folded)
            if code:
                signals.append(Signal("shop_code", code.group(0), self.weights.shop_code))
        score = sum(s.weight for s in signals) if signals else 0
        return Verdict(score, signals, compacted, None if linked else compacted)

    def contacts(self, compacted: str) -> list[Signal]:
        """WeChat ids and numbers after a (disguised) cue, QQ numbers after a cue, phone numbers, group numbers."""
        w = self.weights
        if not _NUMBER_RUN_HINT.search(compacted) or not _NUMBER_RUN.search(compacted):
            return []
        digits = compacted.translate(_CN_DIGITS)
        out = [Signal("contact_id", m.group(0), w.contact) for m in _WECHAT_ID.finditer(digits)][:1]
        out += [Signal("qq_number", m.group(0), w.contact) for m in _QQ_ID.finditer(digits)][:1]
        if not out:  # a number already counted as someone's WeChat or QQ is not counted twice
            for name, pattern in _PHONES:
                found = pattern.search(digits)
                if found:
                    out.append(Signal(name, found.group(1), w.phone))
                    break
        out += [Signal("invite", m.group(0), w.invite) for m in _GROUP_NO.finditer(digits)][:1]
        return out

    def links(self, folded: str) -> list[Signal]:
        out: list[Signal] = []
        if "点" in folded or "。" in folded or " . " in folded:  # a dot spelt out or spaced: a host hiding from filters
            out += [Signal("link", m.group(1), self.weights.suspicious_link) for m in _DOTTED.finditer(folded)][:1]
        if "." not in folded:  # every other form of link has a dot
            return out
        for m in _URL.finditer(folded):
            url = m.group(0).rstrip(".,;)」』】")
            bare = _bare(url)
            host = bare.split("/", 1)[0].split(":", 1)[0]
            if bare.startswith(INVITE_HOSTS):
                out.append(Signal("invite", url, self.weights.invite))
            elif _domain_in(host, self._allowed) or _PRIVATE_HOST.match(host):
                continue
            elif (_IP_HOST.match(host) or _domain_in(host, _SUSPICIOUS_HOSTS)
                  or host.rsplit(".", 1)[-1] in _SUSPICIOUS_TLDS or _DRESSED_HOST.search(host)):
                out.append(Signal("link", url, self.weights.suspicious_link))
            else:
                out.append(Signal("link", url, self.weights.other_link))
        return out


class NearIndex:
    """Texts an admin marked (ads, or exceptions), found again by shingle overlap (Dice coefficient)."""

    MIN_SHINGLES = 4

    def __init__(self, threshold: float = 0.6):
        self.threshold = threshold
        self._samples: dict[int, frozenset[str]] = {}
        self._by_shingle: dict[str, set[int]] = {}

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, key: int, compacted: str) -> bool:
        grams = shingles(compacted)
        if len(grams) < self.MIN_SHINGLES:
            return False
        self._samples[key] = grams
        for g in grams:
            self._by_shingle.setdefault(g, set()).add(key)
        return True

    def remove(self, key: int) -> None:
        for g in self._samples.pop(key, ()):
            self._by_shingle.get(g, set()).discard(key)

    def match(self, compacted: str) -> tuple[int, float] | None:
        """The most similar sample (key, similarity) at or above the threshold, or None."""
        if not self._samples:
            return None
        grams = shingles(compacted)
        if len(grams) < self.MIN_SHINGLES:
            return None
        hits: dict[int, int] = {}
        for g in grams:
            for key in self._by_shingle.get(g, ()):
                hits[key] = hits.get(key, 0) + 1
        best = None
        for key, n in hits.items():
            score = 2 * n / (len(grams) + len(self._samples[key]))
            if score >= self.threshold and (best is None or score > best[1]):
                best = (key, score)
        return best
