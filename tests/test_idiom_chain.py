"""Idiom chain: answers right, wrong, by homophone, repeated; hints; the silence timer (a bot turn, then
the end); two groups; a game that continues, and whose silence timer fires once, after a restart."""

import asyncio
import re
from datetime import timedelta

import pytest

from bot.idioms import book
from tests.conftest import PG_URL, Chat, kinds, needs_pg, reasons, texts, timers, wipe_pg

SILENCE = timedelta(seconds=180)  # the shipped rules' silence_seconds


def current(text: str) -> str:
    return re.findall(r"「(.{4})」", text)[0]


def follower(previous: str, same_char: bool, used=()) -> str:
    """An idiom that follows ``previous`` by the same character, or only by sound."""
    b = book()
    for idiom in b.followers(previous, by_sound=True):
        if idiom in used:
            continue
        if (idiom[0] == previous[-1]) == same_char:
            return idiom
    raise LookupError(previous)


def homophone_case() -> tuple[str, str]:
    """An opening idiom with both a same-character and a sound-only follower."""
    b = book()
    for idiom in sorted(b.idioms):
        try:
            follower(idiom, True), follower(idiom, False)
        except LookupError:
            continue
        return idiom, follower(idiom, False)
    raise AssertionError("no homophone case in the dictionary")


@pytest.fixture
async def chat(chat_with) -> Chat:
    """A group where only the idiom game runs."""
    return await chat_with("idiom_chain")


async def start(chat: Chat, user: str = "u1") -> str:
    """Open a game; it arms its silence timer. Returns the opening idiom."""
    opened = await chat.say("/接龙", user=user)
    assert reasons(opened) == ["game_started", "silence"] and kinds(opened) == ["send", "timer"]
    assert (timers(opened)[0].timer, timers(opened)[0].due) == ("silence", chat.now + SILENCE)
    return current(opened[0].text)


async def test_a_game_with_right_wrong_repeated_answers_and_a_hint(chat: Chat):
    first = await start(chat)
    answer = follower(first, same_char=True)
    ok = await chat.say(answer, user="u2", name="小李")
    assert reasons(ok) == ["idiom_accepted", "silence"] and "+5 分" in ok[0].text and ok[0].mentions == ("u2",)
    assert timers(ok)[0].due == chat.now + SILENCE  # a move restarts the silence
    assert reasons(await chat.say(answer, user="u3")) == ["repeated"]
    assert reasons(await chat.say("哈哈哈哈", user="u3")) == []  # ordinary chat is left alone
    wrong = next(i for i in sorted(book().idioms) if not book().links(answer, i, True))
    assert reasons(await chat.say(wrong, user="u3")) == ["wrong_start"]  # a wrong answer does not
    hint = texts(await chat.say("/提示", user="u3"))[0]
    assert f"现在是「{answer}」" in hint and "个成语可以接" in hint
    masked = texts(await chat.say("/hint", user="u3"))[0]
    assert re.search(r"比如：.□□.", masked)
    board = await chat.say("/结束", user="u1")  # the starter may end it, and the timer goes with the game
    assert kinds(board) == ["send", "cancel_timer"] and reasons(board) == ["game_over_command", "silence"]
    assert "1. 小李 — 5 分" in board[0].text
    assert await chat.advance(by=timedelta(hours=1)) == []


async def set_current(chat: Chat, idiom: str) -> None:
    """Make ``idiom`` the running game's current one (a test needs a known idiom to answer)."""
    def force(conn):
        from bot.store.games import load_game, save_game
        state = load_game(conn, "qq:g1", "idiom_chain")
        state.update(current=idiom, used=[idiom])
        save_game(conn, "qq:g1", "idiom_chain", state, chat.now)

    await chat.engine.store.run(force)


async def test_homophones_count_only_when_the_rules_say_so(chat_with):
    opening, by_sound = homophone_case()
    for match, expected in (("sound", "idiom_accepted"), ("char", "wrong_start")):
        chat = await chat_with(idiom_chain=f'match = "{match}"\n')
        await start(chat)
        await set_current(chat, opening)
        assert reasons(await chat.say(by_sound, user="u2"))[:1] == [expected], match


