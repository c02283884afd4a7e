"""Ban lists shared between groups (共享黑名单): Rose's federations, Combot's CAS, for a set of groups.

A ban is made in one group — by an admin's ``/ban``, by anti-ad when its ladder removes an advertiser, or
by an operator's ``qunbot bans import`` — and holds there and, where that group's rules ``share`` a group
set (rules/sets.toml), in every other group of the set on the same platform (member ids are per platform).
A banned member asking to join is declined; one who joins where there are no requests (or was let in by
hand) is removed, or the admins are told where the bot cannot remove. ``/unban`` lifts the member's bans
in every group of the shared sets. Every entry keeps who, where, when and why; lifted ones are kept too.

What must stay true: the group hears "已移出" only after the removal succeeded (``after_done``), and a ban
only ever acts in groups that share with the group it was made in: a set shares when the group checking
has it in ``share`` — each group's own rules say whose bans it honours.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import Field

from bot.bus import Context, Plugin, Stop
from bot.group_sets import GroupSets, load_group_sets
from bot.guards import FILE_ONLY, OWNER_ONLY
from bot.model import DecideJoin, JoinRequested, KickMember, MemberJoined
from bot.rules import PluginRules
from bot.store.bans import EXPORTED, add_ban, lift_bans, standing_ban, standing_bans
from bot.store.invites import display_names


class BansRules(PluginRules):
    # The group sets (rules/sets.toml) whose groups' bans this group honours and whose groups honour its own.
    # Other groups are affected, so only the rule file sets it.
    share: Annotated[list[str], FILE_ONLY] = []
    ban_ad_removals: Annotated[bool, OWNER_ONLY] = True  # a member anti-ad removes for ads is banned
    list_size: int = Field(10, ge=1, le=50)  # entries /黑名单 shows


plugin = Plugin("bans", BansRules, priority=5)


def sharing_groups(ctx: Context, rules: BansRules) -> tuple[str, ...]:
    """The event's group and every group of the sets it shares, on the same platform."""
    return shared_with(ctx.services.group_sets(), rules.share, ctx.group)


def shared_with(sets: GroupSets, share: list[str], group: str) -> tuple[str, ...]:
    """``group`` and every group of the sets of ``share`` it belongs to, on the same platform."""
    platform = group.partition(":")[0]
    shared = (g for name in share if group in sets.sets.get(name, ()) for g in sets.sets[name])
    return (group, *dict.fromkeys(g for g in shared if g != group and g.partition(":")[0] == platform))


def where_from(ban: dict, group: str) -> str:
    return "本群" if ban["origin_group"] == group else ban["origin_group"]


@plugin.check
def shared_sets_exist(rules: BansRules, _rules_of, rules_dir: Path) -> list[tuple[str, str]]:
    sets, _errors = load_group_sets(rules_dir)
    known = sets.sets if sets is not None else {}
    return [("share", f"{name!r} is not a group set of sets.toml (known: {', '.join(known) or 'none'})")
            for name in rules.share if sets is not None and name not in known]


async def ban_of_sender(ctx: Context) -> dict | None:
    """The standing ban, here or in a group sharing its bans, of the member the event is about."""
    return await ctx.store.run(standing_ban, ctx.event.platform, ctx.event.user, sharing_groups(ctx, ctx.rules))


def banned_where(ban: dict) -> str:
    """The admin log's words for a ban: where, by whom, when, why."""
    return f"banned in {ban['origin_group']} by {ban['by_user'] or '?'} on {ban['at']:%Y-%m-%d} ({ban['reason']})"


@plugin.on(JoinRequested)
async def refuse_request(ctx: Context):
    ev = ctx.event
    ban = await ban_of_sender(ctx)
    if ban is None:
        return None
    note = ctx.render("bans/declined_note")
    return [DecideJoin(platform=ev.platform, group=ev.group, request=ev.id, user=ev.user, approve=False, note=note,
                       plugin=plugin.name, reason="banned"),
            ctx.report(f"bans {ctx.group}: join request of {ev.user} declined: {banned_where(ban)}", "banned"),
            Stop("banned")]


@plugin.on(MemberJoined)
async def remove_on_joining(ctx: Context):
    ev = ctx.event
    ban = await ban_of_sender(ctx)
    if ban is None:
        return None
    line = f"bans {ctx.group}: {ev.user} joined, {banned_where(ban)}"
    words = dict(name=ev.user_name or ev.user, where=where_from(ban, ctx.group), reason=ban["reason"])
    if not ctx.can("kick"):
        return [ctx.send("bans/joined_cannot_remove", "banned", **words),
                ctx.report(line + "; the bot cannot remove members here: for an admin to do", "banned"), Stop("banned")]
    removed = ctx.send("bans/removed", "banned", **words).model_copy(update={"after_done": True})
    return [KickMember(platform=ev.platform, group=ev.group, user=ev.user, plugin=plugin.name, reason="banned"),
            removed, ctx.report(line + "; removed", "banned"), Stop("banned")]


def _member(ctx: Context) -> str | None:
    """Who /ban and /unban are about: the member mentioned, else the first word (an id, '@' allowed)."""
    ev = ctx.event
    if ev.mentions:
        return ev.mentions[0]
    return ctx.call.args[0].lstrip("@") if ctx.call.args else None


def _reason(ctx: Context) -> str:
    words = [w for w in ctx.call.args if w.lstrip("@") not in ctx.event.mentions]
    if not ctx.event.mentions:
        words = words[1:]  # the first word was the member's id
    return " ".join(words)


