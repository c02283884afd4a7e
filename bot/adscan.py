"""Ad detection for group messages: normalise the disguises, then score contact details, links, keyword
and pattern lists and near-copies of ads an admin has marked.

Everything here is pure and per-scanner (no module-level mutable state): ``Scanner`` is built once per
rule set and reused for every message. Keywords go through one Aho-Corasick automaton (pyahocorasick),
patterns through one compiled alternation, so the cost per message does not grow with the list's length.
Traditional characters are folded with the single-character table of the maintained ``zhconv`` package.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import ahocorasick

# Look-alikes NFKC leaves alone: Cyrillic and Greek letters that pass for Latin ones, odd digit forms.
_LOOKALIKES = {
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ν": "v", "ο": "o", "α": "a", "ϲ": "c", "〇": "0", "零": "0", "➕": "+", "✚": "+",
}
# Chinese numerals spelled out to hide a number ("一三八…"); folded only in the contact view.
_CN_DIGITS = str.maketrans("一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两", "12345678912345678912")
# Disguises of WeChat and QQ, after folding and removing separators.
# Repeated cues collapse into one: "+v：wx886688" is 加v then wx, one WeChat id after one cue.
_WECHAT = re.compile(r"(?:(?:[薇威徽维微围]|wei)(?:信|芯|心|x)|加[微薇]|(?:加|\+|＋)v|vx|wx|weixin|wechat|v信)+")
# "+v", and a lone "v:" introducing an id ("v：abc123"), are WeChat cues.
_PLUS_V = re.compile(r"[+＋]\s*v|(?<![a-z0-9])v\s*[:：]")
_QQ = re.compile(r"扣扣|抠抠|口口|企鹅号?|qq|q号|球球|扣号")
# Kept in the compact view: letters, digits, CJK ideographs. Everything else (spaces, emoji,
# punctuation, zero-width characters) is a possible separator inside a disguised id.
_SEPARATORS = re.compile(r"[^0-9a-z\u4e00-\u9fff]+")
_FILLER = r"[信号码是为账户加搜私聊找我们的id]{0,4}"
# A WeChat id: 6-20 letters, digits (and _ or -, gone in the compact view), starting with a letter.
_WECHAT_ID = re.compile(rf"微信{_FILLER}([a-z][a-z0-9]{{5,19}}|1[3-9]\d{{9}}|\d{{6,12}})(?![a-z0-9])")
_QQ_ID = re.compile(rf"qq{_FILLER}(\d{{5,11}})(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
_GROUP_NO = re.compile(r"群号?[号码是为:]{0,3}(\d{5,11})(?!\d)")
_URL = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？]+|(?<![\w@.])(?:[a-z0-9-]+\.)+(?:com|cn|net|org|top|xyz|vip|cc|me|io|info|site|club|shop|link|ly|tk|app|pro|biz|co|tv|icu|fun|online|live)(?:/[^\s\u4e00-\u9fff，。！？]*)?(?![a-z0-9])")
# Characters NFKC leaves alone: ASCII, CJK ideographs, common CJK and general punctuation.
_NEEDS_NFKC = re.compile(r"[^\x00-\x7f\u4e00-\u9fff\u3001-\u3011\u2010-\u2027\uff01\uff08\uff09\uff0c\uff1a\uff1b\uff1f]")
# A run that could be a contact (digits or Chinese numerals, or a WeChat id); without one, no contact detector can fire.
_NUMBER_RUN = re.compile(r"[0-9一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两]{5,}|[a-z0-9]{6,}")
_IP_HOST = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_ID_RUNS = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Full-width, look-alike and traditional characters → their plain simplified form (one table)."""
    with warnings.catch_warnings():  # zhconv still imports pkg_resources, which warns on import
        warnings.simplefilter("ignore")
        import zhconv.zhconv as zh

    zh.getdict("zh-cn")
    table = {ord(k): v for k, v in zh.zhcdicts["zh2Hans"].items() if len(k) == 1 and len(v) == 1}
    table.update((ord(k), v) for k, v in _LOOKALIKES.items())
    return table


