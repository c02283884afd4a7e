"""The database schema (SQLAlchemy 2 declarative models). Migrations under migrations/ create it.

Uniqueness that matters lives here, as keys, so that several processes sharing one PostgreSQL cannot
double-count: one check-in per member per group per day, one counter row per group/day/name.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import Boolean, Date, DateTime, Index, Integer, PrimaryKeyConstraint, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """A moment in time, stored in UTC and always read back aware (UTC) on both databases. SQLite keeps
    no zone: SQLAlchemy would write an aware value's local fields as they are and read them back naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime ({value}) cannot be stored: its zone is unknown")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


# The check-in tables are stored on SQLite WITHOUT ROWID (migration 0009): each row is then one B-tree
# write, not one in the rowid table and one in the key's index. PostgreSQL ignores the option.
_CLUSTERED = {"sqlite_with_rowid": False}


class Group(Base):
    """A group the bot has seen, so that scheduled jobs know where to go after a restart."""

    __tablename__ = "groups"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Member(Base):
    """A member's standing in one group (check-in streak and points)."""

    __tablename__ = "members"
    __table_args__ = _CLUSTERED
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    points: Mapped[int] = mapped_column(Integer, default=0)
    checkin_days: Mapped[int] = mapped_column(Integer, default=0)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    best_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_checkin: Mapped[date | None] = mapped_column(Date, nullable=True)


class Checkin(Base):
    """One check-in; the key makes a second one on the same day (group timezone) impossible."""

    __tablename__ = "checkins"
    # Day before user: the key also serves "this group since that day" (the leaderboard).
    __table_args__ = (PrimaryKeyConstraint("group_key", "day", "user_id"), _CLUSTERED)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    rank: Mapped[int] = mapped_column(Integer)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    # The platform's id of the message that made it: the same message sent again is this check-in.
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)


class DailyCounter(Base):
    """A per-group, per-day counter incremented atomically (today's check-in rank, for one)."""

    __tablename__ = "daily_counters"
    __table_args__ = _CLUSTERED
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counter: Mapped[str] = mapped_column(String(50), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class GroupSetting(Base):
    """The owner layer of the rules: a value set with /set, as JSON."""

    __tablename__ = "group_settings"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """Who changed what setting, when, from which value to which."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    group_key: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    command: Mapped[str] = mapped_column(Text)
    plugin: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)


class ScheduleClaim(Base):
    """A scheduled job's slot for one group, claimed before it fires so that it fires once."""

    __tablename__ = "schedule_claims"
    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str] = mapped_column(String(64), default="")  # the process (Scheduler.instance)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # None: not delivered yet


class MemberDaily(Base):
    """How many messages a member sent in a group on a day (flushed in batches by bot.stats)."""

    __tablename__ = "member_daily"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    messages: Mapped[int] = mapped_column(Integer)


class RotationState(Base):
    """Where a group is in a content rotation: which pass (``cycle``) and how far into it."""

    __tablename__ = "rotation_state"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    rotation: Mapped[str] = mapped_column(String(100), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)


class PointsEntry(Base):
    """One change of a member's points; ``members.points`` is their sum, so totals can be audited."""

    __tablename__ = "points_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))
    delta: Mapped[int] = mapped_column(Integer)
    plugin: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class MemberProfile(Base):
    """What the group knows about a member beyond check-ins: birthday, join date, red packets sent."""

    __tablename__ = "member_profiles"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    birthday: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "MM-DD"
    joined_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    red_packets: Mapped[int] = mapped_column(Integer, default=0)


