"""Idiom chain (成语接龙): the next idiom starts with the last character of the previous one — the same
character, or the same sound when the rules say so (toneless pinyin, each character read as it is read in
its own idiom: 不咸不淡 ends in dan, so 单枪匹马 follows it and 严阵以待 does not).

A game is per group and lives in the database, and its silence timer is a stored timer, so both survive
a restart. Every move is one transaction that locks the game row, so two answers at once cannot both win.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from bot.bus import Context, Plugin
from bot.games import RunningGames
from bot.idioms import book
from bot.model import MessageReceived
from bot.rules import PluginRules
from bot.store.games import end_game, load_game, save_game
from bot.store.points import award

GAME = "idiom_chain"
SILENCE = "silence"  # the timer that ends (or moves on) a game nobody plays
_ANSWER_SHAPE = re.compile("[\u4e00-\u9fff]{4}")  # four CJK characters, like an idiom


class IdiomChainRules(PluginRules):
    match: Literal["char", "sound"] = "sound"  # sound: 同音也算 (as the characters are read in their idioms)
    points_per_answer: int = Field(5, ge=0, le=1000)
    silence_seconds: int = Field(180, ge=10, le=86_400)  # the game ends after this long without a move
    bot_takes_turn: bool = True  # when the group is stuck, the bot plays once before ending the game
    opening_min_followers: int = Field(5, ge=1, le=500)  # the bot opens with an idiom this easy to follow


class IdiomState(RunningGames):
    """Which groups play now (bot.games.RunningGames)."""

    def __init__(self) -> None:
        super().__init__(GAME)


plugin = Plugin("idiom_chain", IdiomChainRules, priority=120, state=IdiomState)


def _is_answer_shaped(event, _rules, state: IdiomState, group: str) -> bool:
    """Four CJK characters in a group where a game runs (or may run: not looked up yet)."""
    text = event.text
    if len(text) < 4 or not state.may_play(group):  # stripping only shortens the text
        return False
    return _ANSWER_SHAPE.fullmatch(text.strip()) is not None


def _followers(state: dict, by_sound: bool) -> list[str]:
    used = set(state["used"])
    return [i for i in book().followers(state["current"], by_sound) if i not in used]


def _new_game(rules: IdiomChainRules, group: str, starter: str, now: datetime) -> dict:
    idioms = book()
    rng = random.Random(f"{group}/{now.isoformat()}")  # deterministic in replay
    candidates = sorted(idioms.idioms)
    while True:
        opening = rng.choice(candidates)
        if len(idioms.followers(opening, rules.match == "sound")) >= rules.opening_min_followers:
            break
    return {"current": opening, "used": [opening], "scores": {}, "names": {}, "turns": 0, "starter": starter,
            "last_move": now.isoformat(), "bot_turned": False, "hints": 0}


def _arm(ctx: Context, state: dict):
    return ctx.timer(SILENCE, datetime.fromisoformat(state["last_move"]) + timedelta(seconds=ctx.rules.silence_seconds))


def _board(state: dict) -> list[dict]:
    ranked = sorted(state["scores"].items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"name": state["names"].get(user, user), "points": points} for user, points in ranked]


def _finish(ctx: Context, state: dict, why: str) -> list:
    ctx.state.playing[ctx.group] = False
    return [ctx.send("idiom_chain/ended", f"game_over_{why}", why=why, turns=state["turns"], board=_board(state),
                     current=state["current"]), ctx.cancel_timer(SILENCE)]


@plugin.command("idiom", "接龙", "成语接龙")
async def start(ctx: Context):
    rules: IdiomChainRules = ctx.rules
    ev = ctx.event

    def begin(conn):
        running = load_game(conn, ctx.group, GAME)
        if running:
            return running, False
        state = _new_game(rules, ctx.group, ev.user, ev.at)
        save_game(conn, ctx.group, GAME, state, ev.at)
        return state, True

    state, started = await ctx.store.run(begin)
    ctx.state.playing[ctx.group] = True
    told = ctx.send("idiom_chain/started" if started else "idiom_chain/running", "game_started" if started else "game_running",
                    current=state["current"], by_sound=rules.match == "sound", silence=rules.silence_seconds)
    return [told, _arm(ctx, state)] if started else told


@plugin.on(MessageReceived, when=_is_answer_shaped)
async def answer(ctx: Context):
    rules: IdiomChainRules = ctx.rules
    ev = ctx.event
    if not await ctx.state.may_play_now(ctx.store, ctx.group):
        return None
    text = ev.text.strip()
    by_sound = rules.match == "sound"

    def play(conn):
        state = load_game(conn, ctx.group, GAME)
        if state is None:
            return None, "no_game"
        idioms = book()
        links = idioms.links(state["current"], text, by_sound)
        if not idioms.is_idiom(text):
            return state, "not_idiom" if links else "ignored"
        if text in state["used"]:
            return state, "repeated"
        if not links:
            return state, "wrong_start"
        state.update(current=text, turns=state["turns"] + 1, last_move=ev.at.isoformat(), bot_turned=False, hints=0)
        state["used"].append(text)
        state["scores"][ev.user] = state["scores"].get(ev.user, 0) + rules.points_per_answer
        state["names"][ev.user] = ev.user_name or ev.user
        if rules.points_per_answer:
            award(conn, ctx.group, ev.user, ev.user_name, rules.points_per_answer, plugin.name, "idiom_answer", ev.at)
        if not _followers(state, by_sound):
            end_game(conn, ctx.group, GAME)
            return state, "dead_end"
        save_game(conn, ctx.group, GAME, state, ev.at)
        return state, "accepted"

    state, outcome = await ctx.store.run(play)
    ctx.state.playing[ctx.group] = outcome != "no_game"
    if outcome in ("no_game", "ignored"):
        return None
    if outcome == "dead_end":
        return [ctx.reply("idiom_chain/accepted", "idiom_accepted", state=state, points=rules.points_per_answer, by_sound=by_sound),
                *_finish(ctx, state, "dead_end")]
    if outcome == "accepted":
        return [ctx.reply("idiom_chain/accepted", "idiom_accepted", state=state, points=rules.points_per_answer, by_sound=by_sound),
                _arm(ctx, state)]
    sound = book().last_sound(state["current"]) if by_sound else None
    return ctx.reply("idiom_chain/refused", outcome, outcome=outcome, answer=text, current=state["current"], sound=sound)


@plugin.command("hint", "提示")
async def hint(ctx: Context):
    rules: IdiomChainRules = ctx.rules
    by_sound = rules.match == "sound"

    def take_hint(conn):
        state = load_game(conn, ctx.group, GAME)
        if state:
            state["hints"] += 1
            save_game(conn, ctx.group, GAME, state, ctx.event.at)
        return state

    state = await ctx.store.run(take_hint)
    if state is None:
        return ctx.reply("idiom_chain/no_game", "no_game")
    options = _followers(state, by_sound)
    pick = options[(state["turns"] + state["hints"]) % len(options)]
    masked = pick[0] + "□□" + pick[-1] if state["hints"] > 1 else None
    sound = book().last_sound(state["current"]) if by_sound else None
    return ctx.reply("idiom_chain/hint", "hint", current=state["current"], count=len(options), sound=sound, masked=masked)


@plugin.command("idiom_end", "结束", "结束接龙")
async def stop(ctx: Context):
    def finish(conn):
        state = load_game(conn, ctx.group, GAME)
        if state is None:
            return None, False
        if ctx.role == "member" and state.get("starter") != ctx.event.user:
            return state, False
        end_game(conn, ctx.group, GAME)
        return state, True

    state, ended = await ctx.store.run(finish)
    if state is None:
        return ctx.reply("idiom_chain/no_game", "no_game")
    if not ended:
        return ctx.reply("idiom_chain/not_yours", "not_permitted")
    return _finish(ctx, state, "command")


@plugin.timer(SILENCE)
async def on_silence(ctx: Context):
    """Nobody moved for ``silence_seconds``: the bot takes one turn if allowed, else the game ends.

    A timer that fires a whole silence late (the bot was down) ends the game with one message: a bot move
    at once followed by the end would be noise, and nobody is waiting for a move after that long. A turn
    re-arms the silence from now, so the group always gets a whole silence to answer it."""
    rules: IdiomChainRules = ctx.rules
    due = ctx.event.due
    now = ctx.now.astimezone(due.tzinfo)  # later than due when the bot was down through the silence
    silence = timedelta(seconds=rules.silence_seconds)
    by_sound = rules.match == "sound"

    def step(conn):
        state = load_game(conn, ctx.group, GAME)
        if state is None:
            return None, "none"
        if datetime.fromisoformat(state["last_move"]) + silence > due:
            return state, "moved"  # a move came in after this timer was set; its own timer is pending
        options = _followers(state, by_sound)
        if rules.bot_takes_turn and not state["bot_turned"] and options and now - due < silence:
            pick = options[state["turns"] % len(options)]
            state.update(current=pick, last_move=now.isoformat(), bot_turned=True, hints=0)
            state["used"].append(pick)
            if _followers(state, by_sound):
                save_game(conn, ctx.group, GAME, state, now)
                return state, "bot_turn"
        end_game(conn, ctx.group, GAME)
        return state, "silence"

    state, outcome = await ctx.store.run(step)
    if outcome in ("none", "moved"):
        return None
    if outcome == "bot_turn":
        return [ctx.send("idiom_chain/bot_turn", "bot_turn", current=state["current"], by_sound=by_sound), _arm(ctx, state)]
    return _finish(ctx, state, "silence")
