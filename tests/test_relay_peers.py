"""A live relay across platforms against their peers: a QQ lecture room (our OneBot simulator as its own
process) relayed to a Telegram group (telegram-test-api) and a WeCom group (the WeCom fake), 200 messages,
with the bot stopped and started again on the same database in the middle: each target receives every
message once, in order. Two of them carry a picture (the QQ segment's URL, on a local HTTP server): it
reaches Telegram as a photo of those bytes, and WeCom, whose AI bot sends text only, as its words and a
line saying the picture could not be relayed."""

from __future__ import annotations

import contextlib
import random
import re
from pathlib import Path

import pytest
from aiohttp import web

from bot.adapters.qq.adapter import QQAdapter
from bot.adapters.qq.config import ForwardConnection, QQConfig
from bot.adapters.telegram.adapter import TelegramAdapter
from bot.adapters.wecom.adapter import WecomAdapter
from bot.config import OutboxLimits, QunbotConfig
from bot.engine import Engine
from tests.image_samples import png, text_picture
from tests.onebot_process import OneBotProcess
from tests.qq_harness import serving, wait_until
from tests.telegram_harness import TOKEN as TG_TOKEN
from tests.telegram_harness import Peer, eventually, user
from tests.wecom_peer import HttpSide, LongConnectionServer

ROOM, TEACHER, CHAT, WECOM = 700101, 1001, -100500, "wrRelayGroup"
QQ_TOKEN_ENV, QQ_TOKEN = "QUNBOT_TEST_QQ_TOKEN", "s3cret"
ENVIRON = {QQ_TOKEN_ENV: QQ_TOKEN, "QUNBOT_TELEGRAM_TOKEN": TG_TOKEN, "QUNBOT_TEST_WECOM_SECRET": "s3cret"}
LINE = re.compile(r"第 (\d+) 条")
# Fast pacing for the test (the platforms' own limits would make 200 messages take ten minutes): the
# order and once-only delivery are what is checked here; pacing itself is the outbox's tests' business.
FAST = OutboxLimits(per_group_per_minute=10_000, per_second=200, backoff_seconds=0.05)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "sets.toml").write_text(f'[sets]\n"课程群" = ["qq:{ROOM}", "telegram:{CHAT}", "wecom:{WECOM}"]\n', encoding="utf-8")
    (folder / "broadcasts.toml").write_text('accept_from = ["课程群"]\n', encoding="utf-8")
    (folder / "relay.toml").write_text("", encoding="utf-8")
    return folder


@contextlib.asynccontextmanager
async def bot(rules: Path, db: Path, onebot: OneBotProcess, telegram: Peer, wecom: LongConnectionServer, tmp_path: Path):
    config = QunbotConfig.model_validate({
        "adapters": ["qq", "telegram", "wecom"],
        "qq": {"forward": [{"url": onebot.url}], "token_env": QQ_TOKEN_ENV, "action_timeout": 5},
        "telegram": {"base_url": f"{telegram.url}/bot", "poll_timeout": 1, "permissions_file": str(tmp_path / "perms.json")},
        "wecom": {"bot_id": "aibot-relay", "secret_env": "QUNBOT_TEST_WECOM_SECRET", "bot_name": "机器人", "ws_url": wecom.url,
                  "reconnect_max_seconds": 0.5},
        "outbox": {"qq": FAST, "telegram": FAST, "wecom": FAST}})
    engine = await Engine.create(config, rules, db_url=f"sqlite:///{db}")
    adapters = [QQAdapter(config.qq, ENVIRON), TelegramAdapter(config.telegram, environ=ENVIRON), WecomAdapter(config.wecom, ENVIRON)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            for adapter in adapters:
                await stack.enter_async_context(serving(engine, adapter))
            await wait_until(lambda: adapters[0].connections, "QQ connected")
            await wait_until(lambda: wecom.active, "WeCom subscribed")
            yield engine
    finally:
        await engine.close()


@contextlib.asynccontextmanager
async def picture_server(data: bytes):
    """Serves ``data`` as /slide.png, as a QQ implementation serves a message's picture; yields its URL."""
    app = web.Application()
    app.router.add_get("/slide.png", lambda _request: web.Response(body=data, content_type="image/png"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/slide.png"
    finally:
        await runner.cleanup()


async def say(onebot: OneBotProcess, n: int, slide: str) -> None:
    """Line ``n``; lines 50 and 150 carry the slide."""
    words = f"第 {n} 条"
    picture = [{"type": "image", "data": {"file": "slide.png", "url": slide}}] if n in PICTURES else []
    await onebot.say(ROOM, TEACHER, words, [{"type": "text", "data": {"text": words}}, *picture] if picture else None)


PICTURES = (50, 150)


def picture_bytes() -> bytes:
    """A real PNG: a slide with words on it (tests/image_samples.py draws with the CJK font)."""
    return png(text_picture("第二讲：社群运营的三个阶段", random.Random(5), poster=False))


def numbers(texts: list[str]) -> list[int]:
    return [int(m[1]) for t in texts if (m := LINE.search(t))]


async def test_a_relay_from_qq_reaches_telegram_and_wecom_in_order_once_across_a_restart(rules, tmp_path):
    onebot = OneBotProcess(tmp_path, {ROOM: {TEACHER: "owner"}}, QQ_TOKEN)
    onebot.start()
    telegram = Peer(state=tmp_path / "tg-state.json")
    telegram.chat(CHAT, [{"user": user(2001, "听众"), "status": "member"}])
    wecom = LongConnectionServer("aibot-relay", "s3cret")
    await wecom.start()
    tg_texts = lambda: [m["text"] for m in telegram.sent(CHAT)]  # noqa: E731 (a photo's caption too)
    wc_texts = lambda: [text for _how, text in wecom.said[WECOM]]  # noqa: E731
    slide_bytes = picture_bytes()
    try:
        db = tmp_path / "relay.sqlite"
        async with picture_server(slide_bytes) as slide, bot(rules, db, onebot, telegram, wecom, tmp_path):
            await onebot.say(ROOM, TEACHER, "/转播 开始 课程群")
            await wait_until(lambda: any("转播开始" in str(s["message"]) for s in onebot.sent()), "the relay started")
            for n in range(100):
                await say(onebot, n, slide)
            await eventually(lambda: len(numbers(tg_texts())) >= 100, "100 messages on Telegram", timeout=60)
            await wait_until(lambda: len(numbers(wc_texts())) >= 100, "100 messages on WeCom", 60)
        # started again on the same database
        async with picture_server(slide_bytes) as slide, bot(rules, db, onebot, telegram, wecom, tmp_path):
            for n in range(100, 200):
                await say(onebot, n, slide)
            await eventually(lambda: len(numbers(tg_texts())) >= 200, "200 messages on Telegram", timeout=60)
            await wait_until(lambda: len(numbers(wc_texts())) >= 200, "200 messages on WeCom", 60)
        assert numbers(tg_texts()) == list(range(200))
        assert numbers(wc_texts()) == list(range(200))
        assert tg_texts()[0] == "【u1001】第 0 条" and wc_texts()[0] == "【u1001】第 0 条"
        photos = [m for m in telegram.sent(CHAT) if m.get("photo")]
        assert [m["text"] for m in photos] == [f"【u1001】第 {n} 条" for n in PICTURES]
        assert all(m["photo"][-1]["file_size"] == len(slide_bytes) for m in photos)
        assert [t for t in wc_texts() if "图片" in t] == [f"【u1001】第 {n} 条\n（图片没能转发过来）" for n in PICTURES]
    finally:
        onebot.kill()
        telegram.stop()
        await wecom.stop()
