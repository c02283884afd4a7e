"""Ban lists (拉黑): entries by the group that made them; which groups a ban holds in is the caller's
business (the group itself, and the groups of the sets that share bans with it: plugins/bans.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Table, select, update

from bot.store.repos import dialect_insert, utc
from bot.store.tables import Ban

bans_t: Table = Ban.__table__
# The columns of an exported list, in order (the CSV's header names them in Chinese: templates/bans/csv_header.j2).
EXPORTED = ("platform", "user_id", "name", "origin_group", "source", "reason", "by_user", "at")


def add_ban(conn: Connection, platform: str, user: str, name: str, origin: str, source: str, reason: str,
            by: str, at: datetime) -> bool:
    """Ban ``user`` from ``origin``; False when a standing ban from there exists already (it is kept as it was)."""
    stmt = dialect_insert(conn, bans_t).values(platform=platform, user_id=user, name=name[:200], origin_group=origin,
                                                source=source, reason=reason[:500], by_user=by, at=utc(at), lifted_by="")
    return conn.execute(stmt.on_conflict_do_nothing()).rowcount == 1


def standing_ban(conn: Connection, platform: str, user: str, origins: Iterable[str]) -> dict | None:
    """The oldest standing ban of ``user`` made in one of ``origins``, or None."""
    row = conn.execute(select(bans_t).where(
        (bans_t.c.platform == platform) & (bans_t.c.user_id == user) & bans_t.c.lifted_at.is_(None)
        & bans_t.c.origin_group.in_(list(origins))).order_by(bans_t.c.at, bans_t.c.id).limit(1)).first()
    return dict(row._mapping) if row else None


def lift_bans(conn: Connection, platform: str, user: str, origins: Iterable[str], by: str, at: datetime,
              source: str | None = None) -> list[str]:
    """Lift every standing ban of ``user`` made in one of ``origins`` (of ``source`` only, where given);
    the groups they were made in."""
    where = ((bans_t.c.platform == platform) & (bans_t.c.user_id == user) & bans_t.c.lifted_at.is_(None)
             & bans_t.c.origin_group.in_(list(origins)))
    if source is not None:
        where &= bans_t.c.source == source
    rows = conn.execute(update(bans_t).where(where).values(lifted_at=utc(at), lifted_by=by).returning(bans_t.c.origin_group))
    return sorted(row[0] for row in rows)


def standing_bans(conn: Connection, origins: Iterable[str], limit: int | None = None) -> list[dict]:
    """The standing bans made in ``origins``, newest first."""
    query = (select(bans_t).where(bans_t.c.lifted_at.is_(None) & bans_t.c.origin_group.in_(list(origins)))
             .order_by(bans_t.c.at.desc(), bans_t.c.id.desc()))
    return [dict(row._mapping) for row in conn.execute(query.limit(limit) if limit else query)]
