"""A generated stream of OneBot v11 group-message events, the JSON an implementation (NapCat …) posts.

Shared by the NoneBot2 comparison and the profiling helpers. The mix: 70% chat, 10% 签到, 5% 早安,
10% messages with a URL (half to allowed sites, half to throwaway domains), 5% ads that use the shipped
anti-ad lists' words or a disguised contact. Times advance one second per ~10 events, spread over many
groups and members, so that flood control sees ordinary traffic rather than one member spamming.
"""

from __future__ import annotations

import json
import random
import tomllib
from pathlib import Path

SHIPPED_ANTI_AD = Path(__file__).resolve().parent.parent / "rules" / "anti_ad.toml"
START = 1_795_400_000  # 2026-11-23 ~07:33 Asia/Shanghai, as a OneBot "time" (Unix seconds)
SELF_ID = 10_000

CHAT = ["大家早上好", "这个活动什么时候开始？", "收到，谢谢群主", "哈哈哈哈", "有人在上海吗", "今天的分享很有用",
        "我也想参加", "链接发一下可以吗", "晚安各位", "👍👍👍", "同意楼上", "下周见", "周末有人一起爬山吗？",
        "刚才那个问题我也遇到了，重启一下就好了", "请问报名截止到几号？", "好的好的，明白了"]
GOOD_URLS = ["https://github.com/botuniverse/onebot-11", "看看这个 https://www.zhihu.com/question/12345",
             "https://mp.weixin.qq.com/s/abcdef 今天的推文", "https://b23.tv/BV1xx411c7mD"]
BAD_URLS = ["福利 http://abc123.top/x", "点这里 https://t.cn/A6xyz12", "http://45.12.8.9/join 快来", "www.free-gift.xyz 领取"]
AD_TEMPLATES = ["{w}，{w2}，有意者私聊", "招人{w}，加薇信 abc{n}", "{w} 详情加 V：hx{n}", "【{w}】{w2}，名额有限"]


def shipped_ad_words() -> tuple[list[str], list[str]]:
    """(words that are enough alone, hint words) of the shipped anti-ad lists."""
    lists = tomllib.loads(SHIPPED_ANTI_AD.read_text("utf-8"))["lists"]
    strong = [w for spec in lists.values() if spec.get("weight", 1) >= 2 for w in spec.get("words", [])]
    hints = [w for spec in lists.values() if spec.get("weight", 1) < 2 for w in spec.get("words", [])]
    return strong, hints


def ad_keywords(count: int = 1000, seed: int = 7) -> list[str]:
    """``count`` ban words: every shipped word, then generated ones ("<syllables>兼职" …) up to ``count``."""
    strong, hints = shipped_ad_words()
    words = list(dict.fromkeys(strong + hints))
    rng = random.Random(seed)
    syllables = "赚佣返领抢送招代刷票贷币彩单群码券卡号"
    while len(words) < count:
        word = "".join(rng.choice(syllables) for _ in range(3)) + rng.choice(["兼职", "福利", "代理", "返利"])
        if word not in words:
            words.append(word)
    return words[:count]


def _text(rng: random.Random, roll: float, strong: list[str], i: int) -> str:
    if roll < 0.70:
        return rng.choice(CHAT)
    if roll < 0.80:
        return "签到"
    if roll < 0.85:
        return "早安"
    if roll < 0.95:
        return rng.choice(GOOD_URLS if rng.random() < 0.5 else BAD_URLS)
    return rng.choice(AD_TEMPLATES).format(w=rng.choice(strong), w2=rng.choice(strong), n=100_000 + i)


def generate(n: int, groups: int = 200, members: int = 100, seed: int = 1) -> list[str]:
    """``n`` OneBot v11 ``message``/``group`` events as JSON lines (array message format)."""
    rng = random.Random(seed)
    strong, _hints = shipped_ad_words()
    lines = []
    for i in range(n):
        group = 700_000 + rng.randrange(groups)
        user = 20_000 + (group % 1000) * 1000 + rng.randrange(members)  # each group has its own members
        text = _text(rng, rng.random(), strong, i)
        event = {
            "time": START + i // 10, "self_id": SELF_ID, "post_type": "message", "message_type": "group",
            "sub_type": "normal", "message_id": 1_000_000 + i, "group_id": group, "user_id": user, "anonymous": None,
            "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
            "sender": {"user_id": user, "nickname": f"成员{user}", "card": "", "role": "member"},
        }
        lines.append(json.dumps(event, ensure_ascii=False))
    return lines
