"""Builds the labelled anti-ad corpus from the templates beside it (ads_corpus_ads.py, ads_corpus_ok.py):

    python tests/data/make_ads_corpus.py

writes tests/data/ads_corpus.jsonl (every message: text, label ad|ok, class, family, split) and
bot/data/ad_training.jsonl (the training split only: what the shipped scorer learns from). Seeded, so
the same templates give the same files.

The split is by template ("family"), not by message: about 30% of each class's templates are held out
whole, so the held-out messages are phrasings the scorer never saw, not the same sentence with another
phone number in it. tests/test_ads_corpus.py checks that the shipped training file is this split.
"""

from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path

import zhconv

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ads_corpus_ads import ADS, CASINOS  # noqa: E402
from ads_corpus_ok import OK, QUOTED  # noqa: E402

SEED = 20261123
HELD_OUT = 0.3
AD_VARIANTS, OK_VARIANTS = 5, 4
CORPUS = HERE / "ads_corpus.jsonl"
TRAINING = HERE.parent.parent / "bot" / "data" / "ad_training.jsonl"

FULL = str.maketrans(string.digits + string.ascii_letters, "０１２３４５６７８９" + "".join(chr(0xFF41 + i) for i in range(26))
                     + "".join(chr(0xFF21 + i) for i in range(26)))
CIRCLED = str.maketrans("123456789", "①②③④⑤⑥⑦⑧⑨")
CN = str.maketrans("0123456789", "零一二三四五六七八九")
NOISE = [" ", " ", "  ", "❤", "💰", "⭐", "·", "_", "-", "🔥", "✨", "|", "\u200b", "."]

WX_CUES = ["微信", "薇信", "威信", "v信", "V信", "VX", "vx", "wx", "Wx", "加V", "➕V", "+v", "加薇", "加威", "薇", "威",
           "徽信", "魏信", "维信", "V❤", "微❤", "薇❤", "威❤", "绿泡泡", "wei信", "V芯", "威芯", "薇芯", "ⓥ", "V:", "vx号",
           "加微", "＋V", "+微", "卫星", "WeChat"]
QQ_CUES = ["QQ", "qq", "扣扣", "扣", "Q", "q", "企鹅", "抠抠", "口口", "Q号", "扣号", "ＱＱ"]
GROUP_CUES = ["q群", "Q群", "扣群", "群号", "加群", "裙", "君羊", "qun", "企鹅群", "峮", "进群", "QQ群"]
JOINERS = ["：", ":", " ", "", "→", "👉", "➡️", "（", "【", "~", " : "]
TLDS = ["top", "xyz", "vip", "icu", "cc", "shop", "club", "fun", "site", "live", "online", "cn", "com", "net", "me"]
LURE_LABELS = ["hb", "fuli", "vip", "kuaidi", "etc", "yibao", "jd", "tb", "mov", "qq", "gift", "free", "bonus", "wx", "pay",
               "tuikuan", "cai", "bet", "ok", "lucky", "film", "app", "dl", "svip", "love", "mm"]
MONEY = ["日入过千", "日赚五百", "一天三四百", "月入过万", "日结200+", "每天稳定收入三百起", "一周回本", "月入2w+", "日赚300-800",
         "一天轻松一两百", "每天多赚几百块", "月收入三五万"]
GOOD_LINKS = [
    "https://mp.weixin.qq.com/s/{r}", "https://www.bilibili.com/video/BV1{r}", "https://b23.tv/{r}",
    "https://www.zhihu.com/question/{d}", "https://github.com/{w}/{w2}", "https://v.douyin.com/{r}/",
    "http://xhslink.com/a/{r}", "https://www.toutiao.com/article/{d}/", "https://docs.python.org/3/library/re.html",
    "https://m.weibo.cn/status/{r}", "https://www.ixigua.com/{d}", "https://news.sina.com.cn/c/{d}.shtml",
    "https://www.gov.cn/zhengce/{d}.htm", "https://www.youtube.com/watch?v={r}", "https://juejin.cn/post/{d}",
    "https://www.xiaohongshu.com/explore/{r}", "https://www.douban.com/note/{d}/", "https://tieba.baidu.com/p/{d}",
]
PHONE_SHAPES = ["{a}{b}{c}", "{a} {b} {c}", "{a}-{b}-{c}", "+86 {a} {b} {c}", "+86{a}{b}{c}", "(+86){a}-{b}-{c}", "{a}{b}{c}", "{a} {b}{c}"]
AREA = ["010", "021", "022", "023", "020", "0755", "0571", "0512", "025", "027", "028", "029", "0531", "0591", "0731"]


