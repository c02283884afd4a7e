"""Live relay (多群转播, plugins/relay.py): start, speakers, in-order fan-out to the accepting groups of a set
on every platform, questions back, a restart in the middle, per-target delivery counts, the transcript."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from bot.adapters.base import CAPABILITIES, PlatformError
from bot.model import MessageReceived, SendMessage
from tests.conftest import Chat, texts

SETS = '[sets]\n"课程群" = ["qq:room", "qq:g2", "telegram:t1", "wecom:w1", "qq:g3"]\n'
ACCEPT = 'accept_from = ["课程群"]\n[groups."qq:g3"]\naccept_from = []\n'


def relayed(effects) -> list[tuple[str, str]]:
    return [(e.group_key, e.text) for e in effects if isinstance(e, SendMessage) and e.reason == "relayed"]


async def relay_engine(make_engine, only_rules, db_url=None):
    return await make_engine(only_rules("relay", broadcasts=ACCEPT, sets=SETS), db_url=db_url)


async def test_a_relay_sends_the_speakers_messages_to_every_accepting_group_in_order(make_engine, only_rules):
    engine = await relay_engine(make_engine, only_rules)
    room = Chat(engine, group="room")
    started = texts(await room.say("/转播 开始 课程群", user="teacher", name="王老师", role="owner"))[0]
    assert "「课程群」的 3 个群：qq:g2、telegram:t1、wecom:w1" in started and "讲师：王老师" in started
    assert "qq:g3：该群群主未允许来自「课程群」的群发" in started
    out = []
    for n in range(5):
        out += relayed(await room.say(f"第 {n} 页", user="teacher", name="王老师"))
    for target in ("qq:g2", "telegram:t1", "wecom:w1"):
        assert [text for g, text in out if g == target] == [f"【王老师】第 {n} 页" for n in range(5)]
    assert relayed(await room.say("老师讲得好", user="student")) == []  # not a speaker
    assert relayed(await room.say("/签到", user="teacher")) == []  # commands stay in the room

    first = await room.say("大家看这道题", user="teacher", name="王老师")
    quoted_id = f"m{room._ids}"
    await room.say("/转播 讲师 @helper", user="teacher", role="owner", mentions=("helper",))
    assert relayed(await room.say("我补充一句", user="teacher")) == []
    reply = relayed(await room.say("答案是 B", user="helper", name="助教", reply_to=quoted_id, mentions=("u9",)))
    assert reply[0][1] == "【助教】↪ 回复 王老师「大家看这道题」：答案是 B（@u9）"
    picture = relayed(await engine.handle(MessageReceived(at=room._next(None), group="room", user="helper", name="助教",
                                                          id="pic1", kind="image")))
    assert picture[0][1] == "【助教】[图片]" and len(first) == 3


async def test_listeners_questions_reach_the_source_group(make_engine, only_rules):
    engine = await relay_engine(make_engine, only_rules)
    room, g2 = Chat(engine, group="room"), Chat(engine, group="g2")
    await room.say("/转播 开始 课程群", user="teacher", role="owner")
    asked = await g2.say("问：第二题为什么选 B？", user="s1", name="小李")
    forwarded = [e for e in asked if isinstance(e, SendMessage) and e.group_key == "qq:room"]
    assert forwarded[0].text == "❓ 来自 qq:g2 的 小李 提问：第二题为什么选 B？"
    assert "已转给主讲群" in texts(asked)[-1]
    assert [e.group_key for e in await g2.say("/提问 能发一下课件吗", user="s2") if isinstance(e, SendMessage)][0] == "qq:room"
    assert await g2.say("问问大家吃了吗", user="s3") == []  # not a question to the room


async def test_a_relay_goes_on_after_a_restart(make_engine, only_rules, tmp_path):
    url = f"sqlite:///{tmp_path / 'relay.sqlite'}"
    before = Chat(await relay_engine(make_engine, only_rules, db_url=url), group="room")
    await before.say("/转播 开始 课程群", user="teacher", role="owner")
    await before.say("重启前", user="teacher", name="王老师")
    after = Chat(await relay_engine(make_engine, only_rules, db_url=url), group="room", start=before.now)
    assert len(relayed(await after.say("重启后", user="teacher", name="王老师"))) == 3


class SlowAndBroken:
    """Stands in for every platform: QQ group g2 refuses (the bot was removed there), the rest deliver."""

    def __init__(self, platform):
        self.platform, self.delivered = platform, []

    def capabilities(self, group):
        return CAPABILITIES[self.platform]

    async def perform(self, action):
        await asyncio.sleep(0)
        if action.group == "g2":
            raise PlatformError("bot is not in the group")
        self.delivered.append((action.group, action.text))


async def test_stopping_reports_per_group_what_was_delivered_and_the_transcript_exports(make_engine, only_rules):
    engine = await relay_engine(make_engine, only_rules)
    for platform in ("qq", "telegram", "wecom"):
        engine.adapters[platform] = SlowAndBroken(platform)
    room = Chat(engine, group="room")
    await room.say("/转播 开始 课程群", user="teacher", role="owner")
    for n in range(3):
        engine.deliver(await room.say(f"第 {n} 段", user="teacher", name="王老师"), room.now)
    await engine.outbox.drain()
    assert [t for g, t in engine.adapters["telegram"].delivered] == [f"【王老师】第 {n} 段" for n in range(3)]
    status = texts(await room.say("/转播 状态", user="teacher", role="owner"))[0]
    assert "已转发 3 条" in status and "telegram:t1：送达 3" in status
    stopped = texts(await room.say("/转播 结束", user="teacher", role="owner"))[0]
    assert "共转发 3 条" in stopped and "qq:g2：送达 0，失败 3（平台拒绝：" in stopped
    assert "wecom:w1：送达 3" in stopped
    assert relayed(await room.say("结束后", user="teacher")) == []
    exported = [e for e in await room.say("/转播 记录", user="teacher", role="owner") if isinstance(e, SendMessage)][0]
    rows = list(csv.reader(Path(exported.file).open(encoding="utf-8-sig")))
    assert rows[0] == ["时间", "群", "昵称", "用户ID", "类型", "内容"] and [r[5] for r in rows[1:]] == ["第 0 段", "第 1 段", "第 2 段"]


async def test_only_owners_of_a_group_in_the_set_start_a_relay(make_engine, only_rules):
    engine = await relay_engine(make_engine, only_rules)
    assert "只有群主" in texts(await Chat(engine, group="room").say("/转播 开始 课程群", user="a", role="admin"))[0]
    assert "本群不在这个集合中" in texts(await Chat(engine, group="elsewhere").say("/转播 开始 课程群", user="o", role="owner"))[0]
    room = Chat(engine, group="room")
    await room.say("/转播 开始 课程群", user="o", role="owner")
    assert "已经有一场转播" in texts(await room.say("/转播 开始 课程群", user="o", role="owner"))[0]


class Keeper:
    """A target platform that keeps what it was sent, reading each attachment as it is sent."""

    def __init__(self, platform: str):
        self.platform, self.sent = platform, []

    def capabilities(self, group):
        return CAPABILITIES[self.platform]

    async def fetch_image(self, reference: str, max_bytes: int) -> bytes:  # the source's pictures and files
        if not Path(reference).is_file():
            raise PlatformError("the platform no longer has it")
        return Path(reference).read_bytes()

    async def perform(self, action):
        attached = action.image or action.file
        self.sent.append((action.text, Path(attached).name if attached else None,
                          Path(attached).read_bytes() if attached else None))


async def test_pictures_and_files_go_out_with_their_line_fetched_once(make_engine, only_rules, tmp_path):
    engine = await relay_engine(make_engine, only_rules)
    targets = {p: Keeper(p) for p in ("qq", "telegram", "wecom")}
    engine.adapters.update(targets)
    fetched = []
    fetch = engine.outbox.media.fetch

    async def counted(platform, reference, max_bytes, seconds):
        fetched.append(reference)
        return await fetch(platform, reference, max_bytes, seconds)

    engine.outbox.media.fetch = counted
    engine.outbox.media.folder = tmp_path / "media"
    picture, notes = tmp_path / "slide.png", tmp_path / "notes.pdf"
    picture.write_bytes(b"\x89PNG a slide")
    notes.write_bytes(b"%PDF the notes")
    room = Chat(engine, group="room")
    await room.say("/转播 开始 课程群", user="teacher", name="王老师", role="owner")

    effects = []
    for event in (MessageReceived(at=room._next(None), group="room", user="teacher", name="王老师", id="p1", kind="image",
                                  text="看第二页", images=(str(picture), str(tmp_path / "gone.png"))),
                  MessageReceived(at=room._next(None), group="room", user="teacher", name="王老师", id="f1", kind="file",
                                  files=(("讲义.pdf", str(notes)),)),
                  MessageReceived(at=room._next(None), group="room", user="teacher", name="王老师", id="t1", text="下课")):
        effects += [e for e in await engine.handle(event) if isinstance(e, SendMessage) and e.reason == "relayed"]
    await engine.outbox.submit(effects)
    await engine.outbox.drain()

    for platform, target in (("qq", targets["qq"]), ("telegram", targets["telegram"])):
        mine = [s for s in target.sent if "王老师" in s[0]]
        assert [(text, data) for text, _name, data in mine] == [
            ("【王老师】看第二页", b"\x89PNG a slide"),
            ("【王老师】\n（图片没能转发过来）", None),  # the second picture's file is gone: said so, in its place
            ("【王老师】", b"%PDF the notes"),
            ("【王老师】下课", None)], platform
        assert mine[2][1] == "讲义.pdf"  # a file keeps its name
    assert [text for text, _n, _d in targets["wecom"].sent if "王老师" in text] == [
        "【王老师】看第二页\n（图片没能转发过来）", "【王老师】\n（图片没能转发过来）", "【王老师】\n（文件「讲义.pdf」没能转发过来）",
        "【王老师】下课"]  # the WeCom AI bot sends text only
    assert sorted(fetched) == sorted([str(picture), str(tmp_path / "gone.png"), str(notes)]), "each fetched once for all targets"

    stopped = texts(await room.say("/转播 结束", user="teacher", role="owner"))[0]
    assert "qq:g2：送达 3，失败 1（图片没能从原群取到，只发了文字）" in stopped
    assert "wecom:w1：送达 1，失败 3（" in stopped and "机器人在 wecom 上发不了" in stopped


def test_telegram_documents_are_files_and_pictures_sent_as_documents_are_pictures():
    from telegram import Message

    from bot.adapters.telegram.events import files_of, pictures_of

    def message(document: dict) -> Message:
        return Message.de_json({"message_id": 1, "date": 0, "chat": {"id": -1, "type": "supergroup"},
                                "document": {"file_unique_id": "u", **document}}, None)

    notes = message({"file_id": "d1", "file_name": "讲义.pdf", "mime_type": "application/pdf"})
    assert (files_of(notes), pictures_of(notes)) == ((("讲义.pdf", "d1"),), ())
    scan = message({"file_id": "d2", "file_name": "scan.png", "mime_type": "image/png"})
    assert (files_of(scan), pictures_of(scan)) == ((), ("d2",))


async def test_a_file_whose_name_no_file_system_takes_is_still_relayed(tmp_path):
    from bot.media import Media
    from bot.model import Attachment

    async def fetch(_platform, _reference, _max_bytes, _seconds):
        return b"%PDF notes"

    media = Media(fetch, 1000, 1.0, tmp_path / "media")
    long = Attachment(kind="file", platform="qq", reference="https://h/f", name="第二讲讲义" * 60 + ".pdf")
    kept = await media.local(long)
    assert kept.read_bytes() == b"%PDF notes" and kept.name.endswith("讲义.pdf") and len(kept.name) <= 80
    sneaky = Attachment(kind="file", platform="qq", reference="https://h/g", name="../../etc/passwd")
    assert (await media.local(sneaky)).parent.parent == tmp_path / "media"
