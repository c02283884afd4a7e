"""Ads in pictures (bot/images.py, plugins/anti_ad pictures): QR codes and OCR on pictures made here
(tests/image_samples.py), the queue off the event loop, and the anti-ad ladder on a picture's verdict."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.images import ImageLimits, ImageProblem, ImageWork, analyse
from bot.model import DeleteMessage, ImageScanned, MessageReceived, ScanImage
from tests.conftest import Chat, reports, texts
from tests.image_samples import QR_ADS, photo, qr_picture, samples, text_picture, write


def png(picture) -> bytes:
    import io

    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def test_qr_codes_and_text_are_read_from_pictures():
    rng = random.Random(1)
    codes, text = analyse(png(qr_picture("https://weixin.qq.com/g/AbCdEf123", rng, "扫码进群")), ocr=False)
    assert codes == ["https://weixin.qq.com/g/AbCdEf123"] and text == ""
    codes, text = analyse(png(text_picture("兼职刷单日结，加微信 xw886688", rng, poster=True)), ocr=True)
    assert codes == [] and "兼职刷单日结" in text
    assert analyse(png(photo(rng)), ocr=False) == ([], "")
    with pytest.raises(ImageProblem, match="not a readable picture"):
        analyse(b"<html>not a picture</html>", ocr=True)


async def test_a_poster_ad_from_a_newcomer_is_deleted_and_an_allowed_qr_code_is_left_alone(make_engine, only_rules, tmp_path):
    engine = await make_engine(only_rules("anti_ad"))
    delivered: list = []
    engine.deliver = lambda actions, _at: delivered.extend(actions)
    chat = Chat(engine)
    rng = random.Random(2)
    poster = tmp_path / "poster.png"
    poster.write_bytes(png(text_picture("日结兼职刷单，一单一结，加微信 xw886688 详聊", rng, poster=True)))
    allowed = tmp_path / "allowed.png"
    allowed.write_bytes(png(qr_picture("https://mp.weixin.qq.com/s/abcdef", rng, "文章链接")))
    await chat.join("new")
    event = MessageReceived(at=chat._next(None), group="g1", user="new", name="新人", id="pic1", kind="image", images=(str(poster),))
    asked = await engine.handle(event)
    scans = [a for a in asked if isinstance(a, ScanImage)]
    assert [s.image for s in scans] == [str(poster)] and scans[0].ocr  # a newcomer's picture is read whole
    await engine.images.drain()
    assert [a.message for a in delivered if isinstance(a, DeleteMessage)] == ["pic1"]
    assert any("contact_id" in r for r in reports(delivered))
    delivered.clear()
    event = MessageReceived(at=chat._next(None), group="g1", user="old", name="老成员", id="pic2", kind="image", images=(str(allowed),))
    await engine.handle(event)
    await engine.images.drain()
    assert not [a for a in delivered if isinstance(a, DeleteMessage)]


async def test_qr_codes_to_invitations_contacts_payments_and_unknown_sites_are_ads(make_engine, only_rules, tmp_path):
    engine = await make_engine(only_rules("anti_ad"))
    delivered: list = []
    engine.deliver = lambda actions, _at: delivered.extend(actions)
    chat = Chat(engine)
    rng = random.Random(3)
    for n, (kind, templates) in enumerate(QR_ADS.items()):
        path = tmp_path / f"{kind}.png"
        path.write_bytes(png(qr_picture(templates[0].format(t="abcdefgh12", n=1234), rng)))
        await engine.handle(MessageReceived(at=chat._next(None), group="g1", user=f"u{n}", id=f"q{n}", kind="image", images=(str(path),)))
    await engine.images.drain()
    assert sorted(a.message for a in delivered if isinstance(a, DeleteMessage)) == ["q0", "q1", "q2", "q3"]
    assert all(any(f"{kind}:" in r for r in reports(delivered)) for kind in QR_ADS)  # each decided by its detector


async def test_a_picture_that_cannot_be_read_leaves_the_message_alone_and_is_logged(make_engine, only_rules, tmp_path, caplog):
    engine = await make_engine(only_rules("anti_ad"))
    delivered: list = []
    engine.deliver = lambda actions, _at: delivered.extend(actions)
    chat = Chat(engine)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture at all")
    for ref in (str(broken), str(tmp_path / "missing.png")):
        await engine.handle(MessageReceived(at=chat._next(None), group="g1", user="u1", id="m1", kind="image", images=(ref,)))
    await engine.images.drain()
    assert delivered == [] and "not a readable picture" in caplog.text and "no such picture file" in caplog.text


async def test_the_queue_reads_oldest_first_is_bounded_and_never_holds_up_text():
    handled: list[ImageScanned] = []
    reported: list[str] = []
    gate = asyncio.Event()

    async def fetch(_platform, reference, _max, _seconds):
        await gate.wait()
        return png(qr_picture(f"https://{reference}.top/x", random.Random(0)))

    async def handle(event):
        handled.append(event)

    from datetime import datetime, timezone

    work = ImageWork(ImageLimits(workers=1, queue=3), fetch, handle, reported.append, lambda: datetime.now(timezone.utc))
    for n in range(6):
        work.submit(ScanImage(platform="qq", group="g1", image=f"pic{n}", message=f"m{n}", user="u1"))
    assert len(reported) == 3 and "queue full (3 waiting)" in reported[0]  # three waiting, the rest dropped
    await asyncio.sleep(0.05)  # the worker waits on its fetch: the loop is free for text meanwhile
    assert handled == []
    gate.set()
    await work.drain()
    assert [e.image for e in handled] == ["pic0", "pic1", "pic2"]
    assert [e.codes for e in handled][0] == ("https://pic0.top/x",)
    work.close()


def test_replay_reads_pictures_named_by_local_path(tmp_path):
    from bot.cli import main

    pictures = write(tmp_path / "pictures", samples(1))
    poster = next(p for p, s in pictures if s.kind == "poster_ad")
    events = tmp_path / "events.jsonl"
    events.write_text('{"at":"2026-11-23T09:00:00+08:00","event":"member_joined","group":"g1","user":"new","name":"新人"}\n'
                      f'{{"at":"2026-11-23T09:01:00+08:00","event":"message","group":"g1","user":"new","id":"p1","kind":"image","images":["{poster}"]}}\n',
                      encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(events), "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8")
    assert '"action": "scan_image"' in lines and '"action": "delete", "platform": "qq", "group": "g1", "message": "p1"' in lines
