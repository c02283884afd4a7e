"""Content rotation state: per group and rotation, which pass through the list and how far into it."""

from __future__ import annotations

from sqlalchemy import Connection, Table, select

from bot.store.repos import dialect_insert
from bot.store.tables import RotationState

rotation_t: Table = RotationState.__table__


def take_position(conn: Connection, group: str, rotation: str, size: int, advance: bool) -> tuple[int, int]:
    """The (cycle, position) of the next item of a list of ``size`` items, moving on when ``advance``.

    The row is locked for the transaction on PostgreSQL (FOR UPDATE), so two processes never hand out
    the same position; a finished pass starts the next cycle.
    """
    where = (rotation_t.c.group_key == group) & (rotation_t.c.rotation == rotation)
    row = conn.execute(select(rotation_t.c.cycle, rotation_t.c.position).where(where).with_for_update()).first()
    cycle, position = (row.cycle, row.position) if row else (0, 0)
    if position >= size:  # the list shrank, or the pass is over
        cycle, position = cycle + 1, 0
    if advance:
        stmt = dialect_insert(conn, rotation_t).values(group_key=group, rotation=rotation, cycle=cycle, position=position + 1)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["group_key", "rotation"], set_={"cycle": cycle, "position": position + 1}))
    return cycle, position
