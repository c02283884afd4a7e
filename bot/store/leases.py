"""Lease rows (PostgreSQL): who owns a key (a group, an account) until when. Times are the database's
own (``now()``), so the processes' clocks never have to agree.

One statement renews what a process holds and takes what has expired, for all its keys at once; keys go
in sorted order, so that two processes taking overlapping sets lock rows in the same order.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# Renew the keys this owner holds and take those that are free or expired; the keys returned are the
# ones the owner holds now. ``make_interval`` keeps the lease length a parameter.
_TAKE = text(
    "INSERT INTO leases (key, owner, expires_at, taken_at)"
    " SELECT k, :owner, now() + make_interval(secs => :ttl), now() FROM unnest(CAST(:keys AS text[])) AS k"
    " ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,"
    " taken_at = CASE WHEN leases.owner = EXCLUDED.owner THEN leases.taken_at ELSE EXCLUDED.taken_at END"
    " WHERE leases.owner = EXCLUDED.owner OR leases.expires_at < now()"
    " RETURNING key")
_RELEASE = text("DELETE FROM leases WHERE owner = :owner AND key = ANY(CAST(:keys AS text[]))")
_OWNERS = text("SELECT key, owner, expires_at > now() AS live FROM leases WHERE key = ANY(CAST(:keys AS text[]))")


def take_leases(conn: Connection, owner: str, keys: list[str], ttl: float) -> set[str]:
    """Renew or take ``keys`` for ``owner`` for ``ttl`` seconds; the keys it holds now."""
    if not keys:
        return set()
    return set(conn.execute(_TAKE, {"owner": owner, "keys": sorted(keys), "ttl": ttl}).scalars())


def release_leases(conn: Connection, owner: str, keys: list[str]) -> int:
    """Give ``keys`` up at once (a clean stop): the next process need not wait for them to expire."""
    return conn.execute(_RELEASE, {"owner": owner, "keys": sorted(keys)}).rowcount


def lease_owners(conn: Connection, keys: list[str]) -> dict[str, str]:
    """``{key: owner}`` of the live leases among ``keys``."""
    return {row.key: row.owner for row in conn.execute(_OWNERS, {"keys": list(keys)}) if row.live}
