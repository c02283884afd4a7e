"""Admission state: open cases (quiz, held request, introduction, pending welcome), failed attempts,
and the tags an introduction leaves on a member. Shared by the admission family (plugins/admission/,
whose ``cases.CaseKind`` names the kinds).

A case is one row per (group, user, kind); its ``deadline`` is when its timer (a stored ``ctx.timer``) is due.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import Connection, Table, bindparam, delete, func, select

from bot.store.repos import dialect_insert, utc
from bot.store.sql import Sql
from bot.store.tables import AdmissionCase, AdmissionStrike, MemberTag, PromptCooldown

cases_t: Table = AdmissionCase.__table__
strikes_t: Table = AdmissionStrike.__table__
tags_t: Table = MemberTag.__table__
prompts_t: Table = PromptCooldown.__table__


def aware(at: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=timezone.utc)


@dataclass
class Case:
    group: str
    user: str
    kind: str
    name: str
    started_at: datetime
    deadline: datetime | None = None
    attempts: int = 0
    request_id: str | None = None
    data: dict = field(default_factory=dict)


def _case(row) -> Case:
    return Case(row.group_key, row.user_id, row.kind, row.name, aware(row.started_at), aware(row.deadline),
                row.attempts, row.request_id, json.loads(row.data or "{}"))


def _where(group: str, user: str, kind: str):
    return (cases_t.c.group_key == group) & (cases_t.c.user_id == user) & (cases_t.c.kind == kind)


def save_case(conn: Connection, case: Case) -> None:
    """Insert or replace a case."""
    values = {"name": case.name, "request_id": case.request_id, "started_at": utc(case.started_at),
              "deadline": utc(case.deadline) if case.deadline else None, "attempts": case.attempts,
              "data": json.dumps(case.data, ensure_ascii=False)}
    stmt = dialect_insert(conn, cases_t).values(group_key=case.group, user_id=case.user, kind=case.kind, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "user_id", "kind"], set_=values))


def get_case(conn: Connection, group: str, user: str, kind: str) -> Case | None:
    """The case, locked for this transaction (two answers at once must not both count)."""
    row = conn.execute(select(cases_t).where(_where(group, user, kind)).with_for_update()).first()
    return _case(row) if row else None


def close_case(conn: Connection, group: str, user: str, kind: str) -> bool:
    """Delete a case; False when it was not open (already closed by another event or process)."""
    return conn.execute(delete(cases_t).where(_where(group, user, kind))).rowcount > 0


def forget_member(conn: Connection, group: str, user: str, kinds: Iterable[str]) -> None:
    conn.execute(delete(cases_t).where((cases_t.c.group_key == group) & (cases_t.c.user_id == user)
                                       & cases_t.c.kind.in_(list(kinds))))


def group_cases(conn: Connection, group: str, kinds: Iterable[str], lock: bool = False) -> list[Case]:
    """The group's open cases of these kinds, oldest first; ``lock``: locked for this transaction (a sweep
    that updates them must not run twice at once in two processes)."""
    stmt = select(cases_t).where((cases_t.c.group_key == group) & cases_t.c.kind.in_(list(kinds)))
    stmt = stmt.order_by(cases_t.c.started_at, cases_t.c.user_id)
    return [_case(r) for r in conn.execute(stmt.with_for_update() if lock else stmt)]


def case_users(conn: Connection, kinds: Iterable[str]) -> dict[str, set[str]]:
    """Who has an open case of these kinds, per group (groups where nobody has one are left out)."""
    found: dict[str, set[str]] = {}
    for group, user in conn.execute(select(cases_t.c.group_key, cases_t.c.user_id).where(cases_t.c.kind.in_(list(kinds)))):
        found.setdefault(group, set()).add(user)
    return found


def member_kinds(conn: Connection, group: str, user: str, kinds: Iterable[str]) -> set[str]:
    """Which of these kinds of case ``user`` has open in ``group``."""
    stmt = select(cases_t.c.kind).where((cases_t.c.group_key == group) & (cases_t.c.user_id == user)
                                        & cases_t.c.kind.in_(list(kinds)))
    return set(conn.scalars(stmt))


def open_cases(conn: Connection, kinds: Iterable[str]) -> list[Case]:
    """Every open case of these kinds, in every group."""
    stmt = select(cases_t).where(cases_t.c.kind.in_(list(kinds)))
    return [_case(r) for r in conn.execute(stmt.order_by(cases_t.c.group_key, cases_t.c.started_at))]


# ----------------------------------------------------------------------------- failed attempts


def add_strike(conn: Connection, group: str, user: str, at: datetime) -> int:
    """Count one more failure for ``user`` in ``group``; returns their total."""
    stmt = dialect_insert(conn, strikes_t).values(group_key=group, user_id=user, failures=1, last_at=utc(at))
    stmt = stmt.on_conflict_do_update(index_elements=["group_key", "user_id"],
                                      set_={"failures": strikes_t.c.failures + 1, "last_at": utc(at)})
    return conn.execute(stmt.returning(strikes_t.c.failures)).scalar_one()


def strikes(conn: Connection, group: str, user: str) -> int:
    where = (strikes_t.c.group_key == group) & (strikes_t.c.user_id == user)
    return conn.execute(select(strikes_t.c.failures).where(where)).scalar_one_or_none() or 0


# ----------------------------------------------------------------------------- tags


def save_tags(conn: Connection, group: str, user: str, name: str, tags: dict[str, str], at: datetime) -> None:
    """Store an introduction's fields as the member's tags (a later introduction replaces them)."""
    for tag, value in tags.items():
        values = {"value": value[:200], "name": name, "updated_at": utc(at)}
        stmt = dialect_insert(conn, tags_t).values(group_key=group, user_id=user, tag=tag, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "user_id", "tag"], set_=values))


def member_tags(conn: Connection, group: str, user: str) -> dict[str, str]:
    rows = conn.execute(select(tags_t.c.tag, tags_t.c.value).where((tags_t.c.group_key == group) & (tags_t.c.user_id == user)))
    return {r.tag: r.value for r in rows}


def _contains(text: str) -> str:
    """A LIKE pattern for "contains ``text``" with LIKE's own wildcards (and the escape) taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_members(conn: Connection, group: str, text: str, limit: int) -> list[dict]:
    """Members with a tag whose value contains ``text`` (case-insensitive), each with all their tags."""
    like = func.lower(tags_t.c.value).like(_contains(text.lower()), escape="\\")
    hits = (select(tags_t.c.user_id).where((tags_t.c.group_key == group) & like)
            .distinct().order_by(tags_t.c.user_id).limit(limit))
    users = list(conn.scalars(hits))
    stmt = (select(tags_t.c.user_id, tags_t.c.name, tags_t.c.tag, tags_t.c.value)
            .where((tags_t.c.group_key == group) & tags_t.c.user_id.in_(users)).order_by(tags_t.c.user_id, tags_t.c.tag))
    found: dict[str, dict] = {}
    for row in conn.execute(stmt):
        entry = found.setdefault(row.user_id, {"user": row.user_id, "name": row.name, "tags": {}})
        entry["tags"][row.tag] = row.value
    return list(found.values())


