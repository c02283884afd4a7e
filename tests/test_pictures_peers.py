"""A poster ad sent as a photo, against the platforms' peers: the Telegram peer (telegram-test-api behind
our wrapper, which serves the photo through getFile) and our OneBot simulator (the photo's URL on a local
HTTP server): the message is deleted and its sender warned."""

from __future__ import annotations

import base64
import io
import random

from aiohttp import web

from bot.adapters.qq.config import ForwardConnection, QQConfig
from tests.image_samples import text_picture
from tests.onebot_sim import OneBotSim
from tests.qq_harness import running, texts_of, wait_until
from tests.telegram_harness import Peer, eventually, running_bot, user

POSTER_TEXT = "兼职刷单日结，一单一结，加微信 xw886688 详聊"


def poster() -> bytes:
    out = io.BytesIO()
    text_picture(POSTER_TEXT, random.Random(7), poster=True).save(out, "JPEG", quality=80)
    return out.getvalue()


async def test_telegram_a_poster_ad_photo_is_deleted_and_its_sender_warned(tmp_path, extra_plugin):
    chat, member = -100777, 4242
    peer = Peer(state=tmp_path / "peer-state.json")
    try:
        peer.chat(chat, [{"user": user(member, "小广告"), "status": "member"}])
        async with running_bot(peer, tmp_path, extra_plugin):
            data = poster()
            file = peer.post("/test/file", base64=base64.b64encode(data).decode(), ext="jpg")["result"]
            photo = [{**file, "width": 800, "height": 400}]
            sent = peer.say(chat, member, "", photo=photo)["result"]
            deleted = lambda: [c for c in peer.calls("deleteMessage") if int(c["params"]["message_id"]) == sent["message_id"]]  # noqa: E731
            await eventually(deleted, "the photo deleted", timeout=60)
            await eventually(lambda: [m for m in peer.sent(chat) if "小广告" in m["text"]], "the sender warned", timeout=20)
        assert peer.calls("getFile")
    finally:
        peer.stop()


async def test_qq_a_poster_ad_picture_is_recalled_and_its_sender_warned(make_engine):
    group, member, token_env, token = 700301, 1077, "QUNBOT_TEST_QQ_TOKEN", "s3cret"
    data = poster()
    app = web.Application()
    async def serve(_request):
        return web.Response(body=data, content_type="image/jpeg")

    app.router.add_get("/poster.jpg", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sim = OneBotSim(token=token)
    sim.add_group(group, {member: "member"})
    sim.groups[group][sim.self_id].role = "admin"
    try:
        engine = await make_engine()
        config = QQConfig(forward=[ForwardConnection(url=await sim.start_forward())], token_env=token_env)
        async with running(engine, config, {token_env: token}) as (adapter, _):
            await wait_until(lambda: adapter.connections, "connected")
            picture = {"type": "image", "data": {"file": "poster.jpg", "url": f"http://127.0.0.1:{port}/poster.jpg"}}
            message = await sim.member_says(group, member, [picture])
            await wait_until(lambda: ("delete_msg", {"message_id": message}) in sim.calls, "the picture recalled", 60)
            await wait_until(lambda: [s for s in sim.sent if str(member) in str(s["message"])], "the sender warned", 20)
        warning = [texts_of(s["message"]) for s in sim.sent if str(member) in str(s["message"])][0]
        assert "广告" in warning
    finally:
        await sim.stop()
        await runner.cleanup()
