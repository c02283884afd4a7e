"""The engine: config, rules, store, templates, bus, scheduler and outbox wired together.

``Engine.handle(event)`` is the one road every event travels, from an adapter, the console, replay or
the scheduler: remember the group, run the bus, return the actions (the caller hands them to an outbox).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.adapters.base import Adapter
from bot.bus import Bus, Plugin
from bot.builtin import core
from bot.config import QunbotConfig
from bot.model import Action, Event, SendMessage
from bot.outbox import Outbox
from bot.rules import RuleBook, RuleError, fingerprint, load_rule_file
from bot.scheduler import Scheduler, SystemClock, VirtualClock
from bot.stats import Stats
from bot.store import Store
from bot.store.repos import known_groups, load_settings, remember_group
from bot.templates import Templates

log = logging.getLogger(__name__)

SHIPPED_RULES = Path(__file__).resolve().parent.parent / "rules"


def default_rules_dir(given: str | None) -> Path:
    """``--rules DIR`` if given, else ./rules if present, else the rules/ shipped with Qunbot."""
    if given:
        return Path(given)
    local = Path("rules")
    return local if local.is_dir() else SHIPPED_RULES


def import_plugin(name: str) -> Plugin:
    """The ``plugin`` object of ``plugins/<name>.py``; raises LookupError when there is none."""
    if not name.isidentifier():
        raise LookupError(f"{name!r} is not a plugin name")
    try:
        module = importlib.import_module(f"plugins.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"plugins.{name}", "plugins"):
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
    holds for the life of the process) out of the garbage collector's sight. A long run collected the
    oldest generation over and over, walking them all each time: ~80 ms a collection, ~3% of a busy bot's
    time. Called by the entry points that serve or replay, once the engine has started; ``Engine.close``
    gives them back (tests run many engines in one process, and their garbage must stay collectable)."""
    gc.freeze()


def rule_files(rules_dir: Path) -> dict[str, Path]:
    """``{plugin name: path}`` of the rule files in ``rules_dir``; editors' hidden lock and backup files
    (``.#checkin.toml``) are not rule files."""
    if not rules_dir.is_dir():
        return {}
    return {p.stem: p for p in sorted(rules_dir.glob("*.toml")) if not p.name.startswith(".")}


def check_rules_dir(rules_dir: Path) -> list[RuleError]:
    """Validate every rule file in ``rules_dir`` without running anything (``qunbot check``)."""
    if not rules_dir.is_dir():
        return [RuleError(str(rules_dir), "(folder)", "not a folder")]
    errors: list[RuleError] = []
    for path in rule_files(rules_dir).values():
        try:
            plugin = import_plugin(path.stem)
        except LookupError as exc:
            errors.append(RuleError(path.name, "(file)", str(exc)))
            continue
        errors += load_rule_file(path, plugin.name, plugin.rules)[1]
    return errors


