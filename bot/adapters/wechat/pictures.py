"""A picture message's bytes through the puppet service.

``MessageImage`` answers with a FileBox serialised as JSON (the npm package file-box's ``toJSON``). The
puppet-service server hands out boxes of three kinds: a Uuid box (what it makes of any picture a puppet
holds as a buffer, stream or file, and of base64 boxes over its 20 KB pass-through limit), whose bytes
come from the streaming ``Download`` call by that uuid; a Url box, fetched over HTTP with the headers it
names; and a small Base64 box, decoded here. A QRCode box holds no picture, only a code's text.

Nothing is tried twice: the picture reader (bot/images.py) bounds the whole fetch in time and treats a
failure as a message without pictures, so every refusal becomes one PlatformError saying why.
"""

from __future__ import annotations

import base64
import binascii

import grpc

from bot.adapters import wire
from bot.adapters.base import PlatformError
from bot.adapters.download import download
from bot.adapters.wechat.client import PuppetClient, first_line
from bot.adapters.wechat.protocol import IMAGE_HD

# FileBoxType of file-box 1.x (``type``; boxes serialised before 1.0 call it ``boxType``).
BASE64, URL, QRCODE, UUID = 1, 2, 3, 7
MAX_BOX_CHARS = 64 * 1024 * 1024  # a box's JSON larger than this is not read (a Base64 box is capped below anyway)


async def fetch_picture(client: PuppetClient, message_id: str, max_bytes: int, timeout: float) -> bytes:
    """The picture of message ``message_id`` (the HD image), at most ``max_bytes``; PlatformError when the
    service refuses, the box is of no use, or the picture is larger."""
    try:
        answer = await client.call("MessageImage", timeout=timeout, id=message_id, type=IMAGE_HD)
    except grpc.aio.AioRpcError as exc:
        raise PlatformError(f"MessageImage refused ({exc.code().name}: {first_line(exc.details())})") from None
    box = _box(answer.file_box)
    kind = box.get("type", box.get("boxType"))
    size = box.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise PlatformError(f"picture larger than {max_bytes} bytes ({size})")
    if kind == UUID:
        return await _download(client, _text(box, "uuid"), max_bytes, timeout)
    if kind == URL:
        headers = box.get("headers")
        headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else None
        return await download(_text(box, "url"), max_bytes, headers)
    if kind == BASE64:
        return _decode(_text(box, "base64"), max_bytes)
    if kind == QRCODE:
        raise PlatformError("the service gave a QR-code box (a code's text), not the picture")
    raise PlatformError(f"the service gave a file box of unknown type {kind!r}")


def _box(raw: str) -> dict:
    try:
        box = wire.loads(raw, MAX_BOX_CHARS)
    except wire.Unreadable as exc:
        raise PlatformError(f"MessageImage answered a file box that cannot be read ({exc})") from None
    if not isinstance(box, dict):
        raise PlatformError("MessageImage answered a file box that is not an object")
    return box


def _text(box: dict, key: str) -> str:
    value = box.get(key)
    if not isinstance(value, str) or not value:
        raise PlatformError(f"the service's file box has no {key}")
    return value


async def _download(client: PuppetClient, uuid: str, max_bytes: int, timeout: float) -> bytes:
    """The chunks of ``Download`` for ``uuid``, the call cancelled as soon as they pass ``max_bytes``."""
    call = client.stream("Download", timeout=timeout, id=uuid)
    body = bytearray()
    try:
        async for answer in call:
            body += answer.chunk
            if len(body) > max_bytes:
                raise PlatformError(f"picture larger than {max_bytes} bytes")
    except grpc.aio.AioRpcError as exc:
        raise PlatformError(f"Download refused ({exc.code().name}: {first_line(exc.details())})") from None
    finally:
        call.cancel()  # nothing once the stream has ended; stops the server's sending when it has not
    if not body:
        raise PlatformError("Download gave no bytes")
    return bytes(body)


def _decode(data: str, max_bytes: int) -> bytes:
    if len(data) // 4 * 3 > max_bytes + 2:  # checked before decoding: base64 is a third larger than its bytes
        raise PlatformError(f"picture larger than {max_bytes} bytes")
    try:
        picture = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise PlatformError("the service's base64 box is not base64") from None
    if len(picture) > max_bytes:
        raise PlatformError(f"picture larger than {max_bytes} bytes")
    return picture
