"""Staying power against bad input: property-based fuzzing (hypothesis) of every adapter's raw-payload
parsing, of replay lines and of rule files. Nothing may crash: a malformed input is either parsed or
refused with the adapter's "malformed" error (which the adapter logs and skips) or a line-numbered /
``file: key: problem`` message. Example counts are kept modest: these run in every suite.
"""

from __future__ import annotations

import io
import json
import shutil
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.adapters.qq.events import MalformedEvent, dedupe_key, to_event
from bot.adapters.qq.message import MalformedMessage, parse_cq, read, segments_of
from bot.adapters.wechat.events import MalformedPayload, _time as wechat_time, room_change
from bot.engine import SHIPPED_RULES, check_rules_dir, import_plugin, rule_files
from bot.model import Event
from bot.replay import read_events
from bot.rules import load_rule_file

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON as a peer might send it: any scalar, nested lists and objects, some huge and odd numbers.
scalars = st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
ids = st.integers(min_value=-5, max_value=2**63) | st.text(max_size=12) | st.none() | st.booleans() | st.floats() | st.lists(st.integers(), max_size=2)
stamps = st.integers(min_value=-2**64, max_value=2**64) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10) | st.none() | st.booleans()


def segment():
    data = st.dictionaries(st.sampled_from(["text", "qq", "id", "file", "url"]), json_values, max_size=3) | json_values
    kinds = st.sampled_from(["text", "at", "reply", "image", "redbag", "file", "face", "share"]) | st.text(max_size=6) | json_values
    return st.fixed_dictionaries({"type": kinds}, optional={"data": data})


messages = st.lists(segment() | json_values, max_size=5) | st.text(max_size=60) | json_values | st.text(alphabet="[]CQ:,=&#;atqid0123", max_size=60)
onebot_events = st.fixed_dictionaries(
    {"post_type": st.sampled_from(["message", "notice", "request", "meta_event"]) | json_values},
    optional={"message_type": st.just("group") | json_values, "group_id": ids, "user_id": ids, "message_id": ids,
              "self_id": ids, "time": stamps, "message": messages, "sender": json_values | st.fixed_dictionaries({}, optional={
                  "role": json_values, "card": json_values, "nickname": json_values}),
              "notice_type": st.sampled_from(["group_increase", "group_decrease", "group_ban"]) | json_values,
              "request_type": st.just("group") | json_values, "flag": ids, "comment": json_values, "operator_id": ids,
              "sub_type": json_values},
)


# Mostly well-formed group messages and notices, with one part at a time going wrong: that is where
# parsers crash (a random dictionary is refused at its first key).
small_ids = st.integers(min_value=1, max_value=10**10)
group_messages = st.fixed_dictionaries({
    "post_type": st.just("message"), "message_type": st.just("group"), "group_id": small_ids | ids, "user_id": small_ids,
    "message_id": small_ids, "time": stamps, "message": messages, "sender": st.fixed_dictionaries({}, optional={
        "role": st.sampled_from(["owner", "admin", "member"]) | json_values, "card": json_values, "nickname": json_values}),
})
notices = st.fixed_dictionaries({
    "post_type": st.sampled_from(["notice", "request"]), "notice_type": st.sampled_from(["group_increase", "group_decrease"]),
    "request_type": st.just("group"), "group_id": small_ids, "user_id": small_ids | ids, "time": stamps,
}, optional={"flag": ids, "comment": json_values, "operator_id": ids, "self_id": ids})


@FUZZ
@given(onebot_events | group_messages | notices)
def test_onebot_events_parse_or_are_refused_as_malformed(raw):
    hash(dedupe_key(raw))  # never raises: the adapter keeps these keys in a dict
    try:
        event = to_event(raw)
    except (MalformedEvent, MalformedMessage, ValidationError):
        return  # the adapter logs these and skips the event
    assert event is None or isinstance(event, Event)
    if event is not None:
        assert event.at.tzinfo is not None and event.group and event.user


@FUZZ
@given(messages | st.lists(segment(), min_size=1, max_size=4))
def test_onebot_messages_read_or_are_refused(message):
    try:
        segments = segments_of(message)
    except MalformedMessage:
        return
    reading = read(segments)
    assert isinstance(reading.text, str) and all(isinstance(m, str) for m in reading.mentions)