@pytest.mark.parametrize("previous, answer, linked", [
    ("不咸不淡", "严阵以待", False),  # 淡 is dàn in 不咸不淡: its rare reading yǎn does not count
    ("不咸不淡", "单枪匹马", True),  # the same toneless syllable, dan
    ("车水马龙", "弄巧成拙", False),  # 弄 is nòng in 弄巧成拙, never lòng
    ("车水马龙", "龙飞凤舞", True),
    ("习以为常", "长此以往", True),  # 长 is cháng in 长此以往 …
    ("习以为常", "长幼有序", False),  # … and zhǎng in 长幼有序
    ("七十二行", "行云流水", True),  # the same character links whatever it is read (háng, xíng)
])
def test_a_link_by_sound_reads_each_character_as_in_its_idiom(previous, answer, linked):
    assert book().links(previous, answer, by_sound=True) is linked
    assert (answer in book().followers(previous, by_sound=True)) is linked


async def test_answers_and_hints_use_the_reading_in_the_idiom(chat: Chat):
    await start(chat)
    await set_current(chat, "不咸不淡")
    refused = await chat.say("严阵以待", user="u2")
    assert reasons(refused) == ["wrong_start"] and "读 dan" in refused[0].text
    assert reasons(await chat.say("单枪匹马", user="u2")) == ["idiom_accepted", "silence"]
    await set_current(chat, "车水马龙")
    hints = [texts(await chat.say("/提示", user="u3"))[0] for _ in range(len(book().followers("车水马龙", True)) + 1)]
    assert all("读 long 的字开头都行" in h for h in hints)
    masked = {re.search(r"比如：(.□□.)", h).group(1) for h in hints[1:]}
    assert "弄□□拙" not in masked and all(m[0] in "龙隆笼聋陇垄拢" for m in masked), masked


async def test_silence_first_brings_a_bot_turn_then_the_end_with_the_scoreboard(chat: Chat):
    first = await start(chat)
    await chat.say(follower(first, True), user="u2", name="小李")
    moved = chat.now
    assert await chat.advance(to=moved + SILENCE - timedelta(seconds=1)) == []
    turn = await chat.advance(to=moved + SILENCE)
    assert kinds(turn) == ["send", "timer"] and reasons(turn) == ["bot_turn", "silence"]
    assert timers(turn)[0].due == moved + 2 * SILENCE  # the bot's move gives the group another round
    over = await chat.advance(by=timedelta(seconds=400))
    assert kinds(over) == ["send", "cancel_timer"] and reasons(over) == ["game_over_silence", "silence"]
    assert "太久没人接" in over[0].text and "1. 小李 — 5 分" in over[0].text
    assert reasons(await chat.say("/提示")) == ["no_game"]
    assert await chat.advance(by=timedelta(hours=1)) == []


async def test_a_move_resets_the_silence(chat: Chat):
    first = await start(chat)
    chat.now += timedelta(seconds=170)
    second = follower(first, True)
    await chat.say(second, user="u2")
    moved = chat.now
    assert await chat.advance(by=timedelta(seconds=100)) == []  # 270 s after the start, 100 s after the move
    assert reasons(await chat.advance(to=moved + SILENCE)) == ["bot_turn", "silence"]


async def test_two_groups_play_separate_games(chat_with):
    one = await chat_with("idiom_chain")
    two = Chat(one.engine, group="g2")
    first_one, first_two = await start(one), await start(two)
    answer = follower(first_one, True)
    if book().links(first_two, answer, True):
        return  # the two openings happen to share a follower: nothing to tell apart
    assert reasons(await two.say(answer)) == ["wrong_start"]
    accepted = await one.say(answer)
    assert reasons(accepted) == ["idiom_accepted", "silence"] and timers(accepted)[0].group == "g1"


async def test_a_game_continues_after_a_restart(tmp_path, chat_with):
    url = f"sqlite:///{tmp_path / 'game.sqlite'}"
    chat = await chat_with("idiom_chain", db_url=url)
    first = await start(chat)
    again = await chat_with("idiom_chain", db_url=url, start=chat.now)
    assert reasons(await again.say(follower(first, True), user="u2")) == ["idiom_accepted", "silence"]
    assert "game_over_silence" in reasons(await again.advance(by=timedelta(minutes=10)))