@plugin.command("ban", "拉黑", role="admin")
async def ban(ctx: Context):
    ev, rules = ctx.event, ctx.rules
    user = _member(ctx)
    if not user:
        return ctx.reply("bans/ban_usage", "usage")
    if user == ev.user:
        return ctx.reply("bans/not_yourself", "usage")
    reason = _reason(ctx)
    await ctx.stats.flush()  # the member's name as they last spoke (statistics are written in batches)

    def record(conn):
        name = display_names(conn, ctx.group, {user}).get(user, "")
        return name, add_ban(conn, ev.platform, user, name, ctx.group, "command", reason, ev.user, ev.at)

    name, added = await ctx.store.run(record)
    shared = [g for g in sharing_groups(ctx, rules) if g != ctx.group]
    words = dict(name=name or user, reason=reason, shared=len(shared), sets=rules.share, already=not added,
                 can_kick=ctx.can("kick"))
    actions: list = [ctx.reply("bans/banned", "banned", **words)]
    if ctx.can("kick"):  # a member who is not (or no longer) here: the platform says so, the admin log hears it
        actions.insert(0, KickMember(platform=ev.platform, group=ev.group, user=user, plugin=plugin.name, reason="banned"))
    what = "banned" if added else "already banned, asked again"
    actions.append(ctx.report(f"bans {ctx.group}: {user} {what} by {ev.user} ({reason or 'no reason given'}); "
                              f"shared with {len(shared)} group(s)", "banned"))
    return actions


@plugin.command("unban", "解除拉黑", "解封", role="admin")
async def unban(ctx: Context):
    ev = ctx.event
    user = _member(ctx)
    if not user:
        return ctx.reply("bans/unban_usage", "usage")
    lifted = await ctx.store.run(lift_bans, ev.platform, user, sharing_groups(ctx, ctx.rules), ev.user, ev.at)
    if not lifted:
        return ctx.reply("bans/not_banned", "not_banned", user=user)
    return [ctx.reply("bans/unbanned", "unbanned", user=user, groups=[where_from({"origin_group": g}, ctx.group) for g in lifted]),
            ctx.report(f"bans {ctx.group}: {user} unbanned by {ev.user} (lifted in {', '.join(lifted)})", "unbanned")]


@plugin.command("banlist", "黑名单", role="admin")
async def banlist(ctx: Context):
    rules: BansRules = ctx.rules
    groups = sharing_groups(ctx, rules)
    if ctx.call.rest.strip() in ("export", "导出"):
        path = await export_bans(ctx.services, groups, ctx.export_path(f"bans-{ctx.event.at:%Y%m%d-%H%M%S}"))
        return ctx.reply("bans/exported", "bans_exported", count=path[1]).model_copy(update={"file": str(path[0])})
    rows = [{**row, "day": row["at"].astimezone(ctx.tz).date()} for row in await ctx.store.run(standing_bans, groups)]
    return ctx.reply("bans/list", "ban_list", rows=rows[:rules.list_size], total=len(rows), group=ctx.group,
                     shared=len(groups) - 1, sets=rules.share)


async def export_bans(services, groups: tuple[str, ...], path: Path) -> tuple[Path, int]:
    """Write the standing bans made in ``groups`` as CSV (UTF-8 with BOM: spreadsheet programs read the
    Chinese); the columns are EXPORTED's, headed in Chinese. ``qunbot bans import`` reads it back."""
    rows = await services.store.run(standing_bans, groups)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(services.templates.render("bans/csv_header").split(","))
        for row in rows:
            writer.writerow([row[c].isoformat() if c == "at" else row[c] for c in EXPORTED])
    return path, len(rows)


class BanListError(ValueError):
    pass


def read_ban_csv(path: Path, header: list[str]) -> list[dict]:
    """The rows of a ban list CSV as written by ``export_bans`` (``header`` its Chinese header, or the English
    column names). A row that cannot be read is an error naming the file and line: nothing is imported."""
    with path.open(encoding="utf-8-sig", newline="") as source:
        reader = csv.reader(source)
        first = next(reader, None)
        if first is None or [c.strip() for c in first] not in (header, list(EXPORTED)):
            raise BanListError(f"{path}:1: not a ban list (expected the header: {','.join(header)})")
        rows = []
        for number, cells in enumerate(reader, 2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(EXPORTED):
                raise BanListError(f"{path}:{number}: {len(cells)} columns, expected {len(EXPORTED)}")
            row = dict(zip(EXPORTED, (c.strip() for c in cells)))
            if not row["platform"] or not row["user_id"]:
                raise BanListError(f"{path}:{number}: platform and user id are required")
            try:
                row["at"] = datetime.fromisoformat(row["at"])
            except ValueError:
                raise BanListError(f"{path}:{number}: at: {row['at']!r} is not an ISO date and time") from None
            if row["at"].tzinfo is None:
                raise BanListError(f"{path}:{number}: at: {row['at']} has no UTC offset")
            rows.append(row)
    return rows


def import_rows(conn, rows: list[dict], into: str, by: str) -> int:
    """Ban each row's member in group ``into`` (a list made elsewhere becomes this group's: its origin and
    reason go into the reason); how many were new. Rows of another platform are refused by the caller."""
    added = 0
    for row in rows:
        reason = f"{row['reason']}（导入自 {row['origin_group']}）" if row["origin_group"] else row["reason"]
        added += add_ban(conn, row["platform"], row["user_id"], row["name"], into, "import", reason,
                         row["by_user"] or by, row["at"])
    return added
