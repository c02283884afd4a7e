"""Pictures on WeCom, against the loopback WeCom fake (tests/wecom_peer.py). In a group the AI bot receives
pictures only inside a mixed message that @-mentions it; the picture's URL serves it encrypted (智能机器人
长连接, 多媒体资源解密), and the fake encrypts it from the documented scheme with ``cryptography``, apart from
the adapter: with the URL's aeskey on the long connection, with the EncodingAESKey in callback mode. The
adapter hands the pictures on and fetches and decrypts them (size cap, a wrong key refused). The anti-ad
plugin does not run where the bot sees only the messages addressed to it, so no WeCom picture is read
for ads: the last test holds that honest."""

from __future__ import annotations

import asyncio
import base64

import pytest

from bot.adapters.base import PlatformError
from bot.adapters.wecom.crypto import decrypt_media, media_key
from bot.model import MessageReceived
from tests.image_samples import ad_poster
from tests.qq_harness import record_events, wait_until
from tests.test_wecom import AES_KEY, G1, answers, callback_mode, long_config, running
from tests.test_wecom import http, peer  # noqa: F401  (fixtures)
from tests.wecom_peer import encrypt_media

KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # fixed, so that the test is the same every run
OTHER_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")


def test_the_adapter_decrypts_what_the_documented_scheme_encrypts():
    data = ad_poster()
    assert decrypt_media(encrypt_media(data, KEY), media_key(KEY)) == data
    assert decrypt_media(encrypt_media(b"x" * 32, AES_KEY), media_key(AES_KEY)) == b"x" * 32  # a whole padding block


async def received(events: list, msgid: str) -> MessageReceived:
    return (await wait_until(lambda: [e for e in events if isinstance(e, MessageReceived) and e.id == msgid], f"message {msgid}"))[0]


async def test_a_mixed_messages_picture_is_fetched_and_decrypted_with_its_aeskey(peer, http, make_engine):  # noqa: F811
    data = ad_poster()
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, long_config(peer, http)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        url = http.media(data, KEY)
        body = peer.mixed(G1, "lisi", "@机器人 大家看看", [{"url": url, "aeskey": KEY}])
        await peer.send(body)
        event = await received(events, body["msgid"])
        assert (event.kind, event.text, event.images) == ("image", "大家看看", (url,))  # the aeskey stays in the adapter
        assert await adapter.fetch_image(url, 8_000_000) == data
        with pytest.raises(PlatformError, match="larger than"):  # the encrypted file, capped at 10000 + one padding block
            await adapter.fetch_image(url, 10_000)
        wrong = http.media(data, OTHER_KEY)
        body = peer.mixed(G1, "lisi", "@机器人 再看", [{"url": wrong, "aeskey": KEY}])  # WeCom's key for another file
        await peer.send(body)
        await received(events, body["msgid"])
        with pytest.raises(PlatformError, match="not decrypted"):
            await adapter.fetch_image(wrong, 8_000_000)
        with pytest.raises(PlatformError, match="no key"):
            await adapter.fetch_image("http://127.0.0.1:9/never-received", 8_000_000)


async def test_callback_mode_opens_a_picture_with_the_encoding_aes_key(peer, http, make_engine):  # noqa: F811
    data = ad_poster()
    engine = await make_engine()
    events = record_events(engine)
    async with callback_mode(engine, http) as (adapter, sender):
        url = http.media(data, AES_KEY)  # no aeskey in the body: callback mode's pictures use the EncodingAESKey
        body = {**peer.mixed(G1, "lisi", "@机器人 大家看看", [{"url": url}]), "response_url": http.response_url()}
        await sender.post(body)
        assert (await received(events, body["msgid"])).images == (url,)
        assert await adapter.fetch_image(url, 8_000_000) == data


async def test_no_wecom_picture_is_read_for_ads_where_the_bot_sees_only_its_mentions(peer, http, make_engine):  # noqa: F811
    """The anti-ad plugin is off in WeCom groups (it would only pretend to watch): a poster ad @-sent to
    the bot is not fetched, and the group is told nothing about it."""
    engine = await make_engine()
    events = record_events(engine)
    async with running(engine, long_config(peer, http)) as (adapter, _):
        await wait_until(lambda: peer.active, "subscribed")
        body = peer.mixed(G1, "lisi", "@机器人 大家看看", [{"url": http.media(ad_poster(), KEY), "aeskey": KEY}])
        await peer.send(body)
        await received(events, body["msgid"])
        await engine.images.drain()
        await asyncio.sleep(0.3)
    assert http.downloads == [] and not [t for t in answers(peer, G1) if "广告" in t]
