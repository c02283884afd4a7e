"""The many-groups page: the group sets, and the panels of the features that act on several groups.

Relays (多群转播), broadcasts (群发) and shared ban lists add their panel here: an async function
``panel(engine, session, query) -> dict | None`` (``query``: the page's search box) in ``many_groups_panels``,
returning ``{"title": …, "template": "many/<name>.html", …values}`` (None: nothing to show
this person). The page renders each panel's template with its values; its forms post to ``/act`` like every
other change, so they run as the feature's chat commands.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

Panel = Callable[[Any, Any, str], Awaitable[dict | None]]

many_groups_panels: list[Panel] = []


def _seen(engine, session) -> list[str]:
    return sorted(g for g in engine.known_groups if session.sees(g))


async def bans_panel(engine, session, query: str) -> dict | None:
    """The standing bans made in the groups this person sees, searchable by member id or name; each can be
    lifted (as /解除拉黑 in the group that made it: lifted wherever that group shares it)."""
    from bot.store.bans import standing_bans

    if "bans" not in engine.plugins:
        return None
    rows = await engine.store.run(standing_bans, _seen(engine, session))
    if query:
        rows = [r for r in rows if query in r["user_id"] or query in (r["name"] or "")]
    return {"title": "共享黑名单", "template": "many/bans.html", "rows": rows[:200], "total": len(rows), "query": query}


async def broadcasts_panel(engine, session, _query: str) -> dict | None:
    """Send a broadcast from a group (as /群发 there: preview, then confirm) and the latest ones' delivery
    reports, from the outbox's receipts."""
    from bot.receipts import receipts_of
    from bot.store.broadcasts import recent_broadcasts

    if "broadcasts" not in engine.plugins:
        return None
    owned = [g for g in _seen(engine, session) if session.role_in(g) == "owner"]

    def read(conn):
        found = recent_broadcasts(conn, _seen(engine, session), 10)
        return [{**b, "outcomes": receipts_of(conn, f"broadcast:{b['id']}")} for b in found]

    await engine.receipts.flush()
    return {"title": "群发", "template": "many/broadcasts.html", "rows": await engine.store.run(read), "owned": owned,
            "sets": list(engine.group_sets.sets)}


async def relays_panel(engine, session, _query: str) -> dict | None:
    """The running relays from groups this person sees, with per-target delivery counts; start and stop
    (as /转播 开始 and /转播 结束 in the source group)."""
    from bot.store.relays import delivery_counts, running_relays, transcript

    if "relay" not in engine.plugins:
        return None
    seen = _seen(engine, session)

    def read(conn):
        found = [r for r in running_relays(conn) if r["source_group"] in seen]
        return [{**r, "counts": delivery_counts(conn, r["id"]),
                 "sent": sum(line["kind"] != "question" for line in transcript(conn, r["id"]))} for r in found]

    await engine.receipts.flush()
    return {"title": "多群转播", "template": "many/relays.html", "rows": await engine.store.run(read),
            "owned": [g for g in seen if session.role_in(g) == "owner"], "sets": list(engine.group_sets.sets)}


many_groups_panels.extend([relays_panel, broadcasts_panel, bans_panel])
