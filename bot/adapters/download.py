"""Fetching a picture by URL for the adapters whose platforms hand out download links (QQ's OneBot
implementations, the official QQ API, WeCom): streamed, and given up once it passes ``max_bytes``."""

from __future__ import annotations

import httpx

from bot.adapters.base import PlatformError


async def download(url: str, max_bytes: int, headers: dict[str, str] | None = None) -> bytes:
    """The body at ``url`` (http or https only); PlatformError when the server refuses it or it is larger."""
    if not url.startswith(("http://", "https://")):
        raise PlatformError(f"not a download link: {url[:80]}")
    async with httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(10.0)) as client:
        try:
            async with client.stream("GET", url, headers=headers) as answer:
                if answer.status_code != 200:
                    raise PlatformError(f"picture download refused: HTTP {answer.status_code}")
                declared = answer.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise PlatformError(f"picture larger than {max_bytes} bytes ({declared})")
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise PlatformError(f"picture larger than {max_bytes} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise PlatformError(f"picture download failed: {exc!r}", retryable=True) from exc
