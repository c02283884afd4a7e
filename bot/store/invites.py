"""Who invited whom (邀请): one row per invitee and group, credited at most once, ever."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, func, select, update

from bot.stats import member_daily_t
from bot.store.admission import tags_t
from bot.store.presence import presence_t
from bot.store.repos import dialect_insert, utc
from bot.store.tables import Invite, Member

invites_t: Table = Invite.__table__
members_t: Table = Member.__table__


def _key(group: str, invitee: str):
    return (invites_t.c.group_key == group) & (invites_t.c.invitee == invitee)


def get_invite(conn: Connection, group: str, invitee: str) -> dict | None:
    row = conn.execute(select(invites_t).where(_key(group, invitee)).with_for_update()).first()
    return dict(row._mapping) if row else None


def record_invite(conn: Connection, group: str, invitee: str, name: str, inviter: str, at: datetime) -> bool:
    """Note who brought ``invitee`` in (the latest join counts); False when an earlier stay was credited
    already: a re-join never earns anything again."""
    found = get_invite(conn, group, invitee)
    if found and found["credited_at"] is not None:
        return False
    row = {"inviter": inviter, "name": name, "joined_at": utc(at)}
    stmt = dialect_insert(conn, invites_t).values(group_key=group, invitee=invitee, **row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "invitee"], set_=row))
    return True


def forget_invite(conn: Connection, group: str, invitee: str) -> None:
    """An invitee who came back by themselves: the earlier inviter no longer stands to earn from them."""
    conn.execute(delete(invites_t).where(_key(group, invitee) & invites_t.c.credited_at.is_(None)))


def credit(conn: Connection, group: str, invitee: str, at: datetime) -> bool:
    where = _key(group, invitee) & invites_t.c.credited_at.is_(None)
    return conn.execute(update(invites_t).where(where).values(credited_at=utc(at))).rowcount == 1


def introduced(conn: Connection, group: str, user: str) -> bool:
    """Whether ``user`` introduced themselves here (self_intro keeps an introduction's fields as tags)."""
    where = (tags_t.c.group_key == group) & (tags_t.c.user_id == user)
    return conn.execute(select(tags_t.c.tag).where(where).limit(1)).first() is not None


def display_names(conn: Connection, group: str, users: set[str]) -> dict[str, str]:
    """The names the group knows these members by (what they spoke as last, else their points row, else
    what they joined as); members never seen are left out."""
    if not users:
        return {}
    names: dict[str, str] = {}
    sources = (
        select(presence_t.c.user_id, presence_t.c.name).where((presence_t.c.group_key == group) & presence_t.c.user_id.in_(users)),
        select(members_t.c.user_id, members_t.c.name).where((members_t.c.group_key == group) & members_t.c.user_id.in_(users)),
        select(member_daily_t.c.user_id, member_daily_t.c.name).where(
            (member_daily_t.c.group_key == group) & member_daily_t.c.user_id.in_(users)).order_by(member_daily_t.c.day),
    )
    for query in sources:  # later sources win
        names.update((user, name) for user, name in conn.execute(query) if name)
    return names


def invite_board(conn: Connection, group: str, limit: int) -> list[dict]:
    """Inviters by invitees who qualified (then by those still on their way), with names."""
    c = invites_t.c
    qualified = func.count(c.credited_at).label("qualified")
    rows = conn.execute(select(c.inviter, qualified, func.count().label("invited")).where(c.group_key == group)
                        .group_by(c.inviter).order_by(qualified.desc(), func.count().desc(), c.inviter).limit(limit)).all()
    names = display_names(conn, group, {r.inviter for r in rows})
    return [{"user": r.inviter, "name": names.get(r.inviter, r.inviter), "qualified": r.qualified,
             "pending": r.invited - r.qualified} for r in rows]