class GameState(Base):
    """A group's running game (JSON), so that it survives a restart."""

    __tablename__ = "game_state"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    game: Mapped[str] = mapped_column(String(50), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PromptCooldown(Base):
    """When a member was last prompted for something (a red packet …), to avoid nagging."""

    __tablename__ = "prompt_cooldowns"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AdmissionCase(Base):
    """Something a member still owes the group (admission plugins): a quiz answer, an admin's decision on
    a held join request, an introduction; or a group's pending combined welcome (``user_id`` empty).
    Stored so that a restart neither forgets a deadline nor lets anyone through."""

    __tablename__ = "admission_cases"
    __table_args__ = (Index("ix_admission_cases_deadline", "kind", "deadline"),)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    request_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[str] = mapped_column(Text, default="{}")


class AdmissionStrike(Base):
    """How often a user failed a group's joining threshold; at the rules' limit they are turned away."""

    __tablename__ = "admission_strikes"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MemberTag(Base):
    """One field of a member's introduction (city, industry …), queryable by operators (/who, /tags)."""

    __tablename__ = "member_tags"
    __table_args__ = (Index("ix_member_tags_value", "group_key", "tag", "value"),)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Offence(Base):
    """One moderation offence by a member (an ad, a flood), counted by the ladder until it decays."""

    __tablename__ = "mod_offences"
    __table_args__ = (Index("ix_mod_offences_member", "group_key", "user_id", "at"),
                      # one offence per message, however many processes saw it (0007_staying)
                      Index("ux_mod_offences_message", "group_key", "user_id", "message_id", unique=True,
                            sqlite_where=text("message_id <> ''"), postgresql_where=text("message_id <> ''")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(200))
    detector: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ModSample(Base):
    """A text an admin marked: an ad (``/ad``, near-copies are caught) or an exception (``/notad``)."""

    __tablename__ = "mod_samples"
    __table_args__ = (Index("ix_mod_samples_group", "group_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # "ad" | "notad"
    text: Mapped[str] = mapped_column(Text)  # the compact (normalised) text
    message_id: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ModLogEntry(Base):
    """Every moderation decision: who, which detector fired, what matched, what was done."""

    __tablename__ = "mod_log"
    __table_args__ = (Index("ix_mod_log_group", "group_key", "at"),
                      Index("ux_mod_log_message", "group_key", "message_id", "plugin", "dry_run", unique=True,
                            sqlite_where=text("message_id <> ''"), postgresql_where=text("message_id <> ''")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    group_key: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(200))
    plugin: Mapped[str] = mapped_column(String(100))
    detector: Mapped[str] = mapped_column(String(50))
    matched: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(50))  # warn, mute 600, kick, undone, dry_run …
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)


class MuteWindowState(Base):
    """What the mute windows did to a group: whether the bot's mute-all is on, an ad-hoc /quiet, a hold."""

    __tablename__ = "mute_window_state"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    adhoc_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # muted by an admin by hand: never lifted by a window
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


metadata = Base.metadata


class Timer(Base):
    """A plugin's one-shot timer (``ctx.timer``) for a group: a quiz deadline, a game's silence. Keyed by
    what it is about, so setting it again replaces it; the process that deletes the row fires it."""

    __tablename__ = "timers"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    due: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON


# ----------------------------------------------------------------------------- the operators' everyday tools
# (auto_reply, lottery, invites, inactive: migration 0011_activities; quiz keeps its round in game_state)


class ReplyEntry(Base):
    """A keyword answer an admin added from the chat (``/词条 添加``); the rule file's entries are not rows."""

    __tablename__ = "reply_entries"
    __table_args__ = (Index("ux_reply_entries_trigger", "group_key", "match", "trigger", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(200))
    match: Mapped[str] = mapped_column(String(10))  # "exact" | "contains"
    trigger: Mapped[str] = mapped_column(String(200))  # as folded for matching (bot.adscan.fold)
    answer: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Lottery(Base):
    """One lottery (抽奖): the commitment is published at the start, the seed at the draw."""

    __tablename__ = "lotteries"
    __table_args__ = (Index("ix_lotteries_group", "group_key", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(200))
    prize: Mapped[str] = mapped_column(String(200))
    winners: Mapped[int] = mapped_column(Integer)  # how many
    keyword: Mapped[str] = mapped_column(String(100))
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    seed: Mapped[str] = mapped_column(String(64))  # secret until the draw
    commitment: Mapped[str] = mapped_column(String(64))  # sha256(seed), published at the start
    status: Mapped[str] = mapped_column(String(10))  # "open" | "drawn" | "cancelled"
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    drawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    result: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the winners' ids, in draw order


class LotteryEntry(Base):
    """A member taking part in a lottery; the key makes a second entry impossible."""

    __tablename__ = "lottery_entries"
    lottery_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class MemberPresence(Base):
    """What the bot saw of a member's membership: the last join and leave, who invited them, and a role
    above member once seen (owners and admins are never counted as sleeping members)."""

    __tablename__ = "member_presence"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    joined_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    role: Mapped[str] = mapped_column(String(20), default="member")


class Invite(Base):
    """Who brought a member into a group (one row per invitee: a re-join never credits twice)."""

    __tablename__ = "invites"
    __table_args__ = (Index("ix_invites_inviter", "group_key", "inviter"),)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    invitee: Mapped[str] = mapped_column(String(200), primary_key=True)
    inviter: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())
    credited_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class InactiveWarning(Base):
    """A sleeping member warned by a clean-up (``/清理潜水``): removed at the deadline unless spared."""

    __tablename__ = "inactive_warnings"
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    warned_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    spared_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Ban(Base):
    """One entry of a ban list (拉黑): a member refused in the group that banned them and, where a group set
    shares bans (rules/bans.toml ``share``), in the set's other groups on the same platform. Kept when
    lifted, with who lifted it and when, so the list's history stays readable."""

    __tablename__ = "bans"
    __table_args__ = (Index("ix_bans_member", "platform", "user_id"),
                      # one standing ban per member and group: banning twice updates nothing
                      Index("ux_bans_standing", "origin_group", "user_id", unique=True,
                            sqlite_where=text("lifted_at IS NULL"), postgresql_where=text("lifted_at IS NULL")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    origin_group: Mapped[str] = mapped_column(String(200))  # the group key where the ban was made
    source: Mapped[str] = mapped_column(String(20))  # command | ad | import
    reason: Mapped[str] = mapped_column(String(500), default="")
    by_user: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    lifted_by: Mapped[str] = mapped_column(String(200), default="")


class DeliveryReceipt(Base):
    """What became of one message a plugin asked to hear about (bot/receipts.py): per receipt and group."""

    __tablename__ = "delivery_receipts"
    receipt: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    problem: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Broadcast(Base):
    """One 群发 (plugins/broadcasts.py): drafted with a preview, then confirmed (sent) or cancelled.
    ``targets`` (JSON list) are the groups it goes to; ``refused`` (JSON object) the others, with why."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_origin", "origin_group", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin_group: Mapped[str] = mapped_column(String(200))
    set_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    by_user: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(12))  # draft | sent | cancelled
    targets: Mapped[str] = mapped_column(Text, default="[]")
    refused: Mapped[str] = mapped_column(Text, default="{}")


class Relay(Base):
    """A live relay (多群转播, plugins/relay.py) from one group to the groups of a set. ``targets`` and
    ``speakers`` are JSON lists; ``refused`` a JSON object of the set's groups that did not take it, with why."""

    __tablename__ = "relays"
    __table_args__ = (Index("ix_relays_status", "status"),
                      Index("ux_relays_running", "source_group", unique=True,
                            sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_group: Mapped[str] = mapped_column(String(200))
    set_name: Mapped[str] = mapped_column(String(200))
    targets: Mapped[str] = mapped_column(Text, default="[]")
    refused: Mapped[str] = mapped_column(Text, default="{}")
    speakers: Mapped[str] = mapped_column(Text, default="[]")
    questions: Mapped[bool] = mapped_column(Boolean, default=True)
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(10))  # running | stopped


class RelayMessage(Base):
    """One line of a relay's transcript: a speaker's message relayed, or a listener's question forwarded."""

    __tablename__ = "relay_messages"
    __table_args__ = (Index("ix_relay_messages_relay", "relay_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    relay_id: Mapped[int] = mapped_column(Integer)
    group_key: Mapped[str] = mapped_column(String(200))  # where it was said
    message_id: Mapped[str] = mapped_column(String(200), default="")
    user_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))  # text, image, file … or question
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutboxRow(Base):
    """One platform action a handled event (or a fired job) asked for, written in the same transaction as
    the state it follows from and delivered from here: ``state`` 0 waits, 1 is being carried out (the
    platform may have it), 2 is done or given up on. ``event`` groups the actions of one event, in ``seq``
    order; a process that takes a group over delivers its rows below 2 (bot.journal)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_open", "group_key", "state"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    plugin: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(Text)
    state: Mapped[int] = mapped_column(Integer, default=0)
    # A message of a scheduled slot is sent again when a crash left it "sending" (never lost, rarely
    # twice, as posts always were); any other message is not (it may have arrived).
    again: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    confirmed: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
