"""The core commands every group has, whatever rule files exist: /help, /config, /set, /unset, /sets."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from typing import Any

from pydantic import BaseModel

from bot.bus import Context, Plugin
from bot.commands import permits
from bot.guards import guard_map, highest
from bot.rules import PluginRules, RuleError, RuleValueError, parse_value
from bot.store.repos import add_audit, save_setting
from bot.tomlvalue import toml_string, toml_value


class CoreRules(PluginRules):
    pass


core = Plugin("core", CoreRules, priority=0)


@core.command("help", "帮助", "菜单")
async def show_help(ctx: Context):
    usable, listed = [], set()
    for p, c in ctx.services.commands_for(ctx.group):
        # A command several plugins offer (the admission family's /pending) is listed once, as the first
        # of them, in priority order, answers it.
        if permits(ctx.role, c.role) and c.primary not in listed:
            listed.add(c.primary)
            usable.append({"plugin": p.name, "name": c.primary, "aliases": c.names[1:], "summary": _summary(ctx, p.name, c.primary)})
    return ctx.reply("core/help", "help", commands=usable, role=ctx.role)


def _summary(ctx: Context, plugin: str, command: str) -> str:
    """A command's /help line; ``can`` lets it say only what the bot can do in this group."""
    name = f"{plugin}/help_{command}"
    return ctx.render(name, can=ctx.can) if ctx.services.templates.exists(name) else ""


@core.command("config", "配置", role="admin")
async def show_config(ctx: Context):
    args = ctx.call.args
    if not args or ctx.services.plugins().get(args[0]) is None:
        return ctx.reply("core/unknown_plugin", "usage", given=args[0] if args else "", plugins=sorted(ctx.services.plugins()))
    book = ctx.services.rulebook
    marks = guard_map(book.models[args[0]])
    rows = [
        {"key": key, "value": _show(value), "source": source, **_marks_of(key, marks)}
        for key, value, source in book.explain(args[0], ctx.group)
    ]
    return ctx.reply("core/config", "config_shown", plugin=args[0], rows=rows)


def _marks_of(key: str, marks: dict[str, str]) -> dict[str, Any]:
    """Who may change ``key`` (its own mark), and the keys inside it that ask for more (``rotations.*.folder``)."""
    level = marks.get(key, "admin")
    inner = [{"path": path, "level": inner} for path, inner in marks.items()
             if path.startswith((f"{key}.", f"{key}[")) and highest((level, inner)) != level]
    return {"level": level, "inner": inner}


def _show(value: Any) -> str:
    """A value as it would be written in the rule file."""
    try:
        return toml_value(value)
    except TypeError:  # None, say: nothing a rules model holds today
        return str(value)


@core.command("sets", "群组集合", role="admin")
async def show_sets(ctx: Context):
    """The group sets of rules/sets.toml: this group's first, then the others (names only)."""
    sets = ctx.services.group_sets().sets
    ours = [{"name": name, "groups": groups} for name, groups in sets.items() if ctx.group in groups]
    others = [name for name, groups in sets.items() if ctx.group not in groups]
    return ctx.reply("core/sets", "sets_shown", ours=ours, others=others, group=ctx.group)


@core.command("set", "设置", role="admin")
async def set_value(ctx: Context):
    args = ctx.call.args
    if len(args) < 3 or ctx.services.plugins().get(args[0]) is None:
        return ctx.reply("core/set_usage", "usage", plugins=sorted(ctx.services.plugins()))
    plugin, key, raw = args[0], args[1], " ".join(args[2:])
    return await _change(ctx, plugin, key, parse_value(raw), _toml_slip(raw))


def _toml_slip(raw: str) -> str | None:
    """Why ``raw``, which looks like a TOML value (``[…]``, ``{…}``, ``"…"``), was read as plain text: the
    answer to a refused value then says so (plain text that starts with a bracket stays allowed)."""
    if raw.lstrip()[:1] not in ("[", "{", '"', "'"):
        return None
    try:
        tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError as exc:  # its column counts the "v = " put in front
        return _WHERE.sub(lambda m: f"，第 {int(m[1]) - 4} 个字符处", str(exc))
    return None