@lru_cache(maxsize=1)
def _foldable() -> re.Pattern:
    """Any character the fold table would change (most messages have none, and skip the translation)."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_fold_table())) + "]")


def fold(text: str) -> str:
    """NFKC (full-width → half-width, circled ① → 1, math letters), lower case, simplified characters.
    Plain ASCII-and-CJK text skips NFKC, which costs about 0.3 µs a character for CJK in CPython."""
    if _NEEDS_NFKC.search(text):
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    return text.translate(_fold_table()) if _foldable().search(text) else text


def compact(folded: str) -> str:
    """The folded text without separators, WeChat/QQ disguises spelled the one way (微信, qq)."""
    text = _PLUS_V.sub("加v", folded)
    text = _SEPARATORS.sub("", text)
    return _QQ.sub("qq", _WECHAT.sub("微信", text))


def shingles(compacted: str) -> frozenset[str]:
    """Character 3-grams with every id or number run collapsed, so a near-copy with another contact matches."""
    text = _ID_RUNS.sub("#", compacted)
    return frozenset(text[i:i + 3] for i in range(len(text) - 2))


@dataclass(frozen=True)
class Signal:
    detector: str  # contact_id, phone, qq, link, invite, keyword list name, near_copy, …
    matched: str
    weight: int


@dataclass
class Verdict:
    score: int
    signals: list[Signal] = field(default_factory=list)
    text: str = ""  # the compact text that was scanned

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


SUSPICIOUS_HOSTS = ("t.cn", "url.cn", "dwz.cn", "bit.ly", "tinyurl.com", "suo.im", "is.gd", "w.url.cn", "s.click.taobao.com")
INVITE_HOSTS = ("qm.qq.com", "jq.qq.com", "t.me/joinchat", "t.me/+", "weixin.qq.com/g/", "chat.whatsapp.com")
SUSPICIOUS_TLDS = ("top", "xyz", "vip", "tk", "icu", "fun", "site", "club", "shop", "link", "live", "online")


def _host(url: str) -> str:
    url = re.sub(r"^(?:https?://)?", "", url)
    return url.split("/", 1)[0].split(":", 1)[0]


def _domain_in(host: str, domains) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


class Scanner:
    """A compiled rule set: call ``scan(text)`` for each message."""

    def __init__(self, lists: list[ListSpec], allow_domains: tuple[str, ...], weights: Weights = Weights()):
        self.weights = weights
        self.allow_domains = tuple(d.lower() for d in allow_domains)
        self.automaton = ahocorasick.Automaton()
        for spec in lists:
            for word in spec.words:
                key = compact(fold(word))
                if key:
                    self.automaton.add_word(key, (spec.name, spec.weight, word))
        self.has_words = len(self.automaton) > 0
        if self.has_words:
            self.automaton.make_automaton()
        parts, self._pattern_lists = [], {}
        for spec in lists:
            for i, pattern in enumerate(spec.patterns):
                group = f"p{len(parts)}"
                parts.append(f"(?P<{group}>{pattern})")
                self._pattern_lists[group] = (spec.name, spec.weight)
        self.patterns = re.compile("|".join(parts)) if parts else None

    def keywords(self, compacted: str) -> list[Signal]:
        """Each distinct keyword found, in one pass of the automaton. Matches are leftmost-longest and
        do not overlap, so a word inside a longer one ("发票" in "开发票") does not count again."""
        if not self.has_words:
            return []
        found: dict[str, Signal] = {}
        for _end, (name, weight, word) in self.automaton.iter_long(compacted):
            if word not in found:
                found[word] = Signal(name, word, weight)
        return list(found.values())

    def scan(self, text: str) -> Verdict:
        folded = fold(text)
        # Links are judged by the link detector alone: inside a URL, "weixin" or a path of letters and
        # digits is no contact (mp.weixin.qq.com/s/… is an article).
        compacted = compact(_URL.sub(" ", folded) if "." in folded else folded)
        # Contacts and links first: on equal weight they name the decision (the concrete evidence).
        signals = self.contacts(compacted) + self.links(folded) + self.keywords(compacted)
        if self.patterns is not None:
            seen = set()
            for m in self.patterns.finditer(compacted):
                if m.lastgroup not in seen:
                    seen.add(m.lastgroup)
                    name, weight = self._pattern_lists[m.lastgroup]
                    signals.append(Signal(name, m.group(), weight))
        return Verdict(sum(s.weight for s in signals), signals, compacted)

    def contacts(self, compacted: str) -> list[Signal]:
        """WeChat ids and numbers after a (disguised) cue, QQ numbers after a cue, phone numbers, group numbers."""
        w = self.weights
        if not _NUMBER_RUN.search(compacted):
            return []
        digits = compacted.translate(_CN_DIGITS)
        out = [Signal("contact_id", m.group(0), w.contact) for m in _WECHAT_ID.finditer(digits)][:1]
        out += [Signal("qq_number", m.group(0), w.contact) for m in _QQ_ID.finditer(digits)][:1]
        if not out:  # a number already counted as someone's WeChat or QQ is not counted twice
            out += [Signal("phone", m.group(1), w.phone) for m in _PHONE.finditer(digits)][:1]
        out += [Signal("invite", m.group(0), w.invite) for m in _GROUP_NO.finditer(digits)][:1]
        return out

    def links(self, folded: str) -> list[Signal]:
        out: list[Signal] = []
        if "." not in folded:  # every form of link has a dot
            return out
        for m in _URL.finditer(folded):
            url = m.group(0).rstrip(".,;)」』】")
            host = _host(url)
            bare = re.sub(r"^(?:https?://)?", "", url)
            if any(bare.startswith(h) for h in INVITE_HOSTS):
                out.append(Signal("invite", url, self.weights.invite))
            elif _domain_in(host, self.allow_domains):
                continue
            elif (_IP_HOST.match(host) or _domain_in(host, SUSPICIOUS_HOSTS)
                  or host.rsplit(".", 1)[-1] in SUSPICIOUS_TLDS):
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
