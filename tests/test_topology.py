"""Topologies Qunbot refuses rather than leaves to chance (bot/topology.py, README: Topologies): two
serving processes on one SQLite file, and two receivers of an account whose platform hands each update
to one receiver only (the second waits as a standby)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import text

from bot.config import QunbotConfig
from bot.store import Store
from bot.topology import TopologyRefused, account_keys, hold_accounts, hold_sqlite, keep_accounts
from tests.conftest import PG_URL, ROOT, needs_pg, wipe_pg


def _run(config, *, stdin=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config)], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent,
                            env={"PATH": "", "PYTHONPATH": str(ROOT)})


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'adapters = ["console"]\ndatabase_url = "sqlite:///{tmp_path / "q.sqlite"}"\n', encoding="utf-8")
    first = _run(config)
    try:
        assert "沙盒群" in first.stdout.readline()  # the console's banner: serving
        second = _run(config, stdin=subprocess.DEVNULL)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert "another qunbot process is serving with the SQLite file" in err and "PostgreSQL" in err
        assert "Traceback" not in err
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    assert first.returncode == 0
    third = _run(config, stdin=subprocess.DEVNULL)  # the lock went with the first process
    assert third.wait(timeout=60) == 0, third.stderr.read()


def test_the_sqlite_lock_is_held_while_serving_and_given_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    with hold_sqlite(url):
        with pytest.raises(TopologyRefused, match="q.sqlite"):
            with hold_sqlite(url):
                pass
    with hold_sqlite(url):  # free again
        pass
    with hold_sqlite("sqlite:///:memory:"), hold_sqlite("sqlite:///:memory:"):
        pass  # nothing to share: nothing held


def test_accounts_that_receive_alone_are_named_without_their_secrets(monkeypatch):
    monkeypatch.setenv("QUNBOT_TELEGRAM_TOKEN", "123456:very-secret")
    config = QunbotConfig.model_validate({"adapters": ["telegram", "qq", "qq_official"], "telegram": {},
                                          "qq": {"forward": [{"url": "ws://127.0.0.1:1"}]}, "qq_official": {"app_id": "1024"}})
    keys = account_keys(config, ["telegram", "qq", "qq_official"])
    assert keys == ["telegram:123456", "qq_official:1024"]  # OneBot hands every connection every event
    assert not any("secret" in k for k in keys)


@pytest.fixture
async def pg_store():
    await wipe_pg()
    store = await Store.open(PG_URL)
    yield store
    await store.close()


@needs_pg
async def test_a_second_receiver_of_an_account_waits_as_a_standby_until_the_first_lets_go(pg_store, caplog):
    keys = ["telegram:123456"]
    first = await hold_accounts(pg_store, keys, ttl=2.0, every=0.4)
    assert first is not None and first.held == keys
    second = asyncio.create_task(hold_accounts(pg_store, keys, ttl=2.0, every=0.4))
    await asyncio.sleep(1.5)
    assert not second.done(), "two processes would split the account's updates"
    assert "standby: another process receives telegram:123456" in caplog.text
    await first.close()  # a clean stop
    standby = await asyncio.wait_for(second, timeout=2)
    assert standby.held == keys
    await standby.close()


@needs_pg
async def test_a_process_that_lost_its_account_lease_stops(pg_store):
    keys = ["qq_official:1024"]
    leases = await hold_accounts(pg_store, keys, ttl=2.0, every=0.4)
    # The database was out of reach for longer than a lease, and another process took the account.
    def taken(conn):
        conn.execute(text("UPDATE lease_owners SET expires_at = now() - interval '1 second'"))
        conn.execute(text("INSERT INTO lease_owners (owner, expires_at) VALUES ('other', now() + interval '1 hour')"))
        conn.execute(text("UPDATE leases SET owner = 'other'"))

    await pg_store.run(taken)
    with pytest.raises(TopologyRefused, match="lost the lease"):
        await asyncio.wait_for(keep_accounts(leases, keys), timeout=5)


@needs_pg
async def test_an_owner_whose_heartbeat_lapsed_keeps_what_nobody_took(pg_store):
    from bot.leases import Leases

    leases = Leases(pg_store, ttl=2.0, every=0.4, margin=0.2)
    leases.want(["qq:g1", "qq:g2"])
    assert sorted(await leases.tick()) == ["qq:g1", "qq:g2"]

    def lapse_and_take_one(conn):
        conn.execute(text("UPDATE lease_owners SET expires_at = now() - interval '1 second'"))
        conn.execute(text("INSERT INTO lease_owners (owner, expires_at) VALUES ('other', now() + interval '1 hour')"))
        conn.execute(text("UPDATE leases SET owner = 'other' WHERE key = 'group:qq:g2'"))

    await pg_store.run(lapse_and_take_one)
    await leases.tick()
    assert leases.owns("qq:g1") is True and leases.owns("qq:g2") is False


@needs_pg
async def test_leases_hand_a_key_to_one_process_only_under_contention(pg_store):
    from bot.leases import Leases

    many = [Leases(pg_store, ttl=2.0, every=0.4, margin=0.2) for _ in range(6)]
    groups = [f"qq:g{i}" for i in range(30)]
    for leases in many:
        leases.want(groups)
    await asyncio.gather(*(leases.tick() for leases in many))
    for group in groups:
        assert sum(leases.owns(group) is True for leases in many) == 1, group
