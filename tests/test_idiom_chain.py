"""Idiom chain: answers right, wrong, by homophone, repeated; hints; the end after silence; two groups;
a game that continues after a restart."""

import re
from datetime import timedelta

from bot.idioms import book
from tests.conftest import Chat, reasons, texts


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


async def start(chat: Chat, user: str = "u1") -> str:
    opened = await chat.say("/接龙", user=user)
    assert reasons(opened) == ["game_started"]
    return current(opened[0].text)


async def test_a_game_with_right_wrong_repeated_answers_and_a_hint(chat: Chat):
    first = await start(chat)
    answer = follower(first, same_char=True)
    ok = await chat.say(answer, user="u2", name="小李")
    assert reasons(ok) == ["idiom_accepted"] and "+5 分" in ok[0].text and ok[0].mentions == ("u2",)
    assert reasons(await chat.say(answer, user="u3")) == ["repeated"]
    assert reasons(await chat.say("哈哈哈哈", user="u3")) == []  # ordinary chat is left alone
    wrong = next(i for i in sorted(book().idioms) if not book().links(answer, i, True))
    assert reasons(await chat.say(wrong, user="u3")) == ["wrong_start"]
    hint = texts(await chat.say("/提示", user="u3"))[0]
    assert f"现在是「{answer}」" in hint and "个成语可以接" in hint
    masked = texts(await chat.say("/hint", user="u3"))[0]
    assert re.search(r"比如：.□□.", masked)
    board = await chat.say("/结束", user="u1")  # the starter may end it
    assert reasons(board) == ["game_over_command"] and "1. 小李 — 5 分" in board[0].text


async def test_homophones_count_only_when_the_rules_say_so(make_engine, rules_dir):
    opening, by_sound = homophone_case()
    for match, expected in (("sound", "idiom_accepted"), ("char", "wrong_start")):
        (rules_dir / "idiom_chain.toml").write_text(f'match = "{match}"\n', encoding="utf-8")
        engine = await make_engine(rules_dir)
        chat = Chat(engine)
        await start(chat)

        def force_opening(conn):  # the test needs a known opening idiom
            from bot.store.games import load_game, save_game
            state = load_game(conn, "qq:g1", "idiom_chain")
            state.update(current=opening, used=[opening])
            save_game(conn, "qq:g1", "idiom_chain", state, chat.now)

        await engine.store.run(force_opening)
        assert reasons(await chat.say(by_sound, user="u2")) == [expected], match


async def test_silence_first_brings_a_bot_turn_then_the_end_with_the_scoreboard(chat: Chat):
    first = await start(chat)
    await chat.say(follower(first, True), user="u2", name="小李")
    fired = []
    chat.engine.sink = lambda actions, when: fired.extend(actions)
    await chat.engine.scheduler.run_due(chat.now + timedelta(seconds=181))
    assert reasons(fired) == ["bot_turn"]
    await chat.engine.scheduler.run_due(chat.now + timedelta(seconds=400))
    assert reasons(fired) == ["bot_turn", "game_over_silence"]
    assert "太久没人接" in fired[1].text and "1. 小李 — 5 分" in fired[1].text
    assert reasons(await chat.say("/提示")) == ["no_game"]


async def test_a_move_resets_the_silence(chat: Chat):
    first = await start(chat)
    chat.now += timedelta(seconds=170)
    second = follower(first, True)
    await chat.say(second, user="u2")
    fired = []
    chat.engine.sink = lambda actions, when: fired.extend(actions)
    await chat.engine.scheduler.run_due(chat.now + timedelta(seconds=100))  # 270 s after the start
    assert fired == []


async def test_two_groups_play_separate_games(make_engine):
    engine = await make_engine()
    one, two = Chat(engine, group="g1"), Chat(engine, group="g2")
    first_one, first_two = await start(one), await start(two)
    answer = follower(first_one, True)
    if book().links(first_two, answer, True):
        return  # the two openings happen to share a follower: nothing to tell apart
    assert reasons(await two.say(answer)) == ["wrong_start"]
    assert reasons(await one.say(answer)) == ["idiom_accepted"]


async def test_a_game_continues_after_a_restart(tmp_path, make_engine):
    url = f"sqlite:///{tmp_path / 'game.sqlite'}"
    chat = Chat(await make_engine(db_url=url))
    first = await start(chat)
    again = Chat(await make_engine(db_url=url, start=chat.now), start=chat.now)
    assert reasons(await again.say(follower(first, True), user="u2")) == ["idiom_accepted"]
    fired = []
    again.engine.sink = lambda actions, when: fired.extend(actions)
    await again.engine.scheduler.run_due(again.now + timedelta(minutes=10))  # the timer was re-armed
    assert "game_over_silence" in reasons(fired)


async def test_answers_feed_the_points_ledger(chat: Chat):
    from bot.store.points import recompute_totals, standing

    first = await start(chat)
    await chat.say("签到", user="u2")
    await chat.say(follower(first, True), user="u2")
    totals = await chat.engine.store.run(recompute_totals, "qq:g1")
    assert totals == {"u2": 15}
    assert (await chat.engine.store.run(standing, "qq:g1", "u2"))["points"] == 15


async def test_only_the_starter_or_an_admin_ends_a_game(chat: Chat):
    await start(chat, user="u1")
    assert reasons(await chat.say("/结束", user="u9")) == ["not_permitted"]
    assert reasons(await chat.say("/结束", user="u9", role="admin")) == ["game_over_command"]


def test_replay_a_game_across_a_restart_to_its_end_after_silence(tmp_path):
    from bot.idioms import book as idioms
    from tests.test_replay import records, run_replay, write_events

    db = f"sqlite:///{tmp_path / 'game.sqlite'}"
    base = {"event": "message", "group": "g1", "platform": "qq"}
    opening = run_replay(str(write_events(tmp_path / "a.jsonl", [
        {**base, "at": "2026-11-23T20:00:00+08:00", "user": "u1", "name": "小王", "id": "m1", "text": "/接龙"}])), "--db", db)
    first = current(records(opening.stdout)[0]["text"])
    answer = follower(first, True)
    wrong = next(i for i in sorted(idioms().idioms) if not idioms().links(answer, i, True))
    second = run_replay(str(write_events(tmp_path / "b.jsonl", [
        {**base, "at": "2026-11-23T20:01:00+08:00", "user": "u2", "name": "小李", "id": "m2", "text": answer},
        {**base, "at": "2026-11-23T20:01:30+08:00", "user": "u3", "name": "老张", "id": "m3", "text": wrong},
        {**base, "at": "2026-11-23T20:02:00+08:00", "user": "u3", "name": "老张", "id": "m4", "text": "/提示"},
    ])), "--db", db, "--until", "2026-11-23T20:30:00+08:00")
    out = [r for r in records(second.stdout) if r["plugin"] == "idiom_chain"]
    assert [r["reason"] for r in out] == ["idiom_accepted", "wrong_start", "hint", "bot_turn", "game_over_silence"]
    assert [r["at"] for r in out[3:]] == ["2026-11-23T20:04:00+08:00", "2026-11-23T20:07:00+08:00"]
    assert "1. 小李 — 5 分" in out[-1]["text"]
