"""The plugin bus: every event goes to every enabled plugin, in priority order, with the group's rules.

A plugin is one ``Plugin`` object whose handlers are registered with its decorators. Nothing registers
itself at import: the engine includes the plugins whose rule files enable them and calls ``Bus.rebuild``.
On the hot path the bus picks handlers with dictionary look-ups and synchronous filters and awaits the
few that match one after another; it never spawns a task per plugin. A plugin ends the chain by
returning ``Stop(reason)``.
"""

from __future__ import annotations

import inspect
import logging
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from bot.commands import Command, CommandCall, effective_role, parse_command, permits
from bot.group_sets import GroupSets
from bot.model import Action, CancelTimer, Event, MessageReceived, Report, ScheduleFired, SendMessage, SetTimer, TimerFired
from bot.rules import PluginRules

log = logging.getLogger(__name__)

# The slot of a claim keyed by the platform's id alone (``Context.first_to_see``).
NO_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Stop:
    """Returned (alone or among actions) by a handler to end the chain after this plugin."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"Stop({self.reason!r})"


Reply = Action | Stop | Iterable[Action | Stop] | None
HandlerFn = Callable[["Context"], Awaitable[Reply]]
# ``when(event, rules)``, or ``when(event, rules, state, group)`` for a filter that needs the plugin's
# in-process state and the group key: "is this member's quiz pending here?" decided without a Context or
# a coroutine, for a handler that has nothing to do for nearly every message.
Filter = Callable[..., bool]
# (rules, tz) -> {job name: APScheduler trigger}, the plugin's jobs for one group
JobsFactory = Callable[[Any, tzinfo], dict[str, Any]]


@dataclass(slots=True)
class Handler:
    plugin: "Plugin"
    fn: HandlerFn
    events: tuple[type[Event], ...] = ()
    when: Filter | None = None
    wide_when: bool = False  # ``when`` takes (event, rules, state, group)
    command: Command | None = None
    keywords: tuple[str, ...] = ()
    # (plugin priority, plugin name, registration order): plugins of equal priority run one after the
    # other in name order, never interleaved.
    order: tuple[int, str, int] = (0, "", 0)


class Plugin:
    """One rule plugin: its name (= its rule file's name), rules model, priority (lower runs first), the
    class of its in-process state (one instance per engine, ``ctx.state``), if it keeps any, and whether
    its work is watching every message (anti-ad): such a plugin is off where the bot sees only the messages
    addressed to it."""

    def __init__(self, name: str, rules: type[PluginRules], priority: int = 100, state: Callable[[], Any] | None = None,
                 watches_all_messages: bool = False):
        self.name = name
        self.rules = rules
        self.priority = priority
        self.state = state
        self.watches_all_messages = watches_all_messages
        self.handlers: list[Handler] = []
        self.shadows: list[Handler] = []  # run where another process owns the group (see ``shadow``)
        self.on_acquired: list[Callable[[Any, str], None]] = []
        self.jobs: JobsFactory | None = None
        self.checks: list[Callable[[Any, Callable[[str], Any], Path], list[tuple[str, str]]]] = []

    def _add(self, fn: HandlerFn, **kw) -> HandlerFn:
        when = kw.get("when")
        wide = when is not None and len(inspect.signature(when).parameters) == 4
        self.handlers.append(Handler(self, fn, order=(self.priority, self.name, len(self.handlers)), wide_when=wide, **kw))
        return fn

    def on(self, *events: type[Event], when: Filter | None = None):
        """Handle every event of these types, filtered by ``when(event, rules)`` or ``when(event, rules,
        state, group)`` if given (the plugin's state, as ``ctx.state``, and the group key)."""
        return lambda fn: self._add(fn, events=events, when=when)

    def shadow(self, *events: type[Event], when: Filter | None = None):
        """Handle these events where another process owns the group (replicas, README: Topologies): keep
        what this plugin remembers in-process warm (flood counters, recent messages), so that it is whole
        when this process takes the group over. What a shadow handler returns is dropped: it never acts."""
        def add(fn: HandlerFn) -> HandlerFn:
            wide = when is not None and len(inspect.signature(when).parameters) == 4
            self.shadows.append(Handler(self, fn, events=events, when=when, wide_when=wide,
                                        order=(self.priority, self.name, len(self.shadows))))
            return fn
        return add

    def acquired(self, fn: Callable[[Any, str], None]):
        """Call ``fn(state, group)`` when this process takes ``group`` over from another: drop what the
        plugin cached from the database for it (another process may have changed it meanwhile)."""
        self.on_acquired.append(fn)
        return fn

    def command(self, *names: str, role: str = "member"):
        """Handle ``/name`` for each of ``names`` (the first is the primary name, the rest aliases)."""
        return lambda fn: self._add(fn, command=Command(tuple(n.lower() for n in names), role))

    def keyword(self, *texts: str):
        """Handle messages whose whole text (trimmed) is one of ``texts``, like ``签到``."""
        return lambda fn: self._add(fn, keywords=texts)

    def schedule(self, jobs: JobsFactory):
        """Handle this plugin's ``ScheduleFired`` events. ``jobs(rules, tz)`` names the plugin's jobs for one
        group with an APScheduler trigger each (``{"morning": CronTrigger(hour=8, timezone=tz)}``); the
        event's ``job`` is ``"<plugin>.<name>"``."""
        self.jobs = jobs
        prefix = f"{self.name}."
        return lambda fn: self._add(fn, events=(ScheduleFired,), when=lambda ev, _r: ev.job.startswith(prefix))

    def timer(self, name: str):
        """Handle this plugin's timer ``name`` (set with ``ctx.timer(name, at, key=…)``) when it falls due."""
        mine = self.name
        return lambda fn: self._add(fn, events=(TimerFired,), when=lambda ev, _r: ev.plugin == mine and ev.timer == name)

    def check(self, fn):
        """Register a check of this plugin's rules against other plugins' (``qunbot check`` and start-up run
        it): ``fn(rules, rules_of, rules_dir)`` returns ``(key, problem)`` pairs, where ``rules_of("other")`` is
        that plugin's rules in the same scope (the top level, or one group's table), None where it is absent or
        off, and ``rules_dir`` the folder of the rule files (for the files they name)."""
        self.checks.append(fn)
        return fn

    @property
    def commands(self) -> list[Command]:
        return [h.command for h in self.handlers if h.command]


@dataclass(slots=True)
class Services:
    """What the engine lends the bus and the plugins: storage, templates, time, read-only views of the
    rules and statistics. Plugins reach it through ``Context``; it holds no way to act (acting is returning)."""

    store: Any
    templates: Any
    clock: Any
    stats: Any
    rules_dir: Path
    tz_for: Callable[[str], tzinfo]
    # (plugin, group) -> effective rules, None where the plugin is off; and the rule book's generation,
    # which moves whenever a rule file or an owner setting changes.
    rules_for: Callable[["Plugin", str], Any]
    generation: Callable[[], int]
    plugins: Callable[[], dict[str, "Plugin"]]  # the plugins included now, by name
    state_of: Callable[["Plugin"], Any]
    bot_admins: frozenset[str] = frozenset()
    group_sets: Callable[[], GroupSets] = GroupSets  # the group sets in force now (rules/sets.toml)
    receipts: Any = None  # what became of messages sent with a receipt (bot/receipts.py)
    # platform -> the bot's own username, where the adapter learnt it (Telegram's getMe): "/cmd@name" is ours
    bot_usernames: dict[str, str] = field(default_factory=dict)
    rulebook: Any = None  # the core plugin's /config and /set read and change it
    # (platform, group id) -> the actions the bot can take there now (the adapter's live view; replay: the
    # platform's table)
    capabilities: Callable[[str, str], frozenset[str]] = lambda _platform, _group: frozenset()
    # Set by the bus from its index: the texts some plugin takes as a keyword, and the commands of a group.
    keywords: frozenset[str] = frozenset()
    commands_for: Callable[[str], list] | None = None
    web: Any = None  # the [web] section of config (bot.web.config.WebConfig) where the console is on

    def addressed_to_us(self, platform: str, target: str) -> bool:
        ours = self.bot_usernames.get(platform)
        return ours is not None and ours.lower() == target.lower()


class Context:
    """What a handler gets: the event, its plugin's effective rules for the group, its state, and helpers
    that build the effects it returns (messages, timers, reports)."""

    __slots__ = ("event", "rules", "plugin", "services", "call", "role", "group", "notes", "state")

    def __init__(self, event: Event, rules: Any, plugin: Plugin, services: Services, call: CommandCall | None, role: str,
                 group: str | None = None, notes: dict | None = None, state: Any = None):
        self.event = event
        self.rules = rules
        self.plugin = plugin
        self.services = services
        self.call = call
        self.role = role
        self.group = group or event.group_key  # "<platform>:<group>", computed once per event
        # Shared by the handlers of this one event: what an earlier plugin learnt (a check-in's new streak)
        # that a later one needs, so the later one need not read it back from the database.
        self.notes = {} if notes is None else notes
        self.state = services.state_of(plugin) if state is None else state

    @property
    def now(self) -> datetime:
        return self.services.clock.now()

    @property
    def store(self):
        return self.services.store

    @property
    def stats(self):
        return self.services.stats

    @property
    def tz(self) -> tzinfo:
        return self.services.tz_for(self.group)

    @property
    def rules_dir(self) -> Path:
        return self.services.rules_dir

    def export_path(self, what: str) -> Path:
        """Where a CSV this group's owner asked for is written (``<group>-<what>.csv`` in the temporary
        folder ``qunbot-exports``); the message that carries it names it in ``file``."""
        safe = re.sub(r"[^\w.-]", "_", self.group)
        return Path(tempfile.gettempdir()) / "qunbot-exports" / f"{safe}-{what}.csv"

    def rules_of(self, plugin: str):
        """Another plugin's effective rules in this group (read-only), or None where it is off."""
        other = self.services.plugins().get(plugin)
        return None if other is None else self.services.rules_for(other, self.group)

    def can(self, action: str) -> bool:
        """Whether the bot can take ``action`` (``"mute_all"``, ``"delete"`` …) in this group now. A plugin
        returns the action either way (the outbox turns it into its fallback); this is for what it says."""
        return action in self.services.capabilities(self.event.platform, self.event.group)

    def is_keyword(self, text: str) -> bool:
        """Whether some plugin takes exactly this text as a keyword (like ``签到``)."""
        return text.strip() in self.services.keywords

    def first_to_see(self, conn, what: str, at: datetime | None = None) -> bool:
        """Claim this event for this plugin, inside the caller's transaction (``ctx.store.run``): False
        when this plugin handled the same event already — in another process sharing the database (two
        processes serving one group both receive its events), before a restart (the platform sending it
        again), or in an earlier replay on it. ``what`` names the event by what the platform named it with
        (a message id, a request id), never by its time: a request sent again may carry another. Only an
        event the platform gives no id (a member joined) adds its time ``at``, so that a later join of
        the same member is a new one."""
        from bot.store.repos import claim_slot  # the bus stays importable without the store

        return claim_slot(conn, f"{self.plugin.name}.seen.{what}", self.group, at or NO_TIME, self.event.at, "", self.event.at)

    def render(self, template: str, /, **values) -> str:
        return self.services.templates.render(template, **values)

    def send(self, template: str, reason: str, /, mentions: Iterable[str] = (), reply_to: str | None = None, **values) -> SendMessage:
        """A message to the event's group, from ``templates/<template>.j2``."""
        return self.send_text(self.render(template, **values), reason, mentions=mentions, reply_to=reply_to)

    def send_text(self, text: str, reason: str, /, mentions: Iterable[str] = (), reply_to: str | None = None) -> SendMessage:
        """A message to the event's group whose text is already rendered."""
        ev = self.event
        return SendMessage(platform=ev.platform, group=ev.group, text=text, mentions=tuple(mentions),
                           reply_to=reply_to, plugin=self.plugin.name, reason=reason)

    def reply(self, template: str, reason: str, /, **values) -> SendMessage:
        """A reply to the event's message that mentions its sender."""
        ev = self.event
        return self.send(template, reason, mentions=(ev.user,), reply_to=getattr(ev, "id", None) or None, **values)

    def timer(self, name: str, due: datetime, /, key: str = "", reason: str = "", **payload) -> SetTimer:
        """This plugin's timer ``name`` for ``key`` in this group, due at ``due`` (replacing the one set
        before); its handler (``@plugin.timer(name)``) gets a ``TimerFired`` carrying ``payload``."""
        ev = self.event
        return SetTimer(platform=ev.platform, group=ev.group, timer=name, key=key, due=due, payload=payload,
                        plugin=self.plugin.name, reason=reason or name)

    def cancel_timer(self, name: str, /, key: str = "", reason: str = "") -> CancelTimer:
        ev = self.event
        return CancelTimer(platform=ev.platform, group=ev.group, timer=name, key=key, plugin=self.plugin.name,
                           reason=reason or name)

    def report(self, text: str, reason: str = "", /) -> Report:
        """A line for the operators (the log, and the admin log chat where one is set)."""
        ev = self.event
        return Report(platform=ev.platform, group=ev.group, text=text, plugin=self.plugin.name, reason=reason or "report")


# One handler as it runs in one group: (handler, the plugin's rules there, the plugin's state).
Step = tuple[Handler, Any, Any]


@dataclass
class Bus:
    services: Services
    plugins: list[Plugin] = field(default_factory=list)
    _by_type: dict[type, list[Handler]] = field(default_factory=dict)
    _by_command: dict[str, list[Handler]] = field(default_factory=dict)
    _by_keyword: dict[str, list[Handler]] = field(default_factory=dict)
    _shadow_by_type: dict[type, list[Handler]] = field(default_factory=dict)
    # {event type: {group: plan}}: the handlers enabled in a group with their rules, worked out on the first
    # event and kept while the rule book's generation stands (rule files and owner settings change rarely).
    _plans: dict[type, dict[str, tuple[Step, ...]]] = field(default_factory=dict)
    _generation: int | None = None
    # Plans by the identity of what they hold: most groups run on the same shared rules, so 10,000 groups
    # share a handful of plan tuples rather than holding one each.
    _shared: dict[tuple[int, ...], tuple[Step, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.services.commands_for = self.commands_for

    def rebuild(self, plugins: Iterable[Plugin]) -> None:
        """Index the handlers of exactly these plugins (called at start and when rule files come or go)."""
        self.plugins = sorted(plugins, key=lambda p: (p.priority, p.name))
        self._by_type, self._by_command, self._by_keyword, self._shadow_by_type = {}, {}, {}, {}
        self._generation = None  # the plans name handlers of the plugins before
        for plugin in self.plugins:
            for h in plugin.handlers:
                for ev_type in h.events:
                    self._by_type.setdefault(ev_type, []).append(h)
                for name in h.command.names if h.command else ():
                    self._by_command.setdefault(name, []).append(h)
                for text in h.keywords:
                    self._by_keyword.setdefault(text, []).append(h)
            for h in plugin.shadows:
                for ev_type in h.events:
                    self._shadow_by_type.setdefault(ev_type, []).append(h)
        for index in (self._by_type, self._by_command, self._by_keyword, self._shadow_by_type):
            for handlers in index.values():
                handlers.sort(key=lambda h: h.order)
        self.services.keywords = frozenset(self._by_keyword)

    def _plan(self, event: Event, group: str) -> tuple[Step, ...]:
        """The type handlers that run for ``event`` in ``group``, with their rules (cached, see ``_plans``)."""
        generation = self.services.generation()
        if generation != self._generation:
            self._plans, self._shared, self._generation = {}, {}, generation
        by_group = self._plans.get(type(event))
        if by_group is None:
            by_group = self._plans[type(event)] = {}
        plan = by_group.get(group)
        if plan is None:
            plan, complete = self._steps(self._by_type.get(type(event), ()), event, group)
            if complete:  # a failed rules look-up is not cached: it is tried (and logged) again next time
                plan = by_group[group] = self._shared.setdefault(tuple(id(x) for step in plan for x in step[:2]), plan)
        return plan

    def _steps(self, handlers: Iterable[Handler], event: Event, group: str) -> tuple[tuple[Step, ...], bool]:
        """``handlers`` with their plugin's rules and state, dropping plugins disabled in ``group``; and
        whether every look-up succeeded."""
        services, steps, complete = self.services, [], True
        for h in handlers:
            try:
                rules = services.rules_for(h.plugin, group)
            except Exception:
                log.exception("plugin %s failed on %s in %s", h.plugin.name, event.name, group)
                complete = False
                continue
            if rules is not None:
                steps.append((h, rules, services.state_of(h.plugin)))
        return tuple(steps), complete

    def _command_steps(self, event: MessageReceived, plan: tuple[Step, ...], group: str):
        """The plan with the handlers of the message's command or keyword merged in, and the command call."""
        call = parse_command(event.text)
        if call and call.target and not self.services.addressed_to_us(event.platform, call.target):
            return plan, None  # "/help@otherbot" in a Telegram group is another bot's business
        extra = self._by_command.get(call.name) if call else self._by_keyword.get(event.text.strip())
        if not extra:
            return plan, call
        return tuple(sorted(plan + self._steps(extra, event, group)[0], key=lambda step: step[0].order)), call

    async def dispatch(self, event: Event, group: str | None = None, commands_only: bool = False) -> list[Action]:
        """Run the chain for one event and return the effects the plugins asked for, in order. ``group`` is
        the event's group key when the caller has it; ``commands_only``: only the handlers of the message's
        command run (a command given in the web console, which no other plugin should see as a message)."""
        group = group or event.group_key
        plan = () if commands_only else self._plan(event, group)
        call = None
        if type(event) is MessageReceived and event.text:
            plan, call = self._command_steps(event, plan, group)
        if not plan:
            return []
        services = self.services
        role = effective_role(getattr(event, "role", "member"), event.platform, getattr(event, "user", ""), services.bot_admins)
        actions: list[Action] = []
        notes: dict = {}
        refused = False
        for h, rules, state in plan:
            try:
                when = h.when
                if when is not None and not (when(event, rules, state, group) if h.wide_when else when(event, rules)):
                    continue
                ctx = Context(event, rules, h.plugin, services, call if h.command else None, role, group, notes, state)
                if h.command and not permits(role, h.command.role):
                    # A message is one command; where several plugins offer it (the admission family's
                    # /pending), the sender is told no once.
                    if not refused:
                        actions.append(ctx.reply("core/refused", "not_permitted", command=h.command.primary, needed=h.command.role))
                        refused = True
                    continue
                result = await h.fn(ctx)
            except Exception:
                # One plugin's bug must not silence the others; the traceback goes to the log.
                log.exception("plugin %s failed on %s in %s", h.plugin.name, event.name, group)
                continue
            if result is None:
                continue
            before = len(actions)
            try:
                stop = _collect(result, actions, h.plugin.name)
            except Exception:  # it returned something that is not actions and Stops: a bug, isolated like one
                del actions[before:]
                log.exception("plugin %s returned a malformed result on %s in %s", h.plugin.name, event.name, group)
                continue
            if stop:
                break
        return actions

    async def observe(self, event: Event, group: str) -> None:
        """Run the shadow handlers for an event of a group another process owns; nothing is returned,
        nothing acts."""
        services = self.services
        for h in self._shadow_by_type.get(type(event), ()):
            try:
                rules = services.rules_for(h.plugin, group)
                if rules is None:
                    continue
                state = services.state_of(h.plugin)
                when = h.when
                if when is not None and not (when(event, rules, state, group) if h.wide_when else when(event, rules)):
                    continue
                role = effective_role(getattr(event, "role", "member"), event.platform, getattr(event, "user", ""),
                                      services.bot_admins)
                await h.fn(Context(event, rules, h.plugin, services, None, role, group, {}, state))
            except Exception:
                log.exception("plugin %s failed watching %s in %s", h.plugin.name, event.name, group)

    def acquired(self, group: str) -> None:
        """Tell the plugins that this process took ``group`` over (``Plugin.acquired``)."""
        for plugin in self.plugins:
            for fn in plugin.on_acquired:
                try:
                    fn(self.services.state_of(plugin), group)
                except Exception:
                    log.exception("plugin %s failed taking %s over", plugin.name, group)

    def commands_for(self, group: str) -> list[tuple[Plugin, Command]]:
        """The commands offered in ``group`` (their plugins enabled there), in priority order."""
        return [(p, c) for p in self.plugins if self.services.rules_for(p, group) is not None for c in p.commands]


def _collect(result: Action | Stop | Iterable[Action | Stop], actions: list[Action], plugin: str) -> bool:
    """Append a handler's actions (naming the plugin where it did not); True when it asked to stop."""
    items = (result,) if isinstance(result, (Action, Stop)) else result
    stop = False
    for item in items:
        if isinstance(item, Stop):
            stop = True
        elif item.plugin:
            actions.append(item)
        else:
            actions.append(item.model_copy(update={"plugin": plugin}))
    return stop
