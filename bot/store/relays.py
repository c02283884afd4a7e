"""Live relays (多群转播): the running ones, their transcripts, and the per-target delivery counts."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, Table, case, func, insert, select, update

from bot.receipts import receipts_t
from bot.store.repos import dialect_insert, utc
from bot.store.tables import Relay, RelayMessage

relays_t: Table = Relay.__table__
lines_t: Table = RelayMessage.__table__


def _relay(row) -> dict:
    found = dict(row._mapping)
    for key in ("targets", "speakers", "refused"):
        found[key] = json.loads(found[key])
    return found


def start_relay(conn: Connection, source: str, set_name: str, targets: list[str], refused: dict[str, str],
                speakers: list[str], questions: bool, by: str, at: datetime) -> int | None:
    """A new running relay from ``source``; None when one runs there already."""
    stmt = dialect_insert(conn, relays_t).values(
        source_group=source, set_name=set_name, targets=json.dumps(targets, ensure_ascii=False),
        refused=json.dumps(refused, ensure_ascii=False), speakers=json.dumps(speakers, ensure_ascii=False),
        questions=questions, started_by=by, started_at=utc(at), status="running")
    found = conn.execute(stmt.on_conflict_do_nothing().returning(relays_t.c.id)).first()
    return found[0] if found else None


def running_relays(conn: Connection) -> list[dict]:
    return [_relay(row) for row in conn.execute(select(relays_t).where(relays_t.c.status == "running"))]


def latest_relay(conn: Connection, source: str) -> dict | None:
    row = conn.execute(select(relays_t).where(relays_t.c.source_group == source).order_by(relays_t.c.id.desc()).limit(1)).first()
    return _relay(row) if row else None


def set_speakers(conn: Connection, relay: int, speakers: list[str]) -> None:
    conn.execute(update(relays_t).where(relays_t.c.id == relay).values(speakers=json.dumps(speakers, ensure_ascii=False)))


def stop_relay(conn: Connection, relay: int, at: datetime) -> bool:
    """False when it was stopped already (by another process that saw the same command)."""
    return conn.execute(update(relays_t).where((relays_t.c.id == relay) & (relays_t.c.status == "running"))
                        .values(status="stopped", stopped_at=utc(at))).rowcount == 1


def add_line(conn: Connection, relay: int, group: str, message: str, user: str, name: str, kind: str, text: str,
             at: datetime) -> int:
    return conn.execute(insert(lines_t).values(relay_id=relay, group_key=group, message_id=message, user_id=user,
                                               name=name[:200], kind=kind, text=text, at=utc(at))).inserted_primary_key[0]


def line_of_message(conn: Connection, relay: int, group: str, message: str) -> dict | None:
    row = conn.execute(select(lines_t).where((lines_t.c.relay_id == relay) & (lines_t.c.group_key == group)
                                             & (lines_t.c.message_id == message))).first()
    return dict(row._mapping) if row else None


def transcript(conn: Connection, relay: int) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(lines_t).where(lines_t.c.relay_id == relay).order_by(lines_t.c.id))]


def delivery_counts(conn: Connection, relay: int) -> dict[str, tuple[int, int, str]]:
    """group -> (delivered, failed, the latest problem) over the relay's messages (receipts ``relay:<id>:<line>``)."""
    query = (select(receipts_t.c.group_key, func.sum(case((receipts_t.c.ok, 1), else_=0)),
                    func.sum(case((receipts_t.c.ok, 0), else_=1)), func.max(receipts_t.c.problem))
             .where(receipts_t.c.receipt.like(f"relay:{relay}:%")).group_by(receipts_t.c.group_key))
    return {g: (int(ok), int(bad), problem or "") for g, ok, bad, problem in conn.execute(query)}
