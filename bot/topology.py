"""Which ways of running several processes are supported, and the refusals that keep the others out
(README: Topologies).

- One process: any database.
- Processes with disjoint accounts on one PostgreSQL: each answers its own groups.
- Replicas connected to the same accounts on one PostgreSQL: each group has one owner process at a time
  by a lease (bot.leases); the others watch it silently and take it over when the owner stops or dies.

Refused at start, rather than left to chance:
- A second ``qunbot run`` on one SQLite file: SQLite has no leases, so both would answer every group
  (``hold_sqlite``). Several processes need PostgreSQL.
- A second receiver for an account whose platform hands each update to one receiver only (Telegram's
  getUpdates or webhook, the QQ official API, WeCom): the updates of one group would be split between
  processes, and neither would see the whole conversation (flood control, repeats, near-copies). On
  PostgreSQL the second process waits as a standby until the account's lease is free
  (``hold_accounts``), then starts receiving.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.engine import make_url

from bot.leases import Leases

log = logging.getLogger(__name__)


class TopologyRefused(Exception):
    """A way of running processes that Qunbot does not support; the message says which and what to do."""


@contextmanager
def hold_sqlite(database_url: str) -> Iterator[None]:
    """Hold the SQLite file for this process while it serves; TopologyRefused if another process does.
    (The lock goes with the process, however it ends: a kill -9 leaves nothing to clean.)"""
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.run-lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TopologyRefused(
                f"another qunbot process is serving with the SQLite file {database}: two processes on one SQLite file "
                "would both answer every group. Stop the other one, or move both to PostgreSQL (database_url = "
                "\"postgresql://…\"), where replicas share the groups by leases (README: Topologies)") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _telegram(config) -> str:
    # The bot's numeric id, the part of the token before the colon: public, and the same for every process.
    token = os.environ.get(config.telegram.token_env, "")
    return token.partition(":")[0] or config.telegram.token_env


# Platforms that hand each update to one receiver only, and the account a receiver holds there.
RECEIVES_ALONE = {
    "telegram": _telegram,
    "qq_official": lambda config: config.qq_official.app_id,
    "wecom": lambda config: config.wecom.bot_id or config.wecom.mode,
}


def account_keys(config, platforms: list[str]) -> list[str]:
    """The accounts (``<platform>:<id>``) among ``platforms`` that only one process may receive at a time."""
    return [f"{p}:{RECEIVES_ALONE[p](config)}" for p in platforms if p in RECEIVES_ALONE and getattr(config, p, None)]


async def hold_accounts(store, keys: list[str], ttl: float, every: float) -> Leases | None:
    """Take the leases of these accounts, waiting (a standby) while another process holds any of them;
    the Leases to keep renewing (``keep_accounts``). None when there is nothing to hold."""
    if not keys:
        return None
    leases = Leases(store, prefix="account:", ttl=ttl, every=every, margin=every / 2)
    leases.want(keys)
    told = False
    while True:
        await leases.tick()
        if set(leases.held) == set(keys):
            if told:
                log.warning("standby over: this process now receives %s", ", ".join(keys))
            return leases
        if not told:
            log.warning("standby: another process receives %s; this one waits to take over (README: Topologies)",
                        ", ".join(sorted(set(keys) - set(leases.held))))
            told = True
        await asyncio.sleep(every)


def lease_timing(config) -> tuple[float, float]:
    """(lease seconds, renewal period) from config: renewed five times per lease."""
    return config.lease_seconds, config.lease_seconds / 5


async def start_replicas(engine, config) -> Leases | None:
    """On PostgreSQL, make ``engine`` one replica among any others on the same database: it answers the
    groups it holds a lease on (taking the free ones now) and watches the rest. None on SQLite (one process,
    held by ``hold_sqlite``): every group is the engine's own."""
    if engine.store.dialect != "postgresql":
        return None
    ttl, every = lease_timing(config)
    leases = Leases(engine.store, prefix="group:", ttl=ttl, every=every, margin=every / 2,
                    instance=engine.scheduler.instance, on_acquired=engine.on_group_acquired)
    engine.leases = leases
    leases.want(g for g in engine.known_groups if engine.serves(g))
    await leases.tick()
    return leases


async def keep_accounts(leases: Leases, keys: list[str]) -> None:
    """Renew the account leases while serving; end with TopologyRefused when one is lost (the database was
    out of reach longer than a lease, and another process may be receiving now): this one must stop."""
    while True:
        await asyncio.sleep(leases.every)
        await leases.tick()
        if len(leases.held) < len(keys):
            raise TopologyRefused("lost the lease of an account to another process (database out of reach?): "
                                  "stopping, so that one process receives its updates")
