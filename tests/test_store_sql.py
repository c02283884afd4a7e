"""The store's fast path: hot statements as SQL text on the driver's connection (bot.store.sql), the
SQLite transaction ``Store.run`` keeps on that connection, and the WAL checkpoints of bot.store.checkpoint.
What the fast path writes must read back through SQLAlchemy exactly as SQLAlchemy's own writes do, and
the other way round, on both databases."""

import asyncio
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select, text

from bot.store import Store
from bot.store.admission import mark_prompt, prompted_users
from bot.store.checkins import AlreadyCheckedIn, check_in, checkins_t, todays_checkin
from bot.store.moderation import add_offence, add_sample, load_samples, offences_t, samples_t
from bot.store.points import award, ledger_t, members_t, standing
from bot.store.repos import bump_counter, claim_slot, counters_t

AT = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=timezone.utc)


def naive_utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None)


async def test_fast_writes_read_back_through_sqlalchemy(store):
    result = await store.run(check_in, "g1", "u1", "小王", AT.date(), AT, lambda streak: 10)
    row = (await store.run(lambda c: c.execute(select(checkins_t)).one()))._mapping
    assert row["day"] == AT.date() and row["rank"] == result.rank == 1
    assert naive_utc(row["at"]) == naive_utc(AT)  # SQLite keeps no zone; the instant is the same
    entry = (await store.run(lambda c: c.execute(select(ledger_t)).one()))._mapping
    assert (entry["delta"], naive_utc(entry["at"])) == (10, naive_utc(AT))
    assert await store.run(todays_checkin, "g1", "u1", AT.date()) == result


async def test_sqlalchemy_writes_are_found_by_fast_reads(store):
    # Times compare as stored text on SQLite: both paths must write the same text to the microsecond.
    row = dict(group_key="g1", user_id="u1", message_id="m0", detector="x", at=AT)
    await store.run(lambda c: c.execute(insert(offences_t).values(**row)))
    assert await store.run(add_offence, "g1", "u1", "m1", "x", AT, AT) == 2
    later = AT + timedelta(microseconds=1)
    assert await store.run(add_offence, "g1", "u1", "m2", "x", later, later) == 1
    assert await store.run(add_offence, "g1", "u1", "m1", "x", AT, AT) is None  # once per message
    await store.run(lambda c: c.execute(insert(counters_t).values(group_key="g1", day=date(2026, 11, 23), counter="c", n=5)))
    assert await store.run(bump_counter, "g1", date(2026, 11, 23), "c") == 6


async def test_fast_reads_return_what_sqlalchemy_reads(store):
    await store.run(add_sample, "g1", "ad", "加微信", "m1", "admin", AT)
    await store.run(add_sample, "g1", "notad", "加油", "m2", "admin", AT)
    await store.run(mark_prompt, "g1", "u1", "seen", AT)
    expected = await store.run(lambda c: [dict(r._mapping) for r in c.execute(select(samples_t).order_by(samples_t.c.id))])
    assert await store.run(load_samples, "g1") == expected and len(expected) == 2
    assert await store.run(load_samples, "g2") == []
    assert await store.run(prompted_users, "g1", "seen") == {"u1"}


async def test_a_second_checkin_is_refused_by_the_key(store):
    await store.run(check_in, "g1", "u1", "小王", AT.date(), AT, lambda streak: 10)
    # The member row says nothing of today (as if another process had not written it yet): the key refuses.
    await store.run(lambda c: c.execute(text("UPDATE members SET last_checkin = NULL")))
    with pytest.raises(AlreadyCheckedIn):
        await store.run(check_in, "g1", "u1", "小王", AT.date(), AT, lambda streak: 10)
    assert await store.run(lambda c: c.execute(select(func.count()).select_from(checkins_t)).scalar_one()) == 1
    assert await store.run(lambda c: c.execute(select(counters_t.c.n)).scalar_one()) == 1  # the rank rolled back


