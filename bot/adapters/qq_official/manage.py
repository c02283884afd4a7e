"""Group management: the bot's state in a group, recall, mute, remove, join decisions.

These are the endpoints QQ added in 2026 (bot_state, restrict_chat_setting, batch_remove_members,
approval_join_request, and recalling members' messages as an admin). The tencent-connect/bot-docs
repository does not describe them (its last update is from April 2025); the paths and bodies here follow
the bot.q.qq.com wiki as quoted by several independent implementations (see the README). They are kept
in this one module so that a correction to the platform's real shapes touches nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from bot.adapters.base import PlatformError
from bot.adapters.qq_official.api import OpenApi

MAX_MUTE = timedelta(days=30)  # the platform's limit for one member's mute


@dataclass(frozen=True)
class BotState:
    """What the bot is in one group (GET /v2/groups/{group_openid}/bot_state)."""

    member_openid: str = ""
    role: str = "member"  # owner | admin | member
    all_messages: bool = False  # recv_msg_setting: the owner lets the bot see every message, not only @-messages
    may_start: bool = False  # allow_proactive_msg: the bot may send without a member's message to answer

    @property
    def admin(self) -> bool:
        return self.role in ("owner", "admin")

    @classmethod
    def from_answer(cls, data: dict) -> "BotState":
        return cls(member_openid=str(data.get("member_openid") or ""),
                   role=str(data.get("member_role") or "member"),
                   all_messages=str(data.get("recv_msg_setting") or "") not in ("", "only_mention"),
                   may_start=bool(data.get("allow_proactive_msg")))


def _group(group: str) -> str:
    return f"/v2/groups/{quote(group, safe='')}"


async def bot_state(api: OpenApi, group: str) -> BotState:
    return BotState.from_answer(await api.call("GET", f"{_group(group)}/bot_state", f"bot_state of group {group}"))


async def recall(api: OpenApi, group: str, message: str) -> None:
    """Recall a message: the bot's own within 2 minutes, a member's where the bot is admin."""
    await api.call("DELETE", f"{_group(group)}/messages/{quote(message, safe='')}", f"recall of {message} in group {group}")


async def mute(api: OpenApi, group: str, member: str, seconds: int, now: datetime | None = None) -> None:
    """Mute ``member`` until now + seconds (at most 30 days); 0 lifts the mute."""
    if seconds > 0:
        until = (now or datetime.now(timezone.utc)) + min(timedelta(seconds=seconds), MAX_MUTE)
        entry = {"op": "add", "member_openid": member, "mute_expire_at": until.isoformat(timespec="seconds")}
    else:
        entry = {"op": "del", "member_openid": member}
    await api.call("POST", f"{_group(group)}/restrict_chat_setting", f"mute of {member} in group {group}",
                   {"members": [entry]})


async def remove(api: OpenApi, group: str, member: str, blacklist: bool) -> None:
    answer = await api.call("POST", f"{_group(group)}/batch_remove_members", f"removal of {member} from group {group}",
                            {"member_openids": [member], "add_to_member_blacklist": blacklist})
    result = str(answer.get("remove_members_result") or "success")
    if result != "success":
        raise PlatformError(f"QQ official: removal of {member} from group {group} answered {result!r}")


async def decide_join(api: OpenApi, group: str, member: str, request: str, approve: bool, reason: str = "") -> None:
    body: dict = {"op": "approve" if approve else "decline", "join_request_id": request}
    if not approve and reason:
        body["reject_reason"] = reason[:100]
    await api.call("POST", f"{_group(group)}/approval_join_request/{quote(member, safe='')}",
                   f"{body['op']} of {member}'s join request in group {group}", body)
