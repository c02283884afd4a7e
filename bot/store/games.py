"""Game state per group and game, as JSON, locked for the transaction that changes it."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, Table, delete, select

from bot.store.repos import dialect_insert, utc
from bot.store.tables import GameState

games_t: Table = GameState.__table__


def load_game(conn: Connection, group: str, game: str) -> dict | None:
    where = (games_t.c.group_key == group) & (games_t.c.game == game)
    row = conn.execute(select(games_t.c.state).where(where).with_for_update()).first()
    return json.loads(row.state) if row else None


def save_game(conn: Connection, group: str, game: str, state: dict, now: datetime) -> None:
    text = json.dumps(state, ensure_ascii=False)
    stmt = dialect_insert(conn, games_t).values(group_key=group, game=game, state=text, updated_at=utc(now))
    conn.execute(stmt.on_conflict_do_update(index_elements=["group_key", "game"], set_={"state": text, "updated_at": utc(now)}))


def end_game(conn: Connection, group: str, game: str) -> None:
    conn.execute(delete(games_t).where((games_t.c.group_key == group) & (games_t.c.game == game)))


def running_games(conn: Connection, game: str) -> dict[str, dict]:
    """Every group's running ``game`` (for re-arming timers after a restart)."""
    return {row.group_key: json.loads(row.state) for row in conn.execute(select(games_t).where(games_t.c.game == game))}