async def test_run_commits_on_return_and_rolls_back_on_raise(store):
    def fast_then_fail(conn):
        award(conn, "g1", "u1", "小王", 5, "test", "r", AT)
        raise RuntimeError

    def mixed_then_fail(conn):
        claim_slot(conn, "job", "g1", AT, AT)
        conn.execute(insert(counters_t).values(group_key="g1", day=AT.date(), counter="c", n=1))
        raise RuntimeError

    for fn in (fast_then_fail, mixed_then_fail):
        with pytest.raises(RuntimeError):
            await store.run(fn)
    assert await store.run(award, "g1", "u1", "小王", 3, "test", "r", AT) == 3
    assert await store.run(claim_slot, "job", "g1", AT, AT) is True
    assert await store.run(claim_slot, "job", "g1", AT, AT) is False
    counts = await store.run(lambda c: c.execute(select(func.count()).select_from(counters_t)).scalar_one())
    assert counts == 0


async def test_checkpoints_copy_the_log_into_the_database_file(tmp_path):
    path = tmp_path / "ckpt.db"
    store = await Store.open(f"sqlite:///{path}")
    try:
        await store.run(award, "g1", "u0", "x", 1, "test", "r", AT)
        before = path.stat().st_size
        for i in range(300):  # a few hundred pages of log, far below the loop's own backstop checkpoint
            await store.run(award, "g1", f"u{i}", "名" * 100, 1, "test", "r" * 90, AT)
        for _ in range(200):
            if path.stat().st_size > before:
                break
            await asyncio.sleep(0.02)
        assert path.stat().st_size > before
    finally:
        await store.close()
    assert store._checkpointer is None


async def test_a_members_standing_reads_as_sqlalchemy_reads_it(store):
    def through_sqlalchemy(conn, group, user):
        row = conn.execute(select(members_t).where((members_t.c.group_key == group) & (members_t.c.user_id == user))).first()
        return dict(row._mapping) if row else None

    await store.run(award, "g1", "u1", "小王", 5, "test", "why", AT)  # a member who never checked in
    await store.run(check_in, "g1", "u2", "小李", AT.date(), AT, lambda streak: 10)
    await store.run(check_in, "g1", "u2", "小李", AT.date() + timedelta(days=1), AT + timedelta(days=1), lambda streak: 12)
    for user in ("u1", "u2", "nobody"):
        fast, plain = await store.run(standing, "g1", user), await store.run(through_sqlalchemy, "g1", user)
        assert fast == plain and list(fast or ()) == list(plain or ())
        assert fast is None or {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in plain.items()}
    assert (await store.run(standing, "g1", "u2"))["last_checkin"] == AT.date() + timedelta(days=1)


def test_sqlite_parameters_convert_dates_as_a_plain_comprehension_does():
    """``_for_sqlite`` skips the common non-date types and copies only when there is a date: on random
    parameters it gives what converting every value would, and leaves the caller's dict alone."""
    import random
    from collections import OrderedDict
    from datetime import timedelta as span
    from decimal import Decimal

    from bot.store.sql import _for_sqlite, _stored

    class Day(date):
        pass

    class Moment(datetime):
        pass

    rng = random.Random(9)
    makers = [lambda: "2026-11-23", lambda: rng.randint(-5, 5), lambda: rng.random(), lambda: rng.random() < 0.5,
              lambda: b"x", lambda: None, lambda: Decimal("1.5"), lambda: AT.date() + span(days=rng.randint(0, 99)),
              lambda: AT + span(seconds=rng.randint(0, 10**6)), lambda: (AT + span(hours=3)).replace(tzinfo=None),
              lambda: Day(2026, 1, rng.randint(1, 31)), lambda: Moment(2026, 1, 2, 3, 4, 5, rng.randint(0, 999999))]
    for _ in range(2000):
        params = {f"p{i}": rng.choice(makers)() for i in range(rng.randint(0, 8))}
        before = dict(params)
        plain = {k: _stored(v) if isinstance(v, date) else v for k, v in params.items()}
        converted = _for_sqlite(params)
        assert converted == plain and type(converted) is dict and params == before
        assert list(converted) == list(plain)
    assert type(_for_sqlite(OrderedDict(a=1))) is dict
