"""The adapters' per-group lanes and their memory of events already seen (bot/adapters/lanes.py)."""

from __future__ import annotations

import asyncio

from bot.adapters.lanes import Lanes, Seen


async def test_a_lane_keeps_order_and_a_blocked_lane_does_not_hold_up_another():
    lanes, done, gate = Lanes("test"), [], asyncio.Event()

    def job(name: str, wait: bool = False):
        async def run():
            if wait:
                await gate.wait()
            done.append(name)
        return run

    lanes.submit("a", job("a1", wait=True))
    lanes.submit("a", job("a2"))
    lanes.submit("b", job("b1"))
    lanes.submit("b", job("b2"))
    await asyncio.sleep(0.01)
    assert done == ["b1", "b2"] and lanes.busy == 1  # a waits; b went past it, in its own order
    gate.set()
    await lanes.drain()
    assert done == ["b1", "b2", "a1", "a2"] and lanes.busy == 0


async def test_a_failing_job_is_logged_and_its_lane_goes_on(caplog):
    lanes, done = Lanes("test"), []

    async def fail():
        raise RuntimeError("boom")

    async def ok():
        done.append("ok")

    lanes.submit("g", fail)
    lanes.submit("g", ok)
    await lanes.drain()
    assert done == ["ok"] and "a job for g failed" in caplog.text


async def test_stop_lets_quick_work_finish_and_cancels_what_hangs():
    lanes, done = Lanes("test"), []

    async def quick():
        await asyncio.sleep(0.01)
        done.append("quick")

    async def forever():
        await asyncio.Event().wait()
        done.append("never")

    lanes.submit("a", quick)
    await lanes.stop(grace=1.0)
    assert done == ["quick"]
    lanes.submit("b", forever)
    await lanes.stop(grace=0.05)
    assert done == ["quick"] and lanes.busy == 0


def test_seen_recognises_repeats_and_forgets_the_oldest_beyond_its_size():
    seen = Seen(size=3)
    assert [seen.first_time(k) for k in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert len(seen) == 3 and seen.repeats == 1
    # "a" was used again after "b", so "b" was the oldest when "d" came: forgotten, news again.
    assert seen.first_time("a") is False and seen.first_time("b") is True
