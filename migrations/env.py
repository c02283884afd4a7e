"""Alembic environment. Qunbot runs migrations itself (on start, and with `qunbot db upgrade`) and hands
Alembic an open connection, so the same code serves SQLite and PostgreSQL (asyncpg)."""

from alembic import context

from bot.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `qunbot db upgrade [--config FILE]`, not with alembic directly")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