async def test_the_silence_timer_of_a_running_game_fires_once_after_a_restart(tmp_path, chat_with):
    url = f"sqlite:///{tmp_path / 'game.sqlite'}"
    chat = await chat_with("idiom_chain", db_url=url)
    await start(chat)
    started = chat.now
    await chat.engine.close()  # the process stops with the game running and its timer pending

    again = await chat_with("idiom_chain", db_url=url, start=started + timedelta(seconds=10))
    assert await again.advance(to=started + SILENCE - timedelta(seconds=1)) == []
    assert reasons(await again.advance(to=started + SILENCE)) == ["bot_turn", "silence"]
    assert reasons(await again.advance(to=started + 2 * SILENCE)) == ["game_over_silence", "silence"]
    assert await again.advance(by=timedelta(hours=1)) == []


async def resume(tmp_path, chat_with, down_for: timedelta) -> tuple[Chat, "datetime"]:
    """A game with one answer by 小李, the bot down from that move for ``down_for``, then a second engine on
    the same SQLite file. Returns that engine's chat and the time it came back."""
    url = f"sqlite:///{tmp_path / 'game.sqlite'}"
    chat = await chat_with("idiom_chain", db_url=url)
    first = await start(chat)
    await chat.say(follower(first, True), user="u2", name="小李")
    back = chat.now + down_for
    await chat.engine.close()
    return await chat_with("idiom_chain", db_url=url, start=back), back


async def test_a_game_resumed_long_after_its_silence_ends_with_one_message(tmp_path, chat_with):
    # Down through the silence and the turn the bot would have taken: no move, then the end, in one second.
    again, back = await resume(tmp_path, chat_with, down_for=2 * SILENCE + timedelta(seconds=5))
    over = await again.advance(to=back)
    assert kinds(over) == ["send", "cancel_timer"] and reasons(over) == ["game_over_silence", "silence"]
    assert "太久没人接" in over[0].text and "1. 小李 — 5 分" in over[0].text
    assert await again.advance(by=timedelta(hours=1)) == []


async def test_a_game_resumed_soon_after_its_silence_gets_the_bots_turn_and_a_whole_silence(tmp_path, chat_with):
    again, back = await resume(tmp_path, chat_with, down_for=SILENCE + timedelta(seconds=60))
    turn = await again.advance(to=back)
    assert reasons(turn) == ["bot_turn", "silence"] and timers(turn)[0].due == back + SILENCE  # from now, not from due
    assert await again.advance(to=back + SILENCE - timedelta(seconds=1)) == []
    assert reasons(await again.advance(to=back + SILENCE)) == ["game_over_silence", "silence"]


@needs_pg
async def test_two_engines_on_postgres_fire_a_restarted_games_silence_once(chat_with):
    await wipe_pg()
    chat = await chat_with("idiom_chain", db_url=PG_URL)
    await start(chat)
    started = chat.now
    await chat.engine.close()
    # Two processes come up on the database; both arm the stored silence timer.
    one = await chat_with("idiom_chain", db_url=PG_URL, start=started + timedelta(seconds=10))
    two = await chat_with("idiom_chain", db_url=PG_URL, start=started + timedelta(seconds=10))
    turns = await asyncio.gather(one.advance(to=started + SILENCE), two.advance(to=started + SILENCE))
    assert sorted(reasons(t) for t in turns) == [[], ["bot_turn", "silence"]]
    # The bot's turn re-armed the timer in the process that fired it; the other learns of it by its poll.
    for chat in (one, two):
        await chat.engine.scheduler.arm_stored()
    ends = await asyncio.gather(one.advance(to=started + 2 * SILENCE), two.advance(to=started + 2 * SILENCE))
    assert sorted(reasons(e) for e in ends) == [[], ["game_over_silence", "silence"]]


async def test_answers_feed_the_points_ledger(chat_with):
    from bot.store.points import recompute_totals, standing

    chat = await chat_with("idiom_chain", "checkin", "points")
    first = await start(chat)
    await chat.say("签到", user="u2")
    await chat.say(follower(first, True), user="u2")
    totals = await chat.engine.store.run(recompute_totals, "qq:g1")
    assert totals == {"u2": 15}
    assert (await chat.engine.store.run(standing, "qq:g1", "u2"))["points"] == 15


