"""Platform-neutral events (past-tense facts) and actions (imperatives).

Adapters turn raw platform updates into events and actions into API calls; plugins only ever see
and produce these models. Field names follow the replay contract in DESIGN.md, so a replay line
maps onto an event without renaming.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Role = Literal["owner", "admin", "member"]
# Ids are stored in 200-character columns; refusing longer ones here keeps SQLite and PostgreSQL alike.
ID_LENGTH = 200
Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_LENGTH)]
OptionalId = Annotated[str, StringConstraints(max_length=ID_LENGTH)]
MessageKind = Literal["text", "image", "red_packet", "file", "link"]

ROLE_RANK: dict[str, int] = {"member": 0, "admin": 1, "owner": 2}


def group_key(platform: str, group: str) -> str:
    """The key a group is known by across the project: ``"<platform>:<group>"``."""
    return f"{platform}:{group}"


class _Frozen(BaseModel):
    # Platforms hand out numeric ids; the model keeps every id as text.
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)


# ----------------------------------------------------------------------------- events


class Event(_Frozen):
    name: ClassVar[str] = "event"
    at: datetime
    platform: Id = "qq"
    group: Id

    @property
    def group_key(self) -> str:
        return group_key(self.platform, self.group)


class MemberEvent(Event):
    """An event about one member; their display name is ``name`` on the wire (``user_name`` here,
    since ``name`` is the event kind)."""

    user: Id
    user_name: OptionalId = Field("", alias="name")


class MessageReceived(MemberEvent):
    name: ClassVar[str] = "message"
    role: Role = "member"
    id: OptionalId = ""
    text: str = ""
    kind: MessageKind = "text"
    mentions: tuple[Id, ...] = ()
    reply_to: OptionalId | None = None
    # The pictures in the message, as the platform refers to them (a URL, a file id): the adapter that
    # received the message fetches them (Adapter.fetch_image); replay and the console take a local path.
    images: tuple[str, ...] = ()
    # The files (documents) in the message as (file name, reference), fetched the same way.
    files: tuple[tuple[str, str], ...] = ()


class ImageScanned(MemberEvent):
    """What a picture of a message held, read off the event loop after a plugin asked (``ScanImage``):
    the payloads of its QR codes and, where OCR was asked for, its text. ``problem`` says why it could not
    be read (too large, not an image, the platform refused); then ``codes`` and ``text`` are empty."""

    name: ClassVar[str] = "image_scanned"
    role: Role = "member"
    message: OptionalId = ""  # the message the picture came in
    image: str
    codes: tuple[str, ...] = ()
    text: str = ""
    ocr: bool = False
    problem: str = ""


class MemberJoined(MemberEvent):
    name: ClassVar[str] = "member_joined"
    inviter: OptionalId | None = None
    member_count: int | None = None  # the group's size after the join, where the platform reports it


class MemberRenamed(MemberEvent):
    """A member changed their display name in the group (QQ's group card …); ``name`` is the new one."""

    name: ClassVar[str] = "member_renamed"
    role: Role = "member"


class MemberLeft(MemberEvent):
    name: ClassVar[str] = "member_left"


class JoinRequested(MemberEvent):
    name: ClassVar[str] = "join_request"
    id: Id
    answer: str = ""


class ScheduleFired(Event):
    """A scheduled job fell due for one group; ``slot`` is the time it was due, not when it ran."""

    name: ClassVar[str] = "schedule_fired"
    job: str
    slot: datetime


class TimerFired(Event):
    """A plugin's timer fell due (``ctx.timer``): ``timer`` is its name within ``plugin``, ``key`` what it
    is about (a member, a game), ``due`` the time it was set for, ``payload`` what the plugin stored."""

    name: ClassVar[str] = "timer_fired"
    plugin: str
    timer: str
    key: str = ""
    due: datetime
    payload: dict = {}


# Events that come from platforms (and replay lines); ScheduleFired and TimerFired only ever come from the
# scheduler.
PLATFORM_EVENTS: dict[str, type[Event]] = {cls.name: cls for cls in (MessageReceived, MemberJoined, MemberLeft, JoinRequested, MemberRenamed)}


# ----------------------------------------------------------------------------- actions


class Action(_Frozen):
    name: ClassVar[str] = "action"
    platform: str
    group: str
    plugin: str = ""
    reason: str = ""

    @property
    def group_key(self) -> str:
        return group_key(self.platform, self.group)


class Attachment(_Frozen):
    """A picture or file received on ``platform`` (as its adapter refers to it, see ``MessageReceived.images``)
    that a message to another group carries: the outbox fetches it through that adapter just before sending."""

    kind: Literal["image", "file"]
    platform: str
    reference: str
    name: str = ""  # a file's name, kept on the copy


class SendMessage(Action):
    name: ClassVar[str] = "send"
    text: str
    mentions: tuple[str, ...] = ()
    reply_to: str | None = None
    image: str | None = None  # a picture to show with the text (a chart)
    file: str | None = None  # a document to attach (a CSV export); adapters that cannot attach report it
    fetch: Attachment | None = None  # a picture or file from another group, attached once fetched (relays)
    # An announcement of the platform actions before it in the same batch of effects to the same group
    # ("已移出", "已禁言"): the live outbox sends it only when every one of them was carried out, and
    # otherwise drops it and tells the admin log why, so the group never hears of an action that did not
    # happen. Replay, which assumes success, prints it like any message (without this field).
    after_done: bool = False
    # Where the sender wants to hear what became of it (bot/receipts.py); not part of what is sent.
    receipt: str | None = None


class DeleteMessage(Action):
    name: ClassVar[str] = "delete"
    message: str


class MuteMember(Action):
    name: ClassVar[str] = "mute"
    user: str
    seconds: int  # 0 lifts the mute


class MuteAll(Action):
    name: ClassVar[str] = "mute_all"
    on: bool
    # What the group is told: ``announce`` where the platform mutes (sent once the mute is done, never when
    # it failed), ``fallback`` where it cannot (instead of it; the outbox's own words when not given).
    # Neither reaches the adapter.
    announce: str | None = None
    fallback: str | None = None


class KickMember(Action):
    name: ClassVar[str] = "kick"
    user: str


class SetCard(Action):
    name: ClassVar[str] = "set_card"
    user: str
    card: str


class DecideJoin(Action):
    name: ClassVar[str] = "decide_join"
    request: str
    user: str
    approve: bool
    note: str = ""  # the decline reason shown to the applicant, where the platform shows one


# ----------------------------------------------------------------------------- effects the engine carries out
# A handler returns these beside its actions; the engine performs them (they never reach a platform) and
# replay prints them as action lines like any other.


class SetTimer(Action):
    """Fire ``TimerFired`` for this plugin at ``due``; a timer of the same (group, timer, key) is replaced.
    Timers are stored, armed again at start, and fire once across processes."""

    name: ClassVar[str] = "timer"
    timer: str
    key: str = ""
    due: datetime
    payload: dict = {}


class CancelTimer(Action):
    name: ClassVar[str] = "cancel_timer"
    timer: str
    key: str = ""


class ScanImage(Action):
    """Read a message's picture off the event loop (QR codes always, its text where ``ocr``); the asking
    plugin gets an ``ImageScanned`` event with what it held. Queued and bounded: see bot/images.py."""

    name: ClassVar[str] = "scan_image"
    image: str
    message: str
    user: str
    user_name: str = ""
    role: str = "member"
    ocr: bool = False


class Report(Action):
    """A line for the operators: the log, and the admin log chat where one is configured."""

    name: ClassVar[str] = "report"
    text: str


PLATFORM_ACTIONS = (SendMessage, DeleteMessage, MuteMember, MuteAll, KickMember, SetCard, DecideJoin)
ENGINE_EFFECTS = (SetTimer, CancelTimer, ScanImage, Report)
ACTION_TYPES: dict[str, type[Action]] = {cls.name: cls for cls in (*PLATFORM_ACTIONS, *ENGINE_EFFECTS)}


def action_record(action: Action, at: datetime) -> dict:
    """The replay output line for an action: ``at`` and ``action`` first, then its fields."""
    # ``after_done`` and ``receipt`` are how the outbox treats a message, not something the platform receives.
    fields = action.model_dump(mode="json", exclude_none=True, exclude={"after_done", "receipt"})
    record: dict = {"at": at.isoformat(), "action": action.name}
    record.update((k, v) for k, v in fields.items() if k not in ("plugin", "reason"))
    record["plugin"] = fields["plugin"]
    record["reason"] = fields["reason"]
    return record
