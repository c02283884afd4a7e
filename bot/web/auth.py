"""Who may enter the console: one-time links from ``/后台`` and the operators' secret, sessions, CSRF.

A link is created by the ``/后台`` command (plugins/web_login.py) in the database, so the process that
serves the console need not be the one that answered in chat. Opening a link shows a button; only the
button's POST uses it up (chat apps fetch links to draw previews, and a GET must not spend the link).
Every token is random (``secrets``), travels once, and is stored as its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, delete, select, update

from bot.commands import permits
from bot.store.repos import utc
from bot.web.tables import WebLink, WebSession

links_t: Table = WebLink.__table__
sessions_t: Table = WebSession.__table__

ALL_GROUPS = "*"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A logged-in person: ``who`` (``"<platform>:<user id>"``, or ``"operator"``), their groups with their
    role in each (``{"*": "owner"}``: every group), the CSRF token their forms carry."""

    who: str
    name: str
    groups: dict[str, str]
    csrf: str
    expires_at: datetime

    @property
    def operator(self) -> bool:
        return ALL_GROUPS in self.groups

    def role_in(self, group: str) -> str | None:
        """Their role in ``group``; None: not theirs to see."""
        return self.groups.get(group) or self.groups.get(ALL_GROUPS)

    def sees(self, group: str) -> bool:
        return self.role_in(group) is not None

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.csrf.encode())


def create_link(conn: Connection, who: str, name: str, group: str, role: str, now: datetime, minutes: int) -> str:
    """A new one-time link token for ``who`` (an admin or owner of ``group``)."""
    if not permits(role, "admin"):
        raise ValueError("only admins and owners get a console link")
    token = secrets.token_urlsafe(24)
    conn.execute(links_t.insert().values(token_hash=digest(token), who=who, name=name, group_key=group, role=role,
                                         created_at=utc(now), expires_at=utc(now + timedelta(minutes=minutes))))
    return token


def link_usable(conn: Connection, token: str, now: datetime) -> bool:
    """Whether ``token`` names a link not used and not expired (the page with the button asks this)."""
    row = conn.execute(select(links_t).where(links_t.c.token_hash == digest(token))).first()
    return row is not None and row.used_at is None and utc(now) < row.expires_at


def use_link(conn: Connection, token: str, now: datetime, current: Session | None, minutes: int) -> tuple[str, Session] | None:
    """Spend a link: a new session (the groups of ``current`` kept when it is the same person's); None
    when the link is unknown, used, expired or not an admin's."""
    where = (links_t.c.token_hash == digest(token)) & links_t.c.used_at.is_(None) & (links_t.c.expires_at > utc(now))
    row = conn.execute(select(links_t).where(where)).first()
    # The update names used_at IS NULL again: of two browsers racing for one link, one wins.
    if row is None or not permits(row.role, "admin") or conn.execute(update(links_t).where(where).values(used_at=utc(now))).rowcount != 1:
        return None
    groups = dict(current.groups) if current is not None and current.who == row.who else {}
    groups[row.group_key] = row.role
    return new_session(conn, row.who, row.name, groups, now, minutes)


def new_session(conn: Connection, who: str, name: str, groups: dict[str, str], now: datetime, minutes: int) -> tuple[str, Session]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = utc(now + timedelta(minutes=minutes))
    conn.execute(sessions_t.insert().values(token_hash=digest(token), who=who, name=name, csrf=csrf,
                                            groups=json.dumps(groups, ensure_ascii=False), created_at=utc(now), expires_at=expires))
    return token, Session(who, name, groups, csrf, expires)


def find_session(conn: Connection, token: str | None, now: datetime) -> Session | None:
    if not token:
        return None
    row = conn.execute(select(sessions_t).where(sessions_t.c.token_hash == digest(token))).first()
    if row is None or row.expires_at <= utc(now):
        return None
    return Session(row.who, row.name, json.loads(row.groups), row.csrf, row.expires_at)


def end_session(conn: Connection, token: str | None, now: datetime) -> None:
    """Log out ``token``, and sweep expired sessions and links while here."""
    if token:
        conn.execute(delete(sessions_t).where(sessions_t.c.token_hash == digest(token)))
    conn.execute(delete(sessions_t).where(sessions_t.c.expires_at <= utc(now)))
    conn.execute(delete(links_t).where(links_t.c.expires_at <= utc(now - timedelta(days=1))))


def operator_secret_ok(given: str, secret: str | None) -> bool:
    """The operators' secret matches (constant time); never with no secret configured."""
    return bool(secret) and bool(given) and hmac.compare_digest(given.encode(), secret.encode())
