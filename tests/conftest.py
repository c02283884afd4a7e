"""Shared fixtures: an engine on a virtual clock with a fresh SQLite file, a rules folder holding only the
rule files a test names, and a small chat harness (``Chat``) with helpers that sort what it returns."""

from __future__ import annotations

import os
import shutil
import sys
import types
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine
from bot.model import PLATFORM_ACTIONS, Action, Event, JoinRequested, MemberJoined, MemberLeft, MessageReceived, Report, SetTimer
from bot.outbox import plan_batch
from bot.scheduler import VirtualClock
from bot.store import Store

BEIJING = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent


def at(text: str) -> datetime:
    """A Beijing time from '2026-11-23 08:59'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)


class Chat:
    """Members of one group talking to the bot on a virtual clock. Every call returns the effects the bot
    asked for: platform actions, and the engine's own (timers, their cancellations, reports)::

        chat = await chat_with("idiom_chain")
        opened = await chat.say("/接龙", user="u1")
        fired = await chat.advance(by=timedelta(minutes=3))   # the game's silence timer fires
    """

    def __init__(self, engine: Engine, platform: str = "qq", group: str = "g1", start: datetime | None = None):
        self.engine, self.platform, self.group = engine, platform, group
        self.now = start or at("2026-11-23 09:00")
        self._ids = 0

    def _next(self, when: datetime | None) -> datetime:
        self.now = when or self.now + timedelta(seconds=1)
        self.engine.clock.set(self.now)
        return self.now

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def _handle(self, kind: type[Event], when: datetime | None, **fields) -> list[Action]:
        event = kind(at=self._next(when), platform=self.platform, group=self.group, **fields)
        return await self.engine.handle(event)

    async def say(self, text: str, user: str = "u1", name: str | None = None, role: str = "member",
                  when: datetime | None = None, **fields) -> list[Action]:
        """``user`` says ``text`` (one second after the last event unless ``when``); ``fields`` add what a
        message may carry: ``kind="red_packet"``, ``mentions=("u2",)``, ``reply_to="m3"``."""
        return await self._handle(MessageReceived, when, user=user, name=name or user, role=role, id=self._id("m"),
                                  text=text, **fields)

    async def join(self, user: str, name: str | None = None, when: datetime | None = None, **fields) -> list[Action]:
        return await self._handle(MemberJoined, when, user=user, name=name or user, **fields)

    async def leave(self, user: str, name: str | None = None, when: datetime | None = None) -> list[Action]:
        return await self._handle(MemberLeft, when, user=user, name=name or user)

    async def request_join(self, user: str, answer: str = "", name: str | None = None,
                           when: datetime | None = None) -> list[Action]:
        """``user`` asks to join, answering the group's question with ``answer``; the request's id is
        ``r<n>``."""
        return await self._handle(JoinRequested, when, user=user, name=name or user, id=self._id("r"), answer=answer)

    def delivered(self, effects) -> list[Action]:
        """What this chat's platform would be asked to do for ``effects`` where every action it can take
        succeeds: the platform actions through the outbox's plan on the group's capabilities (the live ones
        of an adapter in ``engine.adapters``, else the platform's table): a mute-all with its announcement
        after it, or the fallback words instead of it; an announcement of an impossible action left out.
        Timers and reports never reach a platform."""
        able = lambda action: self.engine.capabilities(action.platform, action.group)  # noqa: E731
        return actions(plan_batch(actions(effects), able, self.engine.templates))

    async def advance(self, to: datetime | None = None, by: timedelta | None = None) -> list[Action]:
        """Move the clock to ``to`` (or ``by`` on) and fire every scheduled job and timer due by then, in
        time order; returns the effects they caused (in every group of the engine)."""
        return [effect for _at, effect in await self.timeline(to=to, by=by)]

    async def timeline(self, to: datetime | None = None, by: timedelta | None = None) -> list[tuple[datetime, Action]]:
        """``advance``, each effect with the time it fell due: ``[(09:00, MuteAll(on=True)), …]``."""
        assert (to is None) != (by is None), "advance(to=...) or advance(by=...)"
        target = to if to is not None else self.now + by
        scheduler, fired = self.engine.scheduler, []
        # One due time at a time, so that every effect is known with its time (run_due(t) fires all due by t).
        while (due := scheduler.next_due()) is not None and due <= target:
            fired += [(due, effect) for effect in await scheduler.run_due(due)]
        self.now = max(self.now, target)
        self.engine.clock.set(self.now)
        return fired


@pytest.fixture
def rules_dir(tmp_path) -> Path:
    """A copy of the shipped rules that a test may edit."""
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, target)
    return target


@pytest.fixture
async def make_engine(tmp_path):
    engines: list[Engine] = []

    async def make(rules: Path = SHIPPED_RULES, config: QunbotConfig | None = None, db_url: str | None = None,
                   start: datetime | None = None) -> Engine:
        url = db_url or f"sqlite:///{tmp_path / f'db{len(engines)}.sqlite'}"
        engine = await Engine.create(config or QunbotConfig(), rules, db_url=url, clock=VirtualClock(start))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


@pytest.fixture
def only_rules(tmp_path):
    """``only_rules("idiom_chain", "points")``: a new folder holding copies of just those shipped rule files,
    so that a plugin's tests run with that plugin's rules and a newly shipped plugin changes nothing in
    them. ``only_rules("idiom_chain", idiom_chain='match = "char"')`` writes that text as the file instead."""
    made = 0

    def make(*names: str, **written: str) -> Path:
        nonlocal made
        made += 1
        folder = tmp_path / f"only_rules{made}"
        folder.mkdir()
        for name in names:
            shutil.copy(SHIPPED_RULES / f"{name}.toml", folder / f"{name}.toml")
        for name, body in written.items():
            (folder / f"{name}.toml").write_text(body, encoding="utf-8")
        return folder

    return make


@pytest.fixture
def chat_with(make_engine, only_rules):
    """``await chat_with("idiom_chain", db_url=..., start=...)``: a Chat in group g1 on a new engine that
    runs only the named plugins' shipped rules (keywords write a rule file's text, as ``only_rules``)."""

    async def make(*names: str, db_url: str | None = None, start: datetime | None = None, group: str = "g1",
                   platform: str = "qq", **written: str) -> Chat:
        engine = await make_engine(only_rules(*names, **written), db_url=db_url, start=start)
        return Chat(engine, platform=platform, group=group, start=start)

    return make


@pytest.fixture
async def chat(make_engine) -> Chat:
    """A Chat on every shipped rule file (the bot as installed); a plugin's own tests use ``chat_with``."""
    return Chat(await make_engine())


