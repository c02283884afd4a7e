"""The core commands every group has, whatever rule files exist: /help, /config, /set, /unset."""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.bus import Context, Plugin
from bot.commands import permits
from bot.rules import PluginRules, RuleValueError, parse_value
from bot.store.repos import add_audit, save_setting


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
    name = f"{plugin}/help_{command}"
    return ctx.render(name) if ctx.services.templates.exists(name) else ""


@core.command("config", "配置", role="admin")
async def show_config(ctx: Context):
    args = ctx.call.args
    if not args or ctx.services.plugins().get(args[0]) is None:
        return ctx.reply("core/unknown_plugin", "usage", given=args[0] if args else "", plugins=sorted(ctx.services.plugins()))
    rows = [
        {"key": key, "value": _show(value), "source": source}
        for key, value, source in ctx.services.rulebook.explain(args[0], ctx.group)
    ]
    return ctx.reply("core/config", "config_shown", plugin=args[0], rows=rows)


def _show(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, (list, tuple)):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    return json.dumps(value, ensure_ascii=False, default=str)


@core.command("set", "设置", role="admin")
async def set_value(ctx: Context):
    args = ctx.call.args
    if len(args) < 3 or ctx.services.plugins().get(args[0]) is None:
        return ctx.reply("core/set_usage", "usage", plugins=sorted(ctx.services.plugins()))
    plugin, key, raw = args[0], args[1], " ".join(args[2:])
    return await _change(ctx, plugin, key, parse_value(raw))


@core.command("unset", "重置", role="admin")
async def unset_value(ctx: Context):
    args = ctx.call.args
    if len(args) != 2 or ctx.services.plugins().get(args[0]) is None:
        return ctx.reply("core/set_usage", "usage", plugins=sorted(ctx.services.plugins()))
    return await _change(ctx, args[0], args[1], None)


async def _change(ctx: Context, plugin: str, key: str, value: Any):
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
        return ctx.reply("core/set_invalid", "invalid_value", plugin=plugin, key=key, problems=[e.problem for e in exc.errors])
    level, guarded = book.level_for(plugin, ctx.group, layer)
    if level == "file" or not permits(ctx.role, level):
        return ctx.reply("core/set_guarded", f"{level}_only", plugin=plugin, key=key, level=level, keys=guarded)
    ev = ctx.event

    def write(conn):
        old = save_setting(conn, ctx.group, plugin, key, value)
        add_audit(conn, at=ev.at, group_key=ctx.group, user_id=ev.user, role=ctx.role, command=ev.text,
                  plugin=plugin, key=key, old_value=old, new_value=None if value is None else json.dumps(value, ensure_ascii=False))

    await ctx.store.run(write)
    book.set_owner_layer(plugin, ctx.group, layer)  # the engine re-plans the group's jobs when it sees this
    return ctx.reply("core/set_done", "setting_changed", plugin=plugin, key=key, value=_show(value), removed=value is None)


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