def rand_id(rng: random.Random) -> str:
    letters = rng.choice(["xiao", "jz", "zq", "fl", "hh", "lucky", "mei", "vip", "ab", "kefu", "ls", "daikuan", "cai",
                          "lily", "amy", "tt", "yy", "zhuanqian", "hx", "gupiao"])
    tail = "".join(rng.choice(string.digits) for _ in range(rng.randint(4, 8)))
    sep = rng.choice(["", "", "_", ""])
    return f"{letters}{sep}{tail}" if rng.random() < 0.8 else f"{letters}{sep}{rng.choice(['mm', 'gg', 'jie', 'ge'])}{tail[:4]}"


def rand_mobile(rng: random.Random) -> tuple[str, str, str]:
    return (rng.choice(["13", "15", "17", "18", "19"]) + str(rng.randint(0, 9)), f"{rng.randint(0, 9999):04d}", f"{rng.randint(0, 9999):04d}")


def disguise_digits(rng: random.Random, digits: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        return digits.translate(FULL)
    if roll < 0.22:
        return digits.translate(CIRCLED)
    if roll < 0.30:
        return digits.translate(CN)
    if roll < 0.50:
        sep = rng.choice(NOISE)
        return sep.join(digits)
    return digits


def disguise(rng: random.Random, value: str) -> str:
    """Letters and digits of a handle: sometimes full-width, circled, spelt out, or spaced with noise."""
    if rng.random() < 0.3:
        sep = rng.choice(NOISE)
        return sep.join(value)
    if rng.random() < 0.2:
        return value.translate(FULL)
    return value


def wx(rng: random.Random) -> str:
    value = rand_id(rng) if rng.random() < 0.75 else "".join(rand_mobile(rng))
    cue = rng.choice(WX_CUES)
    value = disguise_digits(rng, value) if value.isdigit() else disguise(rng, value)
    return f"{cue}{rng.choice(JOINERS)}{value}"


def qq(rng: random.Random) -> str:
    number = str(rng.randint(10_000, 3_999_999_999))
    return f"{rng.choice(QQ_CUES)}{rng.choice(JOINERS)}{disguise_digits(rng, number)}"


def grp(rng: random.Random) -> str:
    number = str(rng.randint(100_000, 999_999_999))
    return f"{rng.choice(GROUP_CUES)}{rng.choice(JOINERS)}{disguise_digits(rng, number)}"


def mobile(rng: random.Random, disguised: bool = True) -> str:
    a, b, c = rand_mobile(rng)
    text = rng.choice(PHONE_SHAPES).format(a=a, b=b, c=c)
    if disguised and rng.random() < 0.2:
        text = text.translate(FULL)
    return text


def landline(rng: random.Random) -> str:
    area = rng.choice(AREA)
    local = str(rng.randint(2, 8)) + "".join(rng.choice(string.digits) for _ in range(7 if len(area) == 3 else rng.choice([6, 7])))
    shape = rng.choice(["{a}-{l}", "{a}-{l}", "({a}){l}", "{a} {l}", "{a}{l}", "{a}-{h} {t}"])
    return shape.format(a=area, l=local, h=local[:4], t=local[4:])


def hotline(rng: random.Random) -> str:
    head = rng.choice(["400", "400", "800"])
    a, b = f"{rng.randint(100, 999)}", f"{rng.randint(0, 9999):04d}"
    return rng.choice(["{h}-{a}-{b}", "{h}{a}{b}", "{h} {a} {b}", "{h}-{a}{b}"]).format(h=head, a=a, b=b)


def rand_token(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def domain(rng: random.Random) -> str:
    label = rng.choice(LURE_LABELS) + rng.choice(["", "-", ""]) + rng.choice([rng.choice(LURE_LABELS), str(rng.randint(1, 999))])
    host = f"{label}.{rng.choice(TLDS)}"
    roll = rng.random()
    if roll < 0.1:
        return host.replace(".", rng.choice(["点", "。", " . "]))
    path = rng.choice(["", "", f"/{rand_token(rng, 5)}", f"/?id={rng.randint(1, 99999)}", "/reg", "/m/index.html"])
    return rng.choice(["http://", "https://", "www.", "", "https://m."]) + host + path


def short(rng: random.Random) -> str:
    host = rng.choice(["t.cn/A6", "dwz.cn/", "url.cn/", "suo.im/", "bit.ly/", "tinyurl.com/", "is.gd/"])
    if rng.random() < 0.2:
        return f"http://{rng.randint(11, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:{rng.choice([80, 8080, 8888])}/{rand_token(rng, 4)}"
    return rng.choice(["https://", "http://", ""]) + host + rand_token(rng, rng.randint(4, 7))


def pdd(rng: random.Random) -> str:
    return rng.choice([
        f"https://mobile.yangkeduo.com/duo_cut.html?goods_id={rng.randint(10**8, 10**9)}",
        f"https://p.pinduoduo.com/{rand_token(rng, 8)}", f"https://m.tb.cn/h.{rand_token(rng, 7)}",
        f"https://u.jd.com/{rand_token(rng, 7)}", f"https://dpurl.cn/{rand_token(rng, 7)}",
        f"https://s.click.taobao.com/{rand_token(rng, 7)}", f"https://yangkeduo.com/{rand_token(rng, 6)}",
    ])


def code(rng: random.Random) -> str:
    mark = rng.choice(["￥", "€", "₤", "$", "¢"])
    return f"{mark}{rand_token(rng, rng.randint(9, 11))}{mark}"


def link(rng: random.Random) -> str:
    words = ["vuejs", "pallets", "flask", "hello", "tiangolo", "fastapi", "awesome", "notes", "dotfiles"]
    return rng.choice(GOOD_LINKS).format(r=rand_token(rng, 8), d=rng.randint(10**6, 10**9), w=rng.choice(words), w2=rng.choice(words))


def price(rng: random.Random) -> str:
    value = rng.choice([9.9, 19, 29.9, 68, 99, 128, 199, 268, 299, 399, 599, 1299, 2999, 3500])
    return rng.choice(["{v}元", "{v}块", "￥{v}", "{v}"]).format(v=value)


FILL = {"wx": wx, "qq": qq, "grp": grp, "mobile": mobile, "landline": landline, "hotline": hotline, "domain": domain,
        "short": short, "pdd": pdd, "code": code, "link": link, "price": price,
        "phone": lambda rng: mobile(rng, disguised=False), "money": lambda rng: rng.choice(MONEY),
        "casino": lambda rng: rng.choice(CASINOS), "quoted": lambda rng: rng.choice(QUOTED)}
AD_PREFIX = ["", "", "", "【福利】", "📢", "🔥🔥", "各位群友打扰了，", "打扰一下，", "【招聘】", "💰💰", "看过来👀 "]
AD_SUFFIX = ["", "", "", "！", "～", "🙏", "（长期有效）", "，名额有限", "！！！", "👍", "，先到先得"]
OK_PREFIX = ["", "", "", "", "@张三 ", "对了，", "话说", "哎，", "问一下，"]
OK_SUFFIX = ["", "", "", "。", "？", "😂", "哈哈", "～", "！"]


def fill(rng: random.Random, template: str) -> str:
    class Slots(dict):
        def __missing__(self, key):
            return FILL[key](rng)
    return template.format_map(Slots())


def split_a_word(rng: random.Random, text: str) -> str:
    """Advertisers break their own keywords too: 砍 一 刀, 兼❤职."""
    runs = [i for i in range(len(text) - 2) if all("\u4e00" <= c <= "\u9fff" for c in text[i:i + 3])]
    if not runs:
        return text
    i = rng.choice(runs)
    sep = rng.choice([" ", "❤", "*", "/", "💰", "."])
    return text[:i] + sep.join(text[i:i + 3]) + text[i + 3:]


def ad_variant(rng: random.Random, template: str) -> str:
    text = fill(rng, template)
    if rng.random() < 0.25:
        text = split_a_word(rng, text)
    if rng.random() < 0.08:
        text = zhconv.convert(text, "zh-hant")
    return rng.choice(AD_PREFIX) + text + rng.choice(AD_SUFFIX)


def ok_variant(rng: random.Random, template: str) -> str:
    text = fill(rng, template)
    if rng.random() < 0.05:
        text = zhconv.convert(text, "zh-hant")
    return rng.choice(OK_PREFIX) + text + rng.choice(OK_SUFFIX)


def build() -> list[dict]:
    rng = random.Random(SEED)
    rows: list[dict] = []
    for label, classes, variant, count in (("ad", ADS, ad_variant, AD_VARIANTS), ("ok", OK, ok_variant, OK_VARIANTS)):
        for cls, templates in classes.items():
            held = set(rng.sample(range(len(templates)), round(HELD_OUT * len(templates))))
            for n, template in enumerate(templates):
                seen: set[str] = set()
                for _ in range(count * 3):  # slotless templates repeat: a few tries for distinct dressings
                    text = variant(rng, template)
                    if text not in seen:
                        seen.add(text)
                        rows.append({"text": text, "label": label, "class": cls, "family": f"{cls}:{n}",
                                     "split": "test" if n in held else "train"})
                    if len(seen) == count:
                        break
    return rows


def main() -> None:
    rows = build()
    CORPUS.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    TRAINING.parent.mkdir(exist_ok=True)
    training = [{"text": r["text"], "label": r["label"]} for r in rows if r["split"] == "train"]
    TRAINING.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in training), encoding="utf-8")
    ads = sum(r["label"] == "ad" for r in rows)
    print(f"{len(rows)} messages ({ads} ads, {len(rows) - ads} ordinary); {len(training)} in the training split")


if __name__ == "__main__":
    main()
