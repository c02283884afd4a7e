"""Qunbot's half of the NoneBot2 comparison: OneBot v11 JSON in, through the QQ adapter's parsing and the
bus with the shipped rules on a SQLite file database, actions out.

Each payload is handled as the QQ adapter's connection handles a frame: decode the JSON (``decode``), drop a repeat
(the adapter's ``Seen``), turn it into a neutral event (``bot.adapters.qq.events.to_event``), run the
engine on the live road (``Engine.transact``: group commit and the transactional outbox), then let the
event loop turn, as the connection's worker does between events. The clock is virtual and follows the events' own ``time`` so that check-in days and flood windows
are those of the stream, not of the machine; scheduled jobs are not fired (they are the scheduler's
business and timed by replay_bench).
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.adapters.lanes import Seen
from bot.adapters.qq.events import decode, dedupe_key, to_event
from bot.config import QunbotConfig
from bot.engine import SHIPPED_RULES, Engine, keep_what_start_up_built
from bot.scheduler import VirtualClock


@dataclass
class Run:
    seconds: float  # wall time for the whole stream
    latencies: list[float]  # arrival -> actions durable and handed to delivery, for events with platform actions
    handled: list[float]  # arrival -> done, every event
    actions: int
    by_plugin: dict[str, int]


async def run_stream(lines: list[str], rules: Path = SHIPPED_RULES, db_folder: str | None = None,
                     keep: list | None = None) -> Run:
    """Feed ``lines`` back to back (the next arrives when the previous is done: a saturated bot); every
    action is appended to ``keep`` when one is given."""
    with tempfile.TemporaryDirectory(prefix="qunbot-nbbench-", dir=db_folder) as scratch:
        # The log goes to a file, as a deployed bot's would (every moderation decision is a line of it).
        handler = logging.FileHandler(Path(scratch) / "qunbot.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root, level = logging.getLogger(), logging.getLogger().level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        first = datetime.fromtimestamp(json.loads(lines[0])["time"], timezone.utc)
        engine = await Engine.create(QunbotConfig(), rules, db_url=f"sqlite:///{Path(scratch) / 'bench.db'}",
                                     clock=VirtualClock(first))
        keep_what_start_up_built()  # as `qunbot run` does once its engine has started
        seen = Seen()
        # The live road (Engine.transact): the event's writes and its actions' outbox rows join the open
        # batch of the group commit; the actions are handed to delivery once that batch is durable, which
        # is when the first action could leave. Delivery itself (the outbox's pacing, the platform) is not
        # timed here, as NoneBot2's API calls do nothing.
        arrived = [0.0]

        def ready(actions, ids):
            latencies.append(clock() - starts.pop(ids[0]))
            future = asyncio.get_running_loop().create_future()
            future.set_result(True)
            return future

        starts: dict[str, float] = {}
        write = engine.journal.write

        async def write_timed(actions, again=False):
            ids = await write(actions, again)
            starts[ids[0]] = arrived[0]
            return ids

        engine.journal.write, engine.journal.submit = write_timed, ready
        latencies, handled, by_plugin = [], [], {}
        count = 0
        clock = time.perf_counter
        began = clock()
        for line in lines:
            t0 = clock()
            raw = decode(line)
            if not seen.first_time(dedupe_key(raw)):
                continue
            event = to_event(raw)
            arrived[0] = t0
            actions, _, _ = await engine.transact(lambda: engine.handle(event))
            handled.append(clock() - t0)
            await asyncio.sleep(0)  # the loop turns between frames, as in the QQ adapter's connection worker
            if actions:
                if keep is not None:
                    keep += actions
                count += len(actions)
                for a in actions:
                    by_plugin[a.plugin] = by_plugin.get(a.plugin, 0) + 1
        await asyncio.sleep(0)  # the last batch commits
        seconds = clock() - began
        await engine.close()
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
        return Run(seconds, latencies, handled, count, by_plugin)