@FUZZ
@given(st.text(alphabet=string.printable + "[]&#;,=：签到👍\u200b", max_size=200))
def test_cq_strings_always_split(text):
    segments = parse_cq(text)
    assert all(isinstance(s["type"], str) and isinstance(s["data"], dict) for s in segments)


room_payloads = st.dictionaries(st.sampled_from(["roomId", "inviteeIdList", "removeeIdList", "inviterId", "timestamp"]), json_values) | json_values


@FUZZ
@given(room_payloads, st.sampled_from(["inviteeIdList", "removeeIdList"]))
def test_wechat_room_payloads_parse_or_are_refused(payload, key):
    try:
        room, users, at, inviter = room_change(payload, key)
    except MalformedPayload:
        return  # the adapter logs it and skips the event
    assert isinstance(room, str) and room and all(isinstance(u, str) and u for u in users)
    assert at.tzinfo is not None and (inviter is None or isinstance(inviter, str))


@FUZZ
@given(stamps | json_values)
def test_wechat_timestamps_never_crash(millis):
    assert wechat_time(millis).tzinfo is not None


# ----------------------------------------------------------------------------- replay lines

replay_fields = st.fixed_dictionaries({}, optional={
    "at": st.sampled_from(["2026-11-23T08:59:00+08:00", "2026-11-23T08:59:00", "9999-99-99", "", "2026-02-30T00:00:00Z"]) | json_values,
    "event": st.sampled_from(["message", "member_joined", "member_left", "join_request"]) | json_values,
    "group": ids | json_values, "user": ids | json_values, "platform": st.sampled_from(["qq", "telegram", "wechat", "icq"]) | json_values,
    "text": st.text(max_size=30) | json_values, "role": st.sampled_from(["member", "admin", "owner", "god"]) | json_values,
    "kind": json_values, "mentions": json_values, "id": ids,
})
replay_lines = (replay_fields.map(lambda d: json.dumps(d, ensure_ascii=False).encode()) | st.binary(max_size=80)
                | st.text(max_size=40).map(str.encode) | json_values.map(lambda v: json.dumps(v).encode()))


@FUZZ
@given(st.lists(replay_lines, max_size=8))
def test_replay_lines_are_read_or_reported_with_their_number(lines):
    body = io.BytesIO(b"\n".join(line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines) + b"\n")
    errors = io.StringIO()
    good = list(read_events(body, "ev.jsonl", errors))
    assert all(isinstance(event, Event) for _, event in good)
    reported = [line for line in errors.getvalue().splitlines() if line]
    assert all(line.startswith("ev.jsonl:") and "line skipped" in line for line in reported)
    assert len(good) + len(reported) <= len(lines)


# ----------------------------------------------------------------------------- rule files

SHIPPED = {name: path.read_text(encoding="utf-8") for name, path in rule_files(SHIPPED_RULES).items()}
toml_values = st.sampled_from(['1', '-1', '1e999', 'true', '"x"', '""', '[]', '[1, "a"]', '{a = 1}', '2026-13-40', '"25:99"',
                               '99999999999999999999', 'nan', 'inf', '"\\u0000"', '{}', '"' + "长" * 5000 + '"'])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(sorted(SHIPPED)), st.data())
def test_rule_files_load_or_say_what_is_wrong(tmp_path_factory, name, data):
    """A shipped rule file with a line replaced by a hostile value, or with bytes cut off or garbled."""
    lines = SHIPPED[name].splitlines()
    settable = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith(("#", "["))]
    mutation = data.draw(st.sampled_from(["value", "cut", "garble"]))
    if mutation == "value" and settable:
        i = data.draw(st.sampled_from(settable))
        lines[i] = lines[i].split("=")[0] + "= " + data.draw(toml_values)
        text = "\n".join(lines)
    elif mutation == "cut":
        text = SHIPPED[name][: data.draw(st.integers(0, len(SHIPPED[name])))]
    else:
        text = data.draw(st.text(alphabet="[]=\"'{}#.\n abc123签", max_size=80))
    folder = tmp_path_factory.mktemp("rules")
    for files in (p for p in SHIPPED_RULES.iterdir() if p.is_dir()):  # what rule files name (quiz's banks)
        shutil.copytree(files, folder / files.name)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    rule_file, errors = load_rule_file(path, name, import_plugin(name).rules)
    assert (rule_file is None) == bool(errors)
    assert all(str(e).startswith(f"{name}.toml: ") for e in errors)
    assert [str(e) for e in check_rules_dir(folder)] == [str(e) for e in errors]


