"""Moderation storage: offences (the ladder counts them), admin-marked samples, the decision log, and
the mute-window state of each group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, func, select, update

from bot.store.repos import dialect_insert, utc
from bot.store.sql import Sql, as_datetime
from bot.store.tables import ModLogEntry, ModSample, MuteWindowState, Offence

offences_t: Table = Offence.__table__
samples_t: Table = ModSample.__table__
log_t: Table = ModLogEntry.__table__
windows_t: Table = MuteWindowState.__table__


# SQL text (bot.store.sql): every ad and flood runs these, and SQLAlchemy's per-statement overhead
# cost several times their execution. Inserts ignore a row that is there already: another process
# sharing the database saw the same message.
# The offence and the member's count in one statement (a statement less per offence, a round trip less
# on PostgreSQL). The count leaves the new row out by its id and adds it: a subquery of RETURNING sees
# the statement's own row on SQLite but not on PostgreSQL (it reads the snapshot from before the insert).
_ADD_OFFENCE = Sql("INSERT INTO mod_offences (group_key, user_id, message_id, detector, at)"
                   " VALUES (:group_key, :user_id, :message_id, :detector, :at) ON CONFLICT DO NOTHING"
                   " RETURNING 1 + (SELECT count(*) FROM mod_offences AS earlier"
                   " WHERE earlier.group_key = :group_key AND earlier.user_id = :user_id AND earlier.at >= :since"
                   " AND earlier.id <> mod_offences.id"
                   " AND CASE WHEN earlier.detector IN ('flood', 'repeat') THEN 1 ELSE 0 END = :flood)")
# Floods and ads climb ladders of their own: a flood never counts toward the ad ladder, nor an ad toward the
# flood one. (The detectors of flood control are "flood" and "repeat".)
FLOOD_DETECTORS = ("flood", "repeat")
_LOG_COLUMNS = tuple(c.name for c in log_t.columns if c.name != "id")
_LOG_KEYS = frozenset(_LOG_COLUMNS)
_INSERT_LOG = Sql(f"INSERT INTO mod_log ({', '.join(_LOG_COLUMNS)})"
                  f" VALUES ({', '.join(':' + c for c in _LOG_COLUMNS)}) ON CONFLICT DO NOTHING")


def add_offence(conn: Connection, group: str, user: str, message: str, detector: str, at: datetime, since: datetime) -> int | None:
    """Record an offence and return how many the member has of its kind (floods, or the rest) since
    ``since`` (this one included: ``since`` is not after ``at``); None when this message's offence is recorded already (another process sharing
    the database saw it)."""
    row = {"group_key": group, "user_id": user, "message_id": message, "detector": detector, "at": utc(at), "since": utc(since),
           "flood": int(detector in FLOOD_DETECTORS)}
    added = _ADD_OFFENCE.first(conn, row)
    return None if added is None else added[0]


def drop_offence(conn: Connection, group: str, user: str, message: str | None) -> int:
    """Forget the offence for ``message`` (or the member's latest one); how many rows went."""
    where = (offences_t.c.group_key == group) & (offences_t.c.user_id == user)
    if message:
        where &= offences_t.c.message_id == message
    else:
        latest = select(func.max(offences_t.c.id)).where(where).scalar_subquery()
        where = offences_t.c.id == latest
    return conn.execute(delete(offences_t).where(where)).rowcount


def add_sample(conn: Connection, group: str, kind: str, text: str, message: str, by: str, at: datetime) -> int:
    row = dict(group_key=group, kind=kind, text=text, message_id=message, added_by=by, at=utc(at))
    return conn.execute(samples_t.insert().values(**row).returning(samples_t.c.id)).scalar_one()


def drop_samples(conn: Connection, group: str, kind: str, message: str) -> list[int]:
    where = (samples_t.c.group_key == group) & (samples_t.c.kind == kind) & (samples_t.c.message_id == message)
    ids = list(conn.scalars(select(samples_t.c.id).where(where)))
    conn.execute(delete(samples_t).where(where))
    return ids


_SAMPLE_COLUMNS = tuple(c.name for c in samples_t.columns)
# Read once per group on the group's first message (bot.store.sql).
_LOAD_SAMPLES = Sql(f"SELECT {', '.join(_SAMPLE_COLUMNS)} FROM mod_samples WHERE group_key = :group_key ORDER BY id")


def load_samples(conn: Connection, group: str) -> list[dict]:
    rows = [dict(zip(_SAMPLE_COLUMNS, row)) for row in _LOAD_SAMPLES.rows(conn, {"group_key": group})]
    for row in rows:
        row["at"] = as_datetime(row["at"])
    return rows


def log_decision(conn: Connection, **entry) -> bool:
    """Log a decision; False when this message's decision by this plugin is logged already."""
    entry["at"] = utc(entry["at"])
    entry.setdefault("dry_run", False)
    if not _LOG_KEYS.issuperset(entry):  # the statement would not name them; a typo must fail as .values() would
        raise TypeError(f"log_decision: unknown columns {sorted(set(entry) - _LOG_KEYS)}")
    return _INSERT_LOG.run(conn, entry) > 0


def decisions(conn: Connection, group: str) -> list[dict]:
    rows = conn.execute(select(log_t).where(log_t.c.group_key == group).order_by(log_t.c.id))
    return [dict(r._mapping) for r in rows]


def last_decision(conn: Connection, group: str, message: str | None, user: str | None) -> dict | None:
    """The latest punishing decision about ``message`` (or else about ``user``) that was not undone."""
    where = (log_t.c.group_key == group) & ~log_t.c.decision.startswith("undone") & (log_t.c.dry_run.is_(False))
    where &= (log_t.c.message_id == message) if message else (log_t.c.user_id == user)
    row = conn.execute(select(log_t).where(where).order_by(log_t.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def undo_decision(conn: Connection, entry: int) -> None:
    """Mark a decision as undone (``/notad``); the row stays, for the record."""
    conn.execute(update(log_t).where(log_t.c.id == entry).values(decision="undone " + log_t.c.decision))


# ----------------------------------------------------------------------------- mute windows


def window_state(conn: Connection, group: str) -> dict:
    """The group's mute-window state, locked for this transaction (a fresh default if none)."""
    row = conn.execute(select(windows_t).where(windows_t.c.group_key == group).with_for_update()).first()
    if row is None:
        return {"group_key": group, "muted": False, "adhoc_until": None, "held": False}
    return dict(row._mapping)


def save_window_state(conn: Connection, state: dict, at: datetime) -> None:
    values = {k: state[k] for k in ("muted", "adhoc_until", "held")}
    if values["adhoc_until"] is not None:
        values["adhoc_until"] = utc(values["adhoc_until"])
    values["changed_at"] = utc(at)
    stmt = dialect_insert(conn, windows_t).values(group_key=state["group_key"], **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key"], set_=values))