class Engine:
    def __init__(self, config: QunbotConfig, rules_dir: Path, store: Store, clock=None, platforms: set[str] | None = None):
        self.config = config
        self.platforms = platforms  # the platforms this process serves; None: all of them (replay, tests)
        self.rules_dir = rules_dir
        self.store = store
        self.clock = clock or SystemClock()
        self.templates = Templates(Path(config.templates_dir) if config.templates_dir else None)
        self.bot_admins = frozenset(config.bot_admins)
        self.bot_usernames = dict(config.bot_usernames)
        self.rulebook = RuleBook({}, {})
        self.plugins: dict[str, Plugin] = {}
        self.bus = Bus(self)
        self.bus.rebuild([core])
        self.scheduler = Scheduler(self)
        self.adapters: dict[str, Adapter] = {}  # the outbox reads this very dict: fill it, never replace it
        self.outbox = Outbox(self.adapters, self.templates, config.limits, self.report)
        self.stats = Stats(store, self.tz_for)
        # Where handled actions go: the live outbox, or replay's writer. Called with (actions, event time).
        self.sink = lambda actions, _at: self.outbox.submit(actions)
        self.known_groups: set[str] = set()
        self._zones: dict[str, ZoneInfo] = {}
        self._refused: dict[str, tuple[int, int]] = {}  # rule file -> fingerprint already reported
        self._core_rules = core.rules()
        self._memories: dict[str, dict] = {}

    def memory(self, plugin: str) -> dict:
        """A plugin's in-process cache (for this engine only; the database stays the source of truth)."""
        return self._memories.setdefault(plugin, {})

    @classmethod
    async def create(cls, config: QunbotConfig, rules_dir: Path, db_url: str | None = None, clock=None,
                     platforms: set[str] | None = None) -> "Engine":
        """Open (and migrate) the database, load the rules and the owner settings."""
        store = await Store.open(db_url or config.database_url)
        engine = cls(config, rules_dir, store, clock, platforms)
        for error in engine.load_rules():
            engine.report(f"rules refused: {error}")
        engine.rulebook.replace_owner_layers(await store.run(load_settings))
        engine.known_groups = set(await store.run(known_groups))
        for group in engine.known_groups:
            engine.scheduler.plan_group(group, catch_up=True)
        await engine.scheduler.resume_unsent()
        for plugin in engine.bus.plugins:
            for start in plugin.startup:
                await start(engine)
        return engine

    # ------------------------------------------------------------------ rules

    def load_rules(self) -> list[RuleError]:
        """Load new and changed rule files, drop removed ones; a refused file keeps its last good version."""
        errors: list[RuleError] = []
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
            self.rulebook.replace_file(rule_file, plugin.rules)
            self.plugins[name] = plugin
            changed = True
        if changed:
            self.bus.rebuild([core, *self.plugins.values()])
            for group in self.known_groups:
                self.scheduler.plan_group(group)
        return errors

    def rules_for(self, plugin: Plugin, group: str):
        if plugin is core:
            return self._core_rules
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
        """Run one event through the bus and return the resulting actions."""
        key = event.group_key
        if isinstance(self.clock, VirtualClock):
            self.clock.set(event.at)  # on a virtual clock an event's time is "now" (it never moves back)
        if key not in self.known_groups:
            self.known_groups.add(key)
            await self.store.run(remember_group, key, event.at)
            self.scheduler.plan_group(key)
        if self.stats.observe(event, key):
            await self.stats.flush()
        actions = await self.bus.dispatch(event, key)
        if actions:
            self.stats.observe_actions(event, actions)
        return actions

    async def handle_and_send(self, event: Event):
        """Handle an event and pass its actions on to the sink (delivery, or replay's output); returns what
        the sink returns (live: the outbox's future, resolved when every action is out)."""
        return self.sink(await self.handle(event), event.at)

    # ------------------------------------------------------------------ helpers

    def serves(self, group: str) -> bool:
        return self.platforms is None or group.partition(":")[0] in self.platforms

    def tz_for(self, group: str) -> ZoneInfo:
        zone = self._zones.get(group)
        if zone is None:
            zone = self._zones[group] = ZoneInfo(self.config.group_timezones.get(group, self.config.timezone))
        return zone

    def is_addressed_to_us(self, platform: str, target: str) -> bool:
        """Whether ``/cmd@target`` is for this bot. Adapters that learn the bot's name (Telegram's getMe)
        record it with ``learn_bot_username``; while the name is unknown, an addressed command is not ours."""
        ours = self.bot_usernames.get(platform)
        return ours is not None and ours.lower() == target.lower()

    def learn_bot_username(self, platform: str, name: str) -> None:
        self.bot_usernames[platform] = name

    def report(self, text: str, to_chat: bool = True) -> None:
        """Tell the operators: the log always, the admin log chat when one is configured (and ``to_chat``:
        a report about the admin log chat itself must not be sent there, or it would never end)."""
        log.warning("%s", text)
        platform, _, group = self.config.admin_log.partition(":")
        if to_chat and group and platform in self.adapters:
            self.outbox.submit([SendMessage(platform=platform, group=group, text=text, plugin="core", reason="admin_log")])

    async def flush_stats_forever(self, every: float = 10.0) -> None:
        """Live mode: write the in-memory statistics every few seconds."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.stats.flush()
            except Exception:
                log.exception("could not flush statistics; kept for the next try")

    async def close(self) -> None:
        try:
            await self.stats.flush()
        finally:
            await self.store.close()
            gc.unfreeze()  # see keep_what_start_up_built
