"""Run the real QQ adapter inside a real engine against a OneBot peer on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from bot.adapters.qq.adapter import QQAdapter
from bot.adapters.qq.config import QQConfig
from bot.bus import Plugin
from bot.model import DecideJoin, JoinRequested
from bot.rules import PluginRules

# A guard against a hung test, not a speed requirement: every wait ends as soon as its condition holds.
GUARD_SECONDS = 20.0


async def wait_until(condition, what: str, guard: float = GUARD_SECONDS):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what`` if it never does."""
    loop = asyncio.get_running_loop()
    end = loop.time() + guard
    while not (result := condition()):
        if loop.time() > end:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)
    return result


class JoinGateRules(PluginRules):
    answer: str = ""


def join_gate_plugin() -> Plugin:
    """A test plugin: approve a join request whose answer contains the configured word."""
    plugin = Plugin("join_gate", JoinGateRules)

    @plugin.on(JoinRequested)
    async def decide(ctx):
        ev = ctx.event
        approve = bool(ctx.rules.answer) and ctx.rules.answer in ev.answer
        return DecideJoin(platform=ev.platform, group=ev.group, request=ev.id, user=ev.user, approve=approve,
                          plugin="join_gate", reason="answer_ok" if approve else "answer_wrong")

    return plugin


def join_gate_rules(tmp_path: Path, extra_plugin, rules_dir: Path, answer: str) -> Path:
    extra_plugin("join_gate", join_gate_plugin())
    (rules_dir / "join_gate.toml").write_text(f'answer = "{answer}"\n', encoding="utf-8")
    return rules_dir


@contextlib.asynccontextmanager
async def serving(engine, adapter):
    """Any adapter serving ``engine`` until the block ends (yields its task); then what is queued goes out
    and the adapter stops."""
    engine.adapters[adapter.platform] = adapter
    task = asyncio.create_task(adapter.run(engine))
    try:
        yield task
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.outbox.drain(), GUARD_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@contextlib.asynccontextmanager
async def running(engine, config: QQConfig, environ: dict[str, str] | None = None):
    """The QQ adapter serving ``engine`` until the block ends."""
    adapter = QQAdapter(config, environ or {})
    async with serving(engine, adapter) as task:
        yield adapter, task


def record_events(engine) -> list:
    """Every event ``engine`` handles from now on, in order."""
    seen, handle = [], engine.handle

    async def recording(event):
        seen.append(event)
        return await handle(event)

    engine.handle = recording
    return seen


def texts_of(message) -> str:
    return "".join(s["data"].get("text", "") for s in message if s["type"] == "text")


def segment(message, kind: str) -> dict | None:
    return next((s["data"] for s in message if s["type"] == kind), None)
