"""NoneBot2's half of the comparison; runs in its own virtual environment (see nonebot_bench.py), so it
imports nothing from Qunbot.

    python nonebot_side.py STREAM.jsonl KEYWORDS.json ALLOW_DOMAINS.json RESULT.json

Five matchers equivalent to Qunbot's shipped behaviour on this stream: a 1,000-keyword ad ban that
recalls and mutes, ``on_command("签到")``, a URL regex (links outside an allow-list are recalled), a
catch-all message counter, ``on_fullmatch("早安")``. Every API call goes to an adapter whose
``_call_api`` does nothing (no network), and records when the current event's first call was made.
Payloads are fed back to back as the adapter's WebSocket loop would see them: ``json.loads``, then
``Adapter.json_to_event``, then ``handle_event`` (awaited, so the next one arrives when it is done).
Writes one JSON object to RESULT.json: seconds, per-event times and first-action latencies.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter

import nonebot
from nonebot.adapters.onebot.v11 import Adapter, Bot, GroupMessageEvent
from nonebot.message import handle_event

FIRST_CALL: list[float | None] = [None]


class NoopAdapter(Adapter):
    """The OneBot v11 adapter with API calls answered at once and nothing sent."""

    async def _call_api(self, bot: Bot, api: str, **data):
        if FIRST_CALL[0] is None:
            FIRST_CALL[0] = time.perf_counter()
        return {"message_id": 1} if api.startswith("send") else None


def set_matchers(keywords: set[str], allow: tuple[str, ...]) -> Counter:
    from nonebot import on_command, on_fullmatch, on_keyword, on_message, on_regex
    from nonebot.params import RegexStr

    counts: Counter = Counter()
    ad = on_keyword(keywords, priority=1, block=True)
    checkin = on_command("签到", priority=5, block=True)
    url = on_regex(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？]+", priority=5, block=True)
    morning = on_fullmatch("早安", priority=5, block=True)
    counter = on_message(priority=10, block=False)

    @ad.handle()
    async def ban(bot: Bot, event: GroupMessageEvent):
        await bot.delete_msg(message_id=event.message_id)
        await bot.set_group_ban(group_id=event.group_id, user_id=event.user_id, duration=1800)

    @checkin.handle()
    async def check_in(event: GroupMessageEvent):
        await checkin.send("签到成功", at_sender=True)

    @url.handle()
    async def screen_link(bot: Bot, event: GroupMessageEvent, link: str = RegexStr()):
        host = re.sub(r"^(?:https?://)?", "", link).split("/", 1)[0].lower()
        if not any(host == d or host.endswith("." + d) for d in allow):
            await bot.delete_msg(message_id=event.message_id)

    @morning.handle()
    async def greet():
        await morning.send("早安！")

    @counter.handle()
    async def count(event: GroupMessageEvent):
        counts[event.group_id] += 1

    return counts


async def feed(lines: list[str]) -> dict:
    driver = nonebot.get_driver()
    adapter = NoopAdapter(driver)
    bot = Bot(adapter, "10000")
    handled, latencies = [], []
    clock = time.perf_counter
    began = clock()
    for line in lines:
        t0 = clock()
        FIRST_CALL[0] = None
        event = adapter.json_to_event(json.loads(line))
        await handle_event(bot, event)
        t1 = clock()
        handled.append(t1 - t0)
        if FIRST_CALL[0] is not None:
            latencies.append(FIRST_CALL[0] - t0)
    return {"seconds": clock() - began, "handled": handled, "latencies": latencies}


def main() -> None:
    stream, keywords, allow, out = sys.argv[1:5]
    # Command start "" as well as "/": Chinese groups type 签到, not /签到.
    nonebot.init(driver="~none", command_start=["/", ""], log_level="WARNING")
    with open(keywords, encoding="utf-8") as f:
        words = set(json.load(f))
    with open(allow, encoding="utf-8") as f:
        domains = tuple(json.load(f))
    counts = set_matchers(words, domains)
    with open(stream, encoding="utf-8") as f:
        lines = f.read().splitlines()
    result = asyncio.run(feed(lines))
    result["counted"] = sum(counts.values())
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