def tag_summary(conn: Connection, group: str, per_tag: int) -> dict[str, list[tuple[str, int]]]:
    """For each tag, its most common values and how many members have each."""
    n = func.count().label("n")
    stmt = (select(tags_t.c.tag, tags_t.c.value, n).where(tags_t.c.group_key == group)
            .group_by(tags_t.c.tag, tags_t.c.value).order_by(tags_t.c.tag, n.desc(), tags_t.c.value))
    out: dict[str, list[tuple[str, int]]] = {}
    for row in conn.execute(stmt):
        values = out.setdefault(row.tag, [])
        if len(values) < per_tag:
            values.append((row.value, row.n))
    return out


# ----------------------------------------------------------------------------- prompts (no nagging)


# Built once: the nickname plugin asks this the first time it sees each member speak.
_last_prompt = select(prompts_t.c.last_at).where(
    (prompts_t.c.group_key == bindparam("g")) & (prompts_t.c.user_id == bindparam("u")) & (prompts_t.c.kind == bindparam("k")))


def last_prompt(conn: Connection, group: str, user: str, kind: str) -> datetime | None:
    return aware(conn.execute(_last_prompt, {"g": group, "u": user, "k": kind}).scalar_one_or_none())


# Asked once per group on the group's first message (bot.store.sql: SQLAlchemy's overhead was most of it).
_PROMPTED = Sql("SELECT user_id FROM prompt_cooldowns WHERE group_key = :group_key AND kind = :kind")


def prompted_users(conn: Connection, group: str, kind: str) -> set[str]:
    """Everyone in ``group`` with a prompt of ``kind`` on record."""
    return {user for (user,) in _PROMPTED.rows(conn, {"group_key": group, "kind": kind})}


def mark_prompt(conn: Connection, group: str, user: str, kind: str, at: datetime, keep_first: bool = False) -> datetime:
    """Record a prompt of ``kind`` at ``at`` (or, with ``keep_first``, only the first one); returns the stored time."""
    stmt = dialect_insert(conn, prompts_t).values(group_key=group, user_id=user, kind=kind, last_at=utc(at))
    index = ["group_key", "user_id", "kind"]
    stmt = stmt.on_conflict_do_nothing(index_elements=index) if keep_first else stmt.on_conflict_do_update(
        index_elements=index, set_={"last_at": utc(at)})
    conn.execute(stmt)
    return last_prompt(conn, group, user, kind)
