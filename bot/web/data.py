"""What the pages show, read through the code the chat commands use: ``insights.assess`` (/stage), the
daily series of /stats, /pending's cases, /config's explanation, /who's search. A figure on a page is
the figure the bot gives in chat for the same group."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bot.guards import guard_map
from bot.store.admission import find_members, group_cases, last_prompt
from bot.store.insights import daily_series, member_activity, member_roster
from bot.store.moderation import decisions
from bot.tomlvalue import toml_value
from plugins.admission.cases import SHOWN, CaseKind
from plugins.insights import InsightsRules, assess, born_on, layer_of

STAGES = {"introduction": "引入期", "growth": "成长期", "maturity": "成熟期", "decline": "衰退期"}
PLATFORMS = {"qq": "QQ", "qq_official": "QQ 官方", "telegram": "Telegram", "wecom": "企业微信", "wechat": "微信",
             "console": "控制台"}
DECIDABLE = (CaseKind.REQUEST, CaseKind.QUIZ, CaseKind.REVIEW)  # what /通过 and /拒绝 act on
WEEK = 7


def today_in(engine, group: str) -> date:
    return engine.clock.now().astimezone(engine.tz_for(group)).date()


def insights_rules(engine, group: str) -> InsightsRules:
    """The group's insights rules, as /stage and /stats use them (the defaults where the plugin is off)."""
    plugin = engine.plugins.get("insights")
    return (engine.rules_for(plugin, group) if plugin else None) or InsightsRules()


async def overview_row(engine, group: str) -> dict[str, Any]:
    """One group's line on the overview."""
    services, today = engine.services, today_in(engine, group)
    verdict = await assess(services, group, insights_rules(engine, group), today)
    week = await engine.store.run(daily_series, group, today - timedelta(days=WEEK - 1), today)
    born = await born_on(services, group)
    counted = [row for row in week if born is None or row["day"] >= born]
    spoke = sum(row["active"] for row in counted)

    def facts(conn):
        return (len(member_roster(conn, group, today - timedelta(days=WEEK - 1))), len(group_cases(conn, group, SHOWN)),
                last_prompt(conn, group, "", "dead_group_alert"))

    members, cases, alert = await engine.store.run(facts)
    platform = group.partition(":")[0]
    return {"group": group, "platform": platform, "platform_name": PLATFORMS.get(platform, platform),
            "sets": list(engine.group_sets.of(group)), "stage": verdict.stage, "stage_name": STAGES[verdict.stage],
            "fading": verdict.stage == "decline", "reasons": verdict.reasons, "members": members,
            "messages": verdict.figures["messages"][0], "active": verdict.figures["active"][0],
            # Check-ins per member who spoke, over the week's days (the chart's rate, for the week).
            "checkin_rate": round(100 * sum(r["checkin"] for r in counted) / spoke) if spoke else None,
            "cases": cases, "moderation": sum(r["moderation"] for r in counted),
            "last_alert": alert.astimezone(engine.tz_for(group)) if alert else None, "assessment": verdict}


SORTS = {"group": lambda r: r["group"], "stage": lambda r: list(STAGES).index(r["stage"]), "members": lambda r: r["members"],
         "messages": lambda r: r["messages"], "active": lambda r: r["active"], "cases": lambda r: r["cases"],
         "checkin_rate": lambda r: -1 if r["checkin_rate"] is None else r["checkin_rate"],
         "moderation": lambda r: r["moderation"], "last_alert": lambda r: r["last_alert"] or datetime.min.replace(tzinfo=None).isoformat()}


def sort_rows(rows: list[dict], key: str, descending: bool) -> list[dict]:
    """Rows by ``key``; fading groups first when no order is asked for (they are what needs a look)."""
    if key not in SORTS:
        return sorted(rows, key=lambda r: (not r["fading"], r["group"]))
    pick = SORTS[key]
    if key == "last_alert":
        pick = lambda r: r["last_alert"].isoformat() if r["last_alert"] else ""  # noqa: E731
    return sorted(rows, key=pick, reverse=descending)


async def stats_series(engine, group: str) -> tuple[list[dict], list[dict], date | None]:
    """/stats's series for the group: every day of the chart, the days since the bot joined, and that day."""
    rules, today = insights_rules(engine, group), today_in(engine, group)
    await engine.stats.flush()
    series = await engine.store.run(daily_series, group, today - timedelta(days=rules.chart_days - 1), today)
    born = await born_on(engine.services, group)
    return series, [row for row in series if born is None or row["day"] >= born], born


async def layers(engine, group: str) -> dict[str, list[dict]]:
    """/layers: members by messages in the layer window."""
    rules, today = insights_rules(engine, group), today_in(engine, group)
    members = await engine.store.run(member_activity, group, today - timedelta(days=rules.layer_window_days - 1))
    out: dict[str, list[dict]] = {"core": [], "active": [], "quiet": [], "dormant": []}
    for member in sorted(members, key=lambda m: (-m["messages"], m["user_id"])):
        out[layer_of(member["messages"], rules)].append(member)
    return out


async def roster(engine, group: str) -> list[dict]:
    rules, today = insights_rules(engine, group), today_in(engine, group)
    return await engine.store.run(member_roster, group, today - timedelta(days=rules.layer_window_days - 1))


def intro_labels(engine, group: str) -> tuple[dict[str, str], int]:
    """The introduction's field labels in this group and /who's list limit (where self_intro runs)."""
    plugin = engine.plugins.get("self_intro")
    rules = engine.rules_for(plugin, group) if plugin else None
    return ({f.key: f.label for f in rules.fields}, rules.list_limit) if rules else ({}, 30)


async def who(engine, group: str, text: str) -> list[dict]:
    """/who: members whose introduction tags contain ``text``."""
    _labels, limit = intro_labels(engine, group)
    return await engine.store.run(find_members, group, text, limit) if text.strip() else []


async def pending(engine, group: str) -> list[dict]:
    """/pending's cases, each with whether /通过 and /拒绝 act on it."""
    tz = engine.tz_for(group)
    cases = await engine.store.run(group_cases, group, SHOWN)
    return [{"kind": c.kind, "user": c.user, "name": c.name, "since": c.started_at.astimezone(tz),
             "deadline": c.deadline.astimezone(tz) if c.deadline else None, "answer": c.data.get("answer", ""),
             "decidable": c.kind in DECIDABLE} for c in cases]


async def moderation_log(engine, group: str, limit: int = 100) -> list[dict]:
    """The anti-ad and flood decisions, newest first; an undone or dry-run one cannot be undone again."""
    tz = engine.tz_for(group)
    rows = (await engine.store.run(decisions, group))[-limit:][::-1]
    for row in rows:
        row["at"] = row["at"].astimezone(tz) if row["at"].tzinfo else row["at"]
        row["undone"] = row["decision"].startswith("undone")
        row["undoable"] = not row["undone"] and not row.get("dry_run") and bool(row.get("message_id"))
    return rows


def settings(engine, group: str) -> list[dict]:
    """/config for every plugin on in the group: each key's value, where it came from, who may change it."""
    book, out = engine.rulebook, []
    for name in sorted(engine.plugins):
        if name not in book.files or engine.rules_for(engine.plugins[name], group) is None:
            continue
        marks = guard_map(book.models[name])
        rows = [{"key": key, "value": _show(value), "source": source, "level": marks.get(key, "admin")}
                for key, value, source in book.explain(name, group)]
        out.append({"plugin": name, "rows": rows})
    return out


def _show(value: Any) -> str:
    try:
        return toml_value(value)
    except TypeError:
        return str(value)
