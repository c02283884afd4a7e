"""Messages we send to a group (send-receive/send.md, rich-media.md).

Text goes as msg_type 0. A picture (the chart) is first uploaded through the group's files endpoint
(file_type 1, srv_send_msg false: the upload does not post anything, and uses no active-message quota)
and then sent as msg_type 7 with the returned file_info. A local file goes up as base64 ``file_data``,
a URL as ``url``.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import quote

from bot.adapters.base import PlatformError
from bot.adapters.qq_official.api import OpenApi

IMAGE = 1
TEXT, MEDIA = 0, 7
_URL = re.compile(r"^https?://", re.I)


async def upload_image(api: OpenApi, group: str, image: str) -> str:
    """The file_info of ``image`` (a local path or an http(s) URL) uploaded for ``group``."""
    body: dict = {"file_type": IMAGE, "srv_send_msg": False}
    if _URL.match(image):
        body["url"] = image
    else:
        try:
            body["file_data"] = base64.b64encode(Path(image).read_bytes()).decode()
        except OSError as exc:
            raise PlatformError(f"QQ official: cannot read the image {image}: {exc.strerror or exc}") from None
    answer = await api.call("POST", f"/v2/groups/{quote(group, safe='')}/files", f"image upload to group {group}", body)
    if not answer.get("file_info"):
        raise PlatformError(f"QQ official: the image upload to group {group} returned no file_info", retryable=True)
    return str(answer["file_info"])


def message_body(text: str, file_info: str | None, passive: dict) -> dict:
    if file_info is not None:
        # The docs: with msg_type 7 the content must not be empty (a space will do).
        return {"msg_type": MEDIA, "content": text or " ", "media": {"file_info": file_info}, **passive}
    return {"msg_type": TEXT, "content": text, **passive}


async def post(api: OpenApi, group: str, body: dict) -> dict:
    return await api.call("POST", f"/v2/groups/{quote(group, safe='')}/messages", f"message to group {group}", body)