# ----------------------------------------------------------------------------- Telegram updates

tg_users = st.fixed_dictionaries({"id": small_ids | ids, "is_bot": st.booleans() | json_values, "first_name": st.text(max_size=8) | json_values},
                                 optional={"username": json_values})
tg_chats = st.fixed_dictionaries({"id": st.integers(-10**13, -1) | ids, "type": st.sampled_from(["group", "supergroup", "private"]) | json_values},
                                 optional={"title": json_values, "is_forum": json_values})
tg_entities = st.lists(st.fixed_dictionaries({"type": st.sampled_from(["mention", "text_mention", "url", "bold"]) | json_values,
                                              "offset": st.integers(-3, 50) | json_values, "length": st.integers(-3, 50) | json_values},
                                             optional={"user": tg_users}), max_size=3)
tg_messages = st.fixed_dictionaries(
    {"message_id": small_ids | ids, "date": stamps, "chat": tg_chats},
    optional={"from": tg_users, "text": st.text(max_size=40) | json_values, "entities": tg_entities, "caption": json_values,
              "new_chat_members": st.lists(tg_users, max_size=2) | json_values, "left_chat_member": tg_users | json_values,
              "reply_to_message": json_values, "photo": json_values, "message_thread_id": json_values, "sender_chat": tg_chats | json_values})
tg_updates = st.fixed_dictionaries({"update_id": small_ids | ids}, optional={
    "message": tg_messages | json_values,
    "chat_join_request": st.fixed_dictionaries({"chat": tg_chats, "from": tg_users, "date": stamps, "user_chat_id": small_ids}, optional={"bio": json_values}),
    "chat_member": json_values})


def test_telegram_updates_are_handled_or_skipped_with_a_log_line(tmp_path, caplog):
    """Through the adapter's own entry point (`_handle`): parse (python-telegram-bot's Update.de_json),
    translate, and hand to a real engine; nothing escapes. Role lookups go to a closed local port and
    fail, as when the Bot API is unreachable (senders then count as members)."""
    import asyncio

    from bot.adapters.telegram.adapter import TelegramAdapter
    from bot.adapters.telegram.config import TelegramConfig
    from bot.adapters.telegram.events import Translator
    from bot.adapters.telegram.roles import Roles
    from bot.config import QunbotConfig
    from bot.engine import Engine
    from bot.scheduler import VirtualClock

    loop = asyncio.new_event_loop()
    engine = loop.run_until_complete(Engine.create(QunbotConfig(), SHIPPED_RULES, db_url=f"sqlite:///{tmp_path / 'tg.db'}", clock=VirtualClock()))
    adapter = TelegramAdapter(TelegramConfig(base_url="http://127.0.0.1:9/bot", permissions_file=str(tmp_path / "perm.json")),
                              {"QUNBOT_TELEGRAM_TOKEN": "123:fuzz"})
    adapter.sink, adapter.roles = engine, Roles(adapter.bot, 42, 600.0)
    adapter.translator = Translator(42, "qunbot", adapter.roles, adapter.memory)
    handled: list = []
    # The adapter hands each event to engine.handle_and_send, which passes its effects to engine.deliver.
    engine.deliver = lambda actions, at: handled.append(actions)

    @FUZZ
    @given(tg_updates)
    def one(update):
        loop.run_until_complete(adapter._handle(update))

    try:
        one()
        good = {"update_id": 1, "message": {"message_id": 7, "date": 1790000000, "text": "签到",
                                            "chat": {"id": -100123, "type": "supergroup"}, "from": {"id": 5, "is_bot": False, "first_name": "小王"}}}
        before = len(handled)
        loop.run_until_complete(adapter._handle(good))
        assert len(handled) == before + 1 and "checked_in" in [a.reason for a in handled[-1]]  # the control case gets through
    finally:
        loop.run_until_complete(engine.close())
        loop.run_until_complete(adapter.bot.shutdown())
        loop.close()
