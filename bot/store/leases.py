"""Lease rows (PostgreSQL): which owner holds a key (a group, an account), and each owner's heartbeat.
A key's lease lasts while its owner's heartbeat does, so an owner renews one row however many groups it
holds. Times are the database's own (``now()``): the processes' clocks never have to agree.

What must stay true: a key passes to another owner only when its owner's heartbeat has expired (or the
owner released it), and an owner whose heartbeat lapsed learns, at its next renewal, which of its keys
it still holds. The transaction runs at REPEATABLE READ: a taker whose snapshot is older than a lease
row's latest change (an owner just created, or one that came back and re-stamped its keys) fails with a
serialization error instead of taking it, and tries again on a fresh snapshot (``SERIALIZATION``).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# The owner's heartbeat: whether it was alive until now (no row: a new owner), then renewed.
_WAS_ALIVE = text("SELECT expires_at > now() FROM lease_owners WHERE owner = CAST(:owner AS varchar) FOR UPDATE")
_BEAT = text(
    "INSERT INTO lease_owners (owner, expires_at) VALUES (CAST(:owner AS varchar), now() + make_interval(secs => :ttl))"
    " ON CONFLICT (owner) DO UPDATE SET expires_at = EXCLUDED.expires_at")
# Which of the keys we held are still ours (after a lapse). An update, not a read: a taker that read our
# heartbeat as expired before this commits must fail on the new row version rather than take the key.
_STILL_MINE = text("UPDATE leases SET taken_at = taken_at WHERE owner = CAST(:owner AS varchar)"
                   " AND key = ANY(CAST(:keys AS text[])) RETURNING key")
_REPEATABLE = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
# SQLSTATEs that mean "try again": serialization failure, deadlock.
SERIALIZATION = frozenset({"40001", "40P01"})
# A key is free when nobody holds it, or its holder's heartbeat has expired or gone. Only free keys are
# written (a read first: keys held by live owners are not even locked).
_FREE = ("NOT EXISTS (SELECT 1 FROM lease_owners AS o WHERE o.owner = {holder} AND o.expires_at > now())")
_TAKE = text(
    "INSERT INTO leases (key, owner, taken_at)"
    " SELECT k, CAST(:owner AS varchar), now() FROM unnest(CAST(:keys AS text[])) AS k"
    " WHERE NOT EXISTS (SELECT 1 FROM leases AS l WHERE l.key = k AND l.owner <> CAST(:owner AS varchar) AND NOT "
    + _FREE.format(holder="l.owner") + ")"
    " ORDER BY k"
    " ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, taken_at = EXCLUDED.taken_at"
    " WHERE leases.owner = EXCLUDED.owner OR " + _FREE.format(holder="leases.owner") +
    " RETURNING key")
_RELEASE = text("DELETE FROM leases WHERE owner = :owner AND key = ANY(CAST(:keys AS text[]))")
_GONE = text("DELETE FROM lease_owners WHERE owner = :owner")
_HOLDERS = text("SELECT l.key, l.owner FROM leases AS l JOIN lease_owners AS o ON o.owner = l.owner"
                " WHERE l.key = ANY(CAST(:keys AS text[])) AND o.expires_at > now()")


def take_leases(conn: Connection, owner: str, held: list[str], wanted: list[str], ttl: float) -> set[str]:
    """Renew ``owner``'s heartbeat for ``ttl`` seconds and take the free keys among ``wanted``; the keys
    among ``held`` and ``wanted`` it holds now. Must be the transaction's first statement (its isolation)."""
    conn.execute(_REPEATABLE)
    alive = bool(conn.execute(_WAS_ALIVE, {"owner": owner}).scalar())
    conn.execute(_BEAT, {"owner": owner, "ttl": ttl})
    if alive or not held:
        mine = set(held)
    else:  # our heartbeat lapsed: another process may have taken some
        mine = set(conn.execute(_STILL_MINE, {"owner": owner, "keys": sorted(held)}).scalars())
    if wanted:
        mine |= set(conn.execute(_TAKE, {"owner": owner, "keys": sorted(wanted)}).scalars())
    return mine


def must_retry(exc: BaseException) -> bool:
    """Whether a failed ``take_leases`` lost a race (serialization failure, deadlock) and is to be tried again."""
    orig = getattr(exc, "orig", None)
    return (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) in SERIALIZATION


def release_leases(conn: Connection, owner: str, keys: list[str]) -> int:
    """Give ``keys`` up at once (a clean stop): the others take them at their next renewal."""
    return conn.execute(_RELEASE, {"owner": owner, "keys": sorted(keys)}).rowcount


def end_owner(conn: Connection, owner: str) -> None:
    """The owner stops: whatever it still holds is free now."""
    conn.execute(_GONE, {"owner": owner})


def lease_holders(conn: Connection, keys: list[str]) -> dict[str, str]:
    """``{key: owner}`` of the live leases among ``keys``."""
    return {row.key: row.owner for row in conn.execute(_HOLDERS, {"keys": list(keys)})}
