"""The engine: config, rules, store, templates, bus, scheduler and outbox wired together.

``Engine.handle(event)`` is the one road every event travels, from an adapter, the console, replay or
the scheduler, in one direction: learn the group (planning its jobs) if it is new, count it, run the
bus, carry out the engine's own effects (timers, reports), return everything the plugins asked for.
``handle_and_send`` then hands the actions to ``deliver``: the outbox live, replay's writer offline.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from bot.adapters.base import CAPABILITIES, Adapter
from bot.bus import Bus, Plugin, Services
from bot.builtin import core
from bot.config import QunbotConfig
from bot.group_sets import SETS_FILE, GroupSets, load_group_sets
from bot.images import ImageProblem, ImageWork
from bot.journal import Journal
from bot.leases import OneOwner
from bot.media import Media
from bot.model import (ENGINE_EFFECTS, Action, CancelTimer, Event, MessageReceived, Report, ScanImage, ScheduleFired,
                       SendMessage, SetTimer)
from bot.outbox import Outbox
from bot.receipts import Receipts
from bot.rules import RuleBook, RuleError, RuleFile, fingerprint, load_rule_file
from bot.scheduler import Scheduler, SystemClock, VirtualClock
from bot.stats import Stats
from bot.store import Store
from bot.store.repos import groups_first_seen, load_settings, remember_group
from bot.store.timers import StoredTimer, drop_timer, save_timer
from bot.templates import Templates

log = logging.getLogger(__name__)

SHIPPED_RULES = Path(__file__).resolve().parent.parent / "rules"


def default_rules_dir(given: str | None) -> Path:
    """``--rules DIR`` if given, else ./rules if present, else the rules/ shipped with Qunbot."""
    if given:
        return Path(given)
    local = Path("rules")
    return local if local.is_dir() else SHIPPED_RULES


PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"


def plugin_module(name: str) -> str:
    """The module of plugin ``name``: ``plugins.<name>``, or ``plugins.<family>.<name>`` for a plugin that
    belongs to a family package (admission/join_threshold.py)."""
    if not (PLUGINS_DIR / f"{name}.py").exists():
        for family in sorted(PLUGINS_DIR.glob(f"*/{name}.py")):
            if (family.parent / "__init__.py").exists():
                return f"plugins.{family.parent.name}.{name}"
    return f"plugins.{name}"


def import_plugin(name: str) -> Plugin:
    """The ``plugin`` object of ``plugins/<name>.py`` (or of a family's ``plugins/<family>/<name>.py``);
    raises LookupError when there is none."""
    if not name.isidentifier():
        raise LookupError(f"{name!r} is not a plugin name")
    module_name = plugin_module(name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (module_name, "plugins"):
            raise LookupError(f"no plugin named {name!r} (expected plugins/{name}.py)") from None
        raise LookupError(f"plugins/{name}.py cannot be imported: {exc}") from exc
    except Exception as exc:  # a broken plugin is refused like a broken rule file, not fatal
        log.exception("plugins/%s.py failed to import", name)
        raise LookupError(f"plugins/{name}.py failed to import: {exc!r}") from exc
    plugin = getattr(module, "plugin", None)
    if not isinstance(plugin, Plugin):
        raise LookupError(f"plugins/{name}.py has no `plugin = Plugin(...)` object")
    return plugin


def keep_what_start_up_built() -> None:
    """Take every object alive now (modules, models, tables, rules, templates: what a started engine
    holds for the life of the process) out of the garbage collector's sight, so that its full collections
    stop walking them again and again. Called by the entry points that serve or replay, once the engine
    has started; ``Engine.close`` gives them back (tests run many engines in one process, and their
    garbage must stay collectable)."""
    gc.freeze()


def rule_files(rules_dir: Path) -> dict[str, Path]:
    """``{plugin name: path}`` of the rule files in ``rules_dir``; editors' hidden lock and backup files
    (``.#checkin.toml``) are not rule files."""
    if not rules_dir.is_dir():
        return {}
    return {p.stem: p for p in sorted(rules_dir.glob("*.toml")) if not p.name.startswith(".") and p.name != SETS_FILE}


def check_rules_dir(rules_dir: Path) -> list[RuleError]:
    """Validate every rule file in ``rules_dir`` without running anything (``qunbot check``, and ``qunbot
    run`` before it starts): each file by its plugin's model, then the plugins' checks across files."""
    if not rules_dir.is_dir():
        return [RuleError(str(rules_dir), "(folder)", "not a folder")]
    sets, errors = load_group_sets(rules_dir)
    loaded: dict[str, tuple[Plugin, RuleFile]] = {}
    for path in rule_files(rules_dir).values():
        try:
            plugin = import_plugin(path.stem)
        except LookupError as exc:
            errors.append(RuleError(path.name, "(file)", str(exc)))
            continue
        rule_file, file_errors = load_rule_file(path, plugin.name, plugin.rules)
        errors += file_errors
        if rule_file is not None:
            loaded[plugin.name] = (plugin, rule_file)
            errors += unknown_sets(rule_file, sets)
    return errors + check_across(loaded, sets or GroupSets(), rules_dir)


def unknown_sets(rule_file: RuleFile, sets: GroupSets | None) -> list[RuleError]:
    """A ``[sets."<name>"]`` table for a set sets.toml does not define (nothing to say while it is broken)."""
    if sets is None:
        return []
    known = ", ".join(sets.sets) or "none"
    return [RuleError(rule_file.path.name, f'sets."{name}"', f"unknown group set (sets.toml defines: {known})")
            for name in rule_file.sets if name not in sets.sets]


def check_across(loaded: dict[str, tuple[Plugin, RuleFile]], sets: GroupSets, rules_dir: Path) -> list[RuleError]:
    """Each plugin's ``checks`` (see ``Plugin.check``) on the top level of its file and on every group any
    file names, itself or through a set; a group's line only where it differs from the top level's."""
    book = RuleBook({name: p.rules for name, (p, _) in loaded.items()}, {name: f for name, (_, f) in loaded.items()},
                    sets_of=sets.of)
    groups = sorted({g for _, f in loaded.values() for g in f.groups}
                    | {g for _, f in loaded.values() for name in f.sets for g in sets.sets.get(name, ())})
    errors: list[RuleError] = []
    for name, (plugin, rule_file) in loaded.items():
        if not plugin.checks:
            continue
        top: set[tuple[str, str]] = set()
        for group in ["", *groups]:
            rules = book.effective(name, group)
            if rules is None:
                continue
            rules_of = lambda other, g=group: book.effective(other, g) if other in book.files else None  # noqa: E731
            for key, problem in (found for check in plugin.checks for found in check(rules, rules_of, rules_dir)):
                if not group:
                    top.add((key, problem))
                elif (key, problem) in top:
                    continue
                errors.append(RuleError(rule_file.path.name, f'groups."{group}".{key}' if group else key, problem))
    return errors


class Engine:
    def __init__(self, config: QunbotConfig, rules_dir: Path, store: Store, clock=None, platforms: set[str] | None = None):
        self.config = config
        self.platforms = platforms  # the platforms this process serves; None: all of them (replay, tests)
        self.rules_dir = rules_dir
        self.store = store
        self.clock = clock or SystemClock()
        self.templates = Templates(Path(config.templates_dir) if config.templates_dir else None, report=lambda text: self.report(text))
        self.rulebook = RuleBook({}, {})
        self.plugins: dict[str, Plugin] = {}
        self.stats = Stats(store, self.tz_for)
        self.receipts = Receipts(store, self.clock)
        self.services = Services(
            store=store, templates=self.templates, clock=self.clock, stats=self.stats, rules_dir=rules_dir,
            tz_for=self.tz_for, rules_for=self.rules_for, generation=lambda: self.rulebook.generation,
            plugins=lambda: self.plugins, state_of=self.state_of, bot_admins=frozenset(config.bot_admins),
            bot_usernames=dict(config.bot_usernames), rulebook=self.rulebook, capabilities=self.capabilities,
            group_sets=lambda: self.group_sets, receipts=self.receipts, web=config.web)
        self.bus = Bus(self.services)
        self.bus.rebuild([core])
        self.scheduler = Scheduler(self)
        self.adapters: dict[str, Adapter] = {}  # the outbox reads this very dict: fill it, never replace it
        media = Media(self.fetch_image, config.images.max_bytes, config.images.fetch_seconds)
        self.outbox = Outbox(self.adapters, self.templates, config.limits, self.report, self.receipts.note, media=media)
        self.journal = self.outbox.journal = Journal(store, self.outbox, lambda text: self.report(text))
        self.images = ImageWork(config.images, self.fetch_image, self.handle_and_send, self.report, self.clock.now)
        # Where handled actions go: the live outbox, or replay's writer. Called with (actions, event time).
        self.deliver = self._to_outbox
        self.known_groups: set[str] = set()
        self.first_seen: dict[str, datetime] = {}  # group -> when the bot first saw it (no slot before that fires)
        self._zones: dict[str, ZoneInfo] = {}
        self._refused: dict[str, tuple[int, int]] = {}  # rule file -> fingerprint already reported
        self.group_sets = GroupSets()
        self._core_rules = core.rules()
        self._states: dict[str, object] = {}
        self._flushing: asyncio.Task | None = None
        # Which groups this process answers: all of them (one process), or those it holds a lease on
        # (replicas on PostgreSQL, bot.topology); the rest it only watches (``Bus.observe``).
        self.leases = OneOwner()

    def state_of(self, plugin: Plugin):
        """A plugin's in-process state (this engine only; the database stays the source of truth)."""
        state = self._states.get(plugin.name)
        if state is None:
            state = self._states[plugin.name] = plugin.state() if plugin.state else {}
        return state

    @property
    def bot_usernames(self) -> dict[str, str]:
        return self.services.bot_usernames

    @classmethod
    async def create(cls, config: QunbotConfig, rules_dir: Path, db_url: str | None = None, clock=None,
                     platforms: set[str] | None = None) -> "Engine":
        """Open (and migrate) the database, load the rules and the owner settings, plan every known group's
        jobs and arm the stored timers."""
        store = await Store.open(db_url or config.database_url)
        engine = cls(config, rules_dir, store, clock, platforms)
        for error in engine.load_rules():
            engine.report(f"rules refused: {error}")
        engine.rulebook.replace_owner_layers(await store.run(load_settings))
        engine.first_seen = await store.run(groups_first_seen)
        engine.known_groups = set(engine.first_seen)
        for group in engine.known_groups:
            engine.scheduler.plan_group(group, catch_up=True)
        await engine.scheduler.resume_unsent()
        await engine.scheduler.arm_stored()
        return engine

    # ------------------------------------------------------------------ rules

    def load_rules(self) -> list[RuleError]:
        """Load new and changed rule files, drop removed ones; a refused file keeps its last good version."""
        errors = self._load_group_sets()
        present = rule_files(self.rules_dir)
        changed = False
        for name in set(self.plugins) - set(present):
            log.info("rules/%s.toml removed: plugin %s stops", name, name)
            self.plugins.pop(name)
            self.rulebook.drop(name)
            changed = True
        for name, path in present.items():
            try:
                stamp = fingerprint(path)
            except OSError as exc:  # removed between listing and reading, or a dangling link
                errors.append(RuleError(path.name, "(file)", str(exc)))
                continue
            current = self.rulebook.files.get(name)
            if (current is not None and current.fingerprint == stamp) or self._refused.get(name) == stamp:
                continue  # unchanged, or refused already: report a broken file once, not every poll
            try:
                plugin = self.plugins.get(name) or import_plugin(name)
            except LookupError as exc:
                errors.append(RuleError(path.name, "(file)", str(exc)))
                self._refused[name] = stamp
                continue
            rule_file, file_errors = load_rule_file(path, name, plugin.rules)
            if rule_file is None:
                errors += file_errors
                self._refused[name] = stamp
                continue
            self._refused.pop(name, None)
            for problem in unknown_sets(rule_file, self.group_sets):
                log.warning("%s: ignored until sets.toml defines it", problem)
            self.rulebook.replace_file(rule_file, plugin.rules)
            self.plugins[name] = plugin
            changed = True
        if changed or self.rulebook.sets_of != self.group_sets.of:
            self.rulebook.replace_sets(self.group_sets.of)
            self.bus.rebuild([core, *self.plugins.values()])
            for group in self.known_groups:
                self.scheduler.plan_group(group)
        return errors

    def _load_group_sets(self) -> list[RuleError]:
        """Take sets.toml when it changed; a broken one is refused (once) and the last good sets stay."""
        path = self.rules_dir / SETS_FILE
        try:
            stamp = fingerprint(path) if path.exists() else (0, 0)
        except OSError:
            stamp = (0, 0)
        if stamp in (self.group_sets.fingerprint, self._refused.get(SETS_FILE)):
            return []
        sets, errors = load_group_sets(self.rules_dir)
        if sets is None:
            self._refused[SETS_FILE] = stamp
            return errors
        self._refused.pop(SETS_FILE, None)
        self.group_sets = sets
        return []

    def rules_for(self, plugin: Plugin, group: str):
        """The plugin's effective rules in ``group``; None where it is off there: by its rules, or because
        it watches every message and the bot sees only those addressed to it (WeCom groups), where it
        would only pretend to watch."""
        if plugin is core:
            return self._core_rules
        if plugin.watches_all_messages and "addressed_only" in self.capabilities(*group.split(":", 1)):
            return None
        return self.rulebook.effective(plugin.name, group)

    async def watch_rules(self) -> None:
        """Re-read rule files when they change, and the owner settings other processes may have made."""
        while True:
            await asyncio.sleep(self.config.rules_poll_seconds)
            try:
                for error in self.load_rules():
                    self.report(f"rules refused, last good version stays: {error}")
                self.rulebook.replace_owner_layers(await self.store.run(load_settings))
            except Exception:  # keep watching: a passing file-system or database hiccup must not end it
                log.exception("could not refresh the rules")

    # ------------------------------------------------------------------ events

    async def handle(self, event: Event) -> list[Action]:
        """Run one event through the bus, carry out its timers and reports, and return every effect."""
        key = event.group_key
        if isinstance(self.clock, VirtualClock):
            self.clock.set(event.at)  # on a virtual clock an event's time is "now" (it never moves back)
        if key not in self.known_groups:
            await self._learn_group(key, event.at)
        owned = self.leases.owns(key)
        if owned is not True:
            if owned is None:
                owned = await self.leases.claim(key)
            if not owned:  # another process answers this group: watch, never act
                await self.bus.observe(event, key)
                return []
        if self.stats.observe(event, key):
            self._flush_stats_soon()
        generation = self.rulebook.generation
        actions = await self.bus.dispatch(event, key)
        if actions:
            self.stats.observe_actions(event, actions)
            await self._carry_out(actions)
        if self.rulebook.generation != generation:  # an owner's /set: a changed time of day moves its jobs
            self.scheduler.plan_group(key)
        return actions

    async def handle_and_send(self, event: Event):
        """Handle an event and pass its actions on to ``deliver``; returns what that returns (live: a future
        resolved when every action is out, see ``transact``)."""
        return (await self.run_and_send(lambda: self.handle(event), event.at))[1]

    async def run_and_send(self, work: Callable[[], Awaitable[list[Action]]], at: datetime) -> tuple[list[Action], object]:
        """Run ``work`` and pass the actions it returns on to ``deliver``: live, in one transaction with the
        state they follow from (``transact``). Returns the actions and what ``deliver`` returned (live: the
        future of their delivery)."""
        if self.deliver != self._to_outbox:
            actions = await work()
            return actions, self.deliver(actions, at)
        actions, _durable, delivered = await self.transact(work)
        return actions, delivered

    async def transact(self, work: Callable[[], Awaitable[list[Action]]], again: bool = False) -> tuple[list[Action], asyncio.Future, asyncio.Future]:
        """Live: run ``work`` (handling one event) in a unit of the group commit, write the platform actions
        it returns to the outbox table in the same transaction, and hand them to the outbox once that is
        durable (bot.journal). Returns the actions, the commit's future, and a future of their delivery:
        True once every one is out, False when one was dropped or given up on, or the commit failed (then
        nothing was sent)."""
        done = asyncio.get_running_loop().create_future()
        out: list[Action] = []
        ids: list[str] = []

        def after(committed: bool) -> None:
            if not committed:
                done.set_result(False)
            elif out:
                self.journal.submit(out, ids).add_done_callback(lambda f: done.set_result(f.result()))
            else:
                done.set_result(True)
            self.outbox.release()

        self.outbox.hold()
        async with self.store.unit() as unit:
            unit.after(after)
            actions = await work()
            out += self._outgoing(actions)
            if out:
                ids += await self.journal.write(out, again)
                unit.awaited()
        return actions, unit.durable, done

    async def fire(self, claim: Callable[[], Awaitable[bool]], event: Event) -> tuple[bool, list[Action], object]:
        """A scheduled slot or a timer: ``claim`` it and, when that succeeds, handle ``event``; live, both in
        one transaction with the actions (a claim never stands without its actions). Returns whether it was
        claimed, the actions, and what ``deliver`` returned (live: the future of ``transact``)."""
        if self.deliver != self._to_outbox:
            if not await claim():
                return False, [], None
            actions = await self.handle(event)
            return True, actions, self.deliver(actions, event.at)
        claimed = False

        async def work() -> list[Action]:
            nonlocal claimed
            claimed = await claim()
            return await self.handle(event) if claimed else []

        actions, durable, delivered = await self.transact(work, again=isinstance(event, ScheduleFired))
        # Slots are few: each is durable before the next one fires (and before another process's turn).
        await asyncio.wait([durable])
        return claimed, actions, delivered

    async def resume_group(self, group: str) -> int:
        """Deliver what ``group``'s outbox rows hold and is not done: committed before a crash, or by the
        process this one takes the group over from. Called at start for every group this process serves
        (``resume``); a process that acquires a group later calls it for that group. Returns how many
        actions were handed to the outbox."""
        return await self.journal.resume(group)

    async def resume(self) -> int:
        """At start, once the adapters are in place: ``resume_group`` for every group served here with
        undelivered rows. Called before the scheduler and the adapters start, so that in each group what
        was committed before comes first."""
        return sum([await self.resume_group(g) for g in await self.journal.groups_to_resume() if self.serves(g)])

    async def resume_delivery(self, groups) -> None:
        """What an earlier owner of ``groups`` committed and did not deliver (its outbox rows) goes out."""
        for group in groups:
            await self.resume_group(group)

    async def on_group_acquired(self, *groups: str) -> None:
        """This process took ``groups`` over (at start, or from a process that stopped or died): the plugins drop
        what they cached of them, their jobs are planned with the slots missed meanwhile (claims keep those
        fired already from firing again), the slots and timers the earlier owner left are taken, and what it
        committed and did not deliver is delivered."""
        log.info("took over %d group(s): %s", len(groups), ", ".join(groups[:5]) + (" …" if len(groups) > 5 else ""))
        for group in groups:
            self.bus.acquired(group)
            self.scheduler.plan_group(group, catch_up=True)
        await self.scheduler.resume_unsent(set(groups))
        await self.scheduler.arm_stored(groups=set(groups))
        await self.resume_delivery(groups)

    async def run_command(self, event: MessageReceived) -> list[Action]:
        """A command given outside the chat (the web console) as ``event``'s sender: only its handlers run,
        with the same permission check; nothing counts it as a message. Timers and reports are carried out
        here; the rest is returned, for the caller to deliver."""
        key = event.group_key
        generation = self.rulebook.generation
        actions = await self.bus.dispatch(event, key, commands_only=True)
        if actions:
            self.stats.observe_actions(event, actions)
            await self._carry_out(actions)
        if self.rulebook.generation != generation:
            self.scheduler.plan_group(key)
        return actions

    async def _learn_group(self, key: str, at) -> None:
        self.known_groups.add(key)
        self.first_seen.setdefault(key, at)
        await self.store.run(remember_group, key, at)
        self.scheduler.plan_group(key)

    def _flush_stats_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush_stats())

    async def _flush_stats(self) -> None:
        try:
            await self.stats.flush()
        except Exception:
            log.exception("could not flush statistics; kept for the next try")

    async def _carry_out(self, effects: list[Action]) -> None:
        """The engine's own effects: timers stored (in one transaction) and armed, reports logged."""
        timers = [e for e in effects if type(e) in (SetTimer, CancelTimer)]
        if timers:
            def write(conn):
                for e in timers:
                    if type(e) is SetTimer:
                        save_timer(conn, StoredTimer(e.group_key, e.plugin, e.timer, e.key, e.due, e.payload))
                    else:
                        drop_timer(conn, e.group_key, e.plugin, e.timer, e.key)

            await self.store.run(write)
            for e in timers:
                if type(e) is SetTimer:
                    self.scheduler.arm(StoredTimer(e.group_key, e.plugin, e.timer, e.key, e.due, e.payload))
                else:
                    self.scheduler.disarm(e.group_key, e.plugin, e.timer, e.key)
        for e in effects:
            if type(e) is Report:
                log.warning("%s", e.text)
            elif type(e) is ScanImage:
                self.images.submit(e)

    def _to_outbox(self, actions: list[Action], _at):
        """Live delivery: platform actions to the outbox, reports to the admin log chat (if one is set)."""
        return self.outbox.submit(self._outgoing(actions))

    def _outgoing(self, actions: list[Action]) -> list[Action]:
        out = [a for a in actions if type(a) not in ENGINE_EFFECTS]
        return out + [m for a in actions if type(a) is Report for m in self._admin_log(a.text)]

    def _admin_log(self, text: str) -> list[SendMessage]:
        platform, _, group = self.config.admin_log.partition(":")
        if group and platform in self.adapters:
            return [SendMessage(platform=platform, group=group, text=text, plugin="core", reason="admin_log")]
        return []

    # ------------------------------------------------------------------ helpers

    def serves(self, group: str) -> bool:
        return self.platforms is None or group.partition(":")[0] in self.platforms

    def tz_for(self, group: str) -> ZoneInfo:
        zone = self._zones.get(group)
        if zone is None:
            zone = self._zones[group] = ZoneInfo(self.config.group_timezones.get(group, self.config.timezone))
        return zone

    def capabilities(self, platform: str, group: str) -> frozenset[str]:
        """What the bot can do in a group: the adapter's live view where it runs, else the platform's table."""
        adapter = self.adapters.get(platform)
        return adapter.capabilities(group) if adapter is not None else CAPABILITIES.get(platform, frozenset())

    async def fetch_image(self, platform: str, reference: str, max_bytes: int, _seconds: float) -> bytes:
        """A picture's (or a file's) bytes through the adapter that received it; with no adapter for the
        platform (replay, the console, tests), ``reference`` is a local file."""
        adapter = self.adapters.get(platform)
        fetch = getattr(adapter, "fetch_image", None)
        if fetch is not None:
            return await fetch(reference, max_bytes)
        if adapter is not None:
            raise ImageProblem(f"the {platform} adapter cannot fetch pictures")
        path = Path(reference)
        if not path.is_file():
            raise ImageProblem(f"no such picture file: {reference}")
        if path.stat().st_size > max_bytes:
            raise ImageProblem(f"larger than {max_bytes} bytes")
        return await asyncio.to_thread(path.read_bytes)

    def learn_bot_username(self, platform: str, name: str) -> None:
        """An adapter learnt the bot's own username (Telegram's getMe): ``/cmd@name`` is addressed to us;
        while the name is unknown, an addressed command is not ours."""
        self.services.bot_usernames[platform] = name

    def report(self, text: str, to_chat: bool = True) -> None:
        """Tell the operators: the log always, the admin log chat when one is configured (and ``to_chat``:
        a report about the admin log chat itself must not be sent there, or it would never end)."""
        log.warning("%s", text)
        if to_chat and (messages := self._admin_log(text)):
            self.outbox.submit(messages)

    async def flush_stats_forever(self, every: float = 10.0) -> None:
        """Live mode: write the in-memory statistics and delivery receipts every few seconds."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.stats.flush()
                await self.receipts.flush()
            except Exception:
                log.exception("could not flush statistics or receipts; kept for the next try")

    async def close(self) -> None:
        self.images.close()
        try:
            await self.journal.flush()
            await self.stats.flush()
            await self.receipts.flush()
            await self.leases.close()
        finally:
            await self.store.close()
            gc.unfreeze()  # see keep_what_start_up_built
