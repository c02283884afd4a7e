"""What the kill -9 tests share (tests/test_staying_crash.py, tests/test_staying_outbox.py): the rules and
config of a real ``qunbot run`` against our OneBot v11 simulator, starting that process, reading its
database behind its back, and the events a member or a newcomer causes."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.engine import SHIPPED_RULES
from bot.store import Store
from tests.conftest import BEIJING, ROOT
from tests.onebot_sim import Member, OneBotSim


def write_setup(tmp: Path, url: str, chat: int, per_second: float = 500.0, database_url: str | None = None,
                lease_seconds: float | None = None) -> tuple[Path, Path]:
    """Rules (check-ins, a one-minute quiz, a morning post due at once everywhere but in ``chat``) and a
    config for ``qunbot run`` against the OneBot peer at ``url``, sending ``per_second`` at most, on
    ``database_url`` (default: the SQLite file ``tmp``/bot.db)."""
    rules = tmp / "rules"
    rules.mkdir()
    shutil.copy(SHIPPED_RULES / "checkin.toml", rules)
    quiz = (SHIPPED_RULES / "join_threshold.toml").read_text(encoding="utf-8")
    (rules / "join_threshold.toml").write_text(quiz.replace("quiz_minutes = 10", "quiz_minutes = 1"), encoding="utf-8")
    # The morning post's slot passed a minute ago: due at once, in every group but the chat group.
    slot = (datetime.now(BEIJING) - timedelta(minutes=1)).strftime("%H:%M")
    (rules / "daily_posts.toml").write_text(
        f'[posts.morning]\ntime = "{slot}"\ndays = "every"\ntemplate = "daily_posts/morning"\n'
        f'[groups."qq:{chat}".posts.morning]\nenabled = false\n', encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        f'adapters = ["qq"]\ndatabase_url = "{database_url or sqlite_url(tmp)}"\n'
        + (f"lease_seconds = {lease_seconds}\n" if lease_seconds else "")
        + f'[outbox.qq]\nper_group_per_minute = 1000\nper_second = {per_second}\n'
        f'[qq]\naction_timeout = 60.0\n[[qq.forward]]\nurl = "{url}"\n', encoding="utf-8")
    return config, rules


def sqlite_url(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'bot.db'}"


async def qunbot(tmp: Path, *args: str) -> asyncio.subprocess.Process:
    """``qunbot ARGS`` in a process of its own, its output appended to ``tmp``/bot.log."""
    log = (tmp / "bot.log").open("ab")
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=ROOT, stdout=log, stderr=log)


async def query(url: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the database at ``url`` (SQLite or PostgreSQL), read as another process would."""
    if make_url(url).get_backend_name() == "sqlite":
        with sqlite3.connect(make_url(url).database) as conn:
            return conn.execute(sql).fetchall()
    store = Store(url)
    try:
        async with store.async_engine.begin() as conn:
            result = await conn.exec_driver_sql(sql)  # as written: no bind parameters (a time's colons)
            return [tuple(r) for r in result.all()] if result.returns_rows else []
    finally:
        await store.close()


async def join(sim: OneBotSim, group: int, user: int, seconds_ago: int) -> dict:
    """``user`` joined ``group`` ``seconds_ago``: the platform's notice, as posted."""
    sim.groups[group][user] = Member("member", nickname=f"新人{user}")
    await sim.post({"time": int(time.time()) - seconds_ago, "post_type": "notice", "notice_type": "group_increase",
                    "sub_type": "approve", "group_id": group, "user_id": user, "operator_id": 1001})
    return sim._posted[-1]


def text(words: str) -> list[dict]:
    return [{"type": "text", "data": {"text": words}}]
