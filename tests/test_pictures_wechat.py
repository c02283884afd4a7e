"""Ads in pictures on WeChat, against the puppet-service gateway (tests/wechat_peer/gateway.js): a member's
picture message is fetched through the real puppet-service server's MessageImage, in each kind of file box
it hands out (a Uuid box read with Download, a Base64 box, a Url box), read and judged like on QQ and
Telegram. WeChat cannot delete a member's message, so an ad is answered with a warning that asks the
member to recall it, and nothing is recalled; an innocent picture gets no answer; a picture the service
refuses, or does not hand out in time, is logged and the message treated as text-only."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from bot.model import MessageReceived
from tests.image_samples import ad_poster, photo, png, qr_picture
from tests.telegram_harness import eventually
from tests.wechat_harness import ADMIN, FOREIGN, MEMBER, OTHER, OWNED, Gateway, running_bot

# What some puppets put in a picture message's text (the shape of WeChat's image XML; the numbers made up).
XML = '<msg><img aeskey="6a5f0c7e2b1d4e8f9a0b1c2d3e4f5a6b" cdnmidimgurl="3057020100044b30490201000204a1b2c3d4" length="138026" md5="0f1e2d3c4b5a69788796a5b4c3d2e1f0" /></msg>'


@pytest.fixture
def gateway(tmp_path):
    g = Gateway(tmp_path)
    yield g
    g.stop()


def warnings_to(gateway: Gateway, room: str, user: str) -> list[str]:
    return [c["text"] for c in gateway.sent(room) if user in c["mentionIdList"]]


def fetched(gateway: Gateway, message: str) -> bool:
    return any(c["messageId"] == message for c in gateway.calls("messageImage"))


async def test_ad_pictures_are_warned_in_every_box_and_an_innocent_photo_is_left_alone(gateway, tmp_path, extra_plugin):
    qr_ad = png(qr_picture("https://u.wechat.com/EAbCdEf123", random.Random(3), "扫码加好友"))
    seen = []
    async with running_bot(gateway, tmp_path, extra_plugin, seen) as (engine, _adapter):
        innocent = gateway.send_picture(OWNED, ADMIN, png(photo(random.Random(4))), box="url", text=XML)
        poster_id = gateway.send_picture(OWNED, MEMBER, ad_poster(), box="stream")  # a Uuid box: Download
        qr_id = gateway.send_picture(OWNED, OTHER, qr_ad, box="base64")
        await eventually(lambda: warnings_to(gateway, OWNED, MEMBER), "the poster's sender warned", timeout=90)
        await eventually(lambda: warnings_to(gateway, OWNED, OTHER), "the QR code's sender warned", timeout=30)
        await eventually(lambda: fetched(gateway, innocent), "the photo fetched")
        await engine.images.drain()
        await asyncio.sleep(0.5)  # what the photo's verdict might have sent leaves through the outbox
        assert not warnings_to(gateway, OWNED, ADMIN)
    for warning in warnings_to(gateway, OWNED, MEMBER) + warnings_to(gateway, OWNED, OTHER):
        # Honest: WeChat lets a bot recall only its own messages, so the member is asked to; nothing claims a deletion.
        assert "撤回" in warning and "已删除" not in warning
    assert not gateway.calls("messageRecall")
    [event] = [e for e in seen if isinstance(e, MessageReceived) and e.id == innocent]
    assert (event.kind, event.text, event.images) == ("image", "", (innocent,))  # the XML is not the member's words
    asked = {c["messageId"]: c["imageType"] for c in gateway.calls("messageImage")}
    assert asked == {innocent: 2, poster_id: 2, qr_id: 2}  # the HD picture, once each


async def test_a_picture_the_service_refuses_or_withholds_is_logged_and_the_message_stays_text_only(
        gateway, tmp_path, extra_plugin, caplog):
    caplog.set_level(logging.WARNING, logger="bot.images")
    async with running_bot(gateway, tmp_path, extra_plugin, images={"fetch_seconds": 2}) as (engine, _adapter):
        refused = gateway.send_picture(FOREIGN, MEMBER, ad_poster(), box="refuse")
        withheld = gateway.send_picture(FOREIGN, OTHER, ad_poster(), box="hang")
        await eventually(lambda: fetched(gateway, refused) and fetched(gateway, withheld), "both pictures asked for")
        await eventually(lambda: len([r for r in caplog.records if "not read" in r.getMessage()]) >= 2,
                         "both failures logged", timeout=20)
        await engine.images.drain()
        gateway.say(FOREIGN, MEMBER, "签到")  # the room's lane goes on, and so do the member's messages
        await eventually(lambda: [c for c in gateway.sent(FOREIGN) if MEMBER in c["mentionIdList"]], "the check-in answered")
    logged = {r.getMessage() for r in caplog.records if "not read" in r.getMessage()}
    assert any(refused in line and "MessageImage refused" in line and "expired" in line for line in logged)
    assert any(withheld in line and "not fetched within 2 s" in line for line in logged)
    assert not [t for t in (c["text"] for c in gateway.sent(FOREIGN)) if "广告" in t]


async def test_a_picture_larger_than_the_cap_is_cut_off_and_not_read(gateway, tmp_path, extra_plugin, caplog):
    caplog.set_level(logging.WARNING, logger="bot.images")
    data = ad_poster()
    assert len(data) > 10_000
    async with running_bot(gateway, tmp_path, extra_plugin, images={"max_bytes": 10_000}) as (engine, _adapter):
        big = gateway.send_picture(OWNED, MEMBER, data, box="stream")
        await eventually(lambda: [r for r in caplog.records if big in r.getMessage()], "the refusal logged", timeout=20)
        await engine.images.drain()
    line = next(r.getMessage() for r in caplog.records if big in r.getMessage())
    assert "larger than 10000 bytes" in line
    assert not warnings_to(gateway, OWNED, MEMBER)