async def test_only_the_starter_or_an_admin_ends_a_game(chat: Chat):
    await start(chat, user="u1")
    assert reasons(await chat.say("/结束", user="u9")) == ["not_permitted"]
    assert reasons(await chat.say("/结束", user="u9", role="admin")) == ["game_over_command", "silence"]


def test_replay_a_game_across_a_restart_to_its_end_after_silence(tmp_path, only_rules):
    from datetime import datetime

    from bot.idioms import book as idioms
    from tests.test_replay import records, run_replay, write_events

    db, rules = f"sqlite:///{tmp_path / 'game.sqlite'}", str(only_rules("idiom_chain"))
    base = {"event": "message", "group": "g1", "platform": "qq"}
    opening = run_replay(str(write_events(tmp_path / "a.jsonl", [
        {**base, "at": "2026-11-23T20:00:00+08:00", "user": "u1", "name": "小王", "id": "m1", "text": "/接龙"}])),
        "--db", db, "--rules", rules)
    opened = records(opening.stdout)
    assert [(r["action"], r["reason"]) for r in opened] == [("send", "game_started"), ("timer", "silence")]
    assert datetime.fromisoformat(opened[1]["due"]) == datetime.fromisoformat("2026-11-23T20:03:00+08:00")
    first = current(opened[0]["text"])
    answer = follower(first, True)
    wrong = next(i for i in sorted(idioms().idioms) if not idioms().links(answer, i, True))
    second = run_replay(str(write_events(tmp_path / "b.jsonl", [
        {**base, "at": "2026-11-23T20:01:00+08:00", "user": "u2", "name": "小李", "id": "m2", "text": answer},
        {**base, "at": "2026-11-23T20:01:30+08:00", "user": "u3", "name": "老张", "id": "m3", "text": wrong},
        {**base, "at": "2026-11-23T20:02:00+08:00", "user": "u3", "name": "老张", "id": "m4", "text": "/提示"},
    ])), "--db", db, "--rules", rules, "--until", "2026-11-23T20:30:00+08:00")
    out = records(second.stdout)
    assert [(r["action"], r["reason"]) for r in out] == [
        ("send", "idiom_accepted"), ("timer", "silence"), ("send", "wrong_start"), ("send", "hint"),
        ("send", "bot_turn"), ("timer", "silence"), ("send", "game_over_silence"), ("cancel_timer", "silence")]
    assert {r["plugin"] for r in out} == {"idiom_chain"}
    # The answer moved the timer stored by the first run; the bot's turn set it again.
    assert [datetime.fromisoformat(r["due"]) for r in out if r["action"] == "timer"] == [
        datetime.fromisoformat("2026-11-23T20:04:00+08:00"), datetime.fromisoformat("2026-11-23T20:07:00+08:00")]
    assert [r["at"] for r in out[4:]] == ["2026-11-23T20:04:00+08:00"] * 2 + ["2026-11-23T20:07:00+08:00"] * 2
    assert out[1] == {"at": "2026-11-23T20:01:00+08:00", "action": "timer", "platform": "qq", "group": "g1",
                      "timer": "silence", "key": "", "due": out[1]["due"], "payload": {}, "plugin": "idiom_chain",
                      "reason": "silence"}
    assert "1. 小李 — 5 分" in out[-2]["text"]


def test_the_books_readings_are_pypinyins_phrase_readings():
    """The index reads pypinyin's dictionaries itself (for speed on the first game): it must read every
    idiom's ends as ``pypinyin.lazy_pinyin`` does, phrase dictionaries included."""
    from pypinyin import Style, lazy_pinyin

    b = book()
    differ = [i for i in b.idioms if (lambda r: (r[0], r[-1]))(lazy_pinyin(i, style=Style.NORMAL)) != b.ends(i)]
    assert differ == []
    assert b.ends("不咸不淡") == ("bu", "dan") and b.ends("弄巧成拙")[0] == "nong" and b.ends("行家里手")[0] == "hang"
    assert b.ends("行家好吧") == ("hang", "ba")  # not an idiom: read on the spot, known phrases inside it included