_WHERE = re.compile(r" \(at line 1, column (\d+)\)")


@core.command("unset", "重置", role="admin")
async def unset_value(ctx: Context):
    args = ctx.call.args
    if len(args) != 2 or ctx.services.plugins().get(args[0]) is None:
        return ctx.reply("core/set_usage", "usage", plugins=sorted(ctx.services.plugins()))
    return await _change(ctx, args[0], args[1], None)


async def _change(ctx: Context, plugin: str, key: str, value: Any, slip: str | None = None):
    """Validate the new owner layer through the plugin's model, store it with an audit row, apply it."""
    book = ctx.services.rulebook
    try:
        if value is None:
            layer = _without(book.owner.get((plugin, ctx.group), {}), key)
            if layer is None:
                return ctx.reply("core/unset_nothing", "nothing_to_unset", plugin=plugin, key=key)
        else:
            layer = book.check_owner_value(plugin, ctx.group, key, value)
    except RuleValueError as exc:
        return ctx.reply("core/set_invalid", "invalid_value", plugin=plugin, key=key,
                         problems=[_problem(e, key) for e in exc.errors], slip=slip)
    level, guarded = book.level_for(plugin, ctx.group, layer)
    role = _acting_role(ctx, plugin, level)
    if role is None:
        return ctx.reply("core/set_guarded", f"{level}_only", plugin=plugin, key=key, level=level, keys=guarded)
    ev = ctx.event

    def write(conn):
        old = save_setting(conn, ctx.group, plugin, key, value)
        add_audit(conn, at=ev.at, group_key=ctx.group, user_id=ev.user, role=role, command=ev.text,
                  plugin=plugin, key=key, old_value=old, new_value=None if value is None else json.dumps(value, ensure_ascii=False))

    await ctx.store.run(write)
    book.set_owner_layer(plugin, ctx.group, layer)  # the engine re-plans the group's jobs when it sees this
    shown = None if value is None else _show(_value_at(book.current(plugin, ctx.group), key, value))
    return ctx.reply("core/set_done", "setting_changed", plugin=plugin, key=key, value=shown, removed=value is None)


def _acting_role(ctx: Context, plugin: str, level: str) -> str | None:
    """The role a change needing ``level`` is made in (as the audit log records it), or None: refused.
    Owner-only keys are also open to the people the rule file names in ``owner_delegates``."""
    if level == "file":
        return None
    if permits(ctx.role, level):
        return ctx.role
    me = f"{ctx.event.platform}:{ctx.event.user}"
    if level == "owner" and me in ctx.services.rulebook.delegates(plugin, ctx.group):
        return "delegate"
    return None


def _value_at(rules: Any, dotted: str, given: Any) -> Any:
    """The value now in force at ``dotted`` (dates as dates, defaults filled in); ``given`` where the path
    does not lead through models and string-keyed tables."""
    node = rules
    for part in dotted.split("."):
        if isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return given
    return node


# pydantic's own words where they add something (a plugin's check says why in English; keep it).
_PREFIXES = ("Value error, ", "Assertion failed, ")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _problem(error: RuleError, key: str) -> dict[str, Any]:
    """What ``core/set_invalid`` needs to say one problem in Chinese: where, which kind, the limits."""
    facts = dict(error.facts)
    message = str(facts.pop("message", error.problem))
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    got = facts.pop("input", None)
    if error.kind == "literal_error":
        facts["choices"] = [toml_string(c) for c in _QUOTED.findall(str(facts.get("expected", "")))] or [facts.get("expected")]
    return {**facts, "kind": error.kind, "message": message,
            "where": "" if error.path in (key, "(top)") else error.path,
            "got": _got(got) if error.kind not in ("missing", "extra_forbidden", "unknown_key") else None}


def _got(value: Any) -> str | None:
    """The refused input, when short enough to help: a number, a word, a short list."""
    if isinstance(value, (dict, BaseModel)) or value is None:
        return None
    text = _show(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _without(layer: dict, dotted: str) -> dict | None:
    """A copy of the owner layer without ``dotted``; None when the group never set it."""
    out = copy.deepcopy(layer)
    node = out
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        return None
    del node[last]
    return out
