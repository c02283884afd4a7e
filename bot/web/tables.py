"""The web console's tables: one-time login links (from /后台) and sessions. Tokens are stored as their
SHA-256 only: a copy of the database lets nobody log in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables import Base, UtcDateTime


class WebLink(Base):
    """A one-time login link: who asked for it, in which group, with which role there."""

    __tablename__ = "web_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    who: Mapped[str] = mapped_column(String(200))  # "<platform>:<user id>"
    name: Mapped[str] = mapped_column(String(200), default="")
    group_key: Mapped[str] = mapped_column(String(200))  # "*": every group (a bot admin from config)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class WebSession(Base):
    """A logged-in browser: its groups (JSON ``{group: role}``, ``{"*": "owner"}`` for operators) and its
    CSRF token."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    who: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    groups: Mapped[str] = mapped_column(Text)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
