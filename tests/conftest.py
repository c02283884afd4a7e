"""Shared fixtures: an engine on a virtual clock with a fresh SQLite file, and a small chat harness."""

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
from bot.model import MemberJoined, MessageReceived
from bot.scheduler import VirtualClock
from bot.store import Store

BEIJING = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent


def at(text: str) -> datetime:
    """A Beijing time from '2026-11-23 08:59'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)


class Chat:
    """Members talking in one group; each call returns the actions the bot asked for."""

    def __init__(self, engine: Engine, platform: str = "qq", group: str = "g1", start: datetime | None = None):
        self.engine, self.platform, self.group = engine, platform, group
        self.now = start or at("2026-11-23 09:00")
        self._ids = 0

    async def say(self, text: str, user: str = "u1", name: str | None = None, role: str = "member", when: datetime | None = None):
        self.now = when or self.now + timedelta(seconds=1)
        self._ids += 1
        event = MessageReceived(at=self.now, platform=self.platform, group=self.group, user=user,
                                name=name or user, role=role, id=f"m{self._ids}", text=text)
        self.engine.clock.set(self.now)
        return await self.engine.handle(event)

    async def join(self, user: str, name: str | None = None):
        self.now += timedelta(seconds=1)
        self.engine.clock.set(self.now)
        return await self.engine.handle(MemberJoined(at=self.now, platform=self.platform, group=self.group, user=user, name=name or user))


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
async def chat(make_engine) -> Chat:
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
    return [a.text for a in actions if a.name == "send"]


def reasons(actions) -> list[str]:
    return [a.reason for a in actions]


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