@pytest.fixture
def extra_plugin():
    """Make a test-only plugin importable as plugins.<name> (the engine imports by rule-file name)."""
    added: list[str] = []

    def install(name: str, plugin) -> None:
        module = types.ModuleType(f"plugins.{name}")
        module.plugin = plugin
        sys.modules[module.__name__] = module
        added.append(module.__name__)

    yield install
    for name in added:
        sys.modules.pop(name, None)


def texts(actions) -> list[str]:
    """The texts of the messages sent."""
    return [a.text for a in actions if a.name == "send"]


def reasons(actions) -> list[str]:
    return [a.reason for a in actions]


def kinds(effects) -> list[str]:
    """What each effect is, as replay names it: ``["send", "timer", "report"]``."""
    return [e.name for e in effects]


def actions(effects) -> list[Action]:
    """The platform actions among ``effects`` (what reaches the group), without timers and reports."""
    return [e for e in effects if isinstance(e, PLATFORM_ACTIONS)]


def timers(effects) -> list[SetTimer]:
    """The timers set among ``effects``."""
    return [e for e in effects if isinstance(e, SetTimer)]


def reports(effects) -> list[str]:
    """The texts of the reports to the operators among ``effects``."""
    return [e.text for e in effects if isinstance(e, Report)]


PG_URL = os.environ.get("QUNBOT_TEST_PG_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="QUNBOT_TEST_PG_URL is not set: PostgreSQL tests need a real server")


async def wipe_pg() -> None:
    """An empty public schema on the test PostgreSQL: a test that needs the database starts from nothing."""
    store = Store(PG_URL)
    async with store.async_engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    """A migrated store: on a fresh SQLite file, then on the wiped test PostgreSQL (skipped without one)."""
    if request.param == "sqlite":
        opened = await Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        if not PG_URL:
            pytest.skip("QUNBOT_TEST_PG_URL is not set")
        await wipe_pg()
        opened = await Store.open(PG_URL)
    yield opened
    await opened.close()


def pytest_configure(config):
    # CI sets QUNBOT_REQUIRE_PG so that a missing database fails the run instead of skipping quietly.
    if os.environ.get("QUNBOT_REQUIRE_PG") and not PG_URL:
        raise pytest.UsageError("QUNBOT_REQUIRE_PG is set but QUNBOT_TEST_PG_URL is not")
