"""The offence statement (bot.store.moderation.add_offence) inserts and counts in one statement; it must
count as the plain way does, an insert and then a count of the member's offences since the decay, on
SQLite and on PostgreSQL, whatever the order of members, messages and times."""

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.store.moderation import FLOOD_DETECTORS, add_offence, log_decision, offences_t

AT = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=timezone.utc)


def plain_add_offence(conn, group, user, message, detector, at, since):
    """Through SQLAlchemy, one statement at a time: insert (or not), then count the offences of its kind
    (floods, or the rest: they climb ladders of their own)."""
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(offences_t)
    row = dict(group_key=group, user_id=user, message_id=message, detector=detector, at=at.astimezone(timezone.utc))
    if conn.execute(insert.values(**row).on_conflict_do_nothing()).rowcount == 0:
        return None
    where = (offences_t.c.group_key == group) & (offences_t.c.user_id == user) & (offences_t.c.at >= since.astimezone(timezone.utc))
    flood = offences_t.c.detector.in_(FLOOD_DETECTORS)
    where &= flood if detector in FLOOD_DETECTORS else ~flood
    return conn.execute(select(func.count()).select_from(offences_t).where(where)).scalar_one()


async def test_offences_count_as_the_plain_way(store):
    # Each step runs on a "fast" and a "plain" copy of the same group, so the two never see each other's rows.
    rng = random.Random(3)
    at, seen = AT, set()
    for step in range(400):
        at += timedelta(seconds=rng.choice([0, 1, 60, 3600, 20 * 3600, 40 * 3600]))
        user, group = f"u{rng.randrange(4)}", f"g{rng.randrange(2)}"
        # Repeated message ids (another process saw the message) and empty ones (no id: never unique).
        message = rng.choice(["", f"m{step}", f"m{rng.randrange(step + 1)}"])
        since = at - timedelta(hours=rng.choice([1, 24, 72]))
        detector = rng.choice(["contact_id", "learned", "flood", "repeat"])
        fast = await store.run(add_offence, f"fast:{group}", user, message, detector, at, since)
        plain = await store.run(plain_add_offence, f"plain:{group}", user, message, detector, at, since)
        assert fast == plain, (step, user, message)
        seen.add(fast if fast is None else min(fast, 3))
    assert seen == {None, 1, 2, 3}  # repeats, first offences and members with several all came up


async def test_a_logged_message_is_logged_once(store):
    entry = dict(at=AT, group_key="g1", user_id="u1", message_id="m1", plugin="anti_ad", detector="x",
                 matched="x", text="t", decision="warn")
    assert await store.run(lambda conn: log_decision(conn, **entry)) is True
    assert await store.run(lambda conn: log_decision(conn, **entry)) is False
    with pytest.raises(TypeError, match="unknown columns"):
        await store.run(lambda conn: log_decision(conn, **entry, typo=1))
